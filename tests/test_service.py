"""The service layer on a real store (SQLite and PostgreSQL): the clinician's course from start to
end, authorisation by role and municipality, revisions and conflicts, audit, nothing partial."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import (
    AccessDenied,
    CitizenElsewhere,
    ConfirmationRequired,
    IncompleteForm,
    NotFound,
    RevisionConflict,
    ValidationFailed,
)
from hjertekom_core.service import Service
from hjertekom_core.store.schema import audit_log, citizens, courses, registrations

from paths import CONTRACTS_DIR
from factories import course_data, end_data, start_data
from test_contract import SECOND

import random

CPR = generate_cpr(random.Random(740), birth_date=dt.date(1956, 3, 14), sex="M")
NAME = "Jens Testesen"


def count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def nurse(make_user):
    return make_user("sygeplejerske", "clinician", (740,))


@pytest.fixture
def svc(service_for, nurse) -> Service:
    return service_for(nurse)


@pytest.fixture
def course_id(svc: Service) -> int:
    citizen = svc.create_citizen(CPR, NAME, 740)
    return svc.open_course(citizen.id, course_data(), complete=True).course_id


def test_a_course_from_referral_to_end(svc: Service, store) -> None:
    citizen = svc.create_citizen(CPR[:6] + "-" + CPR[6:], "  Jens   Testesen ", 740)
    assert (citizen.birth_date, citizen.sex, citizen.name) == (dt.date(1956, 3, 14), "M", NAME)
    opened = svc.open_course(citizen.id, course_data(), complete=True)
    assert (opened.revision, opened.status) == (1, "complete")

    draft = svc.save_draft(opened.course_id, "start", {"meeting_date": "17-02-2025", "weight_kg": "88,4"}, 0)
    assert (draft.revision, draft.status) == (1, "draft")
    done = svc.mark_complete(opened.course_id, "start", start_data(), 1)
    assert (done.revision, done.status) == (2, "complete")
    end = svc.mark_complete(opened.course_id, "end", end_data(), 0)
    assert end.data["fitness_change_pct"] == 15.0

    course = svc.get_course(opened.course_id, with_history=True)
    assert course.citizen.id == citizen.id
    assert {f: r.status for f, r in course.forms.items()} == {"course": "complete", "start": "complete", "end": "complete"}
    assert course.forms["start"].data["hads_anxiety"] == 9
    assert course.forms["start"].contract_version == svc.contracts["hjertekom"].version == "1.1.0"
    assert [(r.form, r.revision) for r in course.history] == [("course", 1), ("start", 1), ("start", 2), ("end", 1)]
    # What is stored is what was entered, cleaned: read it back from the table itself.
    with store.read() as conn:
        stored = conn.execute(select(registrations.c.data).where(
            registrations.c.course_id == opened.course_id, registrations.c.form == "start",
            registrations.c.revision == 2)).scalar_one()
    assert json.loads(stored)["weight_kg"] == 88.4


def test_find_and_search_within_own_municipality(svc: Service, course_id: int) -> None:
    assert svc.find_citizen(CPR).name == NAME
    assert [c.name for c in svc.search_citizens("testes")] == [NAME]
    assert [c.id for c in svc.courses_of(svc.find_citizen(CPR).id)] == [course_id]


def test_another_municipality_can_neither_find_read_nor_write(svc, course_id, make_user, service_for, store) -> None:
    other = service_for(make_user("kbh", "clinician", (101,)))
    citizen_id = svc.find_citizen(CPR).id
    before = count(store, registrations)

    assert other.find_citizen(CPR) is None
    assert other.search_citizens("Testesen") == []
    assert other.courses_of(citizen_id) == []
    with pytest.raises(NotFound):
        other.get_citizen(citizen_id)
    with pytest.raises(NotFound):
        other.get_course(course_id)
    with pytest.raises(NotFound):
        other.save_draft(course_id, "start", {"weight_kg": 80}, 0)
    with pytest.raises(CitizenElsewhere):
        other.create_citizen(CPR, "Someone Else", 101)
    with pytest.raises(AccessDenied):
        other.create_citizen(generate_cpr(random.Random(1)), "Ny Borger", 740)
    with pytest.raises(AccessDenied):
        other.open_course(citizen_id, course_data(municipality=740))
    assert count(store, registrations) == before


def test_a_clinician_cannot_move_a_course_to_a_municipality_they_do_not_act_in(svc, course_id, store) -> None:
    with pytest.raises(AccessDenied):
        svc.save(course_id, "course", course_data(municipality=101), 1, complete=True)
    assert svc.get_course(course_id).municipality_code == 740


def test_a_researcher_sees_no_identified_data(make_user, service_for, course_id) -> None:
    researcher = service_for(make_user("forsker", "researcher", ()))
    with pytest.raises(AccessDenied):
        researcher.find_citizen(CPR)
    with pytest.raises(AccessDenied):
        researcher.get_course(course_id)


def test_an_administrator_acts_in_every_municipality(make_user, service_for, course_id) -> None:
    admin = service_for(make_user("admin", "administrator", ()))
    assert admin.get_course(course_id).municipality_code == 740


def test_invalid_input_raises_all_field_errors_and_writes_nothing(svc, course_id, store) -> None:
    before = (count(store, registrations), count(store, audit_log))
    with pytest.raises(ValidationFailed) as caught:
        svc.mark_complete(course_id, "start", start_data(weight_kg=500, height_cm="x"), 0)
    assert {e.field for e in caught.value.errors} == {"weight_kg", "height_cm"}
    assert (count(store, registrations), count(store, audit_log)) == before


def test_soft_limits_need_confirmation(svc, course_id, store) -> None:
    before = count(store, registrations)
    with pytest.raises(ConfirmationRequired) as caught:
        svc.save_draft(course_id, "start", start_data(weight_kg=205), 0)
    assert [w.field for w in caught.value.warnings] == ["weight_kg"]
    assert count(store, registrations) == before
    saved = svc.save_draft(course_id, "start", start_data(weight_kg=205), 0, confirm=True)
    assert saved.data["weight_kg"] == 205 and [w.code for w in saved.warnings] == ["soft_max"]


def test_complete_only_when_every_required_field_holds(svc, course_id, store) -> None:
    data = start_data()
    del data["smoking"], data["height_cm"]
    with pytest.raises(IncompleteForm) as caught:
        svc.mark_complete(course_id, "start", data, 0)
    assert {m.field for m in caught.value.errors} == {"smoking", "height_cm"}
    assert any(m.message().startswith("Rygning mangler") for m in caught.value.errors)
    assert count(store, registrations) == 1  # only the course form
    assert svc.save_draft(course_id, "start", data, 0).status == "draft"


def test_a_concurrent_edit_gives_a_conflict_never_an_overwrite(svc, course_id, make_user, service_for, store) -> None:
    colleague = service_for(make_user("kollega", "clinician", (740,)))
    svc.save_draft(course_id, "start", {"meeting_date": "17-02-2025"}, 0)
    base = svc.get_course(course_id).revision_of("start")
    colleague.save_draft(course_id, "start", {"meeting_date": "17-02-2025", "weight_kg": 90}, base)
    with pytest.raises(RevisionConflict) as caught:
        svc.save_draft(course_id, "start", {"meeting_date": "17-02-2025", "weight_kg": 80}, base)
    assert (caught.value.base_revision, caught.value.latest_revision) == (1, 2)
    assert svc.get_course(course_id).forms["start"].data["weight_kg"] == 90


def test_the_unique_revision_key_stops_a_racing_writer(svc, course_id, store, monkeypatch) -> None:
    """A writer whose read was stale (a colleague saved in between): the store's key decides."""
    stale = svc.get_course(course_id)
    svc.save_draft(course_id, "start", start_data(weight_kg=90), 0)
    # Replay the race: this writer's read still says revision 0.
    monkeypatch.setattr(svc, "_load_course", lambda conn, cid, with_history=False: stale)
    with pytest.raises(RevisionConflict):
        svc.save_draft(course_id, "start", start_data(weight_kg=80), 0)
    assert count(store, registrations) == 2
    monkeypatch.undo()
    assert svc.get_course(course_id).forms["start"].data["weight_kg"] == 90


