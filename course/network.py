"""Fully connected networks whose parameters live in a dict: W1, b1, ..., WL, bL.

This is the form the chapters grade (`two_layer_loss`, `mlp_loss`): the layer number in a
key, not the dict's order, says where a parameter sits. Under the hood each network is a
`Sequential` of `backprop.modules` layers that shares (never copies) the dict's arrays.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from backprop.activations import Array, sigmoid
from backprop.losses import binary_cross_entropy_with_logits, softmax_cross_entropy
from backprop.modules import Activation, Layer, Linear, Sequential

Params = dict[str, Array]
LossFn = Callable[[Array, ArrayLike], tuple[float, Array]]

HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid")


def layer_count(params: Params) -> int:
    """The depth L of a params dict holding exactly W1..WL and b1..bL (L >= 1)."""
    numbers = sorted(int(m.group(1)) for key in params if (m := re.fullmatch(r"W(\d+)", key)))
    L = len(numbers)
    expected = {f"{p}{l}" for l in range(1, L + 1) for p in "Wb"}
    if L == 0 or numbers != list(range(1, L + 1)) or set(params) != expected:
        raise ValueError(f"params must hold W1..WL and b1..bL for some L >= 1, got keys {sorted(params)}")
    return L


def init_params(sizes: list[int], seed: int = 0, activation: str = "relu") -> Params:
    """Random weights for layer widths [D, H1, ..., C]: W_l of shape (sizes[l-1], sizes[l]), b_l zeros.

    Variance 2 / fan_in for ReLU (He), 1 / fan_in otherwise (LeCun), so activations keep their scale.
    """
    rng = np.random.default_rng(seed)
    gain = 2.0 if activation == "relu" else 1.0
    params: Params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        layer = Linear.init(rng, fan_in, fan_out, gain)
        params[f"W{l}"], params[f"b{l}"] = layer.params["W"], layer.params["b"]
    return params


def build_network(params: Params, activation: str = "relu") -> tuple[Sequential, dict[int, int]]:
    """The Sequential for a params dict, and a map from each Linear's position to its layer number."""
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"activation must be one of {HIDDEN_ACTIVATIONS}, got {activation!r}")
    stack: list[Layer] = []
    position_of_layer: dict[int, int] = {}
    for l in range(1, layer_count(params) + 1):
        if l > 1:
            stack.append(Activation(activation))
        position_of_layer[len(stack)] = l
        stack.append(Linear(params[f"W{l}"], params[f"b{l}"]))
    return Sequential(stack), position_of_layer


def network_loss(params: Params, X: Array, y: ArrayLike, loss: LossFn, activation: str = "relu") -> tuple[float, Params]:
    """Forward through the network, `loss` on its outputs, backward; returns (loss, grads keyed like params)."""
    net, position_of_layer = build_network(params, activation)
    out, caches = net.forward(np.asarray(X, dtype=np.float64))
    value, dout = loss(out, y)
    _, grads = net.backward(dout, caches, input_grad=False)
    named: Params = {}
    for position, l in position_of_layer.items():
        named[f"W{l}"], named[f"b{l}"] = grads[f"{position}.W"], grads[f"{position}.b"]
    return value, named


def mlp_loss(params: Params, X: Array, y: ArrayLike, activation: str = "relu") -> tuple[float, Params]:
    """Binary classifier of any depth: L affine layers, `activation` between them, one output unit,
    mean binary cross-entropy of its sigmoid (computed from the logit, so it never overflows).

    Inputs:
    - params: W1 (D, H1), b1 (H1,), ..., WL (H_{L-1}, 1), bL (1,)
    - X: inputs, shape (N, D)
    - y: 0/1 labels, shape (N,)
    - activation: "relu", "tanh" or "sigmoid"
    Returns:
    - loss: float
    - grads: dict with the keys and shapes of params
    """
    return network_loss(params, X, y, binary_cross_entropy_with_logits, activation)


def two_layer_loss(params: Params, X: Array, y: ArrayLike) -> tuple[float, Params]:
    """Affine, ReLU, affine, sigmoid, mean binary cross-entropy.

    Inputs:
    - params: W1 (D, H), b1 (H,), W2 (H, 1), b2 (1,)
    - X: inputs, shape (N, D)
    - y: 0/1 labels, shape (N,)
    Returns:
    - loss: float
    - grads: dW1 (D, H), db1 (H,), dW2 (H, 1), db2 (1,) under the keys W1, b1, W2, b2
    """
    if layer_count(params) != 2:
        raise ValueError(f"two_layer_loss takes W1, b1, W2, b2; got keys {sorted(params)}")
    return mlp_loss(params, X, y, "relu")


def softmax_mlp_loss(params: Params, X: Array, y: ArrayLike, activation: str = "relu") -> tuple[float, Params]:
    """Multi-class classifier: L affine layers, `activation` between, fused softmax cross-entropy.

    Inputs:
    - params: W1 (D, H1), b1 (H1,), ..., WL (H_{L-1}, C), bL (C,)
    - X: shape (N, D); y: integer labels in [0, C), shape (N,)
    Returns:
    - loss: float; grads: dict with the keys and shapes of params
    """
    return network_loss(params, X, y, softmax_cross_entropy, activation)


def forward_logits(params: Params, X: Array, activation: str = "relu") -> Array:
    """The network's last pre-activation, shape (N, C) (C = 1 for a binary classifier)."""
    net, _ = build_network(params, activation)
    return net.forward(np.asarray(X, dtype=np.float64))[0]


def predict(params: Params, X: Array, activation: str = "relu") -> Array:
    """Predicted labels, shape (N,): logit > 0 for one output unit, the argmax for several."""
    Z = forward_logits(params, X, activation)
    return (Z[:, 0] > 0).astype(np.int64) if Z.shape[1] == 1 else Z.argmax(axis=1)


def predict_proba(params: Params, X: Array, activation: str = "relu") -> Array:
    """For a binary classifier, P(y = 1 | x), shape (N,)."""
    return sigmoid(forward_logits(params, X, activation)[:, 0])


def accuracy(params: Params, X: Array, y: ArrayLike, activation: str = "relu") -> float:
    """Fraction of the examples whose predicted label equals y."""
    return float(np.mean(predict(params, X, activation) == np.asarray(y).astype(np.int64)))
