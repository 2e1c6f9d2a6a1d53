"""Numerical gradients: the trusted oracle that every analytic backward is checked against.

Central differences, (f(x + h) - f(x - h)) / 2h, have truncation error O(h^2) against the
one-sided difference's O(h); with round-off O(eps / h) added, h near 1e-5 is best in float64.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from backprop.activations import Array


def _nudged(x: Array, index: tuple[int, ...], f: Callable[[], object], h: float) -> tuple[object, object]:
    """f() evaluated with x[index] moved by +h and by -h; x[index] restored exactly afterwards."""
    original = x[index]
    try:
        x[index] = original + h
        plus = f()
        x[index] = original - h
        minus = f()
    finally:
        x[index] = original
    return plus, minus


def numerical_gradient(f: Callable[[Array], float], x: Array, h: float = 1e-5) -> Array:
    """Central-difference gradient of a scalar function of an array.

    Inputs:
    - f: function of x returning a scalar
    - x: float64 array of any shape; nudged in place entry by entry, and left exactly as it was
    - h: step
    Returns:
    - grad: same shape as x, grad[i] = (f(x + h e_i) - f(x - h e_i)) / 2h
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        plus, minus = _nudged(x, index, lambda: f(x), h)
        grad[index] = (float(plus) - float(minus)) / (2 * h)
    return grad


def numerical_vjp(f: Callable[[Array], Array], x: Array, dout: Array, h: float = 1e-5) -> Array:
    """Central-difference vector-Jacobian product of an array function: the gradient of sum(f(x) * dout).

    This is what a backward pass computes, so it checks a layer's backward against its forward.

    Inputs:
    - f: function of x returning an array of dout's shape
    - x: float64 array of any shape; left exactly as it was
    - dout: upstream gradient, shape of f(x)
    - h: step
    Returns:
    - dx: same shape as x
    """
    dx = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        plus, minus = _nudged(x, index, lambda: np.array(f(x), dtype=np.float64), h)
        dx[index] = np.sum((plus - minus) * dout) / (2 * h)
    return dx


def relative_error(a: np.typing.ArrayLike, b: np.typing.ArrayLike) -> float:
    """||a - b|| / (||a|| + ||b||), in [0, 1]; 0 when both are zero (no 0/0).

    Rough guide in float64 with central differences: below 1e-7 is right, 1e-7 to 1e-4 needs a
    look (kinks, saturation), above 1e-4 is almost surely a bug.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def gradient_check(
    loss_fn: Callable[[dict[str, Array]], float],
    params: Mapping[str, Array],
    grads: Mapping[str, Array],
    h: float = 1e-5,
) -> dict[str, float]:
    """Relative error of each parameter group's analytic gradient against central differences.

    Inputs:
    - loss_fn: loss_fn(params) -> scalar loss
    - params: dict name -> array; not modified (the check nudges copies)
    - grads: dict with the same keys, each the same shape as its parameter
    - h: step
    Returns:
    - errors: dict name -> relative error, one group at a time so a bug is located
    """
    missing = set(params) ^ set(grads)
    if missing:
        raise KeyError(f"params and grads have different keys: {sorted(missing)}")
    working = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    return {
        name: relative_error(grads[name], numerical_gradient(lambda _: loss_fn(working), working[name], h))
        for name in params
    }


def random_unit_direction(shape: tuple[int, ...], seed: int = 0) -> Array:
    """A direction drawn uniformly from the unit sphere in R^shape (a Gaussian, normalised)."""
    d = np.random.default_rng(seed).standard_normal(shape)
    return d / np.linalg.norm(d)


def directional_check(f: Callable[[Array], float], x: Array, grad: Array, seed: int = 0, h: float = 1e-5) -> float:
    """Check a gradient along one random direction with two evaluations of f instead of 2 per entry.

    For a unit direction d, d . grad should equal (f(x + h d) - f(x - h d)) / 2h.

    Inputs:
    - f: scalar function of x
    - x: float64 array (not modified)
    - grad: the analytic gradient, shape of x
    - seed: chooses the direction
    - h: step
    Returns:
    - the relative error between the two directional derivatives
    """
    d = random_unit_direction(x.shape, seed)
    numeric = (float(f(x + h * d)) - float(f(x - h * d))) / (2 * h)
    return relative_error(np.sum(d * grad), numeric)
