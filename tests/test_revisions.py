"""Revisions of one registration: the three-way merge and the field changes (pure functions), and
on a real store (SQLite and PostgreSQL) the lock of a finished registration (a reason for every
change, reopening on purpose), the history of a form and what a conflict tells the clinician."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import select

from factories import course_data, end_data, start_data
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import NotFound, ReasonRequired, ReopenRequired, RevisionConflict
from hjertekom_core.indicators import IndicatorSettings
from hjertekom_core.indicators.course import course_criteria
from hjertekom_core.indicators.live import live_indicators
from hjertekom_core.revisions import FieldChange, FieldConflict, merge_three_way, changed_fields
from hjertekom_core.service import Service
from hjertekom_core.store.schema import audit_log, registrations

TODAY = dt.date(2026, 6, 30)


# --- the pure functions ---------------------------------------------------------------------------

def test_a_three_way_merge_takes_what_only_the_colleague_changed_and_keeps_mine() -> None:
    base = {"weight_kg": 80.0, "height_cm": 178, "smoking": "daily", "ldl": 2.1}
    theirs = {"weight_kg": 80.0, "height_cm": 180, "smoking": "never", "ldl": 2.1, "waist_cm": 101}
    mine = {"weight_kg": 81.5, "height_cm": 178, "smoking": "former", "ldl": 2.1}
    result = merge_three_way(base, theirs, mine, ["weight_kg", "height_cm", "waist_cm", "smoking", "ldl"])
    assert result.theirs_taken == ("height_cm", "waist_cm")       # only the colleague changed them
    assert result.mine_kept == ("weight_kg",)                       # only I did
    assert result.conflicts == (FieldConflict("smoking", "daily", "never", "former"),)
    # Until a choice is made the form holds mine for the conflict; nothing of theirs is lost.
    assert result.merged == {"weight_kg": 81.5, "height_cm": 180, "waist_cm": 101, "smoking": "former", "ldl": 2.1}
    assert result.resolve({"smoking": "theirs"})["smoking"] == "never"
    assert result.resolve({"smoking": "mine"})["smoking"] == "former"
    with pytest.raises(ValueError, match="no choice"):
        result.resolve({})


def test_a_three_way_merge_treats_blanks_order_and_equal_changes_as_a_person_would() -> None:
    base = {"diagnosis_groups": ["pci", "acute_myocardial_infarction"], "ldl": 2.1, "alcohol": 4}
    theirs = {"diagnosis_groups": ["acute_myocardial_infarction", "pci"], "ldl": 1.9}   # alcohol blanked
    mine = {"diagnosis_groups": ["pci", "acute_myocardial_infarction"], "ldl": 1.9, "alcohol": 4, "hr": 60}
    result = merge_three_way(base, theirs, mine)
    assert result.conflicts == ()
    assert result.theirs_taken == ("alcohol",)          # the colleague's blank is a change too
    assert result.mine_kept == ("hr", "ldl")             # ldl: both changed it to the same value
    assert "alcohol" not in result.merged
    # A blank on both sides of a conflict is left out of the result, never stored as None.
    both = merge_three_way({"ldl": 2.1}, {"ldl": 1.9}, {})
    assert both.conflicts == (FieldConflict("ldl", 2.1, 1.9, None),)
    assert both.resolve({"ldl": "mine"}) == {}
    # True is an answer of its own, not the number 1.
    assert merge_three_way({"x": 1}, {"x": 1}, {"x": True}).mine_kept == ("x",)


def test_changed_fields_lists_old_and_new_in_the_given_order() -> None:
    old = {"weight_kg": 80.0, "smoking": "daily", "ldl": 2.1}
    new = {"weight_kg": 82.0, "smoking": "daily", "waist_cm": 100}
    assert changed_fields(old, new, ["waist_cm", "weight_kg", "ldl"]) == (
        FieldChange("waist_cm", None, 100), FieldChange("weight_kg", 80.0, 82.0), FieldChange("ldl", 2.1, None))


# --- on the store ------------------------------------------------------------------------------------

@pytest.fixture
def anne(make_user, service_for) -> Service:
    svc = service_for(make_user("anne"))
    svc._today = TODAY
    return svc


@pytest.fixture
def bo(make_user, service_for) -> Service:
    svc = service_for(make_user("bo"))
    svc._today = TODAY
    return svc


def _course(svc: Service, seed: int = 1) -> int:
    citizen = svc.create_citizen(generate_cpr(random.Random(seed)), "Rita Revision", 740)
    return svc.open_course(citizen.id, course_data(), complete=True, confirm=True).course_id


def _rows(store, course_id: int, form: str) -> list:
    with store.read() as conn:
        return conn.execute(select(registrations).where(registrations.c.course_id == course_id,
                                                        registrations.c.form == form)
                            .order_by(registrations.c.revision)).all()


def _audit(store, action: str) -> list[dict]:
    with store.read() as conn:
        return [json.loads(r.detail) for r in conn.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id))]


def test_a_finished_registration_changes_only_with_a_reason_and_stays_finished(store, anne) -> None:
    course_id = _course(anne)
    anne.mark_complete(course_id, "start", start_data(), 0, confirm=True)

    # Without a reason: refused, with a message on the pseudo-field "reason"; nothing written.
    for blank in (None, "", "   "):
        with pytest.raises(ReasonRequired) as refused:
            anne.save(course_id, "start", start_data(weight_kg="90,0"), 1, complete=True, confirm=True, reason=blank)
        assert [(e.field, e.code) for e in refused.value.errors] == [("reason", "reason_required")]
        assert "begrundelse" in refused.value.errors[0].message("da")
    # Saving it as a draft is not a way round the lock: that is reopening, a choice of its own.
    with pytest.raises(ReopenRequired):
        anne.save(course_id, "start", start_data(weight_kg="90,0"), 1, complete=False, confirm=True,
                  reason="Vægten var tastet forkert")
    with pytest.raises(ReasonRequired):
        anne.save(course_id, "start", start_data(), 1, complete=True, confirm=True, reason="x" * 1001)
    assert [(r.revision, r.status) for r in _rows(store, course_id, "start")] == [(1, "complete")]

    # With a reason: a new complete revision, the reason stored with it (spaces tidied).
    result = anne.save(course_id, "start", start_data(weight_kg="90,0"), 1, complete=True, confirm=True,
                       reason="  Vægten var  tastet forkert ")
    assert (result.revision, result.status) == (2, "complete")
    rows = _rows(store, course_id, "start")
    assert [(r.revision, r.status, r.reason) for r in rows] == [
        (1, "complete", None), (2, "complete", "Vægten var tastet forkert")]
    assert anne.get_course(course_id).forms["start"].reason == "Vægten var tastet forkert"
    # The audit entry says that a reason was given, never what it says (it may name a person).
    saved = _audit(store, "registration.save")[-1]
    assert saved == {"form": "start", "revision": 2, "status": "complete", "reason_length": 25}


def test_reopening_needs_a_reason_and_a_draft_end_no_longer_counts_as_finished(store, contracts, anne) -> None:
    course_id = _course(anne)
    anne.mark_complete(course_id, "start", start_data(), 0, confirm=True)
    anne.mark_complete(course_id, "end", end_data(), 0, confirm=True)
    contract = contracts["hjertekom"]
    settings = IndicatorSettings()

    def criteria() -> dict[str, str]:
        course = anne.get_course(course_id)
        return course_criteria(contract, {f: r.data for f, r in course.forms.items()},
                               statuses={f: r.status for f, r in course.forms.items()}, settings=settings)

    def finished_k2() -> int:
        """The municipality's K2 denominator: finished courses with training planned."""
        live = live_indicators(store, contracts, settings, [740])
        return int(live.loc[live["indicator"] == "K2", "denominator"].sum())

    assert criteria()["K2"] == "met" and finished_k2() == 1

    with pytest.raises(ReasonRequired):
        anne.save(course_id, "end", end_data(), 1, confirm=True, reopen=True)
    reopened = anne.save(course_id, "end", end_data(), 1, confirm=True, reopen=True,
                         reason="Afslutningssamtalen skal gentages")
    assert (reopened.revision, reopened.status) == (2, "draft")
    assert _audit(store, "registration.save")[-1] == {
        "form": "end", "revision": 2, "status": "draft", "reason_length": 33, "reopened": True}
    # The indicators follow the registration's real status: a draft end is not a finished course
    # (K2-K6 count finished courses only), and K1 does not count it as ended.
    after = criteria()
    assert {after[k] for k in ("K2", "K3", "K4", "K5", "K6")} == {"not_applicable"}
    assert after["K1"] != "met"
    assert finished_k2() == 0

    # A draft is edited freely again (no reason), and marked complete again it counts again.
    anne.save_draft(course_id, "end", end_data(weight_kg="84,0"), 2, confirm=True)
    anne.mark_complete(course_id, "end", end_data(weight_kg="84,0"), 3, confirm=True)
    assert criteria()["K2"] == "met" and finished_k2() == 1
    assert [(r.status, r.reason) for r in _rows(store, course_id, "end")] == [
        ("complete", None), ("draft", "Afslutningssamtalen skal gentages"), ("draft", None), ("complete", None)]


