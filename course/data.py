"""Small 2-D data sets made with NumPy alone, seeded so every run is the same.

Each returns X of shape (N, 2) (float64) and integer labels y of shape (N,).
"""
from __future__ import annotations

import numpy as np

from backprop.activations import Array


def xor(n_per_corner: int = 50, noise: float = 0.15, seed: int = 0) -> tuple[Array, Array]:
    """Points around the four corners of the unit square, labelled x1 XOR x2.

    n_per_corner=1, noise=0 gives the classic four points (0,0)->0, (0,1)->1, (1,0)->1, (1,1)->0,
    which no linear classifier separates.
    """
    rng = np.random.default_rng(seed)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    X = np.repeat(corners, n_per_corner, axis=0)
    y = np.repeat(np.array([0, 1, 1, 0]), n_per_corner)
    return X + noise * rng.standard_normal(X.shape), y


def two_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[Array, Array]:
    """Two interleaved half circles: class 0 the upper arc, class 1 the lower arc shifted right.

    Inputs: n points in all (the upper arc gets the odd one), Gaussian noise of std `noise`.
    """
    rng = np.random.default_rng(seed)
    n_upper = n - n // 2
    t_upper = np.linspace(0, np.pi, n_upper)
    t_lower = np.linspace(0, np.pi, n // 2)
    upper = np.column_stack([np.cos(t_upper), np.sin(t_upper)])
    lower = np.column_stack([1 - np.cos(t_lower), 0.5 - np.sin(t_lower)])
    X = np.vstack([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n // 2, dtype=np.int64)])
    order = rng.permutation(n)
    return X[order], y[order]


def spirals(n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0) -> tuple[Array, Array]:
    """`classes` arms of a spiral winding out from the origin, one class per arm."""
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.0, 1.0, n_per_class)
    X = np.empty((n_per_class * classes, 2))
    y = np.repeat(np.arange(classes), n_per_class)
    for k in range(classes):
        angle = np.linspace(4.0 * k, 4.0 * (k + 1), n_per_class) + noise * rng.standard_normal(n_per_class)
        X[k * n_per_class : (k + 1) * n_per_class] = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    return X, y
