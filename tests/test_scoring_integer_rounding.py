"""The integer arithmetic of BMI and the HeartQoL scales gives bit for bit the floats that the
exact-fraction rounding gave before it (docs/domain.md: half up on exact fractions).

The references below are the earlier implementations, kept here verbatim in substance: every
score a form can produce is compared with them, exhaustively where the input space is small (the
HeartQoL scales; BMI over the contract's hard limits) and with hypothesis beyond it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hjertekom_core.scoring import _fraction_of, _number, bmi, heartqol_scale, is_missing


def _round_half_up(value: Fraction, decimals: int = 0) -> Fraction:
    scale = Fraction(10) ** decimals
    scaled = abs(value) * scale
    rounded = math.floor(scaled + Fraction(1, 2))
    return Fraction(rounded if value >= 0 else -rounded) / scale


def reference_bmi(weight_kg: object, height_cm: object) -> float | None:
    if is_missing(weight_kg) or is_missing(height_cm):
        return None
    weight = _number(weight_kg, "weight_kg")
    height = _number(height_cm, "height_cm")
    if height <= 0 or weight <= 0:
        return None
    return float(_round_half_up(weight / (height / 100) ** 2, 1))


def reference_heartqol_scale(items: list, min_answered_fraction: float = 0.5) -> float | None:
    answered = [v for v in items if v is not None and v != "UNK"]
    needed = math.ceil(Fraction(repr(float(min_answered_fraction))) * len(items))
    if not answered or len(answered) < needed:
        return None
    return float(_round_half_up(Fraction(sum(answered), len(answered)), 2))


def same(a: float | None, b: float | None) -> bool:
    """Equal, and the same bits (0.1 + 0.2 != 0.3 would show here)."""
    return a is None and b is None or (a is not None and b is not None and a.hex() == b.hex())


def test_bmi_every_value_the_contract_allows() -> None:
    """weight_kg: one decimal, 20-350 (hard limits); height_cm: whole, 100-230: every pair."""
    for tenths in range(200, 3501):
        weight = tenths / 10
        for height in range(100, 231):
            assert same(bmi(weight, height), reference_bmi(weight, height)), (weight, height)


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6),
        st.fractions(max_denominator=10**4),
    ),
    st.one_of(
        st.integers(-(10**4), 10**4),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**4), max_value=10**4),
    ),
)
def test_bmi_any_number(weight: object, height: object) -> None:
    try:
        expected: float | None | str = reference_bmi(weight, height)
    except (ValueError, OverflowError, ZeroDivisionError) as exc:
        expected = type(exc).__name__
    try:
        got: float | None | str = bmi(weight, height)  # type: ignore[arg-type]
    except (ValueError, OverflowError, ZeroDivisionError) as exc:
        got = type(exc).__name__
    if isinstance(expected, str) or isinstance(got, str):
        assert got == expected
    else:
        assert same(got, expected), (weight, height)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.6, 2 / 3, 0.75, 0.9, 1.0])
def test_heartqol_every_answer_count_and_sum(fraction: float) -> None:
    """Every scale length (1-14 items), number answered and sum of answers (items 0-3)."""
    for n_items in range(1, 15):
        for answered in range(0, n_items + 1):
            for total in range(0, 3 * answered + 1):
                values = [min(3, max(0, total - 3 * i)) for i in range(answered)]
                assert sum(values) == total
                items = values + [None] * (n_items - answered)
                assert same(heartqol_scale(items, fraction), reference_heartqol_scale(items, fraction)), (
                    items,
                    fraction,
                )


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.just("UNK"), st.integers(0, 3)), min_size=1, max_size=40),
    st.one_of(st.floats(0, 1), st.fractions(0, 1, max_denominator=100), st.decimals(0, 1, places=3)),
)
def test_heartqol_any_items_and_fraction(items: list, fraction: object) -> None:
    assert same(heartqol_scale(items, fraction), reference_heartqol_scale(items, fraction))  # type: ignore[arg-type]


def test_fraction_of_cache_gives_what_it_computes() -> None:
    for count in range(0, 30):
        for fraction in (0.0, 0.1, 0.5, Fraction(1, 2), Decimal("0.5"), 0.7, 1.0, 1):
            assert _fraction_of(count, fraction) == math.ceil(Fraction(repr(float(fraction))) * count)
