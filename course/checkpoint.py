"""Gradient checkpointing: keep every k-th activation, recompute the rest during the backward pass.

Plain backprop keeps every layer's cache until the backward pass reaches it: memory O(L).
Keeping only the input of every k-th layer and recomputing one segment at a time keeps about
L/k checkpoints plus k caches alive; k = sqrt(L) makes that 2 sqrt(L), for one extra forward
of each layer outside the last segment.

The code below is instrumented: a ledger counts the bytes of every activation array it holds
(parameters excluded, an array shared by two caches counted once) and the layer forwards it runs.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backprop.activations import Array
from backprop.modules import Sequential


def _arrays(obj: Any) -> Iterator[np.ndarray]:
    """Every NumPy array inside a cache (nested tuples, lists and dicts)."""
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _arrays(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _arrays(item)


class ActivationLedger:
    """Counts the bytes of the activation arrays currently held, and the largest count seen."""

    def __init__(self, parameters: dict[str, Array]) -> None:
        self._not_activations = {id(p) for p in parameters.values()}
        self._holders: Counter[int] = Counter()
        self._sizes: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def hold(self, obj: Any) -> None:
        for array in _arrays(obj):
            key = id(array)
            if key in self._not_activations:
                continue
            if self._holders[key] == 0:
                self._sizes[key] = array.nbytes
                self.current += array.nbytes
            self._holders[key] += 1
        self.peak = max(self.peak, self.current)

    def release(self, obj: Any) -> None:
        for array in _arrays(obj):
            key = id(array)
            if key in self._not_activations:
                continue
            self._holders[key] -= 1
            if self._holders[key] == 0:
                del self._holders[key]
                self.current -= self._sizes.pop(key)


@dataclass
class BackpropResult:
    """What one forward/backward pass produced and what it cost.

    - loss: the scalar loss
    - grads: gradients keyed like the network's params ('index.name')
    - dX: gradient of the input, shape of X (None unless asked for)
    - peak_activation_bytes: the most activation bytes held at once
    - layer_forwards: every layer forward run, recomputations included
    - recomputed_forwards: layer_forwards minus the number of layers
    - segment: the checkpoint spacing k used (L for plain backprop)
    """

    loss: float
    grads: dict[str, Array] = field(repr=False)
    dX: Array | None = field(repr=False)
    peak_activation_bytes: int
    layer_forwards: int
    recomputed_forwards: int
    segment: int


def checkpoint_plan(n_layers: int, segment: int) -> tuple[int, int]:
    """What checkpointing every `segment` layers costs, counted in arrays and layer forwards.

    Inputs:
    - n_layers: L, the number of layers
    - segment: k, the checkpoint spacing, 1 <= k <= L
    Returns a tuple (kept, recomputed):
    - kept: activation arrays alive at once, at most: ceil(L/k) checkpoints + k caches of one segment
    - recomputed: layer forwards run again in the backward pass: every layer outside the last segment,
      whose caches the forward pass keeps (L - k when k divides L)
    """
    L, k = int(n_layers), int(segment)
    if not 1 <= k <= L:
        raise ValueError(f"segment must be between 1 and {L} (the number of layers), got {segment}")
    segments = math.ceil(L / k)
    last = L - k * (segments - 1)
    return segments + k, L - last


def optimal_segment(n_layers: int) -> int:
    """The spacing k that minimises L/k + k kept arrays: the integer nearest sqrt(L), at least 1."""
    return max(1, round(math.sqrt(n_layers)))


def checkpointed_backprop(
    net: Sequential,
    X: Array,
    loss_fn: Callable[[Array], tuple[float, Array]],
    segment: int | None = None,
    input_grad: bool = False,
) -> BackpropResult:
    """Forward and backward through `net`, keeping only the input of every `segment`-th layer.

    Inputs:
    - net: a Sequential of L layers
    - X: inputs, shape (N, D)
    - loss_fn: loss_fn(out) -> (scalar loss, dout of out's shape)
    - segment: checkpoint spacing k in 1..L; None or L is plain backprop (every cache kept)
    - input_grad: also return dX
    Returns:
    - BackpropResult; its grads equal plain backprop's for every k
    """
    layers = net.layers
    L = len(layers)
    k = L if segment is None else int(segment)
    if not 1 <= k <= L:
        raise ValueError(f"segment must be between 1 and {L} (the number of layers), got {segment}")
    starts = list(range(0, L, k))
    ledger = ActivationLedger(net.params)
    forwards = 0

    def run_segment(x: Array, start: int, stop: int) -> tuple[Array, list[Any]]:
        """Forward through layers[start:stop], holding their caches; returns the output and caches."""
        nonlocal forwards
        caches = []
        for layer in layers[start:stop]:
            x, cache = layer.forward(x)
            ledger.hold(cache)
            caches.append(cache)
            forwards += 1
        return x, caches

    # Forward: every segment but the last keeps only its input; the last keeps its caches,
    # since the backward pass starts there and would recompute them at once.
    checkpoints: list[Array] = []
    x = X
    for start in starts[:-1]:
        checkpoints.append(x)
        ledger.hold(x)
        for layer in layers[start : start + k]:
            x = layer.forward(x)[0]
            forwards += 1
    out, caches = run_segment(x, starts[-1], L)
    ledger.hold(out)
    loss, dout = loss_fn(out)
    ledger.release(out)
    del out

    grads: dict[str, Array] = {}
    for s in range(len(starts) - 1, -1, -1):
        start, stop = starts[s], min(starts[s] + k, L)
        if s < len(starts) - 1:
            _, caches = run_segment(checkpoints[s], start, stop)
            ledger.release(checkpoints.pop())
        for i in range(stop - 1, start - 1, -1):
            dout, layer_grads = layers[i].backward(dout, caches[i - start], input_grad=input_grad or i > 0)
            grads.update({f"{i}.{name}": g for name, g in layer_grads.items()})
            ledger.release(caches[i - start])
            caches[i - start] = None
    return BackpropResult(
        loss=float(loss),
        grads=grads,
        dX=dout if input_grad else None,
        peak_activation_bytes=ledger.peak,
        layer_forwards=forwards,
        recomputed_forwards=forwards - L,
        segment=k,
    )
