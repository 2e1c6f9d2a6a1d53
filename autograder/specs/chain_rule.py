"""Chapter 1's graded functions: sigmoid, sigmoid_prime, add_mul_grads, neuron_grads."""
from __future__ import annotations

import numpy as np

from autograder.function_grading import FunctionCase, FunctionSpec, unpack_single, unpack_tuple
from autograder.layer_grading import references
from backprop import activations, losses
from backprop.gradcheck import numerical_gradient


def _moderate(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    return rng.uniform(-scale, scale, size=shape)


def sigmoid_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    # Arrays of both signs first: they tell mistakes apart that a single positive z cannot.
    cases = [FunctionCase({"z": _moderate(rng, shape, 8.0)}, {"values": None}, f"z of shape {shape}")
             for shape in [(5,), (3, 4), (1,)]]
    cases.append(FunctionCase({"z": float(rng.uniform(-6, 6))}, {"values": None}, "a scalar z"))
    cases.append(FunctionCase({"z": np.array([-30.0, -12.0, 12.0, 30.0])}, {"values": None}, "z = -30, -12, 12, 30",
                              tolerance=1e-6))
    cases.append(FunctionCase({"z": np.array([-1000.0, -710.0, 710.0, 1000.0])}, {"large z": None},
                              "z = -1000, -710, 710, 1000", tolerance=1e-6, strict_warnings=True,
                              reads={"large z": "values"}))
    for case in cases:
        part = next(iter(case.expected))
        z = case.args["z"]
        case.expected[part] = activations.sigmoid(z)
        case.mistakes[part] = [
            (1 / (1 + np.exp(np.clip(z, -700, 700))), "computes 1 / (1 + exp(z)); the sigmoid has exp(-z)"),
            (np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))), "returns sigmoid(-|z|): the branch for z >= 0 is missing"),
        ]
    cases[-1].mistakes["large z"].append((np.full(4, np.nan), "gives NaN for large |z| (inf / inf)"))
    return cases


def sigmoid_prime_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    args = [float(rng.uniform(-5, 5)), _moderate(rng, (6,), 8.0), _moderate(rng, (2, 3), 8.0), np.array([0.0])]
    cases = []
    for z in args:
        s = activations.sigmoid(z)
        cases.append(FunctionCase({"z": z}, {"values": activations.sigmoid_prime(z)}, f"z of shape {np.shape(z)}",
                                  {"values": [(s, "returns sigmoid(z) itself, not its derivative"),
                                              (s * (1 + s), "uses (1 + s) where (1 - s) belongs"),
                                              (np.asarray(z) * (1 - np.asarray(z)), "uses z where s = sigmoid(z) belongs"),
                                              (s**2, "returns sigmoid(z)**2; the derivative is s * (1 - s)")]},
                                  tolerance=1e-8, exact={"values": activations.sigmoid_prime(z)}))
    return cases


def add_mul_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(4):
        x, y, z = (float(v) for v in rng.uniform(-5, 5, 3))
        cases.append(FunctionCase(
            {"x": x, "y": y, "z": z},
            {"f": (x + y) * z, "dx": z, "dy": z, "dz": x + y},
            f"x={x:.3g}, y={y:.3g}, z={z:.3g}",
            {"f": [(x + y * z, "computes x + y * z: the sum must be taken first, f = (x + y) * z")],
             "dx": [(1.0, "is dq/dx = 1 alone: multiply by df/dq = z (the chain rule)"),
                    (x + y, "is x + y, which is df/dz; df/dx = z")],
             "dy": [(1.0, "is dq/dy = 1 alone: multiply by df/dq = z (the chain rule)"),
                    (x + y, "is x + y, which is df/dz; df/dy = z")],
             "dz": [(x * y, "is x * y; f = (x + y) * z, so df/dz = x + y"),
                    (z, "is z; df/dz = x + y (z is the derivative with respect to x and y)")]},
            tolerance=1e-12, exact={"dx": z, "dy": z, "dz": x + y}))
    return cases


def _bce(x: np.ndarray, w: np.ndarray, b: float, y: float) -> float:
    return losses.binary_cross_entropy_with_logits(np.array([w @ x + b]), np.array([y]))[0]