def test_the_history_of_a_form_says_who_when_why_and_what_changed(store, anne, bo, make_user, service_for) -> None:
    course_id = _course(anne)
    before = dt.datetime.now(dt.timezone.utc)
    anne.save_draft(course_id, "start", {"meeting_date": "17-02-2025", "weight_kg": "88,4", "smoking": "daily"}, 0)
    bo.save_draft(course_id, "start", {"meeting_date": "17-02-2025", "weight_kg": "90,0", "smoking": "never"}, 1)
    anne.mark_complete(course_id, "start", start_data(weight_kg="90,0", smoking="never"), 2, confirm=True)
    bo.save(course_id, "start", start_data(weight_kg="91,0", smoking="never"), 3, complete=True, confirm=True,
            reason="Vejet igen")

    history = anne.form_history(course_id, "start")
    assert [(h.revision, h.status, h.previous_status, h.saved_by, h.reason) for h in history] == [
        (1, "draft", None, "Anne", None), (2, "draft", "draft", "Bo", None),
        (3, "complete", "draft", "Anne", None), (4, "complete", "complete", "Bo", "Vejet igen")]
    assert all(h.saved_at.tzinfo is not None and h.saved_at >= before - dt.timedelta(seconds=1) for h in history)
    assert history[0].changes == (FieldChange("meeting_date", None, "2025-02-17"),
                                  FieldChange("weight_kg", None, 88.4), FieldChange("smoking", None, "daily"))
    assert history[1].changes == (FieldChange("weight_kg", 88.4, 90.0), FieldChange("smoking", "daily", "never"))
    assert history[3].changes[:1] == (FieldChange("weight_kg", 90.0, 91.0),)
    assert "bmi" in {c.field for c in history[3].changes}      # derived scores change with their inputs
    assert _audit(store, "registration.history") == [{"form": "start", "revisions": 4}]

    # Another municipality's clinician learns nothing, and the refusal is audited.
    carl = service_for(make_user("carl", municipalities=(101,)))
    with pytest.raises(NotFound):
        carl.form_history(course_id, "start")
    assert _audit(store, "access.denied")[-1]["attempted"] == "course.read"


