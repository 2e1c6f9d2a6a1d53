"""Layers as pairs of functions: `*_forward(...) -> (out, cache)` and `*_backward(dout, cache)`.

The course's contract (CS231n's): a forward returns its output and a cache of what its
backward needs; the backward takes the upstream gradient `dout` (same shape as `out`) and the
cache, and returns the gradients of the forward's array arguments, in their order. Batches are
rows: `X` has shape (N, D). Nothing here modifies its inputs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from backprop.activations import (
    Array,
    leaky_relu,
    leaky_relu_prime,
    sigmoid,
    sigmoid_prime,
    tanh_prime,
)


def linear_forward(X: Array, W: Array, b: Array) -> tuple[Array, tuple[Array, Array]]:
    """Affine layer Z = X @ W + b.

    Inputs:
    - X: inputs, shape (N, D)
    - W: weights, shape (D, M)
    - b: biases, shape (M,)
    Returns:
    - Z: outputs, shape (N, M)
    - cache: (X, W)
    """
    return X @ W + b, (X, W)


def linear_backward(dZ: Array, cache: tuple[Array, Array]) -> tuple[Array, Array, Array]:
    """Backward pass of the affine layer.

    Inputs:
    - dZ: upstream gradient, shape (N, M)
    - cache: (X, W) from linear_forward
    Returns:
    - dX: shape (N, D) = dZ @ W.T
    - dW: shape (D, M) = X.T @ dZ   (each example's outer product, summed over the batch)
    - db: shape (M,)  = dZ summed over the batch axis
    """
    X, W = cache
    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)


def relu_forward(Z: Array) -> tuple[Array, Array]:
    """ReLU, A = max(Z, 0). Inputs: Z of any shape. Returns: A (same shape), cache Z."""
    return np.maximum(Z, 0.0), Z


def relu_backward(dA: Array, cache: Array) -> Array:
    """Backward ReLU: dZ = dA where Z > 0, else 0.

    Inputs:
    - dA: upstream gradient, same shape as Z
    - cache: Z from relu_forward (the mask comes from the pre-activation, not from dA)
    Returns:
    - dZ: same shape as Z
    """
    return dA * (cache > 0)  # a multiply by the boolean mask is ~5x faster than np.where here


def leaky_relu_forward(Z: Array, alpha: float = 0.01) -> tuple[Array, tuple[Array, float]]:
    """Leaky ReLU, A = Z where Z > 0, else alpha * Z. Returns A (shape of Z), cache (Z, alpha)."""
    return leaky_relu(Z, alpha), (Z, alpha)


def leaky_relu_backward(dA: Array, cache: tuple[Array, float]) -> Array:
    """Backward leaky ReLU: dZ = dA * (1 where Z > 0, else alpha); same shape as Z."""
    Z, alpha = cache
    return dA * leaky_relu_prime(Z, alpha)


def sigmoid_forward(Z: Array) -> tuple[Array, Array]:
    """Sigmoid, A = 1 / (1 + exp(-Z)). Inputs: Z of any shape. Returns: A, cache Z."""
    return sigmoid(Z), Z


def sigmoid_backward(dA: Array, cache: Array) -> Array:
    """Backward sigmoid: dZ = dA * sigmoid(Z) * sigmoid(-Z); same shape as Z.

    Computed from Z (kept in the cache) because A * (1 - A) loses all digits once A rounds to 1.
    """
    return dA * sigmoid_prime(cache)


def tanh_forward(Z: Array) -> tuple[Array, Array]:
    """Tanh, A = tanh(Z). Inputs: Z of any shape. Returns: A, cache Z."""
    return np.tanh(Z), Z


def tanh_backward(dA: Array, cache: Array) -> Array:
    """Backward tanh: dZ = dA / cosh(Z)^2; same shape as Z."""
    return dA * tanh_prime(cache)


# Each activation by the name the chapters use: (forward, backward).
ACTIVATIONS: dict[str, tuple[Any, Any]] = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}
