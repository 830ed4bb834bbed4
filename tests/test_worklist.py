"""The worklist that drives a clinician's day (Service.worklist): which courses are on it, in
which groups, and only the user's own municipalities. On a real store (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import select

from hjertekom_core.access import User
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Citizen, Service, WorklistItem
from hjertekom_core.store.schema import courses, registrations
from hjertekom_core.users import get_user

from factories import course_data, end_data, start_data
from hjertekom_widgets.worklist import sort_items


@pytest.fixture
def svc(service_for, make_user) -> Service:
    return service_for(make_user("sygeplejerske", "clinician", (740,)))


def _course(svc: Service, seed: int, name: str, **course: object) -> int:
    citizen = svc.create_citizen(generate_cpr(random.Random(seed)), name, 740)
    return svc.open_course(citizen.id, course_data(**course), complete=True).course_id


def _groups(svc: Service) -> dict[int, tuple[str, ...]]:
    return {item.course_id: item.groups for item in svc.worklist()}


def test_a_referred_citizen_without_a_start_meeting_awaits_it(svc: Service) -> None:
    referred = _course(svc, 1, "Vente Venstrup", referral_date="03-02-2025")
    item = next(i for i in svc.worklist() if i.course_id == referred)
    assert item.groups == ("awaiting_start",)
    assert (item.awaiting_start, item.missing_end, item.drafts, item.overdue) == (True, False, (), False)
    assert item.referral_date == dt.date(2025, 2, 3) and item.start_date is None
    assert item.citizen.name == "Vente Venstrup"


def test_each_course_moves_through_the_groups_as_its_forms_are_saved(svc: Service) -> None:
    course_id = _course(svc, 2, "Flemming Forløb")
    assert _groups(svc)[course_id] == ("awaiting_start",)
    svc.save_draft(course_id, "start", {"meeting_date": "17-02-2025"}, 0)        # begun: a draft now
    assert _groups(svc)[course_id] == ("drafts",)
    svc.mark_complete(course_id, "start", start_data(meeting_date=dt.date.today().isoformat()), 1)
    assert _groups(svc)[course_id] == ("missing_end",)
    svc.save_draft(course_id, "end", {"course_status": "completed"}, 0)
    assert _groups(svc)[course_id] == ("missing_end", "drafts")
    svc.mark_complete(course_id, "end", end_data(meeting_date=dt.date.today().isoformat()), 1)
    assert course_id not in _groups(svc)                                          # finished: off the list


def test_a_course_form_draft_awaits_the_start_meeting_and_is_a_draft(svc: Service) -> None:
    citizen = svc.create_citizen(generate_cpr(random.Random(3)), "Dorit Delvis", 740)
    data = course_data()
    del data["diagnosis_groups"]                                                  # diagnosis still to come
    course_id = svc.open_course(citizen.id, data, complete=False).course_id
    assert _groups(svc)[course_id] == ("awaiting_start", "drafts")


def test_started_long_ago_without_an_end_is_overdue_not_missing_end(svc: Service) -> None:
    course_id = _course(svc, 4, "Ole Overtid", referral_date="2024-01-02", index_event_date="2023-12-20")
    svc.mark_complete(course_id, "start", start_data(meeting_date="2024-01-10"), 0)
    assert {i.course_id: i.groups for i in svc.worklist(completion_limit_days=180)}[course_id] == ("overdue",)


def test_another_municipality_sees_none_of_it(svc: Service, service_for, make_user) -> None:
    _course(svc, 5, "Kirsten Kommune")
    other = service_for(make_user("kbh", "clinician", (101,)))
    assert other.worklist() == []


def test_the_demos_silkeborg_has_every_course_without_start_or_end_awaiting(demo_workspace) -> None:
    """Every Silkeborg course of the demo with no start and no end registration, and only those,
    is on the coordinator's "Afventer afklarende samtale" list (counted from the tables)."""
    ws = demo_workspace
    with ws.store.read() as conn:
        in_740 = set(conn.execute(select(courses.c.id).where(courses.c.municipality_code == 740)).scalars())
        with_forms: dict[int, set[str]] = {}
        for course_id, form in conn.execute(select(registrations.c.course_id, registrations.c.form)):
            with_forms.setdefault(course_id, set()).add(form)
    expected = {c for c in in_740 if not with_forms[c] & {"start", "end"}}
    assert len(expected) >= 5, "the demo should have referred citizens who never started"
    coordinator: User = get_user(ws.store, "koordinator")
    items = Service(ws.store, ws.contracts, coordinator).worklist()
    awaiting = {i.course_id for i in items if "awaiting_start" in i.groups}
    assert awaiting == expected
    assert all(i.referral_date is not None and i.municipality_code == 740 for i in items if i.awaiting_start)


