"""The finite-difference oracle itself: accurate, side-effect free, and it tells right from wrong."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop import gradcheck as gc

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@given(n=st.integers(1, 6), seed=seeds)
def test_numerical_gradient_of_a_quadratic(n, seed):
    rng = np.random.default_rng(seed)
    A, x = rng.standard_normal((n, n)), rng.standard_normal(n)
    assert gc.relative_error(gc.numerical_gradient(lambda v: v @ A @ v, x), (A + A.T) @ x) < 1e-9


def test_x_is_restored_bit_for_bit_even_when_f_raises():
    x = np.array([[0.1, 0.2], [0.3, 1e-17]])
    before = x.copy()
    gc.numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    np.testing.assert_array_equal(x, before)

    def explode(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        gc.numerical_gradient(explode, x)
    np.testing.assert_array_equal(x, before)


def test_central_difference_error_is_second_order():
    # Halving h quarters the error of a central difference (halves a one-sided one's).
    x0 = 0.7
    errors = []
    for h in (1e-2, 5e-3, 2.5e-3):
        central = gc.numerical_gradient(lambda v: np.sin(v[0]), np.array([x0]), h)[0]
        errors.append(abs(central - np.cos(x0)))
    slopes = np.diff(np.log(errors)) / np.log(0.5)
    np.testing.assert_allclose(slopes, 2.0, atol=0.05)


@given(N=st.integers(1, 4), M=st.integers(1, 4), seed=seeds)
def test_numerical_vjp_equals_jacobian_transpose_times_dout(N, M, seed):
    rng = np.random.default_rng(seed)
    A, x, dout = rng.standard_normal((M, N)), rng.standard_normal(N), rng.standard_normal(M)
    assert gc.relative_error(gc.numerical_vjp(lambda v: A @ v, x, dout), A.T @ dout) < 1e-9


def test_relative_error_properties():
    assert gc.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gc.relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert gc.relative_error([1.0], [-1.0]) == 1.0
    assert gc.relative_error([2.0, 0.0], [1.0, 0.0]) == pytest.approx(1 / 3, rel=1e-15, abs=0)
    assert gc.relative_error([3.0, 1.0], [1.0, 2.0]) == gc.relative_error([1.0, 2.0], [3.0, 1.0])
    with pytest.raises(ValueError, match="shapes differ"):
        gc.relative_error(np.zeros((2, 1)), np.zeros(2))


def quadratic_problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    X = rng.standard_normal((4, 3))

    def loss_fn(p):
        return float(np.sum((X @ p["W"] + p["b"]) ** 2))

    Z = X @ params["W"] + params["b"]
    grads = {"W": X.T @ (2 * Z), "b": (2 * Z).sum(axis=0)}
    return loss_fn, params, grads


def test_gradient_check_passes_right_gradients_and_flags_wrong_ones_by_group():
    loss_fn, params, grads = quadratic_problem()
    before = {k: v.copy() for k, v in params.items()}
    errors = gc.gradient_check(loss_fn, params, grads)
    assert set(errors) == {"W", "b"} and max(errors.values()) < 1e-9
    wrong = dict(grads, b=grads["b"] / 4)  # a stray 1/N
    errors = gc.gradient_check(loss_fn, params, wrong)
    assert errors["W"] < 1e-9 and errors["b"] == pytest.approx(0.6, rel=1e-6, abs=0)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_gradient_check_rejects_mismatched_keys():
    loss_fn, params, grads = quadratic_problem()
    with pytest.raises(KeyError, match="different keys"):
        gc.gradient_check(loss_fn, params, {"W": grads["W"]})


@given(seed=seeds)
def test_directional_check(seed):
    rng = np.random.default_rng(seed)
    A, x = rng.standard_normal((5, 5)), rng.standard_normal(5)
    A = A @ A.T + np.eye(5)

    def f(v):
        return float(v @ A @ v)

    right = 2 * A @ x
    # Off in one entry by as much as the gradient's size (a sign flip of an entry that happens to be tiny
    # would be a wrong gradient no check could tell from round-off).
    wrong = right + np.linalg.norm(right) * np.eye(5)[2]
    before = x.copy()
    assert gc.directional_check(f, x, right, seed=seed) < 1e-6  # one scalar: round-off shows when d is nearly orthogonal to the gradient
    np.testing.assert_array_equal(x, before)
    # Along one random direction a wrong gradient is caught almost surely; over a few directions, surely.
    assert max(gc.directional_check(f, x, wrong, seed=s) for s in range(3)) > 1e-3


def test_random_direction_is_unit_and_seeded():
    d = gc.random_unit_direction((3, 4), seed=7)
    assert d.shape == (3, 4) and np.linalg.norm(d) == pytest.approx(1.0, rel=1e-15, abs=0)
    np.testing.assert_array_equal(d, gc.random_unit_direction((3, 4), seed=7))
    assert not np.array_equal(d, gc.random_unit_direction((3, 4), seed=8))
