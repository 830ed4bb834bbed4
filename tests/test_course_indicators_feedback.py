"""The entry app's feedback after saving a course of another programme, without a server or a
browser (as tests/test_entry_programmes.py): the course's declared indicators with their states
and reasons, and the municipality's live counts of the same indicators under the same
small-number rules as HjerteKom's K1-K6 table.

HjerteKom and the invented programme ``faldforebyggelse`` (F1 lower fall risk, F2 stronger legs;
tests/invented_programme_files.py) are loaded side by side. The browser side is
tests/browser/test_course_indicators_browser.py.
"""
from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hjertekom_core import disclosure
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.indicators.declarations import declarations_for
from hjertekom_core.indicators.definitions import indicators_of
from hjertekom_core.service import Service
from hjertekom_core.users import add_user
from hjertekom_widgets.app import EntryShell
from hjertekom_widgets.feedback import municipality_feedback_html
from hjertekom_widgets.feedback_api import render_feedback
from hjertekom_widgets.session import Session

from factories import TEST_PASSWORD, course_data, end_data, start_data
from invented_programme_files import BOTH, PROGRAMME, contracts_with_invented

SILKEBORG = 740

pytestmark = pytest.mark.filterwarnings(r"ignore:Passing unrecognized arguments to super\(Layout\)")


@dataclass
class Entry:
    ws: Workspace
    user: User

    @property
    def service(self) -> Service:
        return Service(self.ws.store, self.ws.contracts, self.user)


@pytest.fixture
def entry(tmp_path: Path) -> Iterator[Entry]:
    ws = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=contracts_with_invented(tmp_path),
                               programmes=BOTH))
    initialise(ws)
    user = add_user(ws.store, SYSTEM, "kliniker", "Kliniker", "clinician", TEST_PASSWORD, (SILKEBORG,))
    yield Entry(ws, user)
    ws.store.dispose()


def _fall_course(svc: Service, seed: int, name: str, start: dict[str, Any], end: dict[str, Any] | None) -> int:
    citizen = svc.create_citizen(generate_cpr(random.Random(seed)), name, SILKEBORG)
    course = svc.open_course(citizen.id, {"municipality": SILKEBORG, "referral_date": "2025-01-08"},
                             programme=PROGRAMME, complete=True).course_id
    svc.save(course, "start", {"visit_date": "2025-02-05", "falls_last_year": 1, **start}, 0, complete=True,
             confirm=True)
    if end is not None:
        svc.save(course, "end", {"visit_date": "2025-05-05", "completed": True, **end}, 0, complete=True,
                 confirm=True)
    return course


def _row(page: str, indicator: str) -> str:
    found = re.search(rf'<tr data-indicator="{indicator}"[^>]*>.*?</tr>', page, re.S)
    assert found is not None, f"no row of {indicator}"
    return found.group(0)


def test_saving_a_course_of_another_programme_shows_its_declared_indicators_and_the_municipalitys(
        entry: Entry) -> None:
    svc = entry.service
    met = _fall_course(svc, 1, "Alma Fald", {"fall_risk": "high", "chair_stands": 8},
                       {"fall_risk": "low", "chair_stands": 11})
    _fall_course(svc, 2, "Bodil Fald", {"fall_risk": "moderate", "chair_stands": 10},
                 {"fall_risk": "moderate", "chair_stands": 11})
    parts = render_feedback(entry.ws, entry.user, met)

    course = parts["course"]
    assert "Kvalitetsindikatorer for forløbet" in course and 'data-indicator="K' not in course
    f1, f2 = _row(course, "F1"), _row(course, "F2")
    assert 'data-state="met"' in f1 and "Lavere faldrisiko" in f1 and "lav faldrisiko ved afslutning" in f1
    assert 'data-state="met"' in f2 and "mindst 2 flere rejse-sætte-sig ved afslutning" in f2
    assert "hk-reason" not in course   # met: no reason
    assert "Rejse-sætte-sig på 30 sekunder" in course and "+3" in course   # its start and end measures too

    # The municipality's table: F1 1 of 2 (Bodil stayed moderate), F2 1 of 2 (one stand more).
    table = parts["municipality"]
    assert "Kommunens kvalitetsindikatorer – Faldforebyggelse" in table and "K1-K6" not in table
    assert 'data-indicator="F1" data-status="no_standard"' in table
    assert re.search(r'data-indicator="F1".*?>1 / 2<', table, re.S)
    assert re.search(r'data-indicator="F2".*?>1 / 2<', table, re.S)
    assert "Silkeborg – 2025" in table
    # Own numbers exact: a count of 1 is shown as 1, as in HjerteKom's table.
    assert "&lt; 5" not in table

    # Bodil's course: both not met, each with the condition that decided it.
    bodil = render_feedback(entry.ws, entry.user, met + 1)["course"]
    assert 'data-state="not_met"' in _row(bodil, "F1")
    assert "Ikke opfyldt: lav faldrisiko ved afslutning" in _row(bodil, "F1")
    assert "Ikke opfyldt: mindst 2 flere rejse-sætte-sig ved afslutning" in _row(bodil, "F2")


