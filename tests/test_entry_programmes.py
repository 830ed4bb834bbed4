"""The entry app's views with several programmes (issue 19), without a server or a browser: the
shell gets its session directly, and the views are driven through their widgets and handlers.

HjerteKom and the invented programme ``faldforebyggelse`` (tests/invented_programme_files.py) are
loaded side by side: a new course asks for the programme first and shows that programme's course
form; a course is shown and saved with its own programme's forms; the worklist and the citizen view
say which programme each course belongs to, with status columns by role (course, start, end). With
HjerteKom alone nothing of this shows. The browser side is tests/browser/test_entry_programmes_browser.py.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as w
import pytest

from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Citizen, Service, WorklistItem
from hjertekom_core.users import add_user
from hjertekom_widgets.app import EntryShell
from hjertekom_widgets.citizen_view import CitizenView
from hjertekom_widgets.feedback import course_feedback_html
from hjertekom_widgets.new_course import NewCourseView
from hjertekom_widgets.programmes import ROLES
from hjertekom_widgets.session import Session
from hjertekom_widgets.worklist import WorklistTable, WorklistView, sort_items

from factories import TEST_PASSWORD, course_data, start_data
from invented_programme_files import BOTH, PROGRAMME, contracts_with_invented
from paths import CONTRACTS_DIR

SILKEBORG = 740

# The views' layouts use CSS ``gap``, which ipywidgets' Layout passes on without declaring it (the
# browser applies it); traitlets warns about that outside a page, which is no error here.
pytestmark = pytest.mark.filterwarnings(r"ignore:Passing unrecognized arguments to super\(Layout\)")


@dataclass
class Entry:
    ws: Workspace
    user: User

    def shell(self) -> EntryShell:
        shell = EntryShell()
        shell.session = Session(self.ws, self.user)
        return shell

    @property
    def service(self) -> Service:
        return Service(self.ws.store, self.ws.contracts, self.user)


def _entry(root: Path, contracts_dir: Path, programmes: tuple[str, ...] = BOTH) -> Entry:
    ws = open_workspace(Config(data_dir=root / "data", contracts_dir=contracts_dir, programmes=programmes))
    initialise(ws)
    user = add_user(ws.store, SYSTEM, "kliniker", "Kliniker", "clinician", TEST_PASSWORD, (SILKEBORG,))
    return Entry(ws, user)


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Entry]:
    entry = _entry(tmp_path, contracts_with_invented(tmp_path))
    yield entry
    entry.ws.store.dispose()


@pytest.fixture
def hjertekom_only(tmp_path: Path) -> Iterator[Entry]:
    entry = _entry(tmp_path, CONTRACTS_DIR, Config().programmes)
    yield entry
    entry.ws.store.dispose()


def _html(widget: w.Widget) -> str:
    """Every HTML text and button word under ``widget`` (what the page would show), in order."""
    parts: list[str] = []
    if isinstance(widget, w.HTML):
        parts.append(widget.value)
    if isinstance(widget, w.Button):
        parts.append(widget.description)
    if isinstance(widget, w.Dropdown):
        parts.extend(label for label, _ in widget.options)
    for child in getattr(widget, "children", ()):
        parts.append(_html(child))
    return "\n".join(parts)


def _invented_course(entry: Entry, seed: int, name: str) -> tuple[int, int]:
    """A citizen with a course of the invented programme (course form complete): (citizen, course)."""
    svc = entry.service
    citizen = svc.create_citizen(generate_cpr(random.Random(seed)), name, SILKEBORG)
    opened = svc.open_course(citizen.id, {"municipality": SILKEBORG, "referral_date": "2025-01-08"},
                             programme=PROGRAMME, complete=True)
    return citizen.id, opened.course_id


def test_a_new_course_asks_for_the_programme_first_and_opens_its_start_form(both: Entry) -> None:
    shell = both.shell()
    assert shell.several_programmes and shell.programmes == ["hjertekom", PROGRAMME]
    view = NewCourseView(shell)
    assert view.programme in view.widget.children
    assert [label for label, _ in view.programme.options] == [
        "— vælg program —", "HjerteKom – kommunal hjerterehabilitering", "Faldforebyggelse"]
    assert view.form is None and view.form_box.children == ()

    view._create(None)   # noqa: SLF001 - the button's handler: nothing is created without a programme
    assert "Vælg først, hvilket program" in shell.message.value

    view.programme.value = PROGRAMME
    assert view.form is not None and view.form.contract.programme == PROGRAMME
    assert set(view.form.fields) == {"municipality", "referral_date"}        # the invented course form
    assert view.form.data()["municipality"] == SILKEBORG                    # the user's one municipality
    cpr = generate_cpr(random.Random(19_001))
    view.cpr.value = f"{cpr[:6]}-{cpr[6:]}"
    view.name.value = "Frida Faldtest"
    view.form.load({"municipality": SILKEBORG, "referral_date": "2025-03-03"})
    view._create(None)   # noqa: SLF001

    course_view = shell._courses   # noqa: SLF001 - the page's one course view
    assert course_view is not None and course_view.course.programme == PROGRAMME
    assert shell.contract is course_view.contract and course_view.contract.programme == PROGRAMME
    assert course_view.form_name == "start"
    assert [label for label, _ in course_view.selector.options] == [
        "Forløb (færdig)", "Første samtale (ikke startet)", "Afslutning (ikke startet)"]
    assert "Faldforebyggelse" in course_view.title.value
    # Its citizen sheet is linked (HTML and PDF); the course summary for hospital and GP is HjerteKom's.
    sheets = course_view.sheets.value
    assert f'href="hjertekom/forloeb/{course_view.course_id}/borger.html"' in sheets
    assert f'href="hjertekom/forloeb/{course_view.course_id}/borger.pdf"' in sheets
    assert "hk-sheet-citizen" in sheets and "hk-sheet-summary" not in sheets and "opsummering" not in sheets
    assert "Udfyld nu: Første samtale." in shell.message.value
    assert set(course_view.view.fields) >= {"visit_date", "falls_last_year", "fall_risk", "chair_stands"}

    # "Gem og gå videre": the start is saved with the invented contract, and its end opens.
    course_view.view.load({"visit_date": "2025-03-10", "falls_last_year": 2, "fall_risk": "high",
                           "chair_stands": 9})
    course_view._save(complete=False, go_on=True)   # noqa: SLF001 - the button's handler
    saved = both.service.get_course(course_view.course_id)
    assert saved.programme == PROGRAMME
    assert saved.forms["start"].status == "draft" and saved.data_of("start")["fall_risk"] == "high"
    assert course_view.form_name == "end" and "completed" in course_view.view.fields
    # After the save the citizen sheet's link is still where HjerteKom's is, still without a summary.
    assert course_view.sheets.value == sheets


def test_a_course_opens_with_its_own_programmes_forms_in_the_same_course_view(both: Entry) -> None:
    citizen_id, invented = _invented_course(both, 19_002, "Gudrun Greve")
    svc = both.service
    heart = svc.open_course(citizen_id, course_data(), complete=True).course_id   # another programme: no reason needed
    svc.save(heart, "start", start_data(), 0, complete=True)
    shell = both.shell()

    shell.open_course(invented)
    view = shell._courses   # noqa: SLF001
    assert view is not None and view.contract.programme == PROGRAMME and view.form_name == "start"
    invented_start = view.view
    assert "fall_risk" in invented_start.fields

    shell.open_course(heart)
    assert view.contract.programme == "hjertekom" and view.form_name == "end"
    assert "hk-sheet-citizen" in view.sheets.value and "hk-sheet-summary" in view.sheets.value
    assert f"forloeb/{heart}/" in view.sheets.value and f"forloeb/{invented}/" not in view.sheets.value
    assert [label for label, _ in view.selector.options] == [
        "Forløb (færdig)", "Afklarende samtale (færdig)", "Afslutning (ikke startet)"]
    view.selector.value = "start"
    assert view.view is not invented_start and "weight_kg" in view.view.fields and "fall_risk" not in view.view.fields
    assert view.view.fields["weight_kg"].value is not None               # HjerteKom's start, with its values
    assert invented_start.widget.layout.display == "none"                 # the other programme's form stays hidden

    # An address naming a form the course's programme has not: the course opens on its next form.
    shell.open_course(invented, "no_such_form")
    assert view.contract.programme == PROGRAMME and view.form_name == "start"


def test_worklist_and_citizen_view_say_which_programme_with_status_by_role(both: Entry) -> None:
    citizen_id, invented = _invented_course(both, 19_003, "Hanne Hald")
    svc = both.service
    heart = svc.open_course(citizen_id, course_data(), complete=True).course_id
    svc.save(invented, "start", {"visit_date": "2025-02-05", "falls_last_year": 1, "fall_risk": "low"}, 0,
             complete=False)
    shell = both.shell()

    worklist = _html(WorklistView(shell).widget)
    assert "Program" in worklist and "Faldforebyggelse" in worklist and "HjerteKom" in worklist
    assert re.search(r"title='Første samtale: kladde'>kladde", worklist)   # the role column names its form
    headings = set(re.findall(r"<button type='button' class='hk-sort-[^']*'[^>]*>([^<]*)</button>", worklist))
    assert {"Program", "Forløb", "Start", "Afslutning"} <= headings and "Afklarende samtale" not in headings

    citizen = _html(CitizenView(shell, citizen_id).widget)
    assert f"Åbn forløb {invented}" in citizen and f"Åbn forløb {heart}" in citizen
    assert "<b class='hk-course-programme'>Faldforebyggelse</b>" in citizen
    assert "<b class='hk-course-programme'>HjerteKom</b>" in citizen
    assert "Første samtale: kladde" in citizen and "Afklarende samtale: ikke startet" in citizen

    # The search's course buttons say the programme too.
    found = WorklistView(shell)
    found.search.value = "Hanne Hald"
    found._search(None)   # noqa: SLF001 - the button's handler
    buttons = _html(found.results)
    assert f"Forløb {invented} (Faldforebyggelse · Første samtale: kladde)" in buttons
    assert f"Forløb {heart} (HjerteKom · ikke startet)" in buttons


def test_the_feedback_of_another_programme_shows_what_its_contract_measures_at_start_and_end(tmp_path: Path) -> None:
    contract = ContractRegistry(contracts_with_invented(tmp_path), programmes=BOTH)[PROGRAMME]

    class Reg:
        def __init__(self, data: dict[str, object]) -> None:
            self.data, self.status = data, "complete"

    class Course:
        forms = {"course": Reg({"municipality": 740, "referral_date": "2025-01-08"}),
                 "start": Reg({"visit_date": "2025-02-05", "fall_risk": "high", "chair_stands": 8}),
                 "end": Reg({"visit_date": "2025-05-05", "completed": True, "fall_risk": "low", "chair_stands": 11,
                             "note": "Faldt i haven"})}

    page = course_feedback_html(contract, Course())
    assert "Rejse-sætte-sig på 30 sekunder" in page and "+3" in page and "Faldrisiko" in page
    assert "Faldt i haven" not in page and 'data-indicator="K' not in page   # no free text, no K1-K6
    # ... but its own declared indicators (tests/test_course_indicators_feedback.py has more).
    assert 'data-indicator="F1" data-state="met"' in page and 'data-indicator="F2" data-state="met"' in page


def test_with_hjertekom_alone_nothing_of_several_programmes_shows(hjertekom_only: Entry) -> None:
    shell = hjertekom_only.shell()
    assert not shell.several_programmes
    view = NewCourseView(shell)
    assert view.programme not in view.widget.children and view.form is not None
    assert view.form.widget in view.widget.children   # the course form straight in the page, as before
    svc = hjertekom_only.service
    citizen = svc.create_citizen(generate_cpr(random.Random(19_004)), "Ida Ibsen", SILKEBORG)
    course = svc.open_course(citizen.id, course_data(), complete=True).course_id
    worklist = _html(WorklistView(shell).widget)
    assert "Program" not in worklist and "Afklarende samtale" in worklist
    described = _html(CitizenView(shell, citizen.id).widget)
    assert "hk-course-programme" not in described and "Afklarende samtale: ikke startet" in described
    shell.open_course(course)
    view_ = shell._courses   # noqa: SLF001
    assert view_ is not None and "hk-course-programme" not in view_.title.value
    assert [label for label, _ in view_.selector.options][1] == "Afklarende samtale (ikke startet)"


def test_worklist_columns_sort_by_programme_and_by_the_status_of_each_role(tmp_path: Path) -> None:
    """A programme whose start form has another name sorts by the status of its own start form."""
    registry = ContractRegistry(contracts_with_invented(tmp_path), programmes=BOTH)
    renamed = dataclasses.replace(registry[PROGRAMME], forms={
        {"start": "first_visit", "end": "last_visit"}.get(name, name): form
        for name, form in registry[PROGRAMME].forms.items()})
    programmes = {"hjertekom": registry["hjertekom"], PROGRAMME: renamed}

    def item(course_id: int, programme: str, statuses: dict[str, str]) -> WorklistItem:
        citizen = Citizen(course_id, "0101501234", f"Borger {course_id}", dt.date(1950, 1, 1), "M", SILKEBORG)
        return WorklistItem(course_id, citizen, SILKEBORG, statuses, None, False, (), False, True,
                            programme=programme)

    items = [item(3, PROGRAMME, {"course": "complete", "first_visit": "complete"}),
             item(2, "hjertekom", {"course": "complete", "start": "draft"}),
             item(1, PROGRAMME, {"course": "complete"})]
    assert [i.course_id for i in sort_items(items, "status:start", programmes=programmes)] == [1, 2, 3]
    assert [i.course_id for i in sort_items(items, "programme", programmes=programmes)] == [3, 1, 2]
    table = WorklistTable("drafts", "Kladder", "hk-drafts", items, list(ROLES), programmes=programmes)
    assert [label for _, label, _ in table.columns] == [
        "Navn", "CPR-nummer", "Program", "Henvist", "Dage", "Forløb", "Start", "Afslutning"]
    cells = table._cell(items[0], "status:start")   # noqa: SLF001
    assert "title='Første samtale: færdig'" in cells and ">færdig<" in cells


def test_a_tablet_still_with_the_citizen_is_found_by_its_own_programmes_form_names(tmp_path: Path) -> None:
    """A reload finds the questionnaire the citizen still holds (questionnaire_mode.held_tablet) also
    in a programme whose forms are named otherwise than HjerteKom's: here the invented programme's
    first meeting is called "forste" instead of "start"."""
    from hjertekom_widgets.questionnaire_mode import TABLET_KEY, held_tablet

    folder = contracts_with_invented(tmp_path)
    for yaml_file in (folder / PROGRAMME).glob("*.yaml"):
        yaml_file.write_text(re.sub(r"\bstart\b", "forste", yaml_file.read_text(encoding="utf-8")),
                             encoding="utf-8")
    entry = _entry(tmp_path, folder)
    try:
        assert "forste" in entry.ws.contracts[PROGRAMME].forms and "forste" not in entry.ws.contracts["hjertekom"].forms
        shell = entry.shell()
        assert held_tablet(shell) is None
        _citizen, course = _invented_course(entry, 19_101, "Tove Tablet")
        entry.service.autosave(course, "forste", {TABLET_KEY: {"open": True, "items": []}}, 0)
        assert held_tablet(shell) == (course, "forste")
        entry.service.autosave(course, "forste", {TABLET_KEY: {"open": False, "items": []}}, 0)
        assert held_tablet(shell) is None   # handed back: nothing to resume
    finally:
        entry.ws.store.dispose()


#: A fourth form for a copy of the invented programme, between its start and its end.
_FOLLOW_UP = """  - name: followup
    label: {da: "Opfølgning", en: "Follow-up"}
    date_field: visit_date
    sections:
      - name: visit
        label: {da: "Samtale", en: "Meeting"}
        fields:
          - {name: visit_date, type: date, required: true, label: {da: "Dato", en: "Date"}}
