"""Checkpointing: the same gradients as plain backprop, for O(sqrt L) activation memory."""
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop.checkpoint import checkpoint_plan, checkpointed_backprop, optimal_segment
from backprop.losses import softmax_cross_entropy
from backprop.modules import Activation, Linear, Sequential


def deep_stack(n_blocks, width=16, seed=0):
    """n_blocks of (Linear, tanh): 2 * n_blocks layers, all of width `width`."""
    rng = np.random.default_rng(seed)
    stack = []
    for _ in range(n_blocks):
        stack += [Linear.init(rng, width, width, gain=1.0), Activation("tanh")]
    return Sequential(stack)


def problem(net, N, seed=0):
    rng = np.random.default_rng(seed)
    width = net.layers[0].params["W"].shape[0]
    X = rng.standard_normal((N, width))
    y = rng.integers(0, width, N)
    return X, (lambda out: softmax_cross_entropy(out, y))


@given(n_blocks=st.integers(1, 12), data=st.data())
def test_every_spacing_gives_plain_backprops_gradients(n_blocks, data):
    net = deep_stack(n_blocks, width=5, seed=n_blocks)
    L = len(net.layers)
    k = data.draw(st.integers(1, L))
    X, loss_fn = problem(net, N=3)
    plain = checkpointed_backprop(net, X, loss_fn, input_grad=True)
    ckpt = checkpointed_backprop(net, X, loss_fn, segment=k, input_grad=True)
    assert ckpt.loss == plain.loss and set(ckpt.grads) == set(net.params)
    for name in plain.grads:
        np.testing.assert_allclose(ckpt.grads[name], plain.grads[name], rtol=1e-12, atol=0)
    np.testing.assert_allclose(ckpt.dX, plain.dX, rtol=1e-12, atol=0)
    assert 0 <= ckpt.recomputed_forwards <= L  # at most one extra forward per layer
    assert plain.recomputed_forwards == 0


def test_plain_backprop_matches_sequential_backward():
    net = deep_stack(4)
    X, loss_fn = problem(net, N=5)
    out, caches = net.forward(X)
    _, dout = loss_fn(out)
    dX, grads = net.backward(dout, caches)
    result = checkpointed_backprop(net, X, loss_fn, input_grad=True)
    np.testing.assert_array_equal(result.dX, dX)
    for name in grads:
        np.testing.assert_array_equal(result.grads[name], grads[name])


def test_64_layer_stack_keeps_order_sqrt_L_layers_of_activations():
    net = deep_stack(32, width=32)
    L = len(net.layers)
    assert L == 64
    N, width = 256, 32
    one_layer = N * width * 8  # bytes of one layer's activations
    X, loss_fn = problem(net, N)
    plain = checkpointed_backprop(net, X, loss_fn)
    k = optimal_segment(L)
    ckpt = checkpointed_backprop(net, X, loss_fn, segment=k)
    assert k == 8
    assert plain.peak_activation_bytes >= (L - 1) * one_layer
    # L/k checkpoints + k caches, plus the small output: 2 sqrt(L) = 16 layers' worth.
    assert ckpt.peak_activation_bytes <= (2 * math.sqrt(L) + 1) * one_layer
    assert ckpt.recomputed_forwards == L - k


def test_tracemalloc_agrees_that_checkpointing_saves_memory():
    net = deep_stack(32, width=32)
    X, loss_fn = problem(net, N=512)

    def traced_peak(segment):
        tracemalloc.start()
        checkpointed_backprop(net, X, loss_fn, segment=segment)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    L = len(net.layers)
    plain, ckpt = traced_peak(None), traced_peak(optimal_segment(L))
    assert ckpt < 0.4 * plain, (ckpt, plain)


@pytest.mark.parametrize("segment", [0, -1, 100])
def test_bad_segment_is_a_clear_error(segment):
    net = deep_stack(3)
    X, loss_fn = problem(net, 2)
    with pytest.raises(ValueError, match="segment must be between 1 and 6"):
        checkpointed_backprop(net, X, loss_fn, segment=segment)


def test_optimal_segment():
    assert [optimal_segment(L) for L in (1, 2, 16, 64, 256, 1000)] == [1, 1, 4, 8, 16, 32]


@given(L=st.integers(1, 300), data=st.data())
def test_checkpoint_plan_counts_what_the_reference_recomputes(L, data):
    k = data.draw(st.integers(1, L))
    kept, recomputed = checkpoint_plan(L, k)
    assert kept == math.ceil(L / k) + k
    assert 0 <= recomputed <= L - 1 and (recomputed == L - k if L % k == 0 else recomputed == L - L % k)


@pytest.mark.parametrize("L, k", [(1, 1), (6, 1), (6, 6), (7, 3), (16, 4)])
def test_checkpoint_plan_matches_the_instrumented_run(L, k):
    net = deep_stack(L, width=4)
    X, loss_fn = problem(net, N=2)
    result = checkpointed_backprop(net, X, loss_fn, segment=k)
    assert checkpoint_plan(2 * L, k)[1] == result.recomputed_forwards


def test_checkpoint_plan_rejects_a_bad_spacing():
    with pytest.raises(ValueError, match="segment must be between 1 and 4"):
        checkpoint_plan(4, 5)
