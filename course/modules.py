"""Layers as objects that hold their parameters, for networks deeper chapters compose.

A `Layer` wraps one forward/backward pair of `backprop.layers`. It keeps no activations
itself: `forward` hands back the cache and `backward` takes it, so whoever runs the network
decides what stays in memory (that is what checkpointing changes).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from backprop import layers
from backprop.activations import Array

Cache = Any
Grads = dict[str, Array]


class Layer:
    """A differentiable map from (N, D_in) to (N, D_out) with named parameters (possibly none)."""

    params: dict[str, Array]

    def __init__(self) -> None:
        self.params = {}

    def forward(self, X: Array) -> tuple[Array, Cache]:
        """X of shape (N, D_in) -> (out of shape (N, D_out), cache for backward)."""
        raise NotImplementedError

    def backward(self, dout: Array, cache: Cache, input_grad: bool = True) -> tuple[Array | None, Grads]:
        """dout of shape (N, D_out) -> (dX of shape (N, D_in), or None if not input_grad; grads by param name)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


class Linear(Layer):
    """Affine layer Z = X @ W + b with W of shape (D, M) and b of shape (M,)."""

    def __init__(self, W: Array, b: Array) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}

    @classmethod
    def init(cls, rng: np.random.Generator, fan_in: int, fan_out: int, gain: float = 2.0) -> "Linear":
        """Random W with variance gain / fan_in (He for ReLU with gain 2, LeCun with 1), zero b."""
        W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(gain / fan_in)
        return cls(W, np.zeros(fan_out))

    def forward(self, X: Array) -> tuple[Array, Cache]:
        return layers.linear_forward(X, self.params["W"], self.params["b"])

    def backward(self, dout: Array, cache: Cache, input_grad: bool = True) -> tuple[Array | None, Grads]:
        X, W = cache
        # The first layer's dX is a full matmul nobody uses; skipping it saves a third of that layer's backward.
        dX = dout @ W.T if input_grad else None
        return dX, {"W": X.T @ dout, "b": dout.sum(axis=0)}


class Activation(Layer):
    """An elementwise activation named as in `backprop.layers.ACTIVATIONS`; no parameters."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in layers.ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; expected one of {sorted(layers.ACTIVATIONS)}")
        self.name = name
        self._forward, self._backward = layers.ACTIVATIONS[name]

    def forward(self, X: Array) -> tuple[Array, Cache]:
        return self._forward(X)

    def backward(self, dout: Array, cache: Cache, input_grad: bool = True) -> tuple[Array | None, Grads]:
        return self._backward(dout, cache), {}

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


class Sequential(Layer):
    """Layers applied one after the other; its params are the layers' params, keyed 'index.name'."""

    def __init__(self, stack: list[Layer]) -> None:
        super().__init__()
        self.layers = list(stack)
        self.params = {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    def forward(self, X: Array) -> tuple[Array, list[Cache]]:
        """X of shape (N, D_in) -> (out, the list of every layer's cache)."""
        caches = []
        for layer in self.layers:
            X, cache = layer.forward(X)
            caches.append(cache)
        return X, caches

    def backward(self, dout: Array, cache: list[Cache], input_grad: bool = True) -> tuple[Array | None, Grads]:
        """Walks the layers in reverse; returns dX (or None) and grads keyed like self.params."""
        grads: Grads = {}
        for i in range(len(self.layers) - 1, -1, -1):
            dout, layer_grads = self.layers[i].backward(dout, cache[i], input_grad=input_grad or i > 0)
            grads.update({f"{i}.{k}": g for k, g in layer_grads.items()})
        return dout, grads

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


def mlp(sizes: list[int], activation: str = "relu", seed: int = 0) -> Sequential:
    """Linear layers of the given widths with `activation` between them (none after the last).

    Inputs:
    - sizes: [D, H1, ..., HK, C], at least two entries
    - activation: hidden activation name
    - seed: for the He/LeCun initialisation
    Returns:
    - a Sequential of len(sizes) - 1 Linear layers and len(sizes) - 2 activations
    """
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
    rng = np.random.default_rng(seed)
    gain = 2.0 if activation in ("relu", "leaky_relu") else 1.0
    stack: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            stack.append(Activation(activation))
        stack.append(Linear.init(rng, fan_in, fan_out, gain))
    return Sequential(stack)
