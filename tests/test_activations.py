"""The activations are accurate to float64 where the textbook forms are not."""
from decimal import Decimal, getcontext

import numpy as np
import pytest

from backprop import activations as act
from backprop.gradcheck import numerical_gradient

getcontext().prec = 60
GRID = np.linspace(-30.0, 30.0, 121)


def exact_sigmoid(z: float) -> float:
    return float(1 / (1 + (-Decimal(z)).exp()))


def exact_sigmoid_prime(z: float) -> float:
    e = (-Decimal(z)).exp()
    return float(e / (1 + e) ** 2)


def exact_tanh_prime(z: float) -> float:
    e = (-2 * Decimal(z)).exp()
    return float(4 * e / (1 + e) ** 2)


@pytest.mark.parametrize(
    "fn, exact",
    [(act.sigmoid, exact_sigmoid), (act.sigmoid_prime, exact_sigmoid_prime), (act.tanh_prime, exact_tanh_prime)],
)
def test_accurate_to_relative_1e_minus_12_up_to_magnitude_30(fn, exact):
    ours = fn(GRID)
    reference = np.array([exact(z) for z in GRID])
    assert np.max(np.abs(ours - reference) / reference) < 1e-12


def test_textbook_derivative_loses_every_digit_where_ours_does_not():
    # Why the module exists: s * (1 - s) at z = 38 is exactly 0, the true value is ~3e-17.
    s = act.sigmoid(38.0)
    assert s * (1 - s) == 0.0
    assert act.sigmoid_prime(38.0) == pytest.approx(exact_sigmoid_prime(38.0), rel=1e-12, abs=0)


@pytest.mark.parametrize("fn", [act.sigmoid, act.sigmoid_prime, act.tanh, act.tanh_prime, act.softplus])
def test_finite_without_warnings_at_magnitude_1000(fn):
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        values = fn(np.array([-1000.0, -700.0, 0.0, 700.0, 1000.0]))
    assert np.all(np.isfinite(values))


def test_scalars_in_scalars_out():
    assert np.ndim(act.sigmoid(0.0)) == 0 and act.sigmoid(0.0) == 0.5
    assert act.sigmoid_prime(0) == 0.25
    assert act.tanh_prime(0.0) == 1.0


@pytest.mark.parametrize(
    "fn, prime",
    [
        (act.sigmoid, act.sigmoid_prime),
        (act.tanh, act.tanh_prime),
        (act.relu, act.relu_prime),
        (lambda z: act.leaky_relu(z, 0.1), lambda z: act.leaky_relu_prime(z, 0.1)),
        (act.softplus, act.sigmoid),
    ],
)
def test_each_derivative_is_the_slope_of_its_function(fn, prime):
    z = np.array([-3.0, -0.7, -0.2, 0.3, 1.1, 4.0])  # off the kink at 0
    numeric = np.array([numerical_gradient(lambda v: float(fn(v[0])), np.array([zi]))[0] for zi in z])
    np.testing.assert_allclose(prime(z), numeric, rtol=1e-8, atol=1e-12)


def test_softplus_large_inputs_are_exact():
    assert act.softplus(1000.0) == 1000.0
    assert act.softplus(-1000.0) == 0.0
