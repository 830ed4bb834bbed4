"""Per-course and live indicators of ANY programme, from its declarations (issue 19).

The invented programme ``faldforebyggelse`` (tests/invented_programme_files.py) declares F1 (lower
fall risk: of the finished courses with a moderate or high risk at the start, those with a low
risk at the end) and F2 (stronger legs: of the finished courses, those with at least 2 more chair
stands at the end). Nothing in the code names them. Every expected value here is counted by hand
from the courses below; HjerteKom's K1-K6 have their own tests (test_form_builder.py,
test_indicator_evaluator.py, test_live_counts.py), which this slice leaves unchanged.
"""
from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from hjertekom_core.access import SYSTEM
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.indicators.course import course_criteria, course_indicators, programme_declarations
from hjertekom_core.indicators.declarations import declarations_for
from hjertekom_core.indicators.live_counts import LiveCounts
from hjertekom_core.indicators.settings import IndicatorSettings
from hjertekom_core.service import Service
from hjertekom_core.store import Store

from factories import course_data, end_data, start_data
from invented_programme_files import PROGRAMME, contracts_with_invented

SILKEBORG, AARHUS = 740, 751
REFERENCE = dt.date(2025, 9, 1)


@pytest.fixture(scope="module")
def contracts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return contracts_with_invented(tmp_path_factory.mktemp("generic-indicators"))


@pytest.fixture(scope="module")
def both(contracts_dir: Path) -> ContractRegistry:
    return ContractRegistry(contracts_dir)


