"""Tests for hjertekom_core.scoring against published and hand-computed values."""
from __future__ import annotations

import inspect
import math
from decimal import Decimal

import pytest

from hjertekom_core.scoring import (
    DERIVATIONS,
    HEARTQOL_EMOTIONAL_ITEMS,
    HEARTQOL_PHYSICAL_ITEMS,
    HadsScore,
    HeartQolScore,
    bmi,
    derivation,
    derive,
    eq5d5l_index_dk,
    fitness_change_pct,
    hads,
    hads_band,
    heartqol,
    heartqol_scale,
    loneliness3,
    pss10,
    who5,
    who5_band,
)


def interleave(anxiety: list, depression: list) -> list:
    """HADS questionnaire order: item 1 = anxiety, item 2 = depression, and so on."""
    items: list = []
    for a, d in zip(anxiety, depression):
        items += [a, d]
    return items


# ----------------------------------------------------------------------------------------------
# EQ-5D-5L (Danish value set)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("11111", 1.000),  # published
        ("55555", -0.758),  # published
        ("12345", -0.074),  # 1 - 0.035 - 0.040 - 0.381 - 0.618
        ("21111", 0.959),  # 1 - 0.041
        ("11112", 0.928),  # 1 - 0.072
        ("11141", 0.619),  # 1 - 0.381
        ("22222", 0.771),  # 1 - (0.041 + 0.035 + 0.033 + 0.048 + 0.072)
        ("33333", 0.571),  # 1 - (0.054 + 0.050 + 0.040 + 0.094 + 0.191)
        ("44444", -0.251),  # 1 - (0.157 + 0.144 + 0.139 + 0.381 + 0.430)
        ("54321", 0.548),  # 1 - (0.220 + 0.144 + 0.040 + 0.048)
        ("15111", 0.791),  # 1 - 0.209
        ("11511", 0.826),  # 1 - 0.174
    ],
)
def test_eq5d5l_dk(profile: str, expected: float) -> None:
    assert eq5d5l_index_dk(profile) == expected
    assert eq5d5l_index_dk([int(c) for c in profile]) == expected
    assert eq5d5l_index_dk(tuple(int(c) for c in profile)) == expected


@pytest.mark.parametrize(
    "profile",
    ["", "1111", "111111", "12340", "12346", "12a45", "12 45", [1, 2, 3, 4], [1, 2, 3, 4, 6],
     [0, 1, 1, 1, 1], [1, 2, None, 4, 5], [1, 2, "UNK", 4, 5], [1.5, 1, 1, 1, 1]],
)
def test_eq5d5l_bad_profile(profile: object) -> None:
    with pytest.raises(ValueError):
        eq5d5l_index_dk(profile)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# HADS
# ----------------------------------------------------------------------------------------------


def test_hads_full_items() -> None:
    items = [3, 0, 2, 0, 1, 1, 0, 1, 3, 2, 2, 2, 1, 3]
    score = hads(items)
    assert score == HadsScore(anxiety=12, depression=9)  # 3+2+1+0+3+2+1, 0+0+1+1+2+2+3
    assert score.anxiety_band == "case"
    assert score.depression_band == "borderline"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([0] * 14, HadsScore(0, 0)),
        ([3] * 14, HadsScore(21, 21)),
        (interleave([1] * 7, [2] * 7), HadsScore(7, 14)),
    ],
)
def test_hads_extremes(items: list, expected: HadsScore) -> None:
    assert hads(items) == expected


@pytest.mark.parametrize("missing", [None, "UNK", float("nan")])
def test_hads_one_missing_per_subscale_is_prorated(missing: object) -> None:
    # anxiety answered 3,2,1,0,3,2 (sum 11): 11/6 x 7 = 12.83 -> 13
    # depression answered 0,0,1,1,2,2 (sum 6): 6/6 x 7 = 7
    items = interleave([3, 2, 1, 0, 3, 2, missing], [missing, 0, 0, 1, 1, 2, 2])
    assert hads(items) == HadsScore(anxiety=13, depression=7)


def test_hads_proration_rounds_half_up() -> None:
    # answered sum 9 over 6 items: 9/6 x 7 = 10.5 -> 11 (half up), which moves the band to "case"
    items = interleave([None, 2, 2, 2, 1, 1, 1], [None, 1, 1, 1, 0, 0, 0])
    score = hads(items)
    assert score.anxiety == 11
    assert score.anxiety_band == "case"
    # sum 3: 3/6 x 7 = 3.5 -> 4
    assert score.depression == 4


