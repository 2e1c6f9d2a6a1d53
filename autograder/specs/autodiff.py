"""Chapter 2's class `Value`: a scalar reverse-mode autodiff engine.

Each probe builds one small expression twice, with the student's class and with the reference
one, and compares the output's value and every leaf's gradient after backward(). The probes are
grouped into parts so a mistake is named where it lies: a wrong local derivative, a fan-out that
keeps one contribution (= for +=), or a backward pass in the wrong order.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from autograder.function_grading import FunctionCase, FunctionSpec
from autograder.layer_grading import references
from backprop.autodiff import value as reference_module
from backprop.autodiff.value import Value as Reference

Build = Callable[[type, list[float]], tuple[Any, list[Any]]]  # (class, inputs) -> (output node, leaves)


def _leaves(V: type, xs: list[float]) -> list[Any]:
    return [V(x) for x in xs]


def _probe(build: Build, xs: list[float]) -> Callable[[type], dict[str, Any]]:
    def run(V: type) -> dict[str, Any]:
        out, leaves = build(V, xs)
        out.backward()
        return {"value": float(out.data), "grads": [float(leaf.grad) for leaf in leaves]}

    return run


def unary(method: str) -> Build:
    def build(V, xs):
        (a,) = leaves = _leaves(V, xs)
        return getattr(a, method)(), leaves
    return build


def binary(op: Callable[[Any, Any], Any]) -> Build:
    def build(V, xs):
        a, b = leaves = _leaves(V, xs)
        return op(a, b), leaves
    return build


def with_number(op: Callable[[Any], Any]) -> Build:
    def build(V, xs):
        (a,) = leaves = _leaves(V, xs)
        return op(a), leaves
    return build


def fan_out(V, xs):
    a, b = leaves = _leaves(V, xs)
    c = a * b
    return c * a + c + a * a, leaves  # a reaches the output along four paths


def diamond(V, xs):
    a, b, c = leaves = _leaves(V, xs)
    x = a * b
    y = x.tanh()
    z = x * c + y
    return (z * y + x).sigmoid() * c, leaves  # x and y feed several later nodes


def chain_with_branches(V, xs):
    a, b = leaves = _leaves(V, xs)
    h = a
    for _ in range(6):
        h = (h * b + a).tanh() + h * 0.5  # every step reuses h, a and b
    return h, leaves


def _cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)

    def positive() -> float:
        return float(rng.uniform(0.5, 2.5))

    def signed() -> float:
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 2.0))

    probes: list[tuple[str, str, Build, list[float]]] = [
        ("local derivatives", "a + b", binary(lambda a, b: a + b), [signed(), signed()]),
        ("local derivatives", "a - b", binary(lambda a, b: a - b), [signed(), signed()]),
        ("local derivatives", "a * b", binary(lambda a, b: a * b), [signed(), signed()]),
        ("local derivatives", "a / b", binary(lambda a, b: a / b), [signed(), signed()]),
        ("local derivatives", "-a", with_number(lambda a: -a), [signed()]),
        ("local derivatives", "a ** 3", with_number(lambda a: a**3), [signed()]),
        ("local derivatives", "a ** -1.5", with_number(lambda a: a**-1.5), [positive()]),
        ("local derivatives", "a.exp()", unary("exp"), [signed()]),
        ("local derivatives", "a.log()", unary("log"), [positive()]),
        ("local derivatives", "a.tanh()", unary("tanh"), [signed()]),
        ("local derivatives", "a.sigmoid()", unary("sigmoid"), [signed()]),
        ("local derivatives", "a.relu() for a > 0", unary("relu"), [positive()]),
        ("local derivatives", "a.relu() for a < 0", unary("relu"), [-positive()]),
        ("numbers on either side", "2 * a", with_number(lambda a: 2 * a), [signed()]),
        ("numbers on either side", "a * 2", with_number(lambda a: a * 2), [signed()]),
        ("numbers on either side", "1 - a", with_number(lambda a: 1 - a), [signed()]),
        ("numbers on either side", "a - 1", with_number(lambda a: a - 1), [signed()]),
        ("numbers on either side", "3 / a", with_number(lambda a: 3 / a), [signed()]),
        ("numbers on either side", "a / 3", with_number(lambda a: a / 3), [signed()]),
        ("numbers on either side", "1 + a", with_number(lambda a: 1 + a), [signed()]),
        ("paths summed", "a * a", binary(lambda a, b: a * a + b * 0), [signed(), signed()]),
        ("paths summed", "a + a", binary(lambda a, b: a + a + b * 0), [signed(), signed()]),
        ("paths summed", "c * a + c + a * a with c = a * b", fan_out, [signed(), signed()]),
        ("reverse order", "a diamond: x = a * b feeds tanh, a product and the sum", diamond,
         [signed(), signed(), signed()]),
        ("reverse order", "a chain of 6 steps reusing a and b", chain_with_branches, [signed() * 0.5, signed() * 0.5]),
    ]
    cases = []
    for part, label, build, xs in probes:
        run = _probe(build, xs)
        expected = run(Reference)
        cases.append(FunctionCase({"probe": run}, {part: expected}, f"`{label}`",
                                  judge=_judge(label, part, xs, expected)))
    return cases


def _close(got: Any, want: Any) -> bool:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and bool(np.all(np.isfinite(got))) and bool(
        np.all(np.abs(got - want) <= 1e-9 * np.abs(want) + 1e-12))


def _judge(label: str, part: str, xs: list[float], expected: dict[str, Any]) -> Callable[[Any], str | None]:
    """A judge for one probe: None if the student's engine got it right, else what is wrong and why."""
    value, grads = expected["value"], expected["grads"]
    names = "abc"[: len(grads)]

    def show(numbers: list[float]) -> str:
        return ", ".join(f"{n}.grad = {g:.6g}" for n, g in zip(names, numbers))

    def judge(result: Any) -> str | None:
        if not isinstance(result, dict) or "value" not in result:
            return "could not be run"
        if not _close(result["value"], value):
            return f"computes {result['value']:.6g}; the value is {value:.6g}"
        got = result["grads"]
        if _close(got, grads):
            return None
        if not any(got) and any(grads):
            return "leaves every grad at 0: backward() must set the output's grad to 1, then run each node's step"
        if part == "paths summed":
            return (f"gives {show(got)}, expected {show(grads)}: a node used more than once must receive every "
                    "contribution (accumulate with +=, never =)")
        if part == "reverse order":
            return (f"gives {show(got)}, expected {show(grads)}: a node must pass its gradient on only after every "
                    "node that uses it has passed theirs: walk the graph in reverse topological order")
        return f"gives {show(got)}, expected {show(grads)}" + _local_hint(label, xs, got)

    return judge


