"""Chapter 4's graded functions: softmax, log_softmax, softmax_cross_entropy, softmax_jacobian.

Expected values come from the reference package (the trusted forward) and, for the gradients, from
central differences of the reference loss and softmax where those are accurate (moderate logits).
Logits of magnitude 30 to 1e4 are graded as separate parts: that is where the stable forms (the
shifted softmax, log-sum-exp, the loss from the logits) differ from the textbook ones.

A note on "transposed" Jacobians: the softmax Jacobian diag(p) - p p^T is symmetric, so J and J.T
are the same matrix and no grader can tell them apart. The transposition that does matter is the
batch's: a softmax taken over the columns (axis 0) of an (N, C) array, which is named below.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autograder.compare import as_float_array, close
from autograder.diagnosis import Mistake, diagnose
from autograder.function_grading import FunctionCase, FunctionSpec, unpack_single, unpack_tuple
from autograder.layer_grading import references
from backprop import losses
from backprop.gradcheck import numerical_gradient, numerical_vjp

# Right answers in float64 agree with the reference to ~1e-15; float32 arithmetic is off by ~1e-7.
VALUES_TOLERANCE = 1e-9
# Central differences of the reference (float64, moderate logits) are good to ~1e-10.
GRADIENT_TOLERANCE = 1e-7

AXIS = ("normalises over the batch (axis 0, each column) where each row, one example, must be normalised "
        "(axis 1, or axis=-1)")
KEEPDIMS = ("misses keepdims=True: the row maxima or sums have shape (N,) and broadcast against the columns, so "
            "entries are shifted or divided by another row's value (use keepdims=True, or [:, None])")
WHOLE_ARRAY = "sums over the whole batch (no axis): each row, one example, must sum to 1 on its own"
FLOAT32 = "is computed in float32 (about 7 correct digits); the course works in float64"
OVERFLOW = ("contains NaN or inf for large logits: exp overflows above 709 (inf / inf is NaN) or underflows to 0 "
            "(0 / 0); subtract each row's own max before exp")
LOG_OF_ZERO = ("contains -inf or NaN for large logits: log(softmax(Z)) is log 0 once a probability underflows "
               "(below about 1e-308); compute Z - max - log(sum(exp(Z - max))) instead")
LOSS_NONFINITE = ("is inf or NaN for large logits: the log of a probability that rounded to 0 (or an exp that "
                  "overflowed); take the loss from the log-probabilities, Z - max - log(sum(exp(Z - max)))")


def _rows(N: int, C: int) -> list[tuple[int, int]]:
    return [(N, C), (1, C), (N + 1, 2), (C, C)]


def _shapes(rng: np.random.Generator) -> list[tuple[int, int]]:
    """A non-square batch, a batch of 1, two classes, and a square one (where a missing keepdims runs)."""
    N = int(rng.integers(2, 6))
    C = int(rng.integers(3, 7))
    C += C == N
    return _rows(N, C)


def _exact_softmax(Z: np.ndarray) -> np.ndarray:
    return losses.softmax(Z)


def _softmax_mistakes(Z: np.ndarray, P: np.ndarray) -> list[Mistake]:
    """Wrong probabilities a student could return for the logits Z (P is the right answer)."""
    with np.errstate(all="ignore"):
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        found: list[Mistake] = [
            (losses.softmax(Z.T).T, AXIS),
            *([(E / E.sum(), WHOLE_ARRAY), (np.exp(Z) / np.exp(Z).sum(), WHOLE_ARRAY)] if Z.shape[0] > 1 else []),
            (E, "is exp(Z - max) without the division: each row must be divided by its sum"),
            (losses.softmax(-Z), "uses exp(-Z): the softmax is exp(Z) / sum(exp(Z))"),
            (losses.log_softmax(Z), "returns log-probabilities: the softmax is exp of them"),
            (P.astype(np.float32).astype(np.float64), FLOAT32),  # anything within 1e-6 but not 1e-9
        ]
        if Z.shape[0] == Z.shape[1] > 1:
            shifted = np.exp(Z - Z.max(axis=1))
            found += [(shifted / shifted.sum(axis=1), KEEPDIMS), (shifted / shifted.sum(axis=1, keepdims=True), KEEPDIMS),
                      (E / E.sum(axis=1), KEEPDIMS)]
    return found


def _same_with_nonfinite(got: np.ndarray, wrong: np.ndarray) -> bool:
    """Equal NaN/inf entries in the same places, and the finite entries close."""
    if wrong.shape != got.shape:
        return False
    finite = np.isfinite(got)
    return (np.array_equal(finite, np.isfinite(wrong)) and np.array_equal(got[~finite], wrong[~finite], equal_nan=True)
            and np.allclose(got[finite], wrong[finite], rtol=1e-6, atol=1e-300))


def _judge(expected: np.ndarray, mistakes: list[Mistake], nonfinite: str, tolerance: float,
           atol: float = 0.0, batch: int = 0) -> Callable[[object], str | None]:
    """A case's verdict where NaN or inf has a known cause (overflow, log 0): that cause is named."""

    def judge(value: object) -> str | None:
        got = as_float_array(value)
        if got is not None and got.shape != expected.shape and got.size == expected.size == 1:
            got = got.reshape(expected.shape)
        if got is not None and close(got, expected, tolerance, atol):
            return None
        if got is not None and got.shape == expected.shape and not np.all(np.isfinite(got)):
            for wrong, message in mistakes:  # a known mistake that gives NaN or inf in the same places
                if _same_with_nonfinite(got, np.asarray(wrong, dtype=np.float64)):
                    return message
            return nonfinite
        return diagnose(value if got is None else got, expected, batch, mistakes).message

    return judge