def test_a_date_recorded_as_unknown_is_no_date(svc: Service, store) -> None:
    course_id = _course(svc, 6, "Ukendt Dato")
    svc.mark_complete(course_id, "start", start_data(meeting_date=dt.date.today().isoformat()), 0)
    with store.write() as conn:   # as an import may have stored it: the date's missing reason
        row = conn.execute(select(registrations.c.id, registrations.c.data).where(
            registrations.c.course_id == course_id, registrations.c.form == "start")).one()
        data = json.loads(row.data) | {"meeting_date": "UNK"}
        conn.execute(registrations.update().where(registrations.c.id == row.id).values(data=json.dumps(data)))
    item = next(i for i in svc.worklist() if i.course_id == course_id)
    assert (item.start_date, item.groups) == (None, ("missing_end",))


# --- the columns: CPR, referral date, days since referral or start, the status of each form ------------

def test_each_row_has_cpr_referral_date_days_and_the_status_of_each_form(svc: Service) -> None:
    cpr = generate_cpr(random.Random(7))
    citizen = svc.create_citizen(cpr, "Kolonne Klausen", 740)
    course_id = svc.open_course(citizen.id, course_data(referral_date="03-02-2025"), complete=True).course_id
    on = Service(svc.store, svc.contracts, svc.user, today=dt.date(2025, 2, 13))

    def row():  # type: ignore[no-untyped-def]
        return next(i for i in on.worklist() if i.course_id == course_id)

    before = row()
    assert (before.citizen.cpr, before.referral_date) == (cpr, dt.date(2025, 2, 3))
    assert (before.days, before.days_since) == (10, "referral")
    assert before.statuses == {"course": "complete"}        # start and end: not begun
    svc.save_draft(course_id, "start", {"meeting_date": "10-02-2025"}, 0)
    assert (row().days, row().days_since, row().statuses["start"]) == (3, "start", "draft")
    svc.mark_complete(course_id, "start", start_data(meeting_date="11-02-2025"), 1)
    started = row()
    assert (started.days, started.days_since, started.start_date) == (2, "start", dt.date(2025, 2, 11))
    assert started.statuses == {"course": "complete", "start": "complete"}


# --- sorting a list by a column (the entry app's worklist tables) ---------------------------------------

def _item(course_id: int, name: str, cpr: str, referral: dt.date | None, days: int | None,
          statuses: dict[str, str]) -> WorklistItem:
    citizen = Citizen(course_id, cpr, name, dt.date(1950, 1, 1), "M", 740)
    return WorklistItem(course_id, citizen, 740, statuses, None, False, (), False, True, referral, days,
                        "referral" if days is not None else None)


ITEMS = [   # the service's order: newest course first
    _item(4, "Åse Holm", "0101501234", dt.date(2025, 3, 1), 5, {"course": "complete"}),
    _item(3, "Zenia Berg", "3112491235", None, None, {"course": "draft"}),
    _item(2, "Ærø Nielsen", "1506481236", dt.date(2025, 1, 2), 63, {"course": "complete", "start": "draft"}),
    _item(1, "anders Bak", "0202021237", dt.date(2025, 3, 1), 5, {"course": "complete", "start": "complete"}),
]


def _ids(items: list[WorklistItem]) -> list[int]:
    return [i.course_id for i in items]


def test_names_sort_in_danish_order_either_way() -> None:
    assert _ids(sort_items(ITEMS, "name")) == [1, 3, 2, 4]            # anders, Zenia, Ærø, Åse
    assert _ids(sort_items(ITEMS, "name", descending=True)) == [4, 2, 3, 1]


def test_equal_values_keep_the_services_order_and_missing_ones_come_last() -> None:
    # Courses 4 and 1: same referral date and days; newest first in both directions.
    assert _ids(sort_items(ITEMS, "referral")) == [2, 4, 1, 3]
    assert _ids(sort_items(ITEMS, "referral", descending=True)) == [4, 1, 2, 3]
    assert _ids(sort_items(ITEMS, "days")) == [4, 1, 2, 3]
    assert _ids(sort_items(ITEMS, "days", descending=True)) == [2, 4, 1, 3]


def test_cpr_and_status_columns_sort() -> None:
    assert _ids(sort_items(ITEMS, "cpr")) == [4, 1, 2, 3]
    # not begun < draft < finished
    assert _ids(sort_items(ITEMS, "status:start")) == [4, 3, 2, 1]
    assert _ids(sort_items(ITEMS, "status:course", descending=True)) == [4, 2, 1, 3]
    with pytest.raises(ValueError, match="unknown worklist column"):
        sort_items(ITEMS, "diagnosis")
