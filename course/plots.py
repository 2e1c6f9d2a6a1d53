"""Figures the chapters and the demo share: loss curves and decision boundaries (matplotlib)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from backprop.activations import Array


def plot_losses(losses: Sequence[float], ax: Axes | None = None, label: str | None = None) -> Axes:
    """The training loss per epoch on a log scale (a straight fall reads as steady progress)."""
    ax = ax or plt.figure(figsize=(5, 3.5)).gca()
    ax.semilogy(np.arange(1, len(losses) + 1), losses, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.grid(True, which="both", alpha=0.3)
    if label:
        ax.legend()
    return ax


def plot_decision_boundary(
    predict: Callable[[Array], Array], X: Array, y: Array, ax: Axes | None = None, resolution: int = 200
) -> Axes:
    """Colour the plane by the predicted class and scatter the data on top.

    Inputs:
    - predict: maps points of shape (M, 2) to labels of shape (M,)
    - X: data, shape (N, 2); y: labels, shape (N,)
    """
    ax = ax or plt.figure(figsize=(4.5, 4)).gca()
    pad = 0.5
    (x0, y0), (x1, y1) = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    labels = predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    classes = int(max(labels.max(), np.max(y))) + 1
    ax.contourf(gx, gy, labels, levels=np.arange(classes + 1) - 0.5, cmap="coolwarm", alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=12, edgecolors="k", linewidths=0.3)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    return ax
