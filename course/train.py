"""Plain (minibatch) stochastic gradient descent with a loss history."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from backprop.activations import Array

Params = dict[str, Array]
LossAndGrads = Callable[[Params, Array, ArrayLike], tuple[float, Params]]


@dataclass
class TrainResult:
    """The trained parameters and the mean training loss of each epoch."""

    params: Params
    losses: list[float] = field(default_factory=list)


def sgd(
    loss_fn: LossAndGrads,
    params: Params,
    X: Array,
    y: ArrayLike,
    lr: float = 0.1,
    epochs: int = 100,
    batch_size: int | None = None,
    seed: int = 0,
    on_epoch: Callable[[int, float, Params], None] | None = None,
) -> TrainResult:
    """Train with p <- p - lr * dL/dp, one step per minibatch, reshuffled every epoch.

    Inputs:
    - loss_fn: loss_fn(params, X_batch, y_batch) -> (loss, grads with params' keys)
    - params: the starting point; not modified (training works on a copy)
    - X: shape (N, D); y: N labels
    - lr: learning rate
    - epochs: passes over the data
    - batch_size: examples per step; None for full-batch gradient descent
    - seed: for the shuffling
    - on_epoch: called as on_epoch(epoch, mean_loss, params) after each epoch (live plots)
    Returns:
    - TrainResult with the trained params and the per-epoch mean losses
    """
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    N = X.shape[0]
    batch_size = N if batch_size is None else batch_size
    rng = np.random.default_rng(seed)
    result = TrainResult(params)
    for epoch in range(epochs):
        order = rng.permutation(N) if batch_size < N else np.arange(N)
        total = 0.0
        for start in range(0, N, batch_size):
            batch = order[start : start + batch_size]
            loss, grads = loss_fn(params, X[batch], y[batch])
            for name, grad in grads.items():
                params[name] -= lr * grad
            total += loss * len(batch)
        result.losses.append(total / N)
        if on_epoch is not None:
            on_epoch(epoch, result.losses[-1], params)
    return result