def test_a_course_not_yet_ended_says_why_and_the_counts_follow_the_next_save(entry: Entry) -> None:
    svc = entry.service
    first = _fall_course(svc, 3, "Clara Fald", {"fall_risk": "high", "chair_stands": 8},
                         {"fall_risk": "low", "chair_stands": 11})
    open_one = _fall_course(svc, 4, "Dagny Fald", {"fall_risk": "high", "chair_stands": 6}, None)
    parts = render_feedback(entry.ws, entry.user, open_one)
    assert "Ingen af programmets indikatorer gælder forløbet endnu." in parts["course"]
    for ind in ("F1", "F2"):
        row = _row(parts["course"], ind)
        assert 'data-state="not_applicable"' in row
        assert "Ikke med i nævneren – ikke opfyldt: afslutning færdig" in row
    assert re.search(r'data-indicator="F1".*?>1 / 1<', parts["municipality"], re.S)
    # Her end is saved: the municipality now counts her too (the live counts recount her course).
    svc.save(open_one, "end", {"visit_date": "2025-05-05", "completed": True, "fall_risk": "moderate",
                               "chair_stands": 7}, 0, complete=True, confirm=True)
    again = render_feedback(entry.ws, entry.user, first)["municipality"]
    assert re.search(r'data-indicator="F1".*?>1 / 2<', again, re.S)
    assert re.search(r'data-indicator="F2".*?>1 / 2<', again, re.S)


def test_hjertekoms_feedback_beside_it_is_k1_to_k6_as_before(entry: Entry) -> None:
    svc = entry.service
    _fall_course(svc, 5, "Edel Fald", {"fall_risk": "high", "chair_stands": 8}, {"fall_risk": "low",
                                                                                "chair_stands": 11})
    citizen = svc.create_citizen(generate_cpr(random.Random(6)), "Hans Hjerte", SILKEBORG)
    heart = svc.open_course(citizen.id, course_data(), complete=True).course_id
    svc.save(heart, "start", start_data(), 0, complete=True, confirm=True)
    svc.save(heart, "end", end_data(), 0, complete=True, confirm=True)
    parts = render_feedback(entry.ws, entry.user, heart)
    assert "Kvalitetsindikatorer K1-K6" in parts["municipality"]
    assert 'data-indicator="F' not in parts["municipality"] and 'data-indicator="F' not in parts["course"]
    assert [m for m in re.findall(r'<tr data-indicator="(K\d)"', parts["course"])] == [
        "K1", "K2", "K3", "K4", "K5", "K6"]
    assert "hk-reason" not in parts["course"]


def test_the_course_view_shows_both_parts_after_a_save_of_another_programme(entry: Entry) -> None:
    svc = entry.service
    course = _fall_course(svc, 7, "Frida Fald", {"fall_risk": "high", "chair_stands": 8},
                          {"fall_risk": "low", "chair_stands": 11})
    shell = EntryShell()
    shell.session = Session(entry.ws, entry.user)
    shell.open_course(course)
    view = shell._courses   # noqa: SLF001 - the page's one course view
    assert view is not None and view.contract.programme == PROGRAMME
    own, municipality = (child.value for child in view.feedback.children)
    assert 'data-indicator="F1" data-state="met"' in own
    assert "Kommunens kvalitetsindikatorer – Faldforebyggelse" in municipality


def test_another_municipalitys_counts_are_protected_as_in_hjertekoms_table(tmp_path: Path) -> None:
    """The same small-number rules: a unit that is not the viewer's own shows counts 1-4 as "< 5"."""
    indicators = indicators_of(declarations_for(PROGRAMME, contracts_with_invented(tmp_path)))
    rows = [("F1", "municipality", "751", "Aarhus", "2025", 2, 3, 0, 0, 2 / 3, 0.2, 0.9, None, "no_standard"),
            ("F2", "municipality", "751", "Aarhus", "2025", 3, 9, 0, 0, 1 / 3, 0.1, 0.6, None, "no_standard")]
    result = pd.DataFrame(rows, columns=["indicator", "level", "unit", "unit_name", "period", "numerator",
                                         "denominator", "unknown", "excluded", "proportion", "ci_low", "ci_high",
                                         "standard", "status"])
    mine = municipality_feedback_html(result, indicators=indicators, programme_name="Faldforebyggelse")
    assert re.search(r'data-indicator="F1".*?>2 / 3<', mine, re.S)
    theirs = municipality_feedback_html(result, own=[SILKEBORG], hierarchy=disclosure.Hierarchy({}),
                                        indicators=indicators, programme_name="Faldforebyggelse")
    assert re.search(r'data-indicator="F1".*?>&lt; 5 / &lt; 5<', theirs, re.S)
    assert ">2 / 3<" not in theirs


def test_the_server_warms_the_live_counts_of_every_programme_with_indicators(entry: Entry) -> None:
    from hjertekom_widgets import feedback_api

    svc = entry.service
    _fall_course(svc, 8, "Gerda Fald", {"fall_risk": "high", "chair_stands": 8}, {"fall_risk": "low",
                                                                                 "chair_stands": 11})
    citizen = svc.create_citizen(generate_cpr(random.Random(9)), "Ib Hjerte", SILKEBORG)
    svc.open_course(citizen.id, course_data(), complete=True)
    feedback_api.warm_live_counts(entry.ws, pause=0).join(timeout=120)
    warmed = feedback_api._COUNTS[entry.ws.store]   # noqa: SLF001 - the server's per-programme counts
    assert set(warmed) == {"hjertekom", PROGRAMME}
    assert warmed[PROGRAMME] is feedback_api._live_counts(entry.ws, PROGRAMME)   # noqa: SLF001
