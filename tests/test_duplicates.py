"""One citizen, one open course: the service refuses duplicates itself, whatever the page does
(issue 13: a CPR that existed under another name silently got a second open course and lost the
typed name)."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import func, select

from factories import course_data, end_data, start_data
from hjertekom_core import audit
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import CitizenExists, OpenCourseExists, ValidationFailed
from hjertekom_core.service import SECOND_COURSE_REASONS, Service
from hjertekom_core.store.schema import citizens, courses, registrations

CPR = generate_cpr(random.Random(4711), birth_date=dt.date(1949, 11, 2), sex="F")  # noqa: S311 - synthetic


def _counts(store) -> tuple[int, int, int]:
    with store.read() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (citizens, courses, registrations))


@pytest.fixture
def svc(service_for, make_user) -> Service:
    return service_for(make_user("sygeplejerske", "clinician", (740,)))


def test_the_same_cpr_and_name_is_the_registered_citizen(svc: Service) -> None:
    first = svc.create_citizen(CPR, "Inger  Dahl", 740)
    assert svc.create_citizen(CPR, "inger dahl", 740) == first  # case and spacing do not matter


def test_another_name_for_a_registered_cpr_is_pointed_out_and_changes_nothing(svc: Service, store) -> None:
    first = svc.create_citizen(CPR, "Inger Dahl", 740)
    before = _counts(store)
    with pytest.raises(CitizenExists) as exists:
        svc.create_citizen(CPR, "Inge Dal", 740)
    assert exists.value.citizen == first and exists.value.typed_name == "Inge Dal"
    assert _counts(store) == before
    assert svc.get_citizen(first.id).name == "Inger Dahl"


def test_a_second_open_course_needs_an_explicit_reason(svc: Service, store) -> None:
    citizen = svc.create_citizen(CPR, "Inger Dahl", 740)
    first = svc.open_course(citizen.id, course_data(), complete=True).course_id
    before = _counts(store)
    with pytest.raises(OpenCourseExists) as refused:
        svc.open_course(citizen.id, course_data(), complete=True)
    assert refused.value.course_ids == [first]
    assert _counts(store) == before                       # nothing half-written
    with pytest.raises(ValidationFailed):
        svc.open_course(citizen.id, course_data(), complete=True, second_open_reason="because")
    assert _counts(store) == before

    second = svc.open_course(citizen.id, course_data(), complete=True, second_open_reason="new_referral").course_id
    with store.read() as conn:
        created = audit.entries(conn, action="course.create")[0]
    assert created["entity_id"] == str(second)
    assert json.loads(created["detail"]) == {"programme": "hjertekom", "second_open_reason": "new_referral",
                                             "open_courses": [first]}
    assert set(SECOND_COURSE_REASONS) >= {"new_referral"}


def test_a_finished_course_needs_no_reason(svc: Service) -> None:
    citizen = svc.create_citizen(CPR, "Inger Dahl", 740)
    course_id = svc.open_course(citizen.id, course_data(), complete=True).course_id
    svc.save(course_id, "start", start_data(), 0, complete=True, confirm=True)
    svc.save(course_id, "end", end_data(), 0, complete=True, confirm=True)
    assert svc.open_course(citizen.id, course_data(), complete=True).course_id > course_id


def test_an_open_course_elsewhere_is_not_revealed(store, service_for, make_user) -> None:
    """A citizen who moved: the new municipality's clinician is not told of a course it may not see."""
    admin = service_for(make_user("administrator", "administrator", ()))
    citizen = admin.create_citizen(CPR, "Inger Dahl", 740)
    admin.open_course(citizen.id, course_data(municipality=101), complete=True)  # open in København
    silkeborg = service_for(make_user("sygeplejerske", "clinician", (740,)))
    assert silkeborg.open_course(citizen.id, course_data(), complete=True).course_id
