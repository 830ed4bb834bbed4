"""Confidence intervals for a proportion, vectorised over many units at once.

Wilson's score interval is the default (never outside [0, 1], good at small n); the exact
Clopper-Pearson interval is the option. Both return NaN where the denominator is 0 (no data).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import beta, norm

Interval = tuple[np.ndarray, np.ndarray]


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def wilson(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> Interval:
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = _z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def clopper_pearson(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> Interval:
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(x == 0, 0.0, beta.ppf(alpha / 2, x, n - x + 1))
        high = np.where(x == n, 1.0, beta.ppf(1 - alpha / 2, x + 1, n - x))
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


CI_METHODS: dict[str, Callable[..., Interval]] = {"wilson": wilson, "clopper-pearson": clopper_pearson}


def control_limits(p0: float, n: np.ndarray, level: float) -> Interval:
    """Funnel-plot limits around the overall proportion ``p0`` for denominators ``n`` (normal approx.)."""
    n = np.asarray(n, dtype=float)
    z = _z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = z * np.sqrt(p0 * (1 - p0) / n)
    return np.clip(p0 - half, 0, 1), np.clip(p0 + half, 0, 1)