"""


def test_a_programme_with_more_than_three_forms_shows_its_middle_form_in_the_worklist(tmp_path: Path) -> None:
    folder = contracts_with_invented(tmp_path)
    contract_file = folder / PROGRAMME / "contract.yaml"
    text = contract_file.read_text(encoding="utf-8")
    contract_file.write_text(text.replace("  - name: end\n", _FOLLOW_UP + "  - name: end\n", 1), encoding="utf-8")
    entry = _entry(tmp_path, folder)
    try:
        citizen_id, invented = _invented_course(entry, 19_005, "Folmer Fire")
        svc = entry.service
        svc.save(invented, "start", {"visit_date": "2025-02-05", "falls_last_year": 1, "fall_risk": "low"}, 0,
                 complete=True)
        svc.save(invented, "followup", {"visit_date": "2025-03-05"}, 0, complete=False)
        heart = svc.open_course(citizen_id, course_data(), complete=True).course_id
        shell = entry.shell()

        view = WorklistView(shell)
        page = _html(view.widget)
        assert "hk-sort-status-others" in page and ">Øvrige skemaer</button>" in page   # a column heading
        assert re.search(r"<span title='Opfølgning: kladde'><span class='hk-status-draft'>Opfølgning: kladde",
                         page)                                            # the middle form and its status
        missing_end = next(t for t in view.tables.values() if any(i.course_id == invented for i in t.items))
        assert [key for key, _, _ in missing_end.columns][-1] == "status:others"
        assert "Opfølgning: kladde" in missing_end.widget.value
        # HjerteKom's course has no such form: "–" in its row, and last when sorted by the column.
        awaiting = next(t for t in view.tables.values() if any(i.course_id == heart for i in t.items))
        heart_item = next(i for i in awaiting.items if i.course_id == heart)
        assert "<td class='hk-cell-status-others'><span class='hk-status-none'>–</span>" in awaiting.widget.value
        both_items = [heart_item, *(i for i in missing_end.items if i.course_id == invented)]
        for descending in (False, True):
            assert sort_items(both_items, "status:others", descending,
                              programmes=missing_end.programmes)[-1] is heart_item
    finally:
        entry.ws.store.dispose()


def test_with_programmes_of_three_forms_there_is_no_column_of_further_forms(both: Entry) -> None:
    _invented_course(both, 19_006, "Tre Formsen")
    assert "Øvrige skemaer" not in _html(WorklistView(both.shell()).widget)