def test_hads_two_missing_gives_none_for_that_subscale_only() -> None:
    items = interleave([None, "UNK", 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2, None])
    score = hads(items)
    assert score.anxiety is None
    assert score.anxiety_band is None
    assert score.depression == 14  # 12/6 x 7


def test_hads_all_missing() -> None:
    assert hads([None] * 14) == HadsScore(None, None)


@pytest.mark.parametrize("bad", [4, -1, 1.5, "2", True, "unk", [1]])
def test_hads_out_of_range_item(bad: object) -> None:
    items: list = [1] * 14
    items[5] = bad
    with pytest.raises(ValueError):
        hads(items)


@pytest.mark.parametrize("count", [0, 7, 13, 15])
def test_hads_needs_14_items(count: int) -> None:
    with pytest.raises(ValueError):
        hads([1] * count)


@pytest.mark.parametrize(
    ("score", "band"),
    [(None, None), (0, "normal"), (7, "normal"), (8, "borderline"), (10, "borderline"),
     (11, "case"), (21, "case")],
)
def test_hads_band(score: int | None, band: str | None) -> None:
    assert hads_band(score) == band


@pytest.mark.parametrize("score", [-1, 22, 7.5])
def test_hads_band_rejects_impossible_score(score: object) -> None:
    with pytest.raises(ValueError):
        hads_band(score)  # type: ignore[arg-type]


def test_hads_score_bands() -> None:
    assert HadsScore(7, 8).anxiety_band == "normal"
    assert HadsScore(7, 8).depression_band == "borderline"
    assert HadsScore(10, 11).anxiety_band == "borderline"
    assert HadsScore(10, 11).depression_band == "case"


# ----------------------------------------------------------------------------------------------
# HeartQoL
# ----------------------------------------------------------------------------------------------


def test_heartqol_item_positions() -> None:
    assert HEARTQOL_PHYSICAL_ITEMS == tuple(range(1, 11))
    assert HEARTQOL_EMOTIONAL_ITEMS == (11, 12, 13, 14)


def test_heartqol_full() -> None:
    score = heartqol([3] * 10 + [1] * 4)
    # global 34/14 = 2.428... -> 2.43
    assert score == HeartQolScore(global_score=2.43, physical=3.0, emotional=1.0)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([1, 1, 0, 0, 0, 0, 0, 1], 0.38),  # 3/8 = 0.375, half up
        ([1, 1, 0], 0.67),
        ([2, None, "UNK", 3], 2.5),  # mean of answered only
        ([0, 0, 0, 0], 0.0),
    ],
)
def test_heartqol_scale_mean_and_rounding(items: list, expected: float) -> None:
    assert heartqol_scale(items) == expected


@pytest.mark.parametrize(
    ("n_items", "answered", "fraction", "expected_none"),
    [
        (14, 7, 0.5, False),  # exactly half is enough
        (14, 6, 0.5, True),
        (10, 5, 0.5, False),
        (10, 4, 0.5, True),
        (4, 2, 0.5, False),
        (4, 1, 0.5, True),
        (4, 3, 0.75, False),
        (4, 2, 0.75, True),
        (10, 7, 0.7, False),  # 0.7 x 10 is 7.000000000000001 in floats: must still need 7
        (10, 1, 0.1, False),  # 0.1 x 10 must need 1, not 2
        (10, 10, 1.0, False),
        (10, 9, 1.0, True),
        (10, 0, 0.0, True),  # no answer, no mean
    ],
)
def test_heartqol_min_answered(n_items: int, answered: int, fraction: float, expected_none: bool) -> None:
    items = [2] * answered + [None] * (n_items - answered)
    result = heartqol_scale(items, min_answered_fraction=fraction)
    assert (result is None) is expected_none
    if not expected_none:
        assert result == 2.0


def test_heartqol_subscales_apply_rule_separately() -> None:
    # physical: 5 of 10 answered (enough); emotional: 1 of 4 (too few); global: 6 of 14 (too few)
    items = [3] * 5 + [None] * 5 + [1, None, "UNK", None]
    assert heartqol(items) == HeartQolScore(global_score=None, physical=3.0, emotional=None)
    # with a lower threshold all three are scored
    assert heartqol(items, min_answered_fraction=0.25) == HeartQolScore(
        global_score=2.67, physical=3.0, emotional=1.0  # 16/6 = 2.666...
    )