def _local_hint(label: str, xs: list[float], got: list[float]) -> str:
    """A named cause for a wrong local derivative, when the wrong number matches a common one."""
    a = xs[0]
    known = {
        "a.tanh()": (1 - a * a, "uses a where tanh(a) belongs: the derivative is 1 - tanh(a)**2"),
        "a.sigmoid()": (1 / (1 + math.exp(-a)), "uses sigmoid(a) as its own derivative: it is sigmoid(a) * (1 - sigmoid(a))"),
        "a.exp()": (a, "uses a as the derivative of exp(a), which is exp(a) itself"),
        "a.log()": (1.0, "the derivative of log(a) is 1 / a"),
        "a ** 3": (3 * a**3, "the derivative of a**n is n * a**(n - 1)"),
    }
    if label in known and _close(got[0], known[label][0]):
        return f": {known[label][1]}"
    if label in ("a / b", "a - b") and len(got) == 2 and got[1] > 0:
        return ": b's gradient has the wrong sign"
    return ""


def _invoke(student_class: Any, args: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(student_class, type):
        raise TypeError(f"Value should be a class; it is a {type(student_class).__name__}")
    return args["probe"](student_class)


def _unpack(result: Any) -> dict[str, Any]:
    return {part: result for part in ("local derivatives", "numbers on either side", "paths summed", "reverse order")}


VALUE = FunctionSpec(
    "Value",
    {"local derivatives": 3.0, "numbers on either side": 1.0, "paths summed": 2.0, "reverse order": 2.0},
    _cases,
    _unpack,
    references(*[m for m in vars(Reference).values() if callable(m)], reference_module.topological_order,
               reference_module.backward_steps),
    invoke=_invoke,
)

SPECS = {"Value": VALUE}
