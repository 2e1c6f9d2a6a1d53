"""Losses: gradients against finite differences, and values that stay finite and accurate."""
from decimal import Decimal, getcontext

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop import losses
from backprop.gradcheck import numerical_gradient, numerical_vjp, relative_error

sizes = st.integers(min_value=1, max_value=6)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def check_loss_gradient(loss_fn, Z, target, h=1e-5):
    before = Z.copy()
    loss, dZ = loss_fn(Z, target)
    assert isinstance(loss, float) and dZ.shape == Z.shape
    np.testing.assert_array_equal(Z, before)
    assert relative_error(dZ, numerical_gradient(lambda z: loss_fn(z, target)[0], Z.copy(), h)) < 1e-7


@given(N=sizes, K=sizes, seed=seeds)
def test_mse(N, K, seed):
    rng = np.random.default_rng(seed)
    check_loss_gradient(losses.mse_loss, rng.standard_normal((N, K)), rng.standard_normal((N, K)))


@given(N=sizes, seed=seeds, column=st.booleans())
def test_binary_cross_entropies(N, seed, column):
    rng = np.random.default_rng(seed)
    Z = 3 * rng.standard_normal((N, 1) if column else (N,))
    y = rng.integers(0, 2, N).astype(float)
    check_loss_gradient(losses.binary_cross_entropy_with_logits, Z, y)
    A = 1 / (1 + np.exp(-Z))
    # log(a) curves sharply near 0 and 1: a step much smaller than a and 1 - a keeps the oracle exact.
    check_loss_gradient(losses.binary_cross_entropy, A, y, h=1e-4 * min(A.min(), 1 - A.max()))
    assert losses.binary_cross_entropy(A, y)[0] == pytest.approx(losses.binary_cross_entropy_with_logits(Z, y)[0], rel=1e-9, abs=0)


@given(N=sizes, C=st.integers(2, 6), seed=seeds)
def test_softmax_cross_entropy(N, C, seed):
    rng = np.random.default_rng(seed)
    Z = 2 * rng.standard_normal((N, C))
    y = rng.integers(0, C, N)
    check_loss_gradient(losses.softmax_cross_entropy, Z, y)
    loss, dZ = losses.softmax_cross_entropy(Z, y)
    P = losses.softmax(Z)
    assert loss == pytest.approx(-np.mean(np.log(P[np.arange(N), y])), rel=1e-12, abs=0)
    Y = np.eye(C)[y]
    np.testing.assert_allclose(dZ, (P - Y) / N, atol=1e-15)


def test_labels_may_arrive_as_floats():
    Z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
    assert losses.softmax_cross_entropy(Z, np.array([2.0, 0.0]))[0] == losses.softmax_cross_entropy(Z, np.array([2, 0]))[0]


@given(C=st.integers(1, 7), seed=seeds)
def test_softmax_jacobian_is_the_derivative(C, seed):
    z = np.random.default_rng(seed).standard_normal(C)
    J = losses.softmax_jacobian(z)
    numeric = np.array([numerical_vjp(losses.softmax, z.copy(), np.eye(C)[i]) for i in range(C)])
    assert J.shape == (C, C)
    assert relative_error(J, numeric) < 1e-7
    np.testing.assert_allclose(J.sum(axis=0), 0, atol=1e-15)


@given(N=sizes, C=st.integers(1, 7), seed=seeds)
def test_softmax_backward_is_the_jacobian_product_without_the_jacobian(N, C, seed):
    rng = np.random.default_rng(seed)
    Z, dP = rng.standard_normal((N, C)), rng.standard_normal((N, C))
    expected = np.stack([losses.softmax_jacobian(Z[n]).T @ dP[n] for n in range(N)])
    np.testing.assert_allclose(losses.softmax_backward(dP, losses.softmax(Z)), expected, atol=1e-14)


def test_softmax_survives_logits_of_magnitude_ten_thousand():
    Z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1, -1e4 + 2]])
    P = losses.softmax(Z)
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(P[1], losses.softmax(np.array([0.0, 1.0, 2.0])))
    logP = losses.log_softmax(Z)
    assert np.all(np.isfinite(logP)) and logP[0, 2] == -2e4


