"""Shared test helpers: random inputs kept away from kinks, and hypothesis settings."""
from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, settings

# CI runs a few more examples than a developer's quick loop; both are deterministic per seed.
settings.register_profile("default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=80, deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def off_kink(rng: np.random.Generator, shape: tuple[int, ...], margin: float = 0.05) -> np.ndarray:
    """Random values whose magnitude is at least `margin`, so a finite-difference step never crosses 0."""
    signs = rng.choice([-1.0, 1.0], size=shape)
    return signs * (margin + np.abs(rng.standard_normal(shape)))


def assert_matches_numeric(analytic: np.ndarray, numeric: np.ndarray, f_scale: float, h: float = 1e-5) -> None:
    """||analytic - numeric|| <= 1e-7 (||analytic|| + ||numeric||) + the oracle's round-off allowance.

    Central differences of a function of size |f| carry round-off of about eps |f| / h per entry,
    whatever the gradient's size: a gradient far below that (a deep chain of 0.01 slopes or of
    sigmoids, say) cannot be resolved to 1e-7 relatively, so that much absolute slack is allowed,
    100 times over, and no more.
    """
    floor = np.finfo(np.float64).eps * f_scale / h * np.sqrt(analytic.size)
    gap = np.linalg.norm(analytic - numeric)
    bound = 1e-7 * (np.linalg.norm(analytic) + np.linalg.norm(numeric)) + 100 * floor
    assert gap <= bound, f"gradients differ by {gap:.2e} (allowed {bound:.2e})"
