"""The scales take a shortcut for a list of items without a missing one (HADS, HeartQoL, WHO-5,
EQ-5D): the same scores as the earlier code, kept here as the reference, on any list."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hjertekom_core.scoring import DERIVATIONS, _hads_subscale, _items, heartqol_scale

item = st.one_of(
    st.integers(-1, 4),
    st.integers(0, 3),
    st.none(),
    st.just("UNK"),
    st.just("NA"),
    st.just(math.nan),
    st.booleans(),
    st.sampled_from([1.0, 2.5, 3.0, -0.0]),
)


def outcome(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return ("score", repr(fn(*args, **kwargs)))
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        return type(exc).__name__


def reference_hads_subscale(values: list[Any]) -> int | None:
    answered = [v for v in values if v is not None]
    if len(values) - len(answered) > 1:
        return None
    n, s = len(answered), sum(answered)
    return (2 * len(values) * s + n) // (2 * n)


def reference_heartqol_scale(values: list[Any], min_answered_fraction: float = 0.5) -> float | None:
    answered = [v for v in values if v is not None]
    if not answered or len(answered) < math.ceil(min_answered_fraction * len(values) - 1e-12):
        return None
    return ((200 * sum(answered) + len(answered)) // (2 * len(answered))) / 100


def reference_who5(values: list[Any]) -> int | None:
    if len(values) != 5:
        raise ValueError("WHO-5 needs exactly 5 items")
    checked = _items(values, 0, 5, "WHO-5 item")
    if any(v is None for v in checked):
        return None
    return 4 * sum(v for v in checked if v is not None)


def reference_eq5d(values: list[Any]) -> Any:
    from hjertekom_core.scoring import eq5d5l_index_dk, is_missing

    if any(is_missing(v) for v in values):
        return None
    return eq5d5l_index_dk(values)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 3), st.none()), min_size=1, max_size=14), st.sampled_from([0, 0.5, 1]))
def test_subscales_and_scales_as_before(values: list[Any], fraction: float) -> None:
    assert outcome(_hads_subscale, values) == outcome(reference_hads_subscale, values)
    assert outcome(heartqol_scale, values, fraction) == outcome(reference_heartqol_scale, values, fraction)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.one_of(st.integers(-1, 6), item), min_size=4, max_size=6))
def test_who5_and_eq5d_as_before(values: list[Any]) -> None:
    assert outcome(DERIVATIONS["who5"], items=values) == outcome(reference_who5, values)
    assert outcome(DERIVATIONS["eq5d5l_index_dk"], dimensions=values) == outcome(reference_eq5d, values)
