"""The entry app's live municipality counts (``indicators.live_counts``) against the full DuckDB
computation over the same store, before and after each change a clinician or the data owner
makes: a new course, a saved revision, a reopening, a move to another municipality, a restriction
and its lifting, another day. The hand-counted courses of ``indicator_fixtures`` give
unknowns, exclusions, drafts and several periods."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import func, select

from hjertekom_core.access import SYSTEM
from hjertekom_core.citizen_erasure import lift, restrict
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.indicators import IndicatorSettings, compute
from hjertekom_core.indicators import live_counts as live_counts_module
from hjertekom_core.indicators.live import live_connection
from hjertekom_core.indicators.live_counts import LiveCounts
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import courses
from indicator_fixtures import CAPITAL, OTHER, OWN, TODAY, Made, add_course, add_indicator_courses, service

SETTINGS = IndicatorSettings(standards={"K1": 0.75, "K2": 0.90, "K3": 0.50}, completion_limit_days=180)
PLACES = (OWN, OTHER, CAPITAL)


def expected(store: Store, contracts: ContractRegistry, municipality: int, reference: dt.date = TODAY,
             period: str = "year") -> pd.DataFrame:
    """What the DuckDB path counts for the municipality: the reference the live counts must equal."""
    with live_connection(store, contracts, [municipality]) as con:
        found = compute(con, SETTINGS, period=period, levels=("municipality",), reference=reference)
    return found.reset_index(drop=True)


def assert_same(live: LiveCounts, store: Store, contracts: ContractRegistry, reference: dt.date = TODAY,
                period: str = "year") -> None:
    for place in PLACES:
        got = live.indicators(place, reference=reference, period=period).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected(store, contracts, place, reference, period), check_dtype=False)


@pytest.fixture
def made(store: Store, contracts: ContractRegistry) -> dict[str, Made]:
    return add_indicator_courses(service(store, contracts))


@pytest.fixture
def recounted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, object]]]:
    """The courses' forms the live counts evaluate, call by call."""
    calls: list[dict[str, object]] = []
    real = live_counts_module.course_counts

    def spy(decl, forms, statuses, settings, reference, period="year", **kwargs):  # type: ignore[no-untyped-def]
        calls.append(dict(forms))
        return real(decl, forms, statuses, settings, reference, period, **kwargs)

    monkeypatch.setattr(live_counts_module, "course_counts", spy)
    yield calls


def test_live_counts_equal_the_full_computation(store: Store, contracts: ContractRegistry,
                                                made: dict[str, Made]) -> None:
    live = LiveCounts(store, contracts, SETTINGS)
    assert_same(live, store, contracts)
    assert_same(live, store, contracts, period="quarter")
    # Another day moves the 180-day limit: courses still open are judged again.
    assert_same(live, store, contracts, reference=dt.date(2025, 8, 15))
    assert_same(live, store, contracts, reference=dt.date(2025, 8, 16))
    own = live.indicators(OWN, reference=TODAY)
    k1 = own[(own.indicator == "K1") & (own.period == "2025")].iloc[0]
    assert (k1.numerator, k1.denominator) == (6, 10)   # the hand count in test_indicators.py


def test_a_save_recounts_only_that_course_and_shows_at_once(store: Store, contracts: ContractRegistry,
                                                            made: dict[str, Made],
                                                            recounted: list[dict[str, object]]) -> None:
    live = LiveCounts(store, contracts, SETTINGS)
    live.indicators(OWN, reference=TODAY)
    with store.read() as conn:
        in_own = conn.execute(select(func.count()).select_from(courses)
                              .where(courses.c.municipality_code == OWN)).scalar_one()
    assert len(recounted) == in_own                   # each Silkeborg course counted once
    svc = service(store, contracts)
    # B dropped out after 5 of 24 sessions; the clinician corrects it to 22.
    b = svc.get_course(made["B_dropout"].course_id)
    end = dict(b.forms["end"].data)
    end.update({"training_sessions_attended": 22})
    assert_same(live, store, contracts)               # every municipality counted once
    svc.save(b.id, "end", end, b.forms["end"].revision, complete=True, confirm=True, reason="Rettet fremmøde")
    before_save = len(recounted)
    live.indicators(OWN, reference=TODAY)
    assert len(recounted) == before_save + 1          # only B counted again
    assert recounted[-1]["end"]["training_sessions_attended"] == 22
    assert_same(live, store, contracts)
    # Reopening the end form as a draft takes B out of the finished courses at once.
    b = svc.get_course(b.id)
    svc.save(b.id, "end", dict(b.forms["end"].data), b.forms["end"].revision, complete=False, confirm=True,
             reason="Forkert dato", reopen=True)
    assert_same(live, store, contracts)
    # A new course in Silkeborg appears.
    add_course(svc, 4242, start="2025-03-03", end="2025-06-02")
    assert_same(live, store, contracts)


def test_a_move_and_a_restriction_follow(store: Store, contracts: ContractRegistry,
                                                    made: dict[str, Made]) -> None:
    live = LiveCounts(store, contracts, SETTINGS)
    assert_same(live, store, contracts)
    svc: Service = service(store, contracts)
    # A moves from Silkeborg to Aarhus: out of one, into the other.
    a = svc.get_course(made["A_base"].course_id)
    course_form = dict(a.forms["course"].data)
    course_form["municipality"] = OTHER
    svc.save(a.id, "course", course_form, a.forms["course"].revision, complete=True, confirm=True,
             reason="Borgeren er flyttet")
    assert_same(live, store, contracts)
    # C is restricted (GDPR art. 18): counted nowhere until lifted.
    restrict(store, SYSTEM, made["C_179_days"].cpr, "Sag 7: retskrav")
    assert_same(live, store, contracts)
    lift(store, SYSTEM, made["C_179_days"].cpr, "Sag 7: afgjort")
    assert_same(live, store, contracts)


def test_the_server_counts_every_municipality_ahead_of_the_first_save(
        store: Store, contracts: ContractRegistry, made: dict[str, Made],
        recounted: list[dict[str, object]]) -> None:
    from hjertekom_core.bootstrap import Workspace
    from hjertekom_core.config import Config
    from hjertekom_widgets import feedback_api

    workspace = Workspace(Config(), contracts, store)
    feedback_api.warm_live_counts(workspace, pause=0).join(timeout=120)
    warmed = len(recounted)
    assert warmed == len(made)                       # every course of every municipality, once
    counts = feedback_api._live_counts(workspace)
    for place in PLACES:
        counts.indicators(place)
    assert len(recounted) == warmed                  # the feedback finds them counted
