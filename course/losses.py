"""Losses, each returning `(loss, dinput)`: a scalar averaged over the batch, and its gradient.

The 1/N of the batch mean enters once, here, in the loss gradient; the layers below never
divide by N again. Class labels are integer indices `y` of shape (N,); binary labels are
0/1 (ints or floats) of shape (N,).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from backprop.activations import Array, sigmoid, softplus


def _batch_targets(y: ArrayLike, like: Array) -> Array:
    """Binary targets as float64 shaped like the predictions, (N,) or (N, 1)."""
    y = np.asarray(y, dtype=np.float64)
    if y.size != like.size:
        raise ValueError(f"{y.size} targets for {like.size} predictions of shape {like.shape}")
    return y.reshape(like.shape)


def mse_loss(Yhat: Array, Y: ArrayLike) -> tuple[float, Array]:
    """Mean squared error with the 1/2 that cancels the square's 2: (1 / 2N) sum ||yhat_n - y_n||^2.

    Inputs:
    - Yhat: predictions, shape (N,) or (N, K)
    - Y: targets, the same number of entries (reshaped to Yhat's shape)
    Returns:
    - loss: float
    - dYhat: (Yhat - Y) / N, shape of Yhat
    """
    Yhat = np.asarray(Yhat, dtype=np.float64)
    N = Yhat.shape[0]
    diff = Yhat - np.asarray(Y, dtype=np.float64).reshape(Yhat.shape)
    return float(0.5 * np.sum(diff**2) / N), diff / N


def binary_cross_entropy(A: Array, y: ArrayLike) -> tuple[float, Array]:
    """Binary cross-entropy from probabilities: -mean(y log a + (1 - y) log(1 - a)).

    This is the textbook form: it is infinite where a rounds to 0 or 1 on the wrong side,
    which a sigmoid does for |logit| > 37. Use `binary_cross_entropy_with_logits` to train.

    Inputs:
    - A: probabilities in (0, 1), shape (N,) or (N, 1)
    - y: 0/1 labels, N of them
    Returns:
    - loss: float
    - dA: (a - y) / (a (1 - a) N), shape of A
    """
    A = np.asarray(A, dtype=np.float64)
    y = _batch_targets(y, A)
    N = A.shape[0]
    loss = -np.sum(y * np.log(A) + (1 - y) * np.log1p(-A)) / N
    return float(loss), (A - y) / (A * (1 - A) * N)


def binary_cross_entropy_with_logits(Z: Array, y: ArrayLike) -> tuple[float, Array]:
    """Binary cross-entropy of sigmoid(Z), computed from the logits Z without overflow.

    Per example, -[y log s(z) + (1 - y) log(1 - s(z))] = (1 - y) softplus(z) + y softplus(-z), and
    its derivative is s(z) - y = (1 - y) s(z) - y s(-z). The textbook `softplus(z) - y z` and
    `s(z) - y` are the same numbers on paper, but they subtract two nearly equal values when the
    prediction is confidently right (z = 30, y = 1) and keep only a few correct digits.

    Inputs:
    - Z: logits, shape (N,) or (N, 1)
    - y: labels in [0, 1] (0/1, or soft targets), N of them
    Returns:
    - loss: float, the mean over the batch
    - dZ: (sigmoid(Z) - y) / N, shape of Z
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = _batch_targets(y, Z)
    N = Z.shape[0]
    loss = np.sum((1 - y) * softplus(Z) + y * softplus(-Z)) / N
    return float(loss), ((1 - y) * sigmoid(Z) - y * sigmoid(-Z)) / N


def softmax(Z: ArrayLike) -> Array:
    """Row-wise softmax, shifted by each row's max so no exp overflows.

    Inputs:
    - Z: logits, shape (N, C) (rows are examples) or (C,)
    Returns:
    - P: probabilities, same shape, each row summing to 1
    """
    Z = np.asarray(Z, dtype=np.float64)
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def log_softmax(Z: ArrayLike) -> Array:
    """Row-wise log of the softmax, via log-sum-exp: Z - max - log(sum(exp(Z - max))).

    Never -inf for finite logits, where log(softmax(Z)) is once a probability underflows. The
    max's own term, exactly 1, is taken out of the sum and log1p adds it back, so a row whose
    largest logit dominates keeps its digits (log(1 + 1e-13) would round to a multiple of 1e-16).

    Inputs:
    - Z: logits, shape (N, C) or (C,)
    Returns:
    - logP: same shape
    """
    Z = np.asarray(Z, dtype=np.float64)
    shifted = Z - Z.max(axis=-1, keepdims=True)
    E = np.exp(shifted)
    np.put_along_axis(E, shifted.argmax(axis=-1)[..., None], 0.0, axis=-1)
    return shifted - np.log1p(E.sum(axis=-1, keepdims=True))


def softmax_cross_entropy(Z: Array, y: ArrayLike) -> tuple[float, Array]:
    """Softmax followed by cross-entropy, fused: mean over the batch of -log p[n, y_n].

    Inputs:
    - Z: logits, shape (N, C)
    - y: integer class labels in [0, C), shape (N,) (floats holding integers are accepted)
    Returns:
    - loss: float
    - dZ: (P - Y) / N with Y the one-hot labels, shape (N, C)
    """
    Z = np.asarray(Z, dtype=np.float64)
    labels = np.asarray(y).astype(np.intp).reshape(-1)
    N = Z.shape[0]
    rows = np.arange(N)
    logP = log_softmax(Z)
    dZ = np.exp(logP)
    # p_y - 1 written as minus the other classes' probabilities: no cancellation when p_y is near 1.
    dZ[rows, labels] = 0.0
    dZ[rows, labels] = -dZ.sum(axis=1)
    return float(-logP[rows, labels].sum() / N), dZ / N


def softmax_jacobian(z: ArrayLike) -> Array:
    """The softmax's full Jacobian for one example: J[i, j] = dp_i / dz_j = p_i (delta_ij - p_j).

    Only for teaching: a backward pass never builds it (it is C x C), it uses the
    vector-Jacobian product dz = p * (dp - dp . p) instead.

    Inputs:
    - z: logits, shape (C,)
    Returns:
    - J: shape (C, C), symmetric, each row and column summing to 0
    """
    p = softmax(np.asarray(z, dtype=np.float64).reshape(-1))
    return np.diag(p) - np.outer(p, p)


def softmax_backward(dP: Array, P: Array) -> Array:
    """Vector-Jacobian product of the row-wise softmax, without the Jacobian.

    Inputs:
    - dP: upstream gradient, shape (N, C)
    - P: softmax output, shape (N, C)
    Returns:
    - dZ: P * (dP - sum(dP * P, axis=1)), shape (N, C)
    """
    return P * (dP - np.sum(dP * P, axis=-1, keepdims=True))