def _large_logits(rng: np.random.Generator) -> list[np.ndarray]:
    """Logits of magnitude up to 1e4 (the curriculum's finite range), and up to 30 (accuracy)."""
    fixed = np.array([[1e4, 1e4 - 1.0, 1e4 - 2.5, -1e4],
                      [-1e4, -1e4 + 2.0, -1e4 + 0.5, -1e4 + 1.0],
                      [800.0, -800.0, 0.0, 799.0]])
    fixed = fixed[:, rng.permutation(4)]
    moderate = np.array([[30.0, -30.0, 0.0, 10.0], [-30.0, 30.0, 5.0, -10.0]])
    return [fixed, rng.uniform(-1e4, 1e4, size=(2, 5)), moderate]


# ---------------------------------------------------------------------------------------------
# softmax


def softmax_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for shape in _shapes(rng):
        Z = rng.normal(scale=3.0, size=shape)
        P = _exact_softmax(Z)
        cases.append(FunctionCase({"Z": Z}, {"values": P}, f"Z of shape {shape}", {"values": _softmax_mistakes(Z, P)},
                                  tolerance=VALUES_TOLERANCE, batch=shape[0]))
    for Z in _large_logits(rng):
        P = _exact_softmax(Z)
        with np.errstate(all="ignore"):
            mistakes = _softmax_mistakes(Z, P) + [
                (losses.softmax(np.clip(Z, -500, 500)), "clips the logits, which changes the probabilities: "
                 "subtract each row's max instead (softmax(z) = softmax(z - max))"),
                (np.exp(Z - Z.max()) / np.exp(Z - Z.max()).sum(axis=1, keepdims=True),
                 "shifts by the max of the whole batch, not each row's own: a row far below it underflows to 0 / 0"),
            ]
        cases.append(FunctionCase({"Z": Z}, {"large logits": P}, f"logits up to {np.abs(Z).max():.3g} in magnitude",
                                  reads={"large logits": "values"},
                                  judge=_judge(P, mistakes, OVERFLOW, 1e-6, batch=Z.shape[0])))
    return cases


# ---------------------------------------------------------------------------------------------
# log_softmax


