"""Runs analysis of a run chart with Anhøj's rules, the rules used for run charts in Danish healthcare.

Anhøj J, Olesen AV. Run charts revisited: a simulation study of run chart rules for detection of
non-random variation in health care processes. PLoS ONE 2014;9(11):e113825. Implemented as in the
R package qicharts2 (``runs.analysis``), which the Danish regions use:

- points exactly on the median are left out; ``n`` is the number of the remaining (useful) points;
- a *run* is a sequence of consecutive useful points on the same side of the median; the longest
  run signals a shift when it is longer than ``round(log2(n) + 3)``;
- a *crossing* is two consecutive useful points on opposite sides of the median; too few
  crossings signal when there are fewer than ``qbinom(0.05, n - 1, 0.5)``.

Either signal means non-random variation (a shift or a trend). Pure: numbers in, a result out.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

#: Fewer useful points than this: no analysis (the rules are calibrated from 10 points on).
MIN_POINTS = 10


def longest_run_limit(n: int) -> int:
    """The longest run allowed for ``n`` useful points: round(log2(n) + 3)."""
    # Python's round() and R's both round half to even; log2(n) + 3 is never exactly .5 for an integer n.
    return int(round(math.log2(n) + 3))


def crossings_limit(n: int) -> int:
    """The fewest crossings expected for ``n`` useful points: qbinom(0.05, n - 1, 0.5)."""
    return int(binom.ppf(0.05, n - 1, 0.5))


@dataclass(frozen=True)
class RunsResult:
    """The analysis of one series. ``run`` holds the positions (in the input series) of the
    longest run, the points a shift signal is drawn on."""

    n: int                   # useful points (not missing, not on the median)
    longest_run: int
    longest_run_max: int
    crossings: int
    crossings_min: int
    run: tuple[int, ...]

    @property
    def shift(self) -> bool:
        """An unusually long run."""
        return self.longest_run > self.longest_run_max

    @property
    def few_crossings(self) -> bool:
        """Unusually few crossings of the median."""
        return self.crossings < self.crossings_min

    @property
    def signal(self) -> bool:
        return self.shift or self.few_crossings


def analyse(values: Sequence[float | None], median: float | None = None) -> RunsResult | None:
    """Anhøj's rules on ``values`` (missing values, NaN or None, are skipped) around ``median``
    (default: the median of the values). None when fewer than MIN_POINTS useful points remain."""
    x = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    present = np.flatnonzero(~np.isnan(x))
    if not len(present):
        return None
    centre = float(np.median(x[present])) if median is None else float(median)
    sides = np.sign(x[present] - centre)
    useful = present[sides != 0]
    sides = sides[sides != 0]
    n = len(useful)
    if n < MIN_POINTS:
        return None
    best_start, best_length, start = 0, 1, 0
    for i in range(1, n + 1):
        if i == n or sides[i] != sides[start]:
            if i - start > best_length:
                best_start, best_length = start, i - start
            start = i
    crossings = int(np.count_nonzero(sides[1:] != sides[:-1]))
    run = tuple(int(p) for p in useful[best_start:best_start + best_length])
    return RunsResult(n, best_length, longest_run_limit(n), crossings, crossings_limit(n), run)