def test_naive_softmax_fails_where_ours_does_not():
    with np.errstate(all="ignore"):
        naive = np.exp([1000.0, 0.0]) / np.exp([1000.0, 0.0]).sum()
    assert np.isnan(naive).any()
    np.testing.assert_allclose(losses.softmax(np.array([1000.0, 0.0])), [1.0, 0.0])


def exact_bce(z: float, y: float) -> tuple[float, float]:
    """Binary cross-entropy of one logit and its derivative s(z) - y, to 60 digits."""
    getcontext().prec = 60
    z_, y_ = Decimal(z), Decimal(y)
    loss = (1 + z_.exp()).ln() - y_ * z_
    return float(loss), float(1 / (1 + (-z_).exp()) - y_)


@pytest.mark.parametrize("z", [-30.0, -12.5, -1.0, 0.0, 0.5, 7.0, 30.0])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.25])
def test_binary_cross_entropy_accurate_up_to_logit_magnitude_30(z, y):
    loss, dZ = losses.binary_cross_entropy_with_logits(np.array([z]), np.array([y]))
    exact_loss, exact_grad = exact_bce(z, y)
    assert loss == pytest.approx(exact_loss, rel=1e-12, abs=0)
    assert dZ[0] == pytest.approx(exact_grad, rel=1e-12, abs=0)


def exact_log_softmax(z):
    getcontext().prec = 60
    total = sum(Decimal(v).exp() for v in z)
    return [float(Decimal(v) - total.ln()) for v in z]


def exact_softmax_ce_grad(z, label):
    getcontext().prec = 60
    total = sum(Decimal(v).exp() for v in z)
    return [float(Decimal(v).exp() / total - (1 if j == label else 0)) for j, v in enumerate(z)]


@pytest.mark.parametrize("z", [[30.0, -30.0], [30.0, 0.0, -30.0], [0.0, 0.0, 30.0], [1.0, 2.0, 3.0], [-30.0, -29.0]])
def test_log_softmax_and_its_loss_accurate_up_to_logit_magnitude_30(z):
    exact = exact_log_softmax(z)
    np.testing.assert_allclose(losses.log_softmax(np.array(z)), exact, rtol=1e-12, atol=0)
    C = len(z)
    for label in range(C):
        loss, dZ = losses.softmax_cross_entropy(np.array([z]), np.array([label]))
        assert loss == pytest.approx(-exact[label], rel=1e-12, abs=0)
        np.testing.assert_allclose(dZ[0], exact_softmax_ce_grad(z, label), rtol=1e-12, atol=0)


def test_clipping_probabilities_is_not_accurate_at_magnitude_30():
    # Clipping probabilities at 1e-8, a common shortcut, is off by orders of magnitude here.
    clipped = -np.log(np.clip(1 / (1 + np.exp(30.0)), 1e-8, 1))
    exact, _ = exact_bce(30.0, 0.0)
    assert abs(clipped - exact) / exact > 0.3
    # And the textbook `softplus(z) - y z` keeps only two digits of a confident right answer.
    textbook = float(np.logaddexp(0.0, 30.0) - 30.0)
    assert abs(textbook - exact_bce(30.0, 1.0)[0]) / exact_bce(30.0, 1.0)[0] > 1e-3


def test_cross_entropies_finite_at_logit_magnitude_1000():
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, dZ = losses.binary_cross_entropy_with_logits(np.array([1000.0, -1000.0]), np.array([0, 1]))
        assert loss == 1000.0 and np.all(np.isfinite(dZ))
        loss, dZ = losses.softmax_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))
        assert loss == 2000.0 and np.all(np.isfinite(dZ))


def test_mismatched_targets_are_a_clear_error():
    with pytest.raises(ValueError, match="3 targets for 2 predictions"):
        losses.binary_cross_entropy_with_logits(np.zeros(2), np.zeros(3))
