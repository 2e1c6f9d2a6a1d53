"""Every layer's backward equals the finite-difference vector-Jacobian product of its forward."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop import layers
from backprop.gradcheck import numerical_vjp, relative_error
from conftest import off_kink

sizes = st.integers(min_value=1, max_value=7)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@given(N=sizes, D=sizes, M=sizes, seed=seeds)
def test_linear_backward(N, D, M, seed):
    rng = np.random.default_rng(seed)
    X, W, b, dZ = (rng.standard_normal(s) for s in [(N, D), (D, M), (M,), (N, M)])
    before = [a.copy() for a in (X, W, b, dZ)]
    Z, cache = layers.linear_forward(X, W, b)
    dX, dW, db = layers.linear_backward(dZ, cache)
    assert Z.shape == (N, M) and dX.shape == X.shape and dW.shape == W.shape and db.shape == b.shape
    assert relative_error(dX, numerical_vjp(lambda x: layers.linear_forward(x, W, b)[0], X.copy(), dZ)) < 1e-7
    assert relative_error(dW, numerical_vjp(lambda w: layers.linear_forward(X, w, b)[0], W.copy(), dZ)) < 1e-7
    assert relative_error(db, numerical_vjp(lambda c: layers.linear_forward(X, W, c)[0], b.copy(), dZ)) < 1e-7
    for original, after in zip(before, (X, W, b, dZ)):
        np.testing.assert_array_equal(original, after)


@pytest.mark.parametrize("name", sorted(layers.ACTIVATIONS))
@given(N=sizes, M=sizes, seed=seeds)
def test_activation_backward(name, N, M, seed):
    forward, backward = layers.ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    Z = off_kink(rng, (N, M))
    dA = rng.standard_normal((N, M))
    before = (Z.copy(), dA.copy())
    A, cache = forward(Z)
    dZ = backward(dA, cache)
    assert A.shape == Z.shape and dZ.shape == Z.shape
    assert relative_error(dZ, numerical_vjp(lambda z: forward(z)[0], Z.copy(), dA)) < 1e-7
    np.testing.assert_array_equal(before[0], Z)
    np.testing.assert_array_equal(before[1], dA)


def test_relu_mask_comes_from_the_pre_activation():
    Z = np.array([[-1.0, 2.0], [3.0, -4.0]])
    _, cache = layers.relu_forward(Z)
    dA = np.array([[5.0, -6.0], [-7.0, 8.0]])  # a mask taken from dA's sign would differ
    np.testing.assert_array_equal(layers.relu_backward(dA, cache), [[0.0, -6.0], [-7.0, 0.0]])


def test_saturated_sigmoid_and_tanh_still_pass_gradient():
    Z = np.array([[25.0, -25.0]])
    assert np.all(layers.sigmoid_backward(np.ones_like(Z), layers.sigmoid_forward(Z)[1]) > 0)
    assert np.all(layers.tanh_backward(np.ones_like(Z), layers.tanh_forward(Z)[1]) > 0)
