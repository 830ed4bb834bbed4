"""Shared questions in the entry app, the finishing slice (issue 19), without a server:

* the tablet questionnaire leaves out an instrument already answered the same day in the other
  programme (shown read-only in the form) and says so; what the citizen answers of a shared
  instrument the other programme lacks is saved the clinician's way, and the other registration
  takes it when it is saved; after "Ret svarene" the tablet asks it and the citizen's correction is
  carried over like a clinician's;
* a save whose correction meets the other programme's registration saved since says so in Danish and
  writes nothing.

The service side is tests/test_shared_questions_more.py.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    system: Service

    def shell(self) -> EntryShell:
        shell = EntryShell()
        shell.session = Session(self.ws, self.user)
        return shell

    @property
    def service(self) -> Service:
        return Service(self.ws.store, self.ws.contracts, self.user)


def moeva_start(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"answer_date": "2025-02-17", "questionnaire_status": "completed",
                            "self_rated_health": "good"}
    data.update({f"pss10_{i}": 2 for i in range(1, 11)})
    data.update({f"loneliness_{i}": 1 for i in range(1, 4)})
    data.update(changes)
    return data


@pytest.fixture
def entry(tmp_path: Path) -> Iterator[Entry]:
    ws = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=contracts_with_moeva(tmp_path),
                               programmes=BOTH_PROGRAMMES))
    initialise(ws)
    system = Service(ws.store, ws.contracts, SYSTEM)
    citizen = system.create_citizen(generate_cpr(random.Random(2024)), "Tove Tablet", SILKEBORG)
    heart = system.open_course(citizen.id, course_data(), complete=True).course_id
    moeva = system.open_course(citizen.id, {"municipality": SILKEBORG, "enrolment_date": "2025-02-10",
                                            "offer_type": "patient_education", "organisation": "municipality"},
                               programme="moeva", complete=True).course_id
    user = add_user(ws.store, SYSTEM, "kliniker", "Kliniker", "clinician", TEST_PASSWORD, (SILKEBORG,),
                    ("hjertekom", "moeva"), known_programmes=ws.contracts.programmes)
    yield Entry(ws, user, heart, moeva, system)
    ws.store.dispose()


def _open(entry: Entry, course: int, form: str = "start"):  # type: ignore[no-untyped-def]
    shell = entry.shell()
    shell.open_course(course, form)
    view = shell._courses   # noqa: SLF001 - the page's one course view
    assert view is not None and view.course_id == course and view.form_name == form
    return view


def _all(widget):  # type: ignore[no-untyped-def]
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _all(child)


def _text(widget) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(str(getattr(c, "value", "")) for c in _all(widget) if isinstance(getattr(c, "value", None), str))


def test_the_tablet_leaves_out_what_the_other_programme_has_and_asks_what_it_lacks(entry: Entry) -> None:
    # MoEva's first questionnaire of 17.02.2025 holds WHO-5, not EQ-5D-5L.
    entry.system.save(entry.moeva, "start", moeva_start(**{f"who5_{i}": 4 for i in range(1, 6)}), 0)
    view = _open(entry, entry.heart)
    view.view.fields["meeting_date"].input.value = "17-02-2025"
    assert view.shared.state == {"who5": "shared"}

    mode = view.questionnaire
    assert mode.shared_elsewhere() == {"who5"} and mode.offered()
    mode.enter()
    assert mode.active
    assert not any(name.startswith("who5_") for name in mode._inputs)        # noqa: SLF001 - not asked again
    assert {"eq5d_mobility", "eq5d_vas"} <= set(mode._inputs)                 # noqa: SLF001
    page = _text(mode.widget)
    assert "Du har allerede svaret på Trivsel (WHO-5) i dag. De spørgsmål kommer ikke igen." in page
    assert "MoEva" not in page                                                # no other programme on the tablet
    for name, value in (("eq5d_mobility", 2), ("eq5d_selfcare", 1), ("eq5d_activities", 2), ("eq5d_pain", 3),
                        ("eq5d_anxiety", 1)):
        mode._inputs[name].value = value                                      # noqa: SLF001 - a tap
    mode._inputs["eq5d_vas"].value = "70"                                     # noqa: SLF001
    assert mode.unlock(TEST_PASSWORD) and not mode.active
    form = view.view
    assert [form.fields[f"who5_{i}"].value for i in range(1, 6)] == [4] * 5   # still MoEva's, read-only
    assert str(form.fields["eq5d_vas"].value) == "70"
    assert not any(n.startswith("who5_") for n in mode.marked) and "eq5d_vas" in mode.marked

    view._save(complete=False)   # noqa: SLF001 - "Gem kladde"
    heart = entry.service.get_course(entry.heart).forms["start"]
    assert heart.data["who5_1"] == 4 and heart.data["eq5d_vas"] == 70
    assert "eq5d_vas" in heart.self_reported and not any(n.startswith("who5_") for n in heart.self_reported)
    assert entry.service.get_course(entry.moeva).forms["start"].revision == 1   # not written to
    # MoEva's registration takes the citizen's EQ-5D-5L when it is next saved (the service's rule).
    moeva = entry.service.get_course(entry.moeva).forms["start"]
    saved = entry.service.save(entry.moeva, "start", dict(moeva.data), moeva.revision)
    assert saved.data["eq5d_vas"] == 70 and saved.data["eq5d_mobility"] == 2
    assert [(n.kind, n.instrument) for n in saved.shared] == [("from", "eq5d")]


def test_after_ret_svarene_the_tablet_asks_and_the_citizens_correction_is_carried_over(entry: Entry) -> None:
    eq5d = {"eq5d_mobility": 1, "eq5d_selfcare": 1, "eq5d_activities": 2, "eq5d_pain": 2, "eq5d_anxiety": 1,
            "eq5d_vas": 75}
    entry.system.save(entry.moeva, "start", moeva_start(**{f"who5_{i}": 4 for i in range(1, 6)}, **eq5d), 0)
    view = _open(entry, entry.heart)
    view.view.fields["meeting_date"].input.value = "17-02-2025"
    assert view.shared.state == {"who5": "shared", "eq5d": "shared"}
    mode = view.questionnaire
    mode.enter()
    assert not any(n.startswith(("who5_", "eq5d_")) for n in mode._inputs)    # noqa: SLF001
    skipped = next(c.value for c in _all(mode.widget) if "hk-qm-shared-skipped" in getattr(c, "_dom_classes", ()))
    assert "Du har allerede svaret på Helbredstilstand (EQ-5D-5L), Trivsel (WHO-5) i dag." in skipped
    assert mode.unlock(TEST_PASSWORD)

    button = next(c for c in _all(view.shared._notes["who5"]) if "hk-shared-edit" in c._dom_classes)  # noqa: SLF001
    button.click()                                                            # "Ret svarene"
    mode.enter()
    assert "who5_1" in mode._inputs and "eq5d_vas" not in mode._inputs       # noqa: SLF001
    assert mode._inputs["who5_1"].value == 4                                  # noqa: SLF001 - prefilled
    mode._inputs["who5_1"].value = 1                                          # noqa: SLF001 - the citizen's answer
    assert mode.unlock(TEST_PASSWORD)
    assert "who5_1" in mode.marked
    view._save(complete=False)   # noqa: SLF001 - the clinician's save, as for typed answers
    moeva = entry.service.get_course(entry.moeva).forms["start"]
    assert moeva.revision == 2 and moeva.data["who5_1"] == 1 and moeva.data["who5_2"] == 4
    assert "rettelsen er også gemt i MoEva" in _text(view.bar.widget)
    heart = entry.service.get_course(entry.heart).forms["start"]
    assert "who5_1" in heart.self_reported and heart.data["eq5d_vas"] == 75


def test_a_correction_meeting_a_newer_revision_there_is_refused_in_danish(entry: Entry) -> None:
    entry.system.save(entry.heart, "start", start_data(), 0, complete=True)
    view = _open(entry, entry.moeva)
    view.view.fields["answer_date"].input.value = "17-02-2025"
    view.view.fields["questionnaire_status"].set_value("completed")
    view.view._field_changed(view.view.fields["questionnaire_status"])   # noqa: SLF001 - as the click does
    button = next(c for c in _all(view.shared._notes["who5"]) if "hk-shared-edit" in c._dom_classes)  # noqa: SLF001
    button.click()
    view.view.fields["who5_1"].set_value(5)
    # Meanwhile HjerteKom's registration is corrected elsewhere (revision 2).
    entry.system.save(entry.heart, "start", start_data(who5_2=0), 1, complete=True, reason="Rettet")
    view._save(complete=False)   # noqa: SLF001
    said = _text(view.bar.widget)
    assert "HjerteKom – afklarende samtale 17.02.2025, som deler spørgsmål med dette skema, er gemt af en anden" in said
    assert "Intet er gemt" in said and "Genindlæs siden" in said
    assert "start" not in entry.service.get_course(entry.moeva).forms
    assert entry.service.get_course(entry.heart).forms["start"].revision == 2


def test_a_form_whose_questionnaires_are_all_answered_elsewhere_is_not_handed_over(entry: Entry,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    view = _open(entry, entry.heart)
    mode = view.questionnaire
    # As if every questionnaire section of the form were a shared instrument answered in MoEva today.
    monkeypatch.setattr(mode, "shared_elsewhere", lambda: {"who5"})
    monkeypatch.setattr(mode, "sections", lambda: [])
    mode.enter()
    assert not mode.active
    assert "allerede besvaret skemaets spørgeskemaer i dag i et andet program" in view.shell.message.value