def test_a_conflict_says_who_saved_when_and_hands_over_what_a_merge_needs(store, anne, bo) -> None:
    course_id = _course(anne)
    anne.save_draft(course_id, "start", {"meeting_date": "17-02-2025", "weight_kg": "88,4"}, 0)
    bo.save_draft(course_id, "start", {"meeting_date": "18-02-2025", "weight_kg": "88,4"}, 1)
    with pytest.raises(RevisionConflict):
        anne.save_draft(course_id, "start", {"meeting_date": "17-02-2025", "weight_kg": "85,0"}, 1)

    details = anne.conflict_details(course_id, "start", 1)
    assert details.base is not None and details.base.revision == 1
    assert details.base.data == {"meeting_date": "2025-02-17", "weight_kg": 88.4}
    assert (details.latest.revision, details.latest.data["meeting_date"]) == (2, "2025-02-18")
    assert (details.saved_by, details.by_me) == ("Bo", False)
    assert details.latest.saved_at.tzinfo is not None
    assert _audit(store, "registration.conflict") == [{"form": "start", "base_revision": 1, "latest_revision": 2}]
    merge = merge_three_way(details.base.data, details.latest.data, {"meeting_date": "2025-02-17", "weight_kg": 85.0})
    assert merge.theirs_taken == ("meeting_date",) and merge.mine_kept == ("weight_kg",) and not merge.conflicts

    # The same user in another tab: by_me, so the page can say so.
    anne.save_draft(course_id, "start", merge.merged, 2)
    mine = anne.conflict_details(course_id, "start", 2)
    assert (mine.latest.revision, mine.by_me, mine.saved_by) == (3, True, "Anne")
    # A form never saved before: no base revision.
    anne.save_draft(course_id, "end", {"course_status": "completed"}, 0)
    assert anne.conflict_details(course_id, "end", 0).base is None
