"""Naming the mistake behind a wrong array, in one sentence a student can act on.

First the function's own catalogue of likely mistakes (each a wrong answer computed from the
same inputs, with its explanation); then what any wrong array can show: its type, its shape
(transposed, (1, M) for (M,), not summed), NaN, zeros, the wrong sign, a constant factor such as
the batch size N.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autograder.compare import as_float_array, close, describe_shape
from backprop.gradcheck import relative_error

Mistake = tuple[np.ndarray, str]

# How much a diagnosis says, so the most telling one among several cases is shown.
NAMED, PATTERN, VAGUE = 2, 1, 0


@dataclass(frozen=True)
class Diagnosis:
    """A one-sentence verdict and how specific it is (NAMED > PATTERN > VAGUE)."""

    message: str
    rank: int = PATTERN


def _shape_problem(got: np.ndarray, expected: np.ndarray, batch: int) -> str:
    exp, shape = expected.shape, got.shape
    if got.ndim == 2 and exp == shape[::-1]:
        return f"has shape {describe_shape(shape)}, the transpose of the expected {describe_shape(exp)}"
    if expected.ndim == 1 and shape in ((1, exp[0]), (exp[0], 1)):
        return (f"has shape {describe_shape(shape)} where {describe_shape(exp)} is expected: a gradient has exactly "
                f"the shape of its parameter (drop keepdims=True, or reshape)")
    if expected.ndim == 1 and shape == (batch, exp[0]):
        return f"has shape {describe_shape(shape)}: it was not summed over the batch (axis 0) to shape {describe_shape(exp)}"
    if shape == () and expected.ndim >= 1:
        return f"is a single number where shape {describe_shape(exp)} is expected: summed over every axis, not just the batch axis 0"
    if expected.ndim == 1 and shape == (batch,) and batch != exp[0]:
        return f"has shape {describe_shape(shape)}, one entry per example: summed over the wrong axis (use axis 0, the batch)"
    return f"has shape {describe_shape(shape)}, expected {describe_shape(exp)}"


def _factor_message(factor: float, batch: int) -> str | None:
    if batch > 1 and np.isclose(factor, batch, rtol=1e-6):
        return (f"is N = {batch} times too large (N is the batch size): a sum where a mean belongs, or a 1/N missing "
                f"from the loss gradient")
    if batch > 1 and np.isclose(factor, 1 / batch, rtol=1e-6):
        return (f"is N = {batch} times too small (N is the batch size): an extra mean or division by N; the 1/N "
                f"enters once, in the loss gradient")
    named = {2.0: "twice the expected values", 0.5: "half the expected values"}
    for value, text in named.items():
        if np.isclose(factor, value, rtol=1e-6):
            return f"is {text}: a stray factor of {value:g}"
    return None


def diagnose(got_value: object, expected: np.ndarray, batch: int, mistakes: Sequence[Mistake] = ()) -> Diagnosis:
    """One sentence on how `got_value` differs from `expected` (it is known to differ).

    Inputs:
    - got_value: what the student returned for this part (anything)
    - expected: the right array
    - batch: the batch size N of the case, to recognise factors of N
    - mistakes: (wrong answer, explanation) pairs specific to the function, tried first
    """
    if got_value is None:
        return Diagnosis("is None: is a return statement missing?")
    got = as_float_array(got_value)
    if got is None:
        return Diagnosis(f"is a {type(got_value).__name__}, expected an array of shape {describe_shape(expected.shape)}")
    for wrong, explanation in mistakes:
        if close(got, np.asarray(wrong, dtype=np.float64)):
            return Diagnosis(explanation, NAMED)
    if got.shape != expected.shape:
        return Diagnosis(_shape_problem(got, expected, batch))
    if not np.all(np.isfinite(got)):
        return Diagnosis("contains NaN or inf")
    if not np.any(got) and np.any(expected):
        return Diagnosis("is all zeros")
    if close(-got, expected):
        return Diagnosis("has the wrong sign")
    if got.ndim == 2 and got.shape[0] == got.shape[1] and close(got.T, expected):
        return Diagnosis("is transposed")
    if np.any(expected) and np.any(got):
        factor = float(np.vdot(got, expected) / np.vdot(expected, expected))
        if abs(factor - 1) < 1e-3:
            return Diagnosis(f"is close but not accurate enough (relative error {relative_error(got, expected):.1g})")
        if close(got, factor * expected):
            return Diagnosis(_factor_message(factor, batch) or f"is {factor:.4g} times the expected values")
    matching = np.isclose(got, expected, rtol=1e-6, atol=1e-12)
    if matching.any():
        return Diagnosis(f"is right in {int(matching.sum())} of {matching.size} entries "
                         f"(relative error {relative_error(got, expected):.2g})", VAGUE)
    return Diagnosis(f"differs from the expected values (relative error {relative_error(got, expected):.2g})", VAGUE)