def neuron_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for D in (3, 1, 5, 2):
        x, w = rng.normal(size=D), rng.normal(size=D)
        b, y = float(rng.normal()), float(rng.integers(0, 2))
        cases.append(_neuron_case(x, w, b, y, f"D={D}, y={y:g}"))
    # Confident predictions: the loss must come from the logit (clipping probabilities fails here).
    for z_target, y in ((30.0, 0.0), (-30.0, 1.0), (30.0, 1.0), (-1000.0, 1.0)):
        x, w = np.array([1.0, 2.0]), np.array([z_target / 3, z_target / 3])  # w @ x = z_target
        cases.append(_neuron_case(x, w, 0.0, y, f"logit {z_target:g}, y={y:g}", large=True))
    return cases


def _neuron_case(x, w, b, y, label, large=False) -> FunctionCase:
    args = {"x": x, "w": w, "b": b, "y": y}
    loss = _bce(x, w, b, y)
    if large:
        part = "loss (|logit| up to 1000)"
        with np.errstate(all="ignore"):
            a = 1 / (1 + np.exp(-(w @ x + b)))
            naive = -(y * np.log(a) + (1 - y) * np.log(1 - a))
            clipped = -(y * np.log(np.clip(a, 1e-8, 1 - 1e-8)) + (1 - y) * np.log(np.clip(1 - a, 1e-8, 1 - 1e-8)))
        fix = "compute the loss from the logit z: softplus(z) - y z, with softplus(z) = max(z, 0) + log1p(exp(-|z|))"
        mistakes = {part: [(naive, f"takes log(a) and log(1 - a), which lose their digits once a is near 0 or 1: {fix}"),
                           (clipped, f"clips the probability, which changes the loss of a confident prediction: {fix}")]}
        # Relative 1e-6, or 1e-12 absolute: a confident right answer's loss (~1e-13) may be off by ~1e-15.
        return FunctionCase(args, {part: loss}, label, mistakes, tolerance=1e-6, atol=1e-12, strict_warnings=True,
                            reads={part: "loss"})
    a = float(activations.sigmoid(w @ x + b))
    dw = numerical_gradient(lambda v: _bce(x, v, b, y), w.copy())
    db = numerical_gradient(lambda v: _bce(x, w, float(v[0]), y), np.array([b]))[0]
    mistakes = {
        "loss": [(-(y * np.log(a) + (1 - y) * np.log(1 - a)) * 2, "is twice the loss")],
        "dw": [((a - y) * w, "multiplies by w where x belongs: dz/dw = x"),
               (a * (1 - a) * (a - y) * x, "multiplies by a(1 - a) again: with cross-entropy, dL/dz = a - y already"),
               ((y - a) * x, "has the wrong sign: dL/dz = a - y")],
        "db": [(a * (1 - a) * (a - y), "multiplies by a(1 - a) again: with cross-entropy, dL/dz = a - y already"),
               (y - a, "has the wrong sign: dL/dz = a - y")],
    }
    # The oracle is central differences (good to ~1e-9, hence the tolerance); a right answer is the analytic one.
    return FunctionCase(args, {"loss": loss, "dw": dw, "db": db}, label, mistakes, tolerance=1e-7,
                        exact={"dw": (a - y) * x, "db": a - y})


SIGMOID = FunctionSpec("sigmoid", {"values": 2.0, "large z": 1.0}, sigmoid_cases, unpack_single("values"),
                       references(activations.sigmoid))
SIGMOID_PRIME = FunctionSpec("sigmoid_prime", {"values": 1.0}, sigmoid_prime_cases, unpack_single("values"),
                             references(activations.sigmoid_prime), substitutes={"sigmoid": activations.sigmoid})
ADD_MUL_GRADS = FunctionSpec("add_mul_grads", {"f": 1.0, "dx": 1.0, "dy": 1.0, "dz": 1.0}, add_mul_cases,
                             unpack_tuple(("f", "dx", "dy", "dz")))
NEURON_GRADS = FunctionSpec("neuron_grads", {"loss": 1.0, "dw": 1.0, "db": 1.0, "loss (|logit| up to 1000)": 1.0},
                            neuron_cases, unpack_tuple(("loss", "dw", "db")),
                            substitutes={"sigmoid": activations.sigmoid, "sigmoid_prime": activations.sigmoid_prime})

SPECS = {spec.name: spec for spec in (SIGMOID, SIGMOID_PRIME, ADD_MUL_GRADS, NEURON_GRADS)}
