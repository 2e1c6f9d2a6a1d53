"""Elementwise activation functions and their derivatives, written to stay accurate.

The textbook forms `1 / (1 + exp(-z))` and `s * (1 - s)` overflow or lose every digit
once |z| passes about 30; the forms below do neither, for any float64 input.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def sigmoid(z: ArrayLike) -> Array:
    """Logistic function 1 / (1 + exp(-z)), elementwise.

    Inputs:
    - z: scalar or array of any shape.
    Returns:
    - s: float64 of the same shape (a NumPy scalar for a scalar z), in [0, 1].
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))  # never overflows: the exponent is <= 0
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))[()]


def sigmoid_prime(z: ArrayLike) -> Array:
    """Derivative of the sigmoid, sigmoid(z) * sigmoid(-z), elementwise.

    Written with exp(-|z|) because `s * (1 - s)` cancels to zero once s rounds to 1.

    Inputs:
    - z: scalar or array of any shape.
    Returns:
    - ds: float64 of the same shape, in [0, 1/4].
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return (e / (1.0 + e) ** 2)[()]


def tanh(z: ArrayLike) -> Array:
    """Hyperbolic tangent, elementwise. Inputs: z of any shape. Returns: same shape."""
    return np.tanh(np.asarray(z, dtype=np.float64))[()]


def tanh_prime(z: ArrayLike) -> Array:
    """Derivative of tanh, 1 / cosh(z)^2 = 4 e / (1 + e)^2 with e = exp(-2|z|), elementwise.

    `1 - tanh(z)**2` is exactly 0 once tanh rounds to 1 (|z| > 19); this form is not.

    Inputs:
    - z: scalar or array of any shape.
    Returns:
    - dt: float64 of the same shape, in [0, 1].
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-2.0 * np.abs(z))
    return (4.0 * e / (1.0 + e) ** 2)[()]


def relu(z: ArrayLike) -> Array:
    """max(z, 0), elementwise. Inputs: z of any shape. Returns: same shape."""
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)[()]


def relu_prime(z: ArrayLike) -> Array:
    """1 where z > 0, else 0 (the kink at 0 takes the left derivative). Same shape as z."""
    return (np.asarray(z) > 0).astype(np.float64)[()]


def leaky_relu(z: ArrayLike, alpha: float = 0.01) -> Array:
    """z where z > 0, else alpha * z, elementwise. Same shape as z."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, alpha * z)[()]


def leaky_relu_prime(z: ArrayLike, alpha: float = 0.01) -> Array:
    """1 where z > 0, else alpha, elementwise. Same shape as z."""
    return np.where(np.asarray(z) > 0, 1.0, alpha)[()]


def softplus(z: ArrayLike) -> Array:
    """log(1 + exp(z)), elementwise, without overflow: max(z, 0) + log1p(exp(-|z|))."""
    z = np.asarray(z, dtype=np.float64)
    return (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))))[()]
