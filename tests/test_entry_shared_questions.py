"""Shared questions in the entry app, without a server: WHO-5 and EQ-5D-5L answered in HjerteKom show
up filled in, read-only and marked as such, in MoEva's first questionnaire of the same day.

The views are driven through their widgets and handlers as in tests/test_entry_programmes.py; the
service side is tests/test_shared_questions.py, the browser side
tests/browser/test_entry_shared_questions_browser.py.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.users import add_user
from hjertekom_widgets.app import EntryShell
from hjertekom_widgets.session import Session

from factories import TEST_PASSWORD, course_data, start_data
from shared_questions_files import BOTH_PROGRAMMES, contracts_with_moeva

SILKEBORG = 740
pytestmark = pytest.mark.filterwarnings(r"ignore:Passing unrecognized arguments to super\(Layout\)")


@dataclass
class Entry:
    ws: Workspace
    user: User
    heart: int
    moeva: int

    def shell(self) -> EntryShell:
        shell = EntryShell()
        shell.session = Session(self.ws, self.user)
        return shell

    @property
    def service(self) -> Service:
        return Service(self.ws.store, self.ws.contracts, self.user)


def _entry(root: Path, programmes: tuple[str, ...]) -> Entry:
    ws = open_workspace(Config(data_dir=root / "data", contracts_dir=contracts_with_moeva(root),
                               programmes=BOTH_PROGRAMMES))
    initialise(ws)
    system = Service(ws.store, ws.contracts, SYSTEM)
    citizen = system.create_citizen(generate_cpr(random.Random(1905)), "Ebba Ens", SILKEBORG)
    heart = system.open_course(citizen.id, course_data(), complete=True).course_id
    moeva = system.open_course(citizen.id, {"municipality": SILKEBORG, "enrolment_date": "2025-02-10",
                                            "offer_type": "patient_education", "organisation": "municipality"},
                               programme="moeva", complete=True).course_id
    system.save(heart, "start", start_data(), 0, complete=True)   # WHO-5 3,3,2,2,3 on 17.02.2025
    user = add_user(ws.store, SYSTEM, "kliniker", "Kliniker", "clinician", TEST_PASSWORD, (SILKEBORG,), programmes,
                    known_programmes=ws.contracts.programmes)
    return Entry(ws, user, heart, moeva)


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Entry]:
    entry = _entry(tmp_path, ("hjertekom", "moeva"))
    yield entry
    entry.ws.store.dispose()


def _open_moeva_start(entry: Entry):  # type: ignore[no-untyped-def]
    shell = entry.shell()
    shell.open_course(entry.moeva, "start")
    view = shell._courses   # noqa: SLF001 - the page's one course view
    assert view is not None and view.contract.programme == "moeva" and view.form_name == "start"
    return view


def _enter_day(view, day: str = "17-02-2025") -> None:  # type: ignore[no-untyped-def]
    """The clinician types the answer date and marks the questionnaire answered (leaving each field)."""
    view.view.fields["answer_date"].input.value = day
    view.view.fields["questionnaire_status"].set_value("completed")
    view.view._field_changed(view.view.fields["questionnaire_status"])   # noqa: SLF001 - as the click does


def test_moeva_start_is_filled_in_read_only_with_where_it_was_answered(both: Entry) -> None:
    view = _open_moeva_start(both)
    form = view.view
    assert form.fields["who5_1"].value is None and view.shared.answers == {}   # no date yet: nothing
    _enter_day(view)
    assert [form.fields[f"who5_{i}"].value for i in range(1, 6)] == [3, 3, 2, 2, 3]
    assert form.report.cleaned["eq5d_vas"] == 60
    assert form.report.cleaned["who5_score"] == 52
    assert view.shared.state == {"who5": "shared", "eq5d": "shared"}
    note = view.shared.note_text("who5")
    assert "Besvaret i HjerteKom – afklarende samtale 17.02.2025 — udfyldes ikke igen" in note
    controls = [c for c in _all(form.fields["who5_1"].container) if c.has_trait("disabled")]
    assert controls and all(c.disabled for c in controls)                       # read-only
    assert not any(c.disabled for c in _all(form.fields["pss10_1"].container) if c.has_trait("disabled"))
    assert form.dirty and "hk-dirty" in view.widget._dom_classes                 # unsaved until saved

    for i in range(1, 11):
        form.fields[f"pss10_{i}"].set_value(2)
    for i in range(1, 4):
        form.fields[f"loneliness_{i}"].set_value(1)
    form.fields["self_rated_health"].set_value("good")
    view._save(complete=True)   # noqa: SLF001 - the button's handler
    saved = both.service.get_course(both.moeva).forms["start"]
    assert saved.status == "complete" and saved.data["who5_1"] == 3 and saved.data["eq5d_index"] is not None
    assert "svarene fra HjerteKom – afklarende samtale 17.02.2025 er gemt her også" in _text(view.bar.widget)
    # Opened again: read-only, saying the answers are shared.
    view = _open_moeva_start(both)
    assert view.shared.state == {"who5": "shared", "eq5d": "shared"}
    assert ("Samme svar som i HjerteKom – afklarende samtale 17.02.2025 (delt spørgsmål) — en rettelse gemmes "
            "begge steder") in view.shared.note_text("who5")


def test_another_date_takes_the_filled_in_answers_away_again(both: Entry) -> None:
    view = _open_moeva_start(both)
    _enter_day(view)
    assert view.view.fields["who5_1"].value == 3
    view.view.fields["answer_date"].input.value = "18-02-2025"
    assert view.shared.answers == {} and view.view.fields["who5_1"].value is None
    assert not any(c.disabled for c in _all(view.view.fields["who5_1"].container) if c.has_trait("disabled"))
    view.view.fields["answer_date"].input.value = "17-02-2025"
    assert view.view.fields["who5_1"].value == 3 and view.shared.state["who5"] == "shared"


def test_ret_svarene_makes_them_editable_and_the_correction_reaches_hjertekom(both: Entry) -> None:
    view = _open_moeva_start(both)
    _enter_day(view)
    form = view.view
    button = next(c for c in _all(view.shared._notes["who5"]) if "hk-shared-edit" in c._dom_classes)  # noqa: SLF001
    button.click()
    assert view.shared.edited == ("who5",)
    assert "Rettelsen gemmes også dér" in view.shared.note_text("who5")
    assert not any(c.disabled for c in _all(form.fields["who5_1"].container) if c.has_trait("disabled"))
    form.fields["who5_1"].set_value(5)
    view._save(complete=False)   # noqa: SLF001
    heart = both.service.get_course(both.heart).forms["start"]
    assert heart.revision == 2 and heart.data["who5_1"] == 5 and heart.status == "complete"
    assert "rettelsen er også gemt i HjerteKom" in _text(view.bar.widget)


def test_a_user_outside_hjertekom_sees_nothing_of_it(tmp_path: Path) -> None:
    entry = _entry(tmp_path, ("moeva",))
    try:
        view = _open_moeva_start(entry)
        _enter_day(view)
        assert view.shared.answers == {} and view.view.fields["who5_1"].value is None
        assert "HjerteKom" not in _text(view.widget)
    finally:
        entry.ws.store.dispose()


def _all(widget):  # type: ignore[no-untyped-def]
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _all(child)


def _text(widget) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(str(getattr(c, "value", "")) for c in _all(widget) if isinstance(getattr(c, "value", None), str))