@pytest.mark.parametrize("bad", [4, -1, 2.5, "3"])
def test_heartqol_out_of_range(bad: object) -> None:
    with pytest.raises(ValueError):
        heartqol_scale([1, 2, bad])


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_heartqol_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError):
        heartqol_scale([1, 2, 3], min_answered_fraction=fraction)


@pytest.mark.parametrize("count", [10, 13, 15])
def test_heartqol_needs_14_items(count: int) -> None:
    with pytest.raises(ValueError):
        heartqol([1] * count)


# ----------------------------------------------------------------------------------------------
# WHO-5
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "score", "band"),
    [
        ([5, 5, 5, 5, 5], 100, "ok"),
        ([0, 0, 0, 0, 0], 0, "poor"),
        ([3, 3, 2, 2, 3], 52, "ok"),
        ([3, 3, 2, 2, 2], 48, "poor"),
        ([2, 3, 2, 3, 2], 48, "poor"),
        ([3, 2, 3, 2, 2], 48, "poor"),
        ([1, 2, 3, 4, 3], 52, "ok"),
    ],
)
def test_who5(items: list, score: int, band: str) -> None:
    assert who5(items) == score
    assert who5_band(who5(items)) == band


@pytest.mark.parametrize(
    ("items", "score"),
    [
        ([0] * 10, 16),                          # the four positive items reversed: 4 x 4
        ([4] * 10, 24),                          # 6 x 4, the reversed ones 0
        ([4, 4, 4, 0, 0, 4, 0, 0, 4, 4], 40),    # the most stress the scale can show
        ([0, 0, 0, 4, 4, 0, 4, 4, 0, 0], 0),
        ([1, 2, 3, 2, 1, 0, 3, 2, 1, 4], 1 + 2 + 3 + 2 + 3 + 0 + 1 + 2 + 1 + 4),
        ([1, 2, 3, 2, 1, 0, 3, 2, 1, "UNK"], None),
        ([1, 2, 3, 2, 1, 0, 3, 2, None, 4], None),
    ],
)
def test_pss10_reverses_the_positive_items(items: list, score: int | None) -> None:
    assert pss10(items) == score
    assert derive("pss10", items=items) == score


@pytest.mark.parametrize(("items", "score"), [([1, 1, 1], 3), ([3, 3, 3], 9), ([1, 2, 3], 6), ([1, "UNK", 3], None)])
def test_loneliness3_is_the_sum_of_three_items(items: list, score: int | None) -> None:
    assert loneliness3(items) == score
    assert derive("loneliness3", items=items) == score


@pytest.mark.parametrize(("func", "items"), [(pss10, [5] + [0] * 9), (pss10, [0] * 9), (loneliness3, [0, 1, 1]),
                                             (loneliness3, [1, 1])])
def test_pss10_and_loneliness3_refuse_what_the_form_cannot_hold(func, items: list) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        func(items)


@pytest.mark.parametrize(("score", "band"), [(50, "poor"), (52, "ok"), (None, None)])
def test_who5_band_boundary(score: int | None, band: str | None) -> None:
    assert who5_band(score) == band


@pytest.mark.parametrize("missing", [None, "UNK"])
def test_who5_no_imputation(missing: object) -> None:
    assert who5([5, 5, 5, 5, missing]) is None


@pytest.mark.parametrize("items", [[6, 0, 0, 0, 0], [-1, 0, 0, 0, 0], [1, 1, 1, 1], [1] * 6])
def test_who5_bad_items(items: list) -> None:
    with pytest.raises(ValueError):
        who5(items)


# ----------------------------------------------------------------------------------------------
# BMI
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "height", "expected"),
    [
        (70, 175, 22.9),  # 22.857
        (80, 180, 24.7),  # 24.691
        (100, 200, 25.0),
        (62.5, 158, 25.0),  # 25.036
        (22.25, 100, 22.3),  # exactly 22.25: half up, not half even
        (Decimal("90.4"), Decimal("190"), 25.0),  # 25.04
    ],
)
def test_bmi(weight: float, height: float, expected: float) -> None:
    assert bmi(weight, height) == expected


@pytest.mark.parametrize(
    ("weight", "height"),
    [(None, 175), (70, None), ("UNK", 175), (70, "UNK"), (None, None), (70, 0), (70, -170), (0, 170)],
)
def test_bmi_none(weight: object, height: object) -> None:
    assert bmi(weight, height) is None  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Fitness change
