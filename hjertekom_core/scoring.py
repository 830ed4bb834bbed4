"""Instrument scoring and derived values: pure functions, no I/O.

Missing values: an item is *missing* when it is ``None`` (not answered), the explicit unknown code
``"UNK"`` (answered "unknown"), or a float NaN (how pandas shows an empty cell). All three are
treated the same for scoring. Missing-item rules per instrument:

* HADS (14 items 0-3): per subscale (7 items), at most one missing item is replaced by the mean of
  the subscale's answered items (score = mean x 7, rounded half up); two or more missing -> None.
* HeartQoL (14 items 0-3): scale score = mean of answered items, rounded half up to 2 decimals;
  None when fewer than ceil(min_answered_fraction x number of items) are answered (default half;
  the minimum is unconfirmed, hence a parameter).
* EQ-5D-5L: no imputation; the index needs all five dimensions (the derivation gives None).
* WHO-5 (5 items 0-5): no imputation (official rule); any item missing -> None.
* PSS-10 (10 items 0-4; items 4, 5, 7 and 8 reversed): the sum 0-40; no imputation, any item
  missing -> None (the scale's authors give no rule for missing items).
* Three-item loneliness scale (3 items 1-3, as in Sundhedsprofilen): the sum 3-9; any item
  missing -> None.
* BMI and fitness change: None when an input is missing.

Rounding is half up throughout (computed on exact fractions, not binary floats), so that a score
on a boundary such as 7.5 -> 8 does not depend on float representation.

Out-of-range values (e.g. a HADS item of 4) raise ValueError: they are data errors that the form
validation should have stopped, never something to score silently.

The data contract calls the functions in :data:`DERIVATIONS` by name via :func:`derive`, passing
field values by keyword; those wrappers return None rather than raising for missing inputs.
"""

from __future__ import annotations

import decimal
import functools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

__all__ = [
    "DERIVATIONS",
    "EQ5D5L_DK_DECREMENTS",
    "HEARTQOL_EMOTIONAL_ITEMS",
    "HEARTQOL_PHYSICAL_ITEMS",
    "HadsScore",
    "HeartQolScore",
    "UNKNOWN",
    "bmi",
    "derivation",
    "derive",
    "eq5d5l_index_dk",
    "fitness_change_pct",
    "hads",
    "hads_band",
    "heartqol",
    "heartqol_scale",
    "is_missing",
    "loneliness3",
    "pss10",
    "who5",
    "who5_band",
]

#: The single explicit "unknown" code (Uoplyst/ukendt).
UNKNOWN = "UNK"

Item = Any  # int | float | "UNK" | None: what a form field may hold


