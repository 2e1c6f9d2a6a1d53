"""Layer objects and Sequential networks agree with finite differences and share their parameters."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backprop.gradcheck import numerical_vjp
from backprop.modules import Activation, Linear, Sequential, mlp
from conftest import assert_matches_numeric, off_kink

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
@given(N=st.integers(1, 5), widths=st.lists(st.integers(1, 5), min_size=2, max_size=5), seed=seeds)
def test_sequential_backward(activation, N, widths, seed):
    net = mlp(widths, activation, seed=seed % 1000)
    rng = np.random.default_rng(seed)
    for name, param in net.params.items():
        if name.endswith(".b"):  # zero biases behind a dead ReLU would sit exactly on the kink
            param[...] = off_kink(rng, param.shape, margin=0.1)
    X = rng.standard_normal((N, widths[0]))
    out, caches = net.forward(X)
    if activation in ("relu", "leaky_relu"):  # finite differences must not straddle a kink
        assume(all(np.abs(np.asarray(c if isinstance(c, np.ndarray) else c[0])).min() > 0.05
                   for layer, c in zip(net.layers, caches) if not layer.params))
    dout = rng.standard_normal(out.shape)
    dX, grads = net.backward(dout, caches)
    f_scale = float(np.sum(np.abs(out * dout)))  # the size of the scalar being differenced
    assert_matches_numeric(dX, numerical_vjp(lambda x: net.forward(x)[0], X.copy(), dout), f_scale)
    assert set(grads) == set(net.params)
    for name, param in net.params.items():
        assert grads[name].shape == param.shape
        assert_matches_numeric(grads[name], numerical_vjp(lambda _: net.forward(X)[0], param, dout), f_scale)


def test_first_layer_input_gradient_can_be_skipped():
    net = mlp([3, 4, 2])
    X = np.ones((2, 3))
    out, caches = net.forward(X)
    dX, grads = net.backward(np.ones_like(out), caches, input_grad=False)
    assert dX is None
    _, grads_full = net.backward(np.ones_like(out), caches)
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads_full[k])


def test_sequential_shares_parameter_arrays():
    layer = Linear(np.zeros((2, 3)), np.zeros(3))
    net = Sequential([layer, Activation("tanh")])
    net.params["0.W"][0, 0] = 5.0
    assert layer.params["W"][0, 0] == 5.0


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        Activation("swish")


def test_he_initialisation_keeps_relu_activations_at_scale():
    net = mlp([256] * 11, "relu", seed=1)
    X = np.random.default_rng(0).standard_normal((512, 256))
    out, _ = net.forward(X)
    assert 0.3 < out.std() / X.std() < 3.0