# ----------------------------------------------------------------------------------------------

TESTS = ["six_minute_walk", "chair_stand_30s", "watt", "kondital"]


@pytest.mark.parametrize(
    ("test_type", "start", "end", "expected"),
    [
        ("six_minute_walk", [400, None, None, None], [460, None, None, None], 15.0),
        ("six_minute_walk", [400, None, None, None], [380, None, None, None], -5.0),
        ("chair_stand_30s", [None, 10, None, None], [None, 12, None, None], 20.0),
        ("watt", [None, None, 120, None], [None, None, 130, None], 8.3),  # 8.333
        ("kondital", [None, None, None, 20.0], [None, None, None, 25.5], 27.5),
        ("watt", [None, None, 300, None], [None, None, 301, None], 0.3),
        ("watt", [None, None, 80, None], [None, None, 80, None], 0.0),
        ("six_minute_walk", [400, 12, 100, 30], [401, 99, 1, 1], 0.3),  # other tests ignored
    ],
)
def test_fitness_change(test_type: str, start: list, end: list, expected: float) -> None:
    assert fitness_change_pct(test_type, test_type, start, end, TESTS) == expected


@pytest.mark.parametrize(
    ("start_type", "end_type", "start", "end"),
    [
        # different test types are never compared, even with results for both
        ("six_minute_walk", "watt", [400, None, 100, None], [460, None, 120, None]),
        ("watt", "six_minute_walk", [400, None, 100, None], [460, None, 120, None]),
        ("six_minute_walk", "six_minute_walk", [0, None, None, None], [460, None, None, None]),  # start 0
        ("six_minute_walk", "six_minute_walk", [400, None, None, None], [None, None, None, None]),
        ("six_minute_walk", "six_minute_walk", ["UNK", None, None, None], [400, None, None, None]),
        ("treadmill", "treadmill", [400, None, None, None], [460, None, None, None]),  # not in tests
        (None, None, [400, None, None, None], [460, None, None, None]),
        ("UNK", "UNK", [400, None, None, None], [460, None, None, None]),
        ("six_minute_walk", None, [400, None, None, None], [460, None, None, None]),
    ],
)
def test_fitness_change_none(start_type: object, end_type: object, start: list, end: list) -> None:
    assert fitness_change_pct(start_type, end_type, start, end, TESTS) is None  # type: ignore[arg-type]


def test_fitness_change_misaligned_lists() -> None:
    with pytest.raises(ValueError):
        fitness_change_pct("watt", "watt", [1, 2, 3], [1, 2, 3, 4], TESTS)


# ----------------------------------------------------------------------------------------------
# Derivation registry
# ----------------------------------------------------------------------------------------------

EXPECTED_PARAMETERS = {
    "bmi": ["weight_kg", "height_cm"],
    "hads_anxiety": ["items"],
    "hads_depression": ["items"],
    "heartqol_global": ["items", "min_answered_fraction"],
    "heartqol_physical": ["items", "min_answered_fraction"],
    "heartqol_emotional": ["items", "min_answered_fraction"],
    "eq5d5l_index_dk": ["dimensions"],
    "who5": ["items"],
    "pss10": ["items"],
    "loneliness3": ["items"],
    "fitness_change_pct": ["start_type", "end_type", "start_results", "end_results", "tests"],
}


def test_registry_names_and_parameters() -> None:
    assert set(DERIVATIONS) == set(EXPECTED_PARAMETERS)
    for name, params in EXPECTED_PARAMETERS.items():
        signature = inspect.signature(DERIVATIONS[name])
        assert list(signature.parameters) == params, name
    for name in ("heartqol_global", "heartqol_physical", "heartqol_emotional"):
        default = inspect.signature(DERIVATIONS[name]).parameters["min_answered_fraction"].default
        assert default == 0.5