def is_missing(value: object) -> bool:
    """True for None, ``"UNK"`` and float NaN."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == UNKNOWN
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


def _number(value: object, what: str) -> Fraction:
    """An exact Fraction for a real number; ValueError for anything else (bools included)."""
    if isinstance(value, Decimal):  # not registered as numbers.Real, but exact and welcome
        if not value.is_finite():
            raise ValueError(f"{what}: expected a finite number, got {value!r}")
        return Fraction(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, numbers.Rational):  # int, Fraction, numpy integers
        return Fraction(int(value.numerator), int(value.denominator))
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    # Via repr so that 80.5 means 161/2 and 0.1 means 1/10, not the nearest binary float.
    return Fraction(repr(number))


def _ratio(value: object, what: str) -> tuple[int, int]:
    """``_number(value)`` as (numerator, denominator), denominator > 0; ints and the floats of
    the forms without building a Fraction (the same exact value, as the tests check)."""
    if type(value) is int:
        return value, 1
    if type(value) is float and math.isfinite(value):
        # The shortest repr, read as an exact decimal: what Fraction(repr(value)) reads.
        return decimal.Decimal(repr(value)).as_integer_ratio()
    number = _number(value, what)
    return number.numerator, number.denominator


def _item(value: object, lo: int, hi: int, what: str) -> int | None:
    """An integer item score in [lo, hi], or None when missing; ValueError otherwise."""
    if type(value) is int and lo <= value <= hi:  # the usual case, without building a Fraction
        return value
    if is_missing(value):
        return None
    number = _number(value, what)
    if number.denominator != 1 or not lo <= number <= hi:
        raise ValueError(f"{what}: must be an integer {lo}-{hi}, got {value!r}")
    return int(number)


def _items(items: Sequence[Item], lo: int, hi: int, what: str) -> list[int | None]:
    """``_item`` of every item, the i-th named "``what`` i" (from 1) in its error. The name is
    formatted only for an item that is not an int in range: a save scores some 60 items."""
    return [
        v if type(v) is int and lo <= v <= hi else _item(v, lo, hi, f"{what} {i}")
        for i, v in enumerate(items, start=1)
    ]


def _round_half_up(value: Fraction, decimals: int = 0) -> Fraction:
    """Round half up (away from zero for .5) on an exact fraction."""
    scale = Fraction(10) ** decimals
    scaled = abs(value) * scale
    rounded = math.floor(scaled + Fraction(1, 2))
    return Fraction(rounded if value >= 0 else -rounded) / scale


@functools.lru_cache(maxsize=256)
def _fraction_of(count: int, fraction: float) -> int:
    """ceil(fraction x count) without float error (0.1 x 10 must be 1, not 2). Cached: a form's
    scales ask for the same few (count, fraction) pairs at every save (equal keys: equal floats)."""
    return math.ceil(Fraction(repr(float(fraction))) * count)


def _mean_half_up_2(total: int, count: int) -> float:
    """round-half-up(total / count, 2) for integers total >= 0, count > 0, in integers:
    floor(100 total / count + 1/2) = (200 total + count) // (2 count), then k / 100. The same float
    as ``float(_round_half_up(Fraction(total, count), 2))``: both are the correctly rounded
    quotient of the same rational k/100 (test_scoring_integer_rounding checks every case)."""
    return ((200 * total + count) // (2 * count)) / 100


# --------------------------------------------------------------------------------------------
# HADS
# --------------------------------------------------------------------------------------------

HADS_ITEMS = 14
#: The subscales alternate in questionnaire order: anxiety items 1, 3, ... 13 (``items[0::2]``),
#: depression items 2, 4, ... 14 (``items[1::2]``).
HADS_ANXIETY = slice(0, None, 2)
HADS_DEPRESSION = slice(1, None, 2)


def hads_band(score: int | None) -> str | None:
    """ "normal" (0-7), "borderline" (8-10), "case" (11-21); None for None; ValueError otherwise."""
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, numbers.Integral) or not 0 <= score <= 21:
        raise ValueError(f"HADS subscale score must be an integer 0-21, got {score!r}")
    if score <= 7:
        return "normal"
    if score <= 10:
        return "borderline"
    return "case"


@dataclass(frozen=True)
class HadsScore:
    """HADS subscale scores 0-21; None when the subscale has too many missing items."""

    anxiety: int | None
    depression: int | None

    @property
    def anxiety_band(self) -> str | None:
        return hads_band(self.anxiety)

    @property
    def depression_band(self) -> str | None:
        return hads_band(self.depression)


def _hads_subscale(values: Sequence[int | None]) -> int | None:
    answered = values if None not in values else [v for v in values if v is not None]
    if len(values) - len(answered) > 1:
        return None
    # mean x 7, half up, in integers: floor(7s/n + 1/2) = (14s + n) // 2n
    n, s = len(answered), sum(answered)
    return (2 * len(values) * s + n) // (2 * n)


def hads(items: Sequence[Item]) -> HadsScore:
    """Score HADS from the 14 item scores (0-3) in questionnaire order.

    Anxiety = items 1,3,...,13; depression = items 2,4,...,14. Missing rule: with at most one
    missing item in a subscale, the missing item is replaced by the mean of the answered items of
    that subscale (score = round-half-up(mean x 7)); with two or more missing the subscale is None.
    ValueError if there are not exactly 14 items or an item is not an integer 0-3.
    """
    values = _hads_items(items)
    return HadsScore(anxiety=_hads_subscale(values[HADS_ANXIETY]), depression=_hads_subscale(values[HADS_DEPRESSION]))


def _hads_items(items: Sequence[Item]) -> list[int | None]:
    """The 14 item scores checked (``hads``'s ValueErrors), in questionnaire order."""
    if isinstance(items, (str, bytes)) or len(items) != HADS_ITEMS:
        raise ValueError(f"HADS needs exactly {HADS_ITEMS} items")
    return _items(items, 0, 3, "HADS item")


# --------------------------------------------------------------------------------------------
# EQ-5D-5L, Danish value set (Jensen et al. 2021)
# --------------------------------------------------------------------------------------------

#: Decrements in thousandths for levels 1-5, per dimension in the order mobility, self-care,
#: usual activities, pain/discomfort, anxiety/depression. Integers keep the sum exact.
EQ5D5L_DK_DECREMENTS: tuple[tuple[int, int, int, int, int], ...] = (
    (0, 41, 54, 157, 220),
    (0, 35, 50, 144, 209),
    (0, 33, 40, 139, 174),
    (0, 48, 94, 381, 537),
    (0, 72, 191, 430, 618),
)


def eq5d5l_index_dk(profile: str | Sequence[int]) -> float:
    """EQ-5D-5L index with the Danish value set: 1 + sum of decrements, rounded to 3 decimals.

    ``profile`` is a 5-character string such as "12345" or a sequence of five ints 1-5, in the
    order mobility, self-care, usual activities, pain/discomfort, anxiety/depression.
    No imputation: a missing dimension is a ValueError here (the derivation returns None).
    """
    if isinstance(profile, str):
        if len(profile) != 5 or any(c not in "12345" for c in profile):
            raise ValueError("EQ-5D-5L profile must be 5 digits 1-5, e.g. '11111'")
        levels = [int(c) for c in profile]
    else:
        if isinstance(profile, bytes) or len(profile) != 5:
            raise ValueError("EQ-5D-5L profile must have 5 dimensions")
        levels = _items(profile, 1, 5, "EQ-5D-5L dimension")
        if None in levels:
            raise ValueError(f"EQ-5D-5L dimension {levels.index(None) + 1} is missing")
    loss = sum(table[level - 1] for table, level in zip(EQ5D5L_DK_DECREMENTS, levels))
    return (1000 - loss) / 1000


# --------------------------------------------------------------------------------------------
# HeartQoL
# --------------------------------------------------------------------------------------------

HEARTQOL_ITEMS = 14
#: 1-based positions of the physical and emotional items in the 14-item list the data contract
#: passes (the contract lists the 10 physical items first, then the 4 emotional ones).
HEARTQOL_PHYSICAL_ITEMS: tuple[int, ...] = tuple(range(1, 11))
HEARTQOL_EMOTIONAL_ITEMS: tuple[int, ...] = tuple(range(11, 15))


@dataclass(frozen=True)
class HeartQolScore:
    """HeartQoL scale scores 0-3 (higher = better); None when too few items were answered."""

    global_score: float | None
    physical: float | None
    emotional: float | None


def heartqol_scale(items: Sequence[Item], min_answered_fraction: float = 0.5) -> float | None:
    """Mean of the answered items (each 0-3), rounded half up to 2 decimals.

    Missing rule: None when fewer than ceil(min_answered_fraction x len(items)) items are answered
    (default: at least half), and always None when no item is answered.
    ValueError for an item outside 0-3 or a fraction outside 0-1.
    """
    if not 0 <= min_answered_fraction <= 1:
        raise ValueError("min_answered_fraction must lie between 0 and 1")
    if isinstance(items, (str, bytes)):
        raise ValueError("HeartQoL items must be a sequence of item scores")
    values = _items(items, 0, 3, "HeartQoL item")
    answered = values if None not in values else [v for v in values if v is not None]
    if not answered or len(answered) < _fraction_of(len(values), min_answered_fraction):
        return None
    return _mean_half_up_2(sum(answered), len(answered))


def heartqol(items14: Sequence[Item], min_answered_fraction: float = 0.5) -> HeartQolScore:
    """Global (all 14), physical (items 1-10) and emotional (items 11-14) HeartQoL scores.

    Each scale applies :func:`heartqol_scale`'s missing rule on its own items.
    ValueError if there are not exactly 14 items.
    """
    if isinstance(items14, (str, bytes)) or len(items14) != HEARTQOL_ITEMS:
        raise ValueError(f"HeartQoL needs exactly {HEARTQOL_ITEMS} items")
    items = list(items14)
    return HeartQolScore(
        global_score=heartqol_scale(items, min_answered_fraction),
        physical=heartqol_scale([items[i - 1] for i in HEARTQOL_PHYSICAL_ITEMS], min_answered_fraction),
        emotional=heartqol_scale([items[i - 1] for i in HEARTQOL_EMOTIONAL_ITEMS], min_answered_fraction),
    )


# --------------------------------------------------------------------------------------------
# WHO-5
# --------------------------------------------------------------------------------------------

WHO5_ITEMS = 5


def who5(items: Sequence[Item]) -> int | None:
    """WHO-5 percentage score 0-100 = raw sum of the 5 items (0-5 each) x 4.

    Missing rule (official): no imputation, any missing item gives None.
    ValueError if there are not exactly 5 items or an item is not an integer 0-5.
    """
    if isinstance(items, (str, bytes)) or len(items) != WHO5_ITEMS:
        raise ValueError(f"WHO-5 needs exactly {WHO5_ITEMS} items")
    values = _items(items, 0, 5, "WHO-5 item")
    if None in values:
        return None
    return 4 * sum(values)  # type: ignore[arg-type]


#: PSS-10 items scored in reverse (the positively worded ones), counted from 1.
PSS10_REVERSED = (4, 5, 7, 8)
PSS10_ITEMS = 10
LONELINESS_ITEMS = 3


def pss10(items: Sequence[Item]) -> int | None:
    """Perceived Stress Scale (PSS-10) 0-40: the sum of the 10 items (0-4 each), items 4, 5, 7 and 8
    reversed (4 - answer). Any missing item gives None; ValueError for a wrong count or value."""
    if isinstance(items, (str, bytes)) or len(items) != PSS10_ITEMS:
        raise ValueError(f"PSS-10 needs exactly {PSS10_ITEMS} items")
    values = _items(items, 0, 4, "PSS-10 item")
    if any(v is None for v in values):
        return None
    answered = [v for v in values if v is not None]
    return sum(4 - v if i in PSS10_REVERSED else v for i, v in enumerate(answered, start=1))


def loneliness3(items: Sequence[Item]) -> int | None:
    """Three-item loneliness scale 3-9: the sum of the 3 items (1 hardly ever, 2 some of the time,
    3 often). Any missing item gives None; ValueError for a wrong count or value."""
    if isinstance(items, (str, bytes)) or len(items) != LONELINESS_ITEMS:
        raise ValueError(f"the loneliness scale needs exactly {LONELINESS_ITEMS} items")
    values = _items(items, 1, 3, "loneliness item")
    if any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def who5_band(score: int | None) -> str | None:
    """ "poor" for a score <= 50 (poor wellbeing), "ok" above; None for None."""
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, numbers.Real) or not 0 <= score <= 100:
        raise ValueError(f"WHO-5 score must be 0-100, got {score!r}")
    return "poor" if score <= 50 else "ok"


