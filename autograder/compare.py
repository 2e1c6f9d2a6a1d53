"""Comparing a student's array with the expected one: tolerances, and the numbers messages quote."""
from __future__ import annotations

import numpy as np

from backprop.gradcheck import relative_error

# The oracle (central differences in float64) is good to about 1e-9 here; a right answer is far inside this.
TOLERANCE = 1e-6
# Analytic float64 code agrees with the exact gradient to ~1e-15 (every right variant in the catalogue
# stays under 1e-15); central differences in float64 stay above ~1e-12.
EXACT = 1e-13


def as_float_array(value: object) -> np.ndarray | None:
    """The value as a float64 array, or None when it is not numeric (a string, a tuple of arrays, None)."""
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - any object a student returns must get a message, not a crash
        return None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        return None
    return array.astype(np.float64)


def close(got: np.ndarray, expected: np.ndarray, tolerance: float = TOLERANCE, atol: float = 0.0) -> bool:
    """Same shape, finite, and relative error below `tolerance` or every entry within `atol`.

    `atol` is for values near zero whose absolute error is what matters (the loss of a confident
    right prediction, ~1e-13, off by 1e-15, is fine); it is 0 unless a case says otherwise.
    """
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    if not np.all(np.isfinite(expected)):  # a candidate mistake can be inf; a finite answer is not it
        return False
    return relative_error(got, expected) < tolerance or bool(np.all(np.abs(got - expected) <= atol))


def describe_shape(shape: tuple[int, ...]) -> str:
    """(3,) -> '(3,)', () -> 'a scalar ()'."""
    return "a scalar ()" if shape == () else str(tuple(shape))


def numerical_gradient_problem(got: np.ndarray, exact: np.ndarray) -> str | None:
    """For an answer already right within tolerance: a message if it is further from the analytic gradient
    than float64 arithmetic puts any analytic formula, as finite differences (or float32) leave it."""
    error = relative_error(got, exact)
    if error <= EXACT:
        return None
    return (f"agrees with finite differences but not with the exact gradient to float64 precision (relative error "
            f"{error:.1g}): it looks computed numerically, or in float32; the exercise asks for the analytic one")