HADS_ITEMS = [3, 0, 2, 0, 1, 1, 0, 1, 3, 2, 2, 2, 1, 3]


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("bmi", {"weight_kg": 70, "height_cm": 175}, 22.9),
        ("hads_anxiety", {"items": HADS_ITEMS}, 12),
        ("hads_depression", {"items": HADS_ITEMS}, 9),
        ("heartqol_global", {"items": [3] * 10 + [1] * 4}, 2.43),
        ("heartqol_physical", {"items": [3] * 9 + [None]}, 3.0),
        ("heartqol_emotional", {"items": [1, 2, None, None]}, 1.5),
        ("heartqol_emotional", {"items": [1, None, None, None]}, None),
        ("heartqol_emotional", {"items": [1, None, None, None], "min_answered_fraction": 0.25}, 1.0),
        ("eq5d5l_index_dk", {"dimensions": [1, 2, 3, 4, 5]}, -0.074),
        ("who5", {"items": [3, 3, 2, 2, 3]}, 52),
        (
            "fitness_change_pct",
            {"start_type": "watt", "end_type": "watt", "start_results": [None, None, 100, None],
             "end_results": [None, None, 112, None], "tests": TESTS},
            12.0,
        ),
    ],
)
def test_derive(name: str, kwargs: dict, expected: float | None) -> None:
    assert derive(name, **kwargs) == expected


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("bmi", {"weight_kg": "UNK", "height_cm": 175}),
        ("bmi", {"weight_kg": 70, "height_cm": None}),
        ("hads_anxiety", {"items": None}),
        ("hads_anxiety", {"items": [None] * 14}),
        ("hads_depression", {"items": ["UNK"] * 14}),
        ("heartqol_global", {"items": None}),
        ("heartqol_global", {"items": [None] * 14}),
        ("heartqol_physical", {"items": ["UNK"] * 10}),
        ("heartqol_emotional", {"items": None}),
        ("eq5d5l_index_dk", {"dimensions": None}),
        ("eq5d5l_index_dk", {"dimensions": [1, 2, None, 4, 5]}),
        ("eq5d5l_index_dk", {"dimensions": [1, 2, 3, "UNK", 5]}),
        ("who5", {"items": None}),
        ("who5", {"items": [5, 5, "UNK", 5, 5]}),
        (
            "fitness_change_pct",
            {"start_type": "watt", "end_type": "six_minute_walk", "start_results": [400, None, 100, None],
             "end_results": [460, None, 120, None], "tests": TESTS},
        ),
        (
            "fitness_change_pct",
            {"start_type": None, "end_type": None, "start_results": None, "end_results": None,
             "tests": TESTS},
        ),
    ],
)
def test_derive_missing_gives_none(name: str, kwargs: dict) -> None:
    assert derive(name, **kwargs) is None


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("hads_anxiety", {"items": [4] * 14}),
        ("who5", {"items": [9, 0, 0, 0, 0]}),
        ("eq5d5l_index_dk", {"dimensions": [1, 2, 3, 4, 6]}),
        ("heartqol_physical", {"items": [1] * 4}),  # the emotional items wired to the physical scale
    ],
)
def test_derive_bad_values_raise(name: str, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        derive(name, **kwargs)


def test_derive_unknown_name() -> None:
    with pytest.raises(KeyError) as info:
        derive("hads_total", items=[1] * 14)
    text = str(info.value)
    assert "hads_total" in text
    assert "hads_anxiety" in text  # lists what is available


def test_derivation_decorator_refuses_duplicates() -> None:
    original = DERIVATIONS["bmi"]
    with pytest.raises(ValueError):
        derivation("bmi")(lambda weight_kg, height_cm: None)
    assert DERIVATIONS["bmi"] is original


def test_derivation_decorator_registers() -> None:
    name = "test_only_double"
    try:
        @derivation(name)
        def double(x: int) -> int:
            return 2 * x

        assert DERIVATIONS[name] is double
        assert derive(name, x=21) == 42
    finally:
        DERIVATIONS.pop(name, None)


def test_nan_counts_as_missing() -> None:
    assert who5([5, 5, 5, 5, math.nan]) is None
    assert bmi(math.nan, 170) is None


def test_the_hads_derivations_are_hads_subscales() -> None:
    """hads_anxiety and hads_depression score their own subscale only; they still refuse what
    ``hads`` refuses (any item of the 14 wrong) and give what it gives."""
    import random

    from hjertekom_core.scoring import derive, hads

    rng = random.Random(14)
    choices = [0, 1, 2, 3, 0, 1, 2, 3, None, "UNK", 4, -1, 1.0, True, "2"]
    for _ in range(2000):
        items = [rng.choice(choices) for _ in range(rng.choice([13, 14, 14, 14, 14, 15]))]
        try:
            expected = hads(items)
        except ValueError:
            for name in ("hads_anxiety", "hads_depression"):
                with pytest.raises(ValueError):
                    derive(name, items=items)
            continue
        assert derive("hads_anxiety", items=items) == expected.anxiety
        assert derive("hads_depression", items=items) == expected.depression