# --------------------------------------------------------------------------------------------
# BMI and fitness
# --------------------------------------------------------------------------------------------


def bmi(weight_kg: float | int | str | None, height_cm: float | int | str | None) -> float | None:
    """Body mass index kg/m², rounded half up to 1 decimal.

    None when either input is missing/"UNK", or when height or weight is <= 0 (no meaningful
    value; plausibility limits belong to the form validation).
    """
    if is_missing(weight_kg) or is_missing(height_cm):
        return None
    w_num, w_den = _ratio(weight_kg, "weight_kg")
    h_num, h_den = _ratio(height_cm, "height_cm")
    if h_num <= 0 or w_num <= 0:
        return None
    # weight / (height / 100)^2 = N / D exactly, half up to 1 decimal in integers (N, D > 0):
    # floor(10 N / D + 1/2) = (20 N + D) // 2D; then k / 10, the same float as
    # float(_round_half_up(Fraction(N, D), 1)) (test_scoring_integer_rounding compares the two).
    n = w_num * 10000 * h_den * h_den
    d = w_den * h_num * h_num
    return ((20 * n + d) // (2 * d)) / 10


def fitness_change_pct(
    start_type: str | None,
    end_type: str | None,
    start_results: Sequence[Item],
    end_results: Sequence[Item],
    tests: Sequence[str],
) -> float | None:
    """Percentage change (end - start) / start x 100, rounded half up to 1 decimal.

    ``tests`` lists the test-type codes (e.g. "six_minute_walk", "chair_stand_30s", "watt",
    "kondital"); ``start_results`` and ``end_results`` hold each test's result field in the same
    order. Only the result of the test type actually used is compared, and only when
    ``start_type == end_type`` (a walk test is never compared with a bicycle test), that type is
    one of ``tests``, both results are present and the start result is > 0; otherwise None.
    ValueError when the three sequences are not aligned or ``tests`` has duplicates.
    """
    tests = list(tests)
    if len(set(tests)) != len(tests):
        raise ValueError("fitness tests must not repeat")
    if start_results is None or end_results is None:
        return None
    if len(start_results) != len(tests) or len(end_results) != len(tests):
        raise ValueError("start_results and end_results must be aligned with tests")
    if is_missing(start_type) or is_missing(end_type) or start_type != end_type:
        return None
    if start_type not in tests:
        return None
    index = tests.index(start_type)
    start, end = start_results[index], end_results[index]
    if is_missing(start) or is_missing(end):
        return None
    start_value = _number(start, f"start result for {start_type}")
    end_value = _number(end, f"end result for {start_type}")
    if start_value <= 0:
        return None
    return float(_round_half_up((end_value - start_value) / start_value * 100, 1))


# --------------------------------------------------------------------------------------------
# Derivation registry for the data contract
# --------------------------------------------------------------------------------------------

Derivation = Callable[..., int | float | None]

#: name -> function; the contract refers to these names and passes inputs by keyword.
DERIVATIONS: dict[str, Derivation] = {}

_F = TypeVar("_F", bound=Derivation)


def derivation(name: str) -> Callable[[_F], _F]:
    """Register the decorated function in :data:`DERIVATIONS` under ``name`` (must be unique)."""

    def register(func: _F) -> _F:
        if name in DERIVATIONS:
            # A silent overwrite would change what a stored contract computes.
            raise ValueError(f"derivation {name!r} is already registered")
        DERIVATIONS[name] = func
        return func

    return register


def derive(name: str, **kwargs: Any) -> int | float | None:
    """Call the derivation registered as ``name``; KeyError naming the known ones if unknown."""
    try:
        func = DERIVATIONS[name]
    except KeyError:
        known = ", ".join(sorted(DERIVATIONS))
        raise KeyError(f"unknown derivation {name!r}; known derivations: {known}") from None
    return func(**kwargs)


def _list_or_none(items: Sequence[Item] | None) -> list[Item] | None:
    return None if items is None or is_missing(items) else list(items)


def _check_len(items: list[Item], expected: int, name: str) -> None:
    # A wrong count means the contract wired the wrong fields: fail loudly, not with None.
    if len(items) != expected:
        raise ValueError(f"derivation {name!r} needs {expected} items, got {len(items)}")


@derivation("bmi")
def _derive_bmi(weight_kg: Item, height_cm: Item) -> float | None:
    return bmi(weight_kg, height_cm)


@derivation("hads_anxiety")
def _derive_hads_anxiety(items: Sequence[Item] | None) -> int | None:
    values = _list_or_none(items)
    # hads(values).anxiety, without scoring the other subscale (every item is checked all the same)
    return None if values is None else _hads_subscale(_hads_items(values)[HADS_ANXIETY])


@derivation("hads_depression")
def _derive_hads_depression(items: Sequence[Item] | None) -> int | None:
    values = _list_or_none(items)
    return None if values is None else _hads_subscale(_hads_items(values)[HADS_DEPRESSION])


def _heartqol_derivation(name: str, expected: int) -> Derivation:
    def derive_scale(items: Sequence[Item] | None, min_answered_fraction: float = 0.5) -> float | None:
        values = _list_or_none(items)
        if values is None:
            return None
        _check_len(values, expected, name)
        return heartqol_scale(values, min_answered_fraction)

    derive_scale.__name__ = f"_derive_{name}"
    derive_scale.__doc__ = f"HeartQoL scale on the {expected} items passed (see heartqol_scale)."
    return derivation(name)(derive_scale)


_heartqol_derivation("heartqol_global", HEARTQOL_ITEMS)
_heartqol_derivation("heartqol_physical", len(HEARTQOL_PHYSICAL_ITEMS))
_heartqol_derivation("heartqol_emotional", len(HEARTQOL_EMOTIONAL_ITEMS))


#: An int is never missing (``is_missing``).
_INTS_ONLY = frozenset({int})


@derivation("eq5d5l_index_dk")
def _derive_eq5d5l_index_dk(dimensions: Sequence[Item] | None) -> float | None:
    values = _list_or_none(dimensions)
    if values is None or (not _INTS_ONLY.issuperset(map(type, values)) and any(is_missing(v) for v in values)):
        return None
    return eq5d5l_index_dk(values)


@derivation("who5")
def _derive_who5(items: Sequence[Item] | None) -> int | None:
    values = _list_or_none(items)
    return None if values is None else who5(values)


@derivation("pss10")
def _derive_pss10(items: Sequence[Item] | None) -> int | None:
    values = _list_or_none(items)
    return None if values is None else pss10(values)


@derivation("loneliness3")
def _derive_loneliness3(items: Sequence[Item] | None) -> int | None:
    values = _list_or_none(items)
    return None if values is None else loneliness3(values)


@derivation("fitness_change_pct")
def _derive_fitness_change_pct(
    start_type: str | None,
    end_type: str | None,
    start_results: Sequence[Item] | None,
    end_results: Sequence[Item] | None,
    tests: Sequence[str],
) -> float | None:
    return fitness_change_pct(start_type, end_type, start_results, end_results, tests)  # type: ignore[arg-type]
