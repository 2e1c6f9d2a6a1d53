"""The data sets: shapes, labels, determinism, and the geometry that makes them hard."""
import numpy as np
import pytest

from backprop import data


@pytest.mark.parametrize(
    "make, n, classes",
    [(lambda s: data.xor(25, 0.1, s), 100, 2), (lambda s: data.two_moons(101, 0.1, s), 101, 2),
     (lambda s: data.spirals(40, 3, 0.2, s), 120, 3)],
)
def test_shapes_labels_and_seeds(make, n, classes):
    X, y = make(0)
    assert X.shape == (n, 2) and X.dtype == np.float64 and y.shape == (n,)
    assert set(np.unique(y)) == set(range(classes))
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1
    X2, y2 = make(0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, make(1)[0])


def test_classic_xor_points():
    X, y = data.xor(1, noise=0.0)
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])


def test_noiseless_moons_lie_on_their_arcs():
    X, y = data.two_moons(50, noise=0.0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert np.all(upper[:, 1] >= -1e-12) and np.all(lower[:, 1] <= 0.5 + 1e-12)


def test_no_linear_classifier_separates_the_moons():
    # Least squares on [x, 1] is a fair linear baseline; it stays well short of what a network reaches.
    X, y = data.two_moons(400, 0.1, seed=0)
    A = np.column_stack([X, np.ones(len(X))])
    w = np.linalg.lstsq(A, 2.0 * y - 1, rcond=None)[0]
    assert np.mean((A @ w > 0) == y) < 0.9