def _log_softmax_mistakes(Z: np.ndarray) -> list[Mistake]:
    m = Z.max(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        lse = m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True))
        found: list[Mistake] = [
            (losses.log_softmax(Z.T).T, AXIS),
            *([(Z - m - np.log(np.exp(Z - m).sum()), WHOLE_ARRAY), (Z - lse.mean(), WHOLE_ARRAY)]
              if Z.shape[0] > 1 else []),
            (Z - np.log(np.exp(Z - m).sum(axis=1, keepdims=True)),
             "leaves the max out of log-sum-exp: log(sum(exp(Z))) = max + log(sum(exp(Z - max)))"),
            (losses.softmax(Z), "returns the probabilities, not their logarithm"),
            (Z - m, "is Z - max alone: subtract log(sum(exp(Z - max))) as well"),
            (lse - Z, "has the wrong sign: log p = Z - logsumexp(Z)"),
        ]
        if Z.shape[0] == Z.shape[1] > 1:
            m1 = Z.max(axis=1)
            found += [(Z - m1 - np.log(np.exp(Z - m1).sum(axis=1)), KEEPDIMS),
                      (Z - m - np.log(np.exp(Z - m).sum(axis=1)), KEEPDIMS),
                      (Z - lse[:, 0], KEEPDIMS)]
    return found


def log_softmax_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for shape in _shapes(rng):
        Z = rng.normal(scale=3.0, size=shape)
        cases.append(FunctionCase({"Z": Z}, {"values": losses.log_softmax(Z)}, f"Z of shape {shape}",
                                  {"values": _log_softmax_mistakes(Z)}, tolerance=VALUES_TOLERANCE, batch=shape[0]))
    for Z in _large_logits(rng):
        expected = losses.log_softmax(Z)
        with np.errstate(all="ignore"):
            P = losses.softmax(Z)
            mistakes = _log_softmax_mistakes(Z) + [
                (guarded, f"clips the probabilities at {eps:g} (or adds {eps:g}) before the log, which caps log p "
                 f"near {np.log(eps):.1f}: compute Z - max - log(sum(exp(Z - max)))")
                for eps in 10.0 ** -np.arange(4, 17) for guarded in (np.log(np.clip(P, eps, None)), np.log(P + eps))
            ]
        cases.append(FunctionCase({"Z": Z}, {"large logits": expected},
                                  f"logits up to {np.abs(Z).max():.3g} in magnitude", reads={"large logits": "values"},
                                  judge=_judge(expected, mistakes, LOG_OF_ZERO, 1e-6, batch=Z.shape[0])))
    return cases


# ---------------------------------------------------------------------------------------------
# softmax_cross_entropy

ONE_HOT_COLUMNS = ("builds the one-hot Y with Y[:, y] = 1, which fills whole columns: set one entry per row, "
                   "Y[np.arange(N), y] = 1")
FLOAT_LABELS = (" (the labels in this case are floats holding integers, such as 2.0: an index must be an integer, "
                "so convert them first, y.astype(int))")


def _reference_loss(Z: np.ndarray, y: np.ndarray) -> float:
    return losses.softmax_cross_entropy(Z, y)[0]


def _ce_mistakes(Z: np.ndarray, y: np.ndarray) -> dict[str, list[Mistake]]:
    N, C = Z.shape
    rows, labels = np.arange(N), y.astype(int)
    P, logP = losses.softmax(Z), losses.log_softmax(Z)
    Y = np.eye(C)[labels]
    Y_columns = np.zeros((N, C))
    Y_columns[:, labels] = 1.0
    P0, logP0 = losses.softmax(Z.T).T, losses.log_softmax(Z.T).T
    columns = N > 1  # with one example, Y[:, y] = 1 and logP[:, y] are right
    loss_mistakes: list[Mistake] = [
        (-logP[rows, labels], "returns one loss per example: the loss is their mean over the batch, a single number"),
        *([(-np.sum(Y_columns * logP) / N, ONE_HOT_COLUMNS),
           (-np.mean(logP[:, labels]), "takes logP[:, y], an (N, N) block, where one entry per row belongs: "
                                       "logP[np.arange(N), y]")] if columns else []),
        (-np.mean(logP0[rows, labels]), AXIS),
        (-np.mean(P[rows, labels]), "averages -p[y], the probabilities, not -log p[y]"),
        (-np.mean(Z[rows, labels]), "uses the logits Z where the log-probabilities log softmax(Z) belong"),
        (-np.sum(logP) / N, "sums log p over every class: only the label's entry, log p[n, y_n], counts"),
    ]
    with np.errstate(all="ignore"):
        dZ_mistakes: list[Mistake] = [
            ((Z - Y) / N, "uses the logits Z where the probabilities P = softmax(Z) belong: dZ = (P - Y) / N"),
            *([((P - Y_columns) / N, ONE_HOT_COLUMNS)] if columns else []),
            ((P0 - Y) / N, AXIS),
            ((P - 1) / N, "subtracts 1 from every entry: only the label's entry gets the -1 (Y is one-hot)"),
            (-Y / (P * N), "is dL/dP = -Y / (N P), the gradient with respect to the probabilities; the exercise asks "
                           "for dL/dZ = (P - Y) / N"),
            (P * (1 - P) * (P - Y) / N, "multiplies by p(1 - p) as well: with cross-entropy the softmax's derivative "
                                        "is already inside P - Y"),
            (P / N, "is P / N: the one-hot Y is missing, dZ = (P - Y) / N"),
        ]
    return {"loss": loss_mistakes, "dZ": dZ_mistakes}