def test_reads_and_writes_are_audited_without_cpr_or_name(svc, course_id, store, nurse) -> None:
    svc.find_citizen(CPR)
    svc.get_course(course_id)
    svc.save_draft(course_id, "start", start_data(), 0)
    with store.read() as conn:
        entries = audit.entries(conn)
    actions = [e["action"] for e in reversed(entries)]
    assert actions == ["user.add", "citizen.create", "registration.save", "course.create", "citizen.find",
                       "course.read", "registration.save"]
    assert all(e["username"] == "sygeplejerske" for e in entries if e["action"] != "user.add")
    assert entries[0]["entity_id"] == str(course_id) and entries[0]["municipality_code"] == 740
    dump = json.dumps(entries, default=str)
    assert CPR not in dump and CPR[:6] not in dump and "Testesen" not in dump


def test_a_bad_cpr_is_a_field_error_and_a_failed_check_digit_is_accepted(svc, store) -> None:
    with pytest.raises(ValidationFailed) as caught:
        svc.create_citizen("310499-1234", NAME, 740)
    assert caught.value.errors[0].field == "cpr" and caught.value.errors[0].code == "cpr_date"
    no_check = generate_cpr(random.Random(3), modulus11=False)
    assert svc.create_citizen(no_check, "Karen Modulus", 740).cpr == no_check
    assert count(store, citizens) == 1


