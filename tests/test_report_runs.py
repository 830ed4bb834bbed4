"""Anhøj's run chart rules (hjertekom_core/reports/runs.py) against the published limits and
series worked out by hand."""
from __future__ import annotations

import math

import pytest

from hjertekom_core.reports.runs import MIN_POINTS, analyse, crossings_limit, longest_run_limit

# Anhøj & Olesen 2014 (PLoS ONE 9:e113825), table 1, and qicharts2's runs.analysis: the upper limit
# of the longest run and the lower limit of crossings, by the number of useful observations.
PUBLISHED = {10: (6, 2), 11: (6, 2), 12: (7, 3), 13: (7, 3), 14: (7, 4), 15: (7, 4), 16: (7, 4), 17: (7, 5),
             18: (7, 5), 19: (7, 6), 20: (7, 6), 24: (8, 8), 30: (8, 10), 40: (8, 14)}


@pytest.mark.parametrize(("n", "limits"), sorted(PUBLISHED.items()))
def test_limits_are_the_published_ones(n: int, limits: tuple[int, int]) -> None:
    assert (longest_run_limit(n), crossings_limit(n)) == limits


def test_a_random_looking_series_gives_no_signal() -> None:
    # median 0.5; sides + - + - + + - - + - + -: longest run 2, crossings 9 of 11 possible
    values = [0.6, 0.4, 0.7, 0.3, 0.8, 0.9, 0.2, 0.1, 0.6, 0.4, 0.7, 0.3]
    result = analyse(values)
    assert result is not None
    assert (result.n, result.longest_run, result.crossings) == (12, 2, 9)
    assert not result.signal


def test_a_long_run_is_a_shift_signal_on_the_points_of_the_run() -> None:
    # 12 points around 0.5: four below, then eight above. Longest run 8 > round(log2(12) + 3) = 7.
    values = [0.4, 0.3, 0.45, 0.2, 0.6, 0.7, 0.65, 0.8, 0.9, 0.55, 0.75, 0.7]
    result = analyse(values, median=0.5)
    assert result is not None
    assert (result.longest_run, result.longest_run_max) == (8, 7)
    assert result.shift and result.signal
    assert result.run == tuple(range(4, 12))
    assert result.crossings == 1 and result.few_crossings  # 1 < qbinom(0.05, 11, 0.5) = 3


def test_points_on_the_median_and_missing_points_are_not_useful() -> None:
    # 16 values, of which two are on the median (0.5) and two are missing: n = 12 useful points.
    # Sides: + + + + + (median) + - (gap) - + - (median) + - (gap): runs 6, 2, 1, 1, 1, 1 -> longest 6,
    # not > round(log2(12) + 3) = 7; 5 crossings, not < 3.
    values = [0.6, 0.7, 0.8, 0.6, 0.7, 0.5, 0.9, 0.1, None, 0.2, 0.6, 0.3, 0.5, 0.7, 0.2, math.nan]
    result = analyse(values, median=0.5)
    assert result is not None
    assert result.n == 12
    assert result.longest_run == 6 and result.longest_run_max == 7 and not result.shift
    assert result.crossings == 5 and result.crossings_min == 3 and not result.few_crossings
    assert result.run == (0, 1, 2, 3, 4, 6)  # the point on the median does not break the run


def test_too_few_crossings_without_a_long_run() -> None:
    # 20 points in runs of 5: crossings 3 < qbinom(0.05, 19, 0.5) = 6, longest run 5 <= 7.
    values = ([0.7] * 5 + [0.3] * 5) * 2
    result = analyse(values, median=0.5)
    assert result is not None
    assert (result.longest_run, result.crossings) == (5, 3)
    assert result.few_crossings and not result.shift


def test_the_default_centre_is_the_median_of_the_values() -> None:
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]  # a trend: median 6.5, runs of 6 and 6, one crossing
    result = analyse(values)
    assert result is not None
    assert (result.longest_run, result.crossings, result.few_crossings) == (6, 1, True)


def test_fewer_than_the_minimum_of_useful_points_is_no_analysis() -> None:
    assert analyse([0.1, 0.9] * ((MIN_POINTS - 1) // 2) + [0.5], median=0.5) is None
    assert analyse([]) is None
    assert analyse([None, math.nan]) is None