def softmax_cross_entropy_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for i, shape in enumerate(_shapes(rng)):
        N, C = shape
        Z = rng.normal(scale=2.0, size=shape)
        y = rng.integers(0, C, size=N)
        if N > 1 and len(set(y)) == 1:
            y[0] = (y[0] + 1) % C  # two different labels: a column-wise one-hot shows
        floats = i == 2  # labels may arrive as floats holding integers
        y_given = y.astype(np.float64) if floats else y
        expected = {"loss": _reference_loss(Z, y),
                    "dZ": numerical_gradient(lambda v: _reference_loss(v, y), Z.copy())}
        cases.append(FunctionCase({"Z": Z, "y": y_given}, expected,
                                  f"Z of shape {shape}, {'float' if floats else 'integer'} labels",
                                  _ce_mistakes(Z, y), tolerance=GRADIENT_TOLERANCE, batch=N,
                                  hint=FLOAT_LABELS if floats else ""))
    large = [
        (np.array([[30.0, -30.0, 0.0, 10.0], [-30.0, 30.0, 5.0, -10.0], [30.0, -30.0, 0.0, 29.0]]), np.array([1, 1, 0])),
        (np.array([[30.0, -30.0, 0.0]]), np.array([0])),  # confidently right: the loss is about 1e-13
        (np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 500.0]]), np.array([1, 1])),
        (rng.uniform(-1e4, 1e4, size=(3, 4)), rng.integers(0, 4, size=3)),
    ]
    for Z, y in large:
        loss, dZ = losses.softmax_cross_entropy(Z, y)
        label = f"logits up to {np.abs(Z).max():.3g} in magnitude"
        P = losses.softmax(Z)
        rows = np.arange(Z.shape[0])
        with np.errstate(all="ignore"):
            loss_mistakes = _ce_mistakes(Z, y)["loss"] + [
                (-np.mean(np.log(guarded)), f"clips the probabilities at {eps:g} (or adds {eps:g}) before the log, "
                 f"which caps each example's loss near {-np.log(eps):.1f}: take the loss from the log-probabilities "
                 "(log_softmax) instead")
                for eps in 10.0 ** -np.arange(4, 17) for guarded in (np.clip(P[rows, y], eps, 1.0), P[rows, y] + eps)
            ]
        cases.append(FunctionCase({"Z": Z, "y": y}, {"large logits": loss}, f"{label}, the loss",
                                  reads={"large logits": "loss"},
                                  judge=_judge(np.asarray(loss), loss_mistakes, LOSS_NONFINITE, 1e-6, atol=1e-12,
                                               batch=Z.shape[0])))
        cases.append(FunctionCase({"Z": Z, "y": y}, {"large logits": dZ}, f"{label}, dZ", reads={"large logits": "dZ"},
                                  judge=_judge(dZ, _ce_mistakes(Z, y)["dZ"], "dZ " + OVERFLOW, 1e-6, atol=1e-12,
                                               batch=Z.shape[0])))
    return cases


# ---------------------------------------------------------------------------------------------
# softmax_jacobian


def _numerical_jacobian(z: np.ndarray) -> np.ndarray:
    """J[i, j] = dp_i / dz_j by central differences of the reference softmax, one row p_i at a time."""
    C = z.size
    return np.array([numerical_vjp(losses.softmax, z.copy(), np.eye(C)[i]) for i in range(C)])