def test_a_second_programme_works_through_the_same_service(store, tmp_path: Path, nurse) -> None:
    root = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, root)
    (root / "trivsel").mkdir()
    (root / "trivsel" / "contract.yaml").write_text(SECOND, encoding="utf-8")
    svc = Service(store, ContractRegistry(root, programmes=["hjertekom", "trivsel"]), nurse)
    citizen = svc.create_citizen(CPR, NAME, 740)
    opened = svc.open_course(citizen.id, {"municipality": 740, "referral_date": "2025-03-01"}, programme="trivsel",
                             complete=True)
    saved = svc.mark_complete(opened.course_id, "baseline", {f"who5_{i}": 3 for i in range(1, 6)}, 0)
    assert saved.data["who5_score"] == 60
    with store.read() as conn:
        assert conn.execute(select(courses.c.programme)).scalar_one() == "trivsel"


def test_status_counts_per_municipality_and_form(svc, course_id) -> None:
    svc.save_draft(course_id, "start", start_data(), 0)
    rows = Service(svc.store, svc.contracts, SYSTEM).status_counts()
    assert [(r["municipality_code"], r["form"], r["status"], r["n"]) for r in rows] == [
        (740, "course", "complete", 1), (740, "start", "draft", 1)]


def test_the_worklist_shows_what_needs_attention_in_own_municipality(svc, course_id, make_user, service_for) -> None:
    overdue = svc.open_course(svc.create_citizen(generate_cpr(random.Random(5)), "Ole Overtid", 740).id,
                              course_data(referral_date="2024-01-02", index_event_date="2023-12-20"),
                              complete=True).course_id
    svc.mark_complete(overdue, "start", start_data(meeting_date="2024-01-10"), 0)
    svc.mark_complete(course_id, "start", start_data(meeting_date=dt.date.today().isoformat()), 0)
    svc.save_draft(course_id, "end", {"course_status": "completed"}, 0)
    items = {i.course_id: i for i in svc.worklist(completion_limit_days=180)}
    assert set(items) == {course_id, overdue}
    assert (items[course_id].missing_end, items[course_id].drafts, items[course_id].overdue) == (True, ("end",), False)
    assert (items[overdue].missing_end, items[overdue].overdue) == (True, True)
    assert items[overdue].citizen.name == "Ole Overtid" and items[overdue].start_date == dt.date(2024, 1, 10)
    svc.mark_complete(course_id, "end", end_data(meeting_date=dt.date.today().isoformat()), 1)
    assert [i.course_id for i in svc.worklist()] == [overdue]
    other = service_for(make_user("kbh", "clinician", (101,)))
    assert other.worklist() == []


def test_autosave_keeps_unsaved_input_per_user_without_a_revision(svc, course_id, make_user, service_for,
                                                                   store) -> None:
    before = count(store, registrations)
    svc.autosave(course_id, "start", {"weight_kg": "8", "meeting_date": "17-02-20"}, 0)
    svc.autosave(course_id, "start", {"weight_kg": "88,4", "meeting_date": "17-02-2025"}, 0)
    saved = svc.autosaved(course_id, "start")
    assert (saved.base_revision, saved.data) == (0, {"weight_kg": "88,4", "meeting_date": "17-02-2025"})
    assert count(store, registrations) == before
    colleague = service_for(make_user("kollega", "clinician", (740,)))
    assert colleague.autosaved(course_id, "start") is None
    with pytest.raises(NotFound):
        service_for(make_user("kbh", "clinician", (101,))).autosave(course_id, "start", {"weight_kg": 1}, 0)
    svc.discard_autosave(course_id, "start")
    assert svc.autosaved(course_id, "start") is None


def test_a_save_drops_its_autosave_in_the_same_transaction_only_when_asked_and_saved(svc, course_id, make_user,
                                                                                     service_for) -> None:
    colleague = service_for(make_user("kollega2", "clinician", (740,)))
    colleague.autosave(course_id, "start", {"weight_kg": "77"}, 0)
    svc.autosave(course_id, "start", {"weight_kg": "90"}, 0)
    svc.save_draft(course_id, "start", start_data(weight_kg=90), 0)             # not asked: kept
    assert svc.autosaved(course_id, "start") is not None
    with pytest.raises(RevisionConflict):                                         # nothing saved: kept
        svc.save(course_id, "start", start_data(weight_kg=91), 0, drop_autosave=True)
    assert svc.autosaved(course_id, "start") is not None
    svc.save(course_id, "start", start_data(weight_kg=91), 1, drop_autosave=True)
    assert svc.autosaved(course_id, "start") is None
    assert colleague.autosaved(course_id, "start").data == {"weight_kg": "77"}   # only the user's own