def _forms(start: dict[str, Any] | None = None, end: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    forms: dict[str, dict[str, Any]] = {"course": {"municipality": SILKEBORG, "referral_date": "2025-01-08"}}
    if start is not None:
        forms["start"] = {"visit_date": "2025-02-05", "falls_last_year": 1, **start}
    if end is not None:
        forms["end"] = {"visit_date": "2025-05-05", "completed": True, **end}
    return forms


def _states(both: ContractRegistry, forms: dict[str, dict[str, Any]], **kw: Any) -> dict[str, tuple[str, str | None]]:
    found = course_indicators(both[PROGRAMME], forms, reference=REFERENCE, **kw)
    return {i.id: (i.state, i.reason.get("da") if i.reason else None) for i in found}


# --- one course ------------------------------------------------------------------------------------------

def test_one_course_gets_each_declared_indicator_with_name_criterion_state_and_reason(both: ContractRegistry) -> None:
    found = course_indicators(both[PROGRAMME], _forms({"fall_risk": "high", "chair_stands": 8},
                                                      {"fall_risk": "low", "chair_stands": 11}), reference=REFERENCE)
    assert [i.id for i in found] == ["F1", "F2"]   # the declarations' order
    f1, f2 = found
    assert (f1.name.da, f1.criterion.da, f1.state, f1.reason) == ("Lavere faldrisiko", "lav faldrisiko ved afslutning",
                                                                   "met", None)
    assert (f2.name.en, f2.criterion.en, f2.state) == ("Stronger legs", "at least 2 more chair stands at the end", "met")


def test_not_met_unknown_and_not_applicable_say_which_declared_condition_decided(both: ContractRegistry) -> None:
    # Moderate at both ends, one chair stand more: in both denominators, neither met.
    assert _states(both, _forms({"fall_risk": "moderate", "chair_stands": 10}, {"fall_risk": "moderate",
                                                                              "chair_stands": 11})) == {
        "F1": ("not_met", "Ikke opfyldt: lav faldrisiko ved afslutning"),
        "F2": ("not_met", "Ikke opfyldt: mindst 2 flere rejse-sætte-sig ved afslutning")}
    # Low risk at the start: not in F1's denominator; chair stands "uoplyst" at the end: F2 unknown.
    assert _states(both, _forms({"fall_risk": "low", "chair_stands": 9}, {"fall_risk": "low",
                                                                        "chair_stands": "UNK"})) == {
        "F1": ("not_applicable", "Ikke med i nævneren – ikke opfyldt: moderat eller høj faldrisiko ved start"),
        "F2": ("unknown", "Kan ikke afgøres – ukendt: mindst 2 flere rejse-sætte-sig ved afslutning")}
    # Fall risk "uoplyst" at the start: left out of F1's denominator (excluded), F2 still met.
    assert _states(both, _forms({"fall_risk": "UNK", "chair_stands": 5}, {"fall_risk": "low", "chair_stands": 7})) == {
        "F1": ("not_applicable", "Udeladt af nævneren – ukendt: moderat eller høj faldrisiko ved start"),
        "F2": ("met", None)}


def test_a_course_without_a_complete_end_is_in_no_denominator_and_says_so(both: ContractRegistry) -> None:
    no_end = _forms({"fall_risk": "high", "chair_stands": 8})
    expected = ("not_applicable", "Ikke med i nævneren – ikke opfyldt: afslutning færdig")
    assert _states(both, no_end) == {"F1": expected, "F2": expected}
    # A draft end does not count either (the real statuses, as the entry app passes them).
    draft = _forms({"fall_risk": "high", "chair_stands": 8}, {"fall_risk": "low", "chair_stands": 11})
    assert _states(both, draft, statuses={"end": "draft"}) == {"F1": expected, "F2": expected}
    assert _states(both, draft)["F1"] == ("met", None)
    # Nothing but the course form: the population's first condition.
    started = ("not_applicable", "Ikke med i nævneren – ikke opfyldt: første samtale færdig")
    assert _states(both, _forms()) == {"F1": started, "F2": started}


def test_course_criteria_gives_any_programmes_states_and_a_programme_without_indicators_none(
        both: ContractRegistry, tmp_path: Path) -> None:
    forms = _forms({"fall_risk": "high", "chair_stands": 8}, {"fall_risk": "moderate", "chair_stands": 10})
    assert course_criteria(both[PROGRAMME], forms, reference=REFERENCE) == {"F1": "not_met", "F2": "met"}
    # The same programme without its indicators.yaml: no indicators, not hjertekom's.
    bare = tmp_path / "bare"
    shutil.copytree(both.directory, bare)
    (bare / PROGRAMME / "indicators.yaml").unlink()
    (bare / PROGRAMME / "indicator_texts.yaml").unlink()
    contract = ContractRegistry(bare)[PROGRAMME]
    assert programme_declarations(contract) is None
    assert course_indicators(contract, forms) == () and course_criteria(contract, forms) == {}


def test_hjertekoms_course_indicators_agree_with_its_k1_to_k6_criteria(both: ContractRegistry) -> None:
    """The generic path read over HjerteKom's declarations gives the states course_criteria gives."""
    heart = both["hjertekom"]
    forms = {"course": course_data(), "start": start_data(), "end": end_data()}
    found = course_indicators(heart, forms, reference=REFERENCE)
    assert [i.id for i in found] == ["K1", "K2", "K3", "K4", "K5", "K6"]
    assert {i.id: i.state for i in found} == course_criteria(heart, forms, reference=REFERENCE)
    assert all((i.reason is None) == (i.state == "met") for i in found)


# --- the municipality's live counts ------------------------------------------------------------------------

def _save(svc: Service, course: int, form: str, data: dict[str, Any]) -> None:
    svc.save(course, form, data, 0, complete=True, confirm=True)


def _course(svc: Service, rng: random.Random, name: str, municipality: int, start: dict[str, Any] | None,
            end: dict[str, Any] | None) -> int:
    citizen = svc.create_citizen(generate_cpr(rng), name, municipality)
    forms = _forms(start, end)
    course = svc.open_course(citizen.id, {**forms["course"], "municipality": municipality}, programme=PROGRAMME,
                             complete=True).course_id
    for form in ("start", "end"):
        if form in forms:
            _save(svc, course, form, forms[form])
    return course


def _table(frame: Any) -> dict[str, tuple[int, int, int, int]]:
    return {r.indicator: (r.numerator, r.denominator, r.unknown, r.excluded) for r in frame.itertuples()}


def test_live_counts_of_the_invented_programme_counted_by_hand(sqlite_store: Store, both: ContractRegistry,
                                                               contracts_dir: Path) -> None:
    rng = random.Random(19_019)
    svc = Service(sqlite_store, both, SYSTEM)
    # Silkeborg:                               F1 (n/d/u/x)     F2 (n/d/u/x)
    _course(svc, rng, "Alma Fald", SILKEBORG, {"fall_risk": "high", "chair_stands": 8},          # n d        n d
            {"fall_risk": "low", "chair_stands": 11})
    _course(svc, rng, "Bodil Fald", SILKEBORG, {"fall_risk": "moderate", "chair_stands": 10},    # d          d
            {"fall_risk": "moderate", "chair_stands": 11})
    _course(svc, rng, "Clara Fald", SILKEBORG, {"fall_risk": "low", "chair_stands": 9},          # -          n d
            {"fall_risk": "low", "chair_stands": 12})
    _course(svc, rng, "Dagny Fald", SILKEBORG, {"fall_risk": "high", "chair_stands": 7},         # d          d u
            {"fall_risk": "high", "chair_stands": "UNK"})
    open_one = _course(svc, rng, "Edel Fald", SILKEBORG,                                         # -          -
                       {"fall_risk": "moderate", "chair_stands": 6}, None)
    _course(svc, rng, "Frida Fald", SILKEBORG, {"fall_risk": "UNK", "chair_stands": 5},          # x          n d
            {"fall_risk": "low", "chair_stands": 7})
    # Elsewhere and another programme: not Silkeborg's F1/F2.
    _course(svc, rng, "Gerda Fald", AARHUS, {"fall_risk": "high", "chair_stands": 8}, {"fall_risk": "low",
                                                                                      "chair_stands": 11})
    heart_citizen = svc.create_citizen(generate_cpr(rng), "Hans Hjerte", SILKEBORG)
    svc.open_course(heart_citizen.id, course_data(), complete=True)

    settings = IndicatorSettings(declarations=declarations_for(PROGRAMME, contracts_dir))
    live = LiveCounts(sqlite_store, both, settings)
    frame = live.indicators(SILKEBORG, reference=REFERENCE)
    assert set(frame["period"]) == {"2025"} and set(frame["unit"]) == {str(SILKEBORG)}
    assert _table(frame) == {"F1": (1, 3, 0, 1), "F2": (3, 5, 1, 0)}
    f1 = frame.set_index("indicator").loc["F1"]
    assert f1.proportion == pytest.approx(1 / 3) and f1.status == "no_standard"
    assert _table(live.indicators(AARHUS, reference=REFERENCE)) == {"F1": (1, 1, 0, 0), "F2": (1, 1, 0, 0)}

    # Edel's end is saved: only her course is counted again, and both indicators gain her.
    _save(svc, open_one, "end", {"visit_date": "2025-05-05", "completed": True, "fall_risk": "low",
                                 "chair_stands": 9})
    assert _table(live.indicators(SILKEBORG, reference=REFERENCE)) == {"F1": (2, 4, 0, 1), "F2": (4, 6, 1, 0)}
    # With a standard configured, the status follows it.
    standard = IndicatorSettings(standards={"F1": 0.4}, declarations=settings.declarations)
    row = LiveCounts(sqlite_store, both, standard).indicators(SILKEBORG, reference=REFERENCE).set_index(
        "indicator").loc["F1"]
    assert (row.standard, row.status) == (0.4, "met")


def test_a_municipality_without_courses_of_the_programme_has_no_rows(sqlite_store: Store, both: ContractRegistry,
                                                                     contracts_dir: Path) -> None:
    settings = IndicatorSettings(declarations=declarations_for(PROGRAMME, contracts_dir))
    assert LiveCounts(sqlite_store, both, settings).indicators(SILKEBORG, reference=REFERENCE).empty
