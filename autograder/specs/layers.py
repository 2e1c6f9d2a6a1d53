"""Chapter 3's layers: linear, ReLU, sigmoid and tanh, forward and backward."""
from __future__ import annotations

import numpy as np

from autograder.layer_grading import Case, LayerSpec, off_kink, references
from backprop import activations, layers, modules

# (N, D, M), the most telling first: non-square, square (a transpose keeps its shape), batch 1, D = 1, M = 1.
LINEAR_SHAPES = [(4, 5, 3), (3, 3, 3), (1, 3, 2), (2, 1, 4), (5, 2, 1)]
ELEMENTWISE_SHAPES = [(3, 5), (4, 4), (1, 4), (2, 1)]


def linear_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    return [
        Case({"X": rng.standard_normal((N, D)), "W": rng.standard_normal((D, M)), "b": rng.standard_normal(M)},
             rng.standard_normal((N, M)), N)
        for N, D, M in LINEAR_SHAPES
    ]


def elementwise_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    return [Case({"Z": off_kink(rng, shape)}, rng.standard_normal(shape), shape[0]) for shape in ELEMENTWISE_SHAPES]


def linear_backward_mistakes(case: Case, expected: dict) -> dict:
    X, W, dZ = case.inputs["X"], case.inputs["W"], case.dout
    square = W.shape[0] == W.shape[1]  # only then does dZ @ W have the right shape
    return {
        "dX": [(dZ @ W, "multiplies dZ by W where W.T belongs (dX = dZ @ W.T)")] if square else [],
        "dW": [(dZ.T @ X, "is dZ.T @ X, the transpose of X.T @ dZ")],
        "db": [(dZ.sum(axis=1), "was summed over the wrong axis (axis 1); sum over the batch, axis 0"),
               (dZ[0], "is the first example's gradient only; sum over the whole batch (axis 0)")],
    }


def relu_backward_mistakes(case: Case, expected: dict) -> dict:
    Z, dA = case.inputs["Z"], case.dout
    return {"dZ": [
        (dA * (dA > 0), "takes the mask from the sign of dA; it comes from the pre-activation Z (Z > 0)"),
        ((Z > 0).astype(float), "is the mask alone; multiply the upstream gradient dA by it"),
        (dA * np.maximum(Z, 0), "multiplies dA by ReLU(Z) instead of its derivative (1 where Z > 0, else 0)"),
        (dA * (Z < 0), "has the mask inverted: the gradient passes where Z > 0"),
        (dA, "passes dA through unchanged: the mask (Z > 0) is missing"),
    ]}


def sigmoid_backward_mistakes(case: Case, expected: dict) -> dict:
    Z, dA = case.inputs["Z"], case.dout
    A = activations.sigmoid(Z)
    return {"dZ": [
        (dA * Z * (1 - Z), "uses Z where A = sigmoid(Z) belongs: the derivative is A * (1 - A)"),
        (dA * activations.sigmoid(A) * (1 - activations.sigmoid(A)), "applies the sigmoid twice: A is already sigmoid(Z)"),
        (A * (1 - A), "is the local derivative alone; multiply by the upstream gradient dA"),
        (dA * A, "drops the (1 - A) factor: the derivative is A * (1 - A)"),
        (dA * (1 - A), "drops the A factor: the derivative is A * (1 - A)"),
    ]}


def tanh_backward_mistakes(case: Case, expected: dict) -> dict:
    Z, dA = case.inputs["Z"], case.dout
    A = np.tanh(Z)
    return {"dZ": [
        (dA * (1 - Z**2), "uses Z where A = tanh(Z) belongs: the derivative is 1 - A**2"),
        (dA * (1 - np.tanh(A) ** 2), "applies tanh twice: A is already tanh(Z)"),
        (1 - A**2, "is the local derivative alone; multiply by the upstream gradient dA"),
        (dA * (1 - A), "uses 1 - A where 1 - A**2 belongs"),
        (dA * (1 - A) * (1 + A) * 2, "has a stray factor of 2"),
    ]}


def activation_forward_mistakes(name: str):
    def mistakes(case: Case) -> list:
        Z = case.inputs["Z"]
        common = [(Z, "returns Z unchanged: the activation is not applied")]
        if name == "relu":
            return common + [((Z > 0).astype(float), "returns the mask (Z > 0) instead of max(Z, 0)"),
                             (np.minimum(Z, 0), "keeps the negative part: ReLU is max(Z, 0)")]
        if name == "sigmoid":
            return common + [(1 / (1 + np.exp(Z)), "computes 1 / (1 + exp(Z)); the sigmoid has exp(-Z)")]
        return common
    return mistakes


def linear_forward_mistakes(case: Case) -> list:
    X, W, b = case.inputs["X"], case.inputs["W"], case.inputs["b"]
    return [(X @ W, "leaves out the bias b"), (X @ W - b, "subtracts the bias; Z = X @ W + b")]


LINEAR = LayerSpec(
    forward="linear_forward",
    backward="linear_backward",
    trusted_forward=layers.linear_forward,
    reference_backward=layers.linear_backward,
    grad_names=("dX", "dW", "db"),
    make_cases=linear_cases,
    forward_mistakes=linear_forward_mistakes,
    backward_mistakes=linear_backward_mistakes,
    reference_code=references(layers.linear_forward, layers.linear_backward, modules.Linear.forward,
                              modules.Linear.backward),
    fallback_caches=lambda case: [(case.inputs["X"], case.inputs["W"], case.inputs["b"])],
)


def _activation(name: str, mistakes, derivative) -> LayerSpec:
    forward, backward = layers.ACTIVATIONS[name]
    return LayerSpec(
        forward=f"{name}_forward",
        backward=f"{name}_backward",
        trusted_forward=forward,
        reference_backward=backward,
        grad_names=("dZ",),
        make_cases=elementwise_cases,
        forward_mistakes=activation_forward_mistakes(name),
        backward_mistakes=mistakes,
        reference_code=references(forward, backward, derivative, modules.Activation.forward, modules.Activation.backward),
        # Common cache layouts: Z, or A = activation(Z).
        fallback_caches=lambda case: [forward(case.inputs["Z"])[0]],
    )


RELU = _activation("relu", relu_backward_mistakes, activations.relu_prime)
SIGMOID = _activation("sigmoid", sigmoid_backward_mistakes, activations.sigmoid_prime)
TANH = _activation("tanh", tanh_backward_mistakes, activations.tanh_prime)

LAYERS = (LINEAR, RELU, SIGMOID, TANH)
SPECS = {spec.forward: spec for spec in LAYERS} | {spec.backward: spec for spec in LAYERS}


def reference_pair(spec: LayerSpec):
    """The trusted forward and backward of a layer, stand-ins for a student's wrong pair."""
    return spec.trusted_forward, spec.reference_backward
