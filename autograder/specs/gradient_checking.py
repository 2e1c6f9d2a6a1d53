"""Chapter 5's graded functions: the gradient checker itself.

numerical_gradient, relative_error, gradient_check and directional_check are graded on what a
checker is for: accurate numbers (central differences, on test functions curved enough that a
one-sided difference is visibly off), x left as it was (and held still at every other entry
while one entry moves: the functions given to the student record every x they are called with),
right gradients passed and wrong ones flagged (gradients with planted mistakes: one entry wrong,
scaled by N, transposed, sign flipped), and the direction a directional check must draw.

A mistaken checker is named by recomputing what each common mistake would return on the same
inputs (a one-sided difference, the absolute error, a copy of params that loss_fn never reads,
a direction that is not unit length, ...) and comparing.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder.function_grading import FunctionCase, FunctionSpec, grade_function, unpack_single
from autograder.layer_grading import references
from autograder.report import Report
from backprop import gradcheck as gc
from backprop import network

Array = np.ndarray
RIGHT = 1e-7            # a right gradient's relative error must be below this (central differences, float64)
AGREE = 1e-4            # a wrong gradient's relative error must agree with the true one to this (relative)
EXACT_STEP = 1e-5


# ---------------------------------------------------------------------------------------------
# Mistaken finite differences, to recognise a checker that makes them

def one_sided(f: Callable[[Array], float], x: Array, h: float, backward: bool = False) -> Array:
    """(f(x + h e_i) - f(x)) / h for every entry (or (f(x) - f(x - h e_i)) / h): the O(h) difference."""
    x = np.array(x, dtype=np.float64)
    f0, grad = float(f(x)), np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        moved = x.copy()
        moved[index] += -h if backward else h
        grad[index] = (f0 - float(f(moved))) / h if backward else (float(f(moved)) - f0) / h
    return grad


def all_at_once(f: Callable[[Array], float], x: Array, h: float) -> float:
    """(f(x + h) - f(x - h)) / 2h with every entry moved at once: the derivative along the all-ones vector."""
    x = np.array(x, dtype=np.float64)
    return (float(f(x + h)) - float(f(x - h))) / (2 * h)


# ---------------------------------------------------------------------------------------------
# numerical_gradient

@dataclass
class Recorder:
    """A scalar test function `fn` that keeps a snapshot of every x it is called with (and the object itself).

    `fn` is a plain function, so it survives the deep copy every argument gets: the log stays here."""

    fn: Callable[[Array], float]
    seen: list[Array] = field(default_factory=list)
    objects: list[Any] = field(default_factory=list)


def recording(f: Callable[[Array], float], shape: tuple[int, ...]) -> Recorder:
    """f, recorded. It evaluates an x of another shape but the same size too, so the judge can name that."""
    recorder = Recorder(lambda x: 0.0)

    def fn(x: Array) -> float:
        recorder.seen.append(np.array(x, copy=True))
        recorder.objects.append(x)
        return f(np.reshape(x, shape) if np.size(x) == int(np.prod(shape)) else x)

    recorder.fn = fn
    return recorder


def _curved(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[Callable[[Array], float], Callable, Array]:
    """f(x) = sum(c * exp(a x)): separable and strongly curved (f'' = a f'), so a one-sided difference is off
    by about a h / 2 = 1e-5 relative while a central one is right to 1e-10. Returns (f, g, x) with g the
    elementwise function, for exact central differences."""
    a = 3.0
    c = rng.uniform(0.5, 2.0, size=shape)
    x = rng.uniform(-1.0, 1.0, size=shape)

    def g(v: Array) -> Array:
        return c * np.exp(a * v)

    return (lambda v: float(np.sum(g(np.asarray(v, dtype=np.float64))))), g, x


def _x_restored_judge(recorder: Recorder, x: Array, h: float) -> Callable[[Any], str | None]:
    """Right when f always saw x with at most one entry moved (by h), every other entry exactly x's, and x
    itself is exactly as it was afterwards."""

    def judge(value: Any) -> str | None:
        if not recorder.seen:
            return "never calls f"
        for seen in recorder.seen:
            if np.shape(seen) != x.shape:
                return (f"calls f with an array of shape {np.shape(seen)}; f must get an array of x's shape "
                        f"{x.shape} (perturb x itself, or a copy of it, not a flattened version)")
            if np.asarray(seen).dtype != x.dtype:
                return (f"calls f with a {np.asarray(seen).dtype} array; x is {x.dtype}, and f must see it in "
                        f"its own dtype")
        moved = [np.abs(np.asarray(s, dtype=np.float64) - x) for s in recorder.seen]
        first = next((m for m in moved if np.any(m > 0.5 * h)), None)
        if x.size > 1 and first is not None and np.all(first > 0.5 * h):
            return "moves every entry of x at once (x + h); move one entry at a time, the others held still"
        for m in moved:
            others = np.sort(m.ravel())[:-1]  # all but the entry being moved
            if others.size and others.max() > 0.5 * h:
                return (f"does not put x[i] back before moving the next entry: f was called with "
                        f"{int(np.sum(m > 0.5 * h))} entries moved at once, so every later difference is taken "
                        f"at the wrong point")
            if others.size and others.max() > 0:
                return ("puts x[i] back by arithmetic (adding or subtracting h), which is not exact in floating "
                        "point: f saw other entries off in their last digits. Save x[i] and assign it back")
        final = [o for o in recorder.objects if isinstance(o, np.ndarray) and o.shape == x.shape]
        if final and all(o is final[0] for o in final):
            left = np.abs(final[0].astype(np.float64) - x)
            if left.max() > 0.5 * h:
                return "leaves x changed after the call: an entry it moved is not put back"
            if left.max() > 0:
                return ("leaves x off in its last digits after the call: it restores x[i] by arithmetic "
                        "(x[i] -= h), which is not exact in floating point. Save x[i] and assign it back")
        return None

    return judge


def _value_mistakes(f, g, x: Array, h: float, default_h: bool) -> list[tuple[Any, str]]:
    central = (g(x + h) - g(x - h)) / (2 * h)
    at_once = all_at_once(f, x, h)
    mistakes = [
        ((g(x + h) - g(x)) / h, "is a one-sided difference (f(x + h) - f(x)) / h, whose error is O(h) (here about "
                                "1e-5): use the central difference (f(x + h) - f(x - h)) / 2h, whose error is O(h^2)"),
        ((g(x) - g(x - h)) / h, "is a one-sided difference (f(x) - f(x - h)) / h, whose error is O(h): use the "
                                "central difference (f(x + h) - f(x - h)) / 2h"),
        (2 * central, "divides by h; the central difference spans from x - h to x + h, so divide by 2h"),
        (h * central, "divides by 2 only: the central difference is (f(x + h) - f(x - h)) / (2 * h)"),
        (h * h * central, "computes (f(x + h) - f(x - h)) / 2 * h, which multiplies by h: write / (2 * h)"),
        (2 * h * central, "forgets to divide: the central difference is (f(x + h) - f(x - h)) / 2h"),
        (-central, "subtracts the wrong way round: (f(x + h) - f(x - h)) / 2h, not (f(x - h) - f(x + h)) / 2h"),
        (np.full(x.shape, at_once), "moves every entry of x at once (x + h), which gives the slope along the "
                                    "all-ones direction in every entry: move one entry at a time"),
        (np.array(at_once), "is one number: it moves every entry of x at once (x + h); move one entry at a "
                            "time and return an array of x's shape"),
    ]
    if not default_h:
        mistakes.append(((g(x + EXACT_STEP) - g(x - EXACT_STEP)) / (2 * EXACT_STEP),
                         f"ignores the h it is given (h = {h:g} here) and uses its own step"))
    return mistakes


def numerical_gradient_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    hint = (" (if the shape of x is the trouble: np.ndindex(x.shape) gives every index tuple of any shape, "
            "and x[index] reads or writes one entry)")
    cases = []
    plan = [("values", (4, 3), 1e-5, False), ("values", (3, 5), 1e-3, False), ("values", (2, 6), EXACT_STEP, True),
            ("any shape", (1,), 1e-5, False), ("any shape", (7,), 1e-5, False), ("any shape", (2, 3, 2), 1e-5, False)]
    for part, shape, h, default_h in plan:
        f, g, x = _curved(rng, shape)
        args = {"f": f, "x": x} if default_h else {"f": f, "x": x, "h": h}
        expected = (g(x + h) - g(x - h)) / (2 * h)
        label = f"x of shape {shape}, " + ("h left at its default" if default_h else f"h = {h:g}")
        cases.append(FunctionCase(args, {part: expected}, label, {part: _value_mistakes(f, g, x, h, default_h)},
                                  tolerance=1e-7, reads={part: "values"}, hint=hint if part == "any shape" else ""))
    # Values whose nudged copy does not round back exactly, so restoring by arithmetic shows.
    for shape in ((3, 4), (2, 5)):
        f, _, x = _curved(rng, shape)
        x.flat[0] = 0.1 + 2 ** -30
        recorder = recording(f, shape)
        cases.append(FunctionCase({"f": recorder.fn, "x": x, "h": 1e-5}, {"x restored": None},
                                  f"x of shape {shape}, watching every x that f is called with",
                                  reads={"x restored": "values"}, judge=_x_restored_judge(recorder, x.copy(), 1e-5)))
    return cases


# ---------------------------------------------------------------------------------------------
# relative_error

def _rel(a: Array, b: Array) -> float:
    return gc.relative_error(a, b)


def _relative_error_mistakes(a: Array, b: Array) -> list[tuple[Any, str]]:
    n = np.linalg.norm
    d = a - b
    mistakes: list[tuple[Any, str]] = [
        (n(d), "is the absolute error ||a - b||: divide it by ||a|| + ||b||, so that the size of the gradients "
               "does not matter"),
        (n(d) ** 2 / (n(a) ** 2 + n(b) ** 2), "squares the norms: the norm is the square root of the sum of squares"),
        (np.sum(d * d) / (n(a) + n(b)), "uses the sum of squares of a - b where its norm (the square root) belongs"),
        (n(d) / n(a) if n(a) else np.inf, "divides by ||a|| only: the relative error divides by ||a|| + ||b||"),
        (n(d) / n(b) if n(b) else np.inf, "divides by ||b|| only: the relative error divides by ||a|| + ||b||"),
        (n(d) / max(n(a), n(b)), "divides by max(||a||, ||b||): the relative error divides by ||a|| + ||b||"),
        (n(d) / n(a + b) if n(a + b) else np.inf, "divides by ||a + b||: the relative error divides by ||a|| + ||b||"),
        (np.abs(d).max() / (np.abs(a).max() + np.abs(b).max()),
         "uses the largest entry (a max norm): use the 2-norm over all entries, np.linalg.norm(a - b)"),
        (np.abs(d).sum() / (np.abs(a).sum() + np.abs(b).sum()),
         "uses the sum of absolute values (a 1-norm): use the 2-norm over all entries, np.linalg.norm(a - b)"),
        (np.max(np.abs(d) / np.maximum(np.abs(a) + np.abs(b), 1e-300)),
         "takes the largest entry-by-entry relative error: use the norms of the whole arrays"),
    ]
    if a.ndim == 2:
        for axis, name in ((1, "row"), (0, "column")):
            per = n(d, axis=axis) / (n(a, axis=axis) + n(b, axis=axis))
            where = f"takes norms {name} by {name} (axis={axis})"
            mistakes += [(per, f"{where}: the norm is taken over all entries at once, np.linalg.norm(a - b)"),
                         (per.max(), f"{where} and keeps the largest: use one norm over all entries"),
                         (per.mean(), f"{where} and averages them: use one norm over all entries")]
    mistakes.append((0.0, "returns 0 whatever a and b are"))
    return mistakes


def _tiny_judge(a: Array, b: Array, expected: float) -> Callable[[Any], str | None]:
    """Gradients with norms near 1e-6 (vanishing, but real): a guard constant added to the denominator that
    is large enough to change the answer by more than 1e-4 of it shows here; a negligible one (1e-12) passes."""

    def judge(value: Any) -> str | None:
        try:
            got = float(np.asarray(value, dtype=np.float64).reshape(()))
        except (TypeError, ValueError):
            return f"should be one number; got {type(value).__name__} {np.shape(value)}"
        if np.isfinite(got) and abs(got - expected) <= 1e-4 * expected:
            return None
        for wrong, explanation in _relative_error_mistakes(a, b):
            if np.ndim(wrong) == 0 and np.isfinite(wrong) and abs(got - wrong) <= 1e-6 * abs(wrong):
                return explanation
        if np.isfinite(got) and 0 < got < expected:
            eta = np.linalg.norm(a - b) / got - (np.linalg.norm(a) + np.linalg.norm(b))
            return (f"is {got:.6g} where it should be {expected:.6g}: it adds about {eta:.0e} to the denominator, "
                    f"which swamps gradients this small (norms near 1e-6). Compute ||a - b|| / (||a|| + ||b||) "
                    f"exactly, and test for a zero denominator instead")
        return f"is {got:.6g}; it should be {expected:.6g} (gradients with norms near 1e-6)"

    return judge


def relative_error_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []
    scales = np.array([[1.0], [20.0], [0.05], [3.0]])  # rows of very different sizes: per-row norms show
    a = rng.standard_normal((4, 3)) * scales
    b = a + 0.3 * rng.standard_normal((4, 3)) * scales[::-1]
    pairs = [(a, b, "a, b of shape (4, 3), rows of very different sizes")]
    c = rng.standard_normal((2, 5))
    pairs.append((c, c + rng.standard_normal((2, 5)) * 1e-3, "a, b of shape (2, 5), nearly equal"))
    d = rng.standard_normal(6)
    pairs.append((d, -0.5 * d + rng.standard_normal(6), "a, b of shape (6,)"))
    pairs.append((np.zeros((2, 3)), rng.standard_normal((2, 3)), "a = 0, b of shape (2, 3)"))
    e = rng.uniform(0.5, 2.0, (1,)) * rng.choice([-1.0, 1.0])
    pairs.append((e, 3 * e, "a, b of shape (1,)"))
    for a, b, label in pairs:
        cases.append(FunctionCase({"a": a, "b": b}, {"values": _rel(a, b)}, label,
                                  {"values": _relative_error_mistakes(a, b)}, tolerance=1e-6))
    ta = rng.standard_normal((3, 2)) * 1e-6
    tb = ta + rng.standard_normal((3, 2)) * 1e-7
    cases.append(FunctionCase({"a": ta, "b": tb}, {"small gradients": None}, "a, b of shape (3, 2), norms near 1e-6",
                              reads={"small gradients": "values"}, judge=_tiny_judge(ta, tb, _rel(ta, tb))))
    for shape in ((3, 4), (5,)):
        cases.append(FunctionCase({"a": np.zeros(shape), "b": np.zeros(shape)}, {"both zero": 0.0},
                                  f"a = b = 0 of shape {shape}", tolerance=1e-12,
                                  strict_warnings=True, reads={"both zero": "values"}))
    return cases


ZERO_BY_ZERO = ("divides 0 by 0 when both are zero (a RuntimeWarning, and NaN): return 0.0 when ||a|| + ||b|| "
                "is 0, before dividing")


# ---------------------------------------------------------------------------------------------
# gradient_check

Params = dict[str, Array]


@dataclass
class CheckProblem:
    """A loss of a params dict, its exact gradients, and the trusted numerical gradients."""

    loss_fn: Callable[[Params], float]
    params: Params
    exact: Params
    numeric: Params
    batch: int


def _numeric(loss_fn: Callable[[Params], float], params: Params, h: float) -> Params:
    working = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    return {k: gc.numerical_gradient(lambda _: loss_fn(working), working[k], h) for k in params}


def _network_problem(rng: np.random.Generator, sizes: list[int], N: int) -> CheckProblem:
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        params[f"b{l}"] = rng.uniform(-0.5, 0.5, fan_out)
    X, y = rng.standard_normal((N, sizes[0])), rng.integers(0, 2, N)

    def loss_fn(p: Params) -> float:
        return network.mlp_loss(p, X, y, "tanh")[0]

    _, exact = network.mlp_loss(params, X, y, "tanh")
    return CheckProblem(loss_fn, params, exact, _numeric(loss_fn, params, EXACT_STEP), N)


def _plain_problem(rng: np.random.Generator) -> CheckProblem:
    """Keys that are not W1, b1, ...: L(A, v) = sum(tanh(A v)) + |v|^2 / 2."""
    params = {"A": rng.standard_normal((2, 3)), "v": rng.standard_normal(3)}

    def loss_fn(p: Params) -> float:
        return float(np.sum(np.tanh(p["A"] @ p["v"])) + 0.5 * np.sum(p["v"] ** 2))

    s = 1 - np.tanh(params["A"] @ params["v"]) ** 2
    exact = {"A": np.outer(s, params["v"]), "v": params["A"].T @ s + params["v"]}
    return CheckProblem(loss_fn, params, exact, _numeric(loss_fn, params, EXACT_STEP), 1)


def _errors_by(problem: CheckProblem, grads: Params, numeric: Params, error=_rel) -> dict[str, float]:
    return {k: float(error(grads[k], numeric[k])) for k in problem.params}


def _check_mistakes(problem: CheckProblem, grads: Params, h: float) -> list[tuple[dict[str, float], str]]:
    """What common mistakes in gradient_check return on this problem."""
    nudged = {k: np.array(v) for k, v in problem.params.items()}
    first = next(iter(problem.params))
    one_forward = {k: one_sided(lambda v, k=k: problem.loss_fn({**nudged, k: v}), nudged[k], h) for k in nudged}
    one_backward = {k: one_sided(lambda v, k=k: problem.loss_fn({**nudged, k: v}), nudged[k], h, True) for k in nudged}
    at_once = {k: np.full(v.shape, all_at_once(lambda w, k=k: problem.loss_fn({**nudged, k: w}), v, h))
               for k, v in nudged.items()}
    num = problem.numeric
    return [
        ({k: 1.0 for k in grads}, "gives 1 for every key, as if its numerical gradients were all zero (loss_fn "
                                  "never saw the nudges: if you copy params, nudge the copy and pass it to loss_fn) "
                                  "or compared with the opposite sign"),
        (_errors_by(problem, grads, {k: -v for k, v in num.items()}),
         "compares grads with the numerical gradient's negative (a sign flipped in the difference or the comparison)"),
        (_errors_by(problem, grads, num, lambda a, b: np.linalg.norm(a - b)),
         "returns the absolute error ||grads[k] - numerical||: divide by ||grads[k]|| + ||numerical||"),
        (_errors_by(problem, grads, one_forward), "uses a one-sided difference (error O(h)): use central differences"),
        (_errors_by(problem, grads, one_backward), "uses a one-sided difference (error O(h)): use central differences"),
        (_errors_by(problem, grads, {k: 2 * v for k, v in num.items()}),
         "divides the difference by h: the central difference divides by 2h"),
        (_errors_by(problem, grads, at_once), "moves every entry of a parameter at once: move one entry at a time"),
        ({first: _rel(grads[first], num[first])}, f"checks only the first key ({first!r}): return an error for "
                                                    "every key of params"),
    ]


def _check_judge(problem: CheckProblem, grads: Params, h: float, planted: str = "") -> Callable[[Any], str | None]:
    truth = _errors_by(problem, grads, problem.exact)

    def matches(got: Mapping, wanted: dict[str, float]) -> bool:
        if set(got) != set(wanted):
            return False
        try:
            return all(abs(float(got[k]) - w) <= 1e-3 * abs(w) + 1e-9 for k, w in wanted.items())
        except (TypeError, ValueError):
            return False

    def judge(value: Any) -> str | None:
        if not isinstance(value, Mapping):
            return f"should return a dict (name -> relative error); it returned a {type(value).__name__}"
        for k, v in value.items():
            if np.size(v) != 1:
                return (f"gives an array of shape {np.shape(v)} for {k!r}: return one number per key, the relative "
                        f"error between grads[{k!r}] and its numerical gradient")
        got = {k: float(np.asarray(v, dtype=np.float64).reshape(())) for k, v in value.items()}
        if set(got) == set(truth):
            wrong = [k for k in truth if not ((truth[k] < 1e-8 and got[k] < RIGHT)
                                               or (truth[k] >= 1e-8 and abs(got[k] - truth[k]) <= AGREE * truth[k]))]
            if not wrong:
                return None
        for wanted, explanation in _check_mistakes(problem, grads, h):
            if matches(got, wanted):
                return explanation
        if set(got) != set(truth):
            return f"has the keys {sorted(got)}; it should have exactly the keys of params, {sorted(truth)}"
        if planted and all(got[k] == 0.0 for k in got):
            return f"returns exactly 0 for every key, though {planted}: is the result hard-coded?"
        k = wrong[0]
        state = "right" if truth[k] < 1e-8 else planted or "wrong"
        return (f"gives {got[k]:.3g} for {k!r}, where grads[{k!r}] is {state} and its relative error is "
                f"{truth[k]:.3g}")

    return judge


def _plant(kind: str, grads: Params, key: str, batch: int, rng: np.random.Generator) -> tuple[Params, str]:
    planted = {k: v.copy() for k, v in grads.items()}
    g = planted[key]
    if kind == "one entry":
        index = tuple(int(rng.integers(0, s)) for s in g.shape)
        g[index] += 0.5 * np.abs(g).max() + 0.1
        return planted, f"one entry of grads[{key!r}] is wrong"
    if kind == "scaled":
        planted[key] = g * batch
        return planted, f"grads[{key!r}] is N = {batch} times too large"
    if kind == "transposed":
        planted[key] = g.T.copy()
        return planted, f"grads[{key!r}] is transposed"
    planted[key] = -g
    return planted, f"grads[{key!r}] has the wrong sign"


def gradient_check_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []
    order_hint = (" (here grads lists its keys in a different order from params: look each gradient up by its "
                  "name, grads[name], never by position)")

    def case(problem: CheckProblem, grads: Params, part: str, label: str, planted: str = "", hint: str = "",
             h: float | None = None) -> FunctionCase:
        args = {"loss_fn": problem.loss_fn, "params": problem.params, "grads": grads}
        if h is not None:
            args["h"] = h
        return FunctionCase(args, {part: None}, label, reads={part: "errors"},
                            judge=_check_judge(problem, grads, h or EXACT_STEP, planted), hint=hint)

    two = _network_problem(rng, [3, 4, 1], 4)
    cases.append(case(two, two.exact, "right gradients pass", "a two-layer tanh network, N = 4, right gradients"))
    deep = _network_problem(rng, [2, 3, 3, 1], 1)
    reordered = {k: deep.exact[k] for k in reversed(list(deep.exact))}
    cases.append(case(deep, reordered, "right gradients pass",
                      "a three-layer network, N = 1, right gradients listed in another key order", hint=order_hint))
    plain = _plain_problem(rng)
    cases.append(case(plain, plain.exact, "right gradients pass", "keys 'A' and 'v', right gradients, h = 1e-4",
                      h=1e-4))
    square = _network_problem(rng, [3, 3, 3, 1], 4)
    plan = [(two, "one entry", "W1"), (two, "scaled", "b2"), (square, "transposed", "W2"), (square, "sign", "b1"),
            (plain, "scaled", "v")]
    for problem, kind, key in plan:
        planted, what = _plant(kind, problem.exact, key, max(problem.batch, 3), rng)
        cases.append(case(problem, planted, "wrong gradients flagged", what, planted=what))
    return cases


# ---------------------------------------------------------------------------------------------
# directional_check

def _smooth(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[Callable[[Array], float], Array, Array]:
    """f(x) = sum(c * exp(a x)) + (sum(B * x))^2 / 2, its gradient, and a point x."""
    a, c, B = 2.5, rng.uniform(0.5, 2.0, shape), rng.standard_normal(shape)
    x = rng.uniform(-1.0, 1.0, shape)

    def f(v: Array) -> float:
        v = np.asarray(v, dtype=np.float64)
        return float(np.sum(c * np.exp(a * v)) + 0.5 * np.sum(B * v) ** 2)

    return f, x, c * a * np.exp(a * x) + np.sum(B * x) * B


def _along(f: Callable[[Array], float], x: Array, grad: Array, d: Array, h: float, kind: str = "central") -> float:
    if kind == "one-sided":
        numeric = (f(x + h * d) - f(x)) / h
    else:
        numeric = (f(x + h * d) - f(x - h * d)) / (2 * h) * (2 if kind == "by h" else 1)
    projected = float(np.sum(d * grad))
    if kind == "absolute":
        return abs(projected - numeric)
    return _rel(projected, -numeric if kind == "sign" else numeric)


def _legacy_direction(shape: tuple[int, ...], seed: int) -> Array:
    state = np.random.RandomState(seed)
    d = state.standard_normal(shape)
    return d / np.linalg.norm(d)


def _direction_mistakes(f, x: Array, grad: Array, seed: int, h: float) -> list[tuple[float, str]]:
    rng_d = np.random.default_rng(seed).standard_normal(x.shape)
    unit = rng_d / np.linalg.norm(rng_d)
    uniform = np.random.default_rng(seed).uniform(-1, 1, x.shape)
    mistakes = [
        (_along(f, x, grad, rng_d, h), "uses a direction that is not unit length: divide d by np.linalg.norm(d)"),
        (_along(f, x, grad, _legacy_direction(x.shape, seed), h),
         "draws the direction with the legacy np.random functions: use d = np.random.default_rng(seed)"
         ".standard_normal(x.shape), then d / np.linalg.norm(d)"),
        (_along(f, x, grad, uniform / np.linalg.norm(uniform), h),
         "draws the direction from a uniform distribution: use np.random.default_rng(seed).standard_normal(x.shape)"),
        (_along(f, x, grad, unit, h, "one-sided"), "uses a one-sided difference (f(x + h d) - f(x)) / h: use "
                                                   "(f(x + h d) - f(x - h d)) / 2h"),
        (_along(f, x, grad, unit, h, "by h"), "divides the difference by h: the central difference divides by 2h"),
        (_along(f, x, grad, unit, h, "sign"), "compares d . grad with the negative of the central difference"),
        (_along(f, x, grad, unit, h, "absolute"), "returns the absolute error |d . grad - numerical|: divide by "
                                                  "|d . grad| + |numerical|"),
        (_along(f, x, grad, np.ones(x.shape), h), "moves every entry by h (the all-ones direction, not unit "
                                                  "length): draw a random unit direction d"),
    ]
    if seed != 0:
        mistakes.append((_along(f, x, grad, gc.random_unit_direction(x.shape, 0), h),
                         f"ignores the seed it is given (seed = {seed} here) and always draws with seed 0"))
    for other in (seed + 1, seed - 1):
        if other >= 0:
            mistakes.append((_along(f, x, grad, gc.random_unit_direction(x.shape, other), h),
                             f"draws with seed {other} where seed = {seed} is given"))
    return mistakes


def _directional_judge(f, x: Array, grad: Array, seed: int, h: float, planted: str) -> Callable[[Any], str | None]:
    expected = gc.directional_check(f, x, grad, seed, h)

    def judge(value: Any) -> str | None:
        try:
            got = float(np.asarray(value, dtype=np.float64).reshape(()))
        except (TypeError, ValueError):
            return f"should be one number; got {type(value).__name__} of shape {np.shape(value)}"
        if not np.isfinite(got):
            return f"is {got}"
        if (expected < 1e-8 and got < RIGHT) or abs(got - expected) <= AGREE * expected + 1e-12:
            return None
        for wrong, explanation in _direction_mistakes(f, x, grad, seed, h):
            if abs(got - wrong) <= 1e-3 * abs(wrong) + 1e-12 and abs(wrong - expected) > AGREE * expected:
                return explanation
        if got == 0.0 and expected >= 1e-8:
            return f"returns exactly 0 where the relative error is {expected:.3g}: is the result hard-coded?"
        what = f"{planted}, " if planted else ""
        return (f"is {got:.4g}; {what}the relative error along d = random_unit_direction(x.shape, seed={seed}) "
                f"is {expected:.4g}")

    return judge


def _unit_seed(rng: np.random.Generator, shape: tuple[int, ...], grad: Array) -> int:
    """A seed whose direction is not nearly orthogonal to grad (|d . grad| > 0.2 |grad|), so round-off stays small."""
    while True:
        seed = int(rng.integers(1, 100_000))
        if abs(np.sum(gc.random_unit_direction(shape, seed) * grad)) > 0.2 * np.linalg.norm(grad):
            return seed


def directional_check_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []

    def case(f, x, grad, part, label, s, h, planted="", defaults=False) -> FunctionCase:
        args = {"f": f, "x": x, "grad": grad} if defaults else {"f": f, "x": x, "grad": grad, "seed": s, "h": h}
        return FunctionCase(args, {part: None}, label, reads={part: "error"},
                            judge=_directional_judge(f, x, grad, s, h, planted))

    for shape in ((3, 4), (6,), (1,)):
        f, x, grad = _smooth(rng, shape)
        s = _unit_seed(rng, shape, grad)
        cases.append(case(f, x, grad, "right gradients pass", f"x of shape {shape}, right gradient, seed {s}", s,
                          1e-5))
    f, x, grad = _smooth(rng, (5,))
    if abs(np.sum(gc.random_unit_direction((5,), 0) * grad)) > 0.2 * np.linalg.norm(grad):
        cases.append(case(f, x, grad, "right gradients pass", "x of shape (5,), right gradient, seed and h left at "
                          "their defaults", 0, 1e-5, defaults=True))
    # A curved f and a large h: the truncation error depends on the direction, so the direction must be the one
    # the seed gives, unit length.
    for shape in ((4, 3), (7,)):
        f, x, grad = _smooth(rng, shape)
        s = _unit_seed(rng, shape, grad)
        cases.append(case(f, x, grad, "direction (unit, from the seed)",
                          f"x of shape {shape}, right gradient, seed {s}, h = 0.01 (truncation error shows)", s, 1e-2))
    f, x, grad = _smooth(rng, (4, 3))
    cases.append(case(f, x, grad * np.array([1.0, 1.0, 1.5]), "direction (unit, from the seed)",
                      "x of shape (4, 3), a wrong gradient, seed and h left at their defaults (seed 0)", 0, 1e-5,
                      planted="a column of grad is 1.5 times too large", defaults=True))
    for kind in ("one entry", "scaled", "transposed", "sign"):
        f, x, grad = _smooth(rng, (4, 4))
        planted, what = _plant(kind, {"x": grad}, "x", 3, rng)
        wrong_grad = planted["x"]
        what = what.replace("grads['x']", "grad")
        s = _unit_seed(rng, (4, 4), grad)
        cases.append(case(f, x, wrong_grad, "wrong gradients flagged", f"x of shape (4, 4), {what}, seed {s}", s, 1e-5,
                          planted=what))
    return cases


# ---------------------------------------------------------------------------------------------
# The specs, and graders that tidy what grade_function reports for them

NUMERICAL_GRADIENT = FunctionSpec("numerical_gradient", {"values": 2.0, "any shape": 1.0, "x restored": 1.0},
                                  numerical_gradient_cases, unpack_single("values"),
                                  references(gc.numerical_gradient, gc.numerical_vjp, gc._nudged))
RELATIVE_ERROR = FunctionSpec("relative_error", {"values": 2.0, "small gradients": 1.0, "both zero": 1.0},
                              relative_error_cases, unpack_single("values"), references(gc.relative_error))
GRADIENT_CHECK = FunctionSpec("gradient_check", {"right gradients pass": 1.0, "wrong gradients flagged": 2.0},
                              gradient_check_cases, unpack_single("errors"), references(gc.gradient_check),
                              substitutes={"numerical_gradient": gc.numerical_gradient,
                                           "relative_error": gc.relative_error})
DIRECTIONAL_CHECK = FunctionSpec("directional_check", {"right gradients pass": 1.0, "wrong gradients flagged": 2.0,
                                                       "direction (unit, from the seed)": 1.0},
                                 directional_check_cases, unpack_single("error"), references(gc.directional_check),
                                 substitutes={"relative_error": gc.relative_error})

SPECS = {spec.name: spec for spec in (NUMERICAL_GRADIENT, RELATIVE_ERROR, GRADIENT_CHECK, DIRECTIONAL_CHECK)}


def grade_checker(spec: FunctionSpec, namespace: MutableMapping[str, Any], points: float, seed: int) -> Report:
    """grade_function, then: x left changed is charged once (under 'x restored', not again under 'inputs'),
    and a 0/0 warning when both arrays are zero is named."""
    report = grade_function(spec, namespace, points, seed)
    restored = next((item for item in report.items if item.name == "x restored"), None)
    if restored is not None and not restored.correct:
        report.items = [item for item in report.items
                        if not (item.name == "inputs" and not item.correct and item.message.startswith("modified x "))]
    for item in report.items:
        if item.name == "both zero" and not item.correct and ("RuntimeWarning" in item.message or "NaN" in item.message):
            item.message = ZERO_BY_ZERO + item.message[item.message.rfind(" (case"):]
    return report