def _jacobian_mistakes(z: np.ndarray) -> list[Mistake]:
    p = losses.softmax(z)
    C = p.size
    return [
        (np.diag(p), "is diag(p) alone: subtract the outer product p p^T (J[i, j] = p_i (delta_ij - p_j))"),
        (-np.outer(p, p), "is -p p^T alone: the diagonal term diag(p) is missing (J[i, j] = p_i (delta_ij - p_j))"),
        (np.diag(p * (1 - p)), "has only the diagonal p_i (1 - p_i): the off-diagonal entries -p_i p_j are missing"),
        (np.diag(p) - p @ p, "subtracts the dot product p . p (a number) from every entry where the outer product "
                             "p p^T belongs"),
        (np.diag(p) - (p**2)[:, None], "uses p_i twice in the off-diagonal term, p_i (delta_ij - p_i): the second "
                                       "factor is p_j (J[i, j] = p_i (delta_ij - p_j))"),
        (np.diag(p) - (p**2)[None, :], "uses p_j twice in the off-diagonal term, p_j (delta_ij - p_j): the first "
                                       "factor is p_i (J[i, j] = p_i (delta_ij - p_j))"),
        (np.diag(z) - np.outer(z, z), "uses the logits z where the probabilities p = softmax(z) belong"),
        (np.eye(C) - p[None, :], "is I - 1 p^T, the Jacobian of log_softmax: the softmax's has p_i in front, "
                                 "J[i, j] = p_i (delta_ij - p_j)"),
        (np.eye(C) - np.ones((C, C)), "is I - 1 1^T, as if every p_i were 1: the softmax was taken over an axis of "
                                      "length 1 (z as a column (C, 1)); pass z as (C,) or as a row z[None, :]"),
        (np.diag(p) - np.outer(p, p) - np.diag(p**2), "subtracts p_i^2 twice on the diagonal: diag(p) - p p^T "
                                                       "already has p_i - p_i^2 there"),
    ]


def softmax_jacobian_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for C in (int(rng.integers(3, 7)), 2, int(rng.integers(5, 9))):
        z = rng.normal(scale=2.0, size=C)
        cases.append(FunctionCase({"z": z}, {"J": _numerical_jacobian(z)}, f"z of shape ({C},)",
                                  {"J": _jacobian_mistakes(z)}, tolerance=GRADIENT_TOLERANCE))
    far = rng.choice([-1.0, 1.0]) * rng.uniform(1e3, 1e4)  # overflows (or underflows to 0 / 0) without a shift
    for z in (np.array([1000.0, 999.0, -1000.0, 998.5]), far + rng.normal(scale=1.5, size=5)):
        z = z[rng.permutation(z.size)]
        J = losses.softmax_jacobian(z)
        cases.append(FunctionCase({"z": z}, {"large logits": J}, f"logits up to {np.abs(z).max():.3g} in magnitude",
                                  reads={"large logits": "J"},
                                  judge=_judge(J, _jacobian_mistakes(z), "J " + OVERFLOW, 1e-6)))
    return cases


SOFTMAX = FunctionSpec("softmax", {"values": 2.0, "large logits": 1.0}, softmax_cases, unpack_single("values"),
                       references(losses.softmax, losses.log_softmax))
LOG_SOFTMAX = FunctionSpec("log_softmax", {"values": 2.0, "large logits": 1.0}, log_softmax_cases,
                           unpack_single("values"), references(losses.log_softmax),
                           substitutes={"softmax": losses.softmax})
SOFTMAX_CROSS_ENTROPY = FunctionSpec("softmax_cross_entropy", {"loss": 1.0, "dZ": 2.0, "large logits": 1.0},
                                     softmax_cross_entropy_cases, unpack_tuple(("loss", "dZ")),
                                     references(losses.softmax_cross_entropy),
                                     substitutes={"softmax": losses.softmax, "log_softmax": losses.log_softmax})
SOFTMAX_JACOBIAN = FunctionSpec("softmax_jacobian", {"J": 2.0, "large logits": 1.0}, softmax_jacobian_cases,
                                unpack_single("J"), references(losses.softmax_jacobian, losses.softmax_backward),
                                substitutes={"softmax": losses.softmax})

SPECS = {spec.name: spec for spec in (SOFTMAX, LOG_SOFTMAX, SOFTMAX_CROSS_ENTROPY, SOFTMAX_JACOBIAN)}
