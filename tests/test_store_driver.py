"""``StoreSession.rows()`` and ``.writes()``: on SQLite a save's statements run on the driver's cursor
(store/driver.py, issue 17). What they read and write must be what SQLAlchemy reads and writes: the
same rows, named and converted alike, the same stored text (dates included), the same errors, and
a failed transaction leaves nothing behind. On PostgreSQL they are SQLAlchemy's own path."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from hjertekom_core import audit
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import _COURSE_LATEST_Q, _INSERT_REGISTRATION, Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, registrations

from factories import course_data, start_data

CPR = generate_cpr(random.Random(1717), birth_date=dt.date(1948, 3, 9), sex="M")
SAVED_AT = dt.datetime(2026, 12, 7, 13, 5, 9, 123456, tzinfo=dt.timezone.utc)


@pytest.fixture
def svc(service_for, make_user) -> Service:  # type: ignore[no-untyped-def]
    return service_for(make_user("sygeplejerske", "clinician", (740,)))


@pytest.fixture
def course_id(svc: Service) -> int:
    citizen = svc.create_citizen(CPR, "Test Testesen", 740)
    course = svc.open_course(citizen.id, course_data(), complete=True).course_id
    svc.save_draft(course, "start", start_data(), 0)
    return course


def _row(course_id: int, revision: int, user_id: int | None) -> dict[str, object]:
    return {
        "course_id": course_id, "form": "start", "revision": revision, "status": "draft", "data": '{"a":1}',
        "contract_version": "1.1.0", "user_id": user_id, "saved_at": SAVED_AT, "reason": None,
        "self_reported": None,
    }


def test_rows_are_sqlalchemys_rows(store: Store, course_id: int) -> None:
    params = {"course_id": course_id}
    with store.read() as conn:
        expected = conn.execute(_COURSE_LATEST_Q, params).all()
    with store.session() as session:
        got = session.rows(_COURSE_LATEST_Q, params)
    assert [tuple(r) for r in got] == [tuple(r) for r in expected]
    assert [r._fields for r in got] == [tuple(r._fields) for r in expected]
    assert isinstance(got[0].reg_saved_at, dt.datetime) and isinstance(got[0].birth_date, dt.date)


def test_writes_store_what_sqlalchemy_stores(store: Store, svc: Service, course_id: int) -> None:
    entry = audit.entry(svc.user, "registration.save", "course", course_id, 740, {"form": "start"})
    with store.write() as conn:  # SQLAlchemy's path
        conn.execute(_INSERT_REGISTRATION, _row(course_id, 2, svc.user.id))
        conn.execute(audit.INSERT, entry)
    with store.session() as session, session.writes() as execute:  # the session's (the driver on SQLite)
        execute(_INSERT_REGISTRATION, _row(course_id, 3, svc.user.id))
        execute(audit.INSERT, entry)
    with store.read() as conn:
        # the stored text itself, not what SQLAlchemy makes of it: dates must be stored alike
        stored = conn.execute(
            text("SELECT status, data, contract_version, user_id, CAST(saved_at AS TEXT), reason, self_reported "
                 "FROM registrations WHERE course_id = :c AND revision IN (2, 3) ORDER BY revision"),
            {"c": course_id},
        ).all()
        audited = conn.execute(
            text("SELECT CAST(at AS TEXT), user_id, username, action, entity, entity_id, municipality_code, detail "
                 "FROM audit_log ORDER BY id DESC LIMIT 2")
        ).all()
    assert stored[0] == stored[1]
    assert audited[0] == audited[1]


def test_a_failed_write_raises_sqlalchemys_error_and_leaves_nothing(store: Store, svc: Service, course_id: int) -> None:
    def counts() -> tuple[int, int]:
        with store.read() as conn:
            return (
                conn.execute(select(func.count()).select_from(registrations)).scalar_one(),
                conn.execute(select(func.count()).select_from(audit_log)).scalar_one(),
            )

    before = counts()
    entry = audit.entry(svc.user, "registration.save", "course", course_id, 740, {"form": "start"})
    with store.session() as session:
        with pytest.raises(IntegrityError), session.writes() as execute:
            execute(audit.INSERT, entry)
            execute(_INSERT_REGISTRATION, _row(course_id, 1, svc.user.id))  # revision 1 is taken
        assert counts() == before  # the audit row went with the transaction
        with session.writes() as execute:  # and the session writes again
            execute(_INSERT_REGISTRATION, _row(course_id, 2, svc.user.id))
    assert counts() == (before[0] + 1, before[1])


def test_an_error_of_the_caller_rolls_back(store: Store, svc: Service, course_id: int) -> None:
    with store.session() as session:
        with pytest.raises(LookupError), session.writes() as execute:
            execute(_INSERT_REGISTRATION, _row(course_id, 2, svc.user.id))
            raise LookupError("refused after the insert")
        rows = session.rows(_COURSE_LATEST_Q, {"course_id": course_id})
    assert {r.reg_form: r.reg_revision for r in rows} == {"course": 1, "start": 1}
