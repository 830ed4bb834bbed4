"""A save writes its revision and audit row as before on both backends; on PostgreSQL the usual
save does it in ONE statement (the registration's INSERT in a WITH, in autocommit: issue 17), and
a save that loses the race for its revision writes neither row."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import event, func, select

from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import RevisionConflict
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, registrations

from factories import course_data, start_data

CPR = generate_cpr(random.Random(17), birth_date=dt.date(1950, 5, 1), sex="F")


@pytest.fixture
def svc(service_for, make_user) -> Service:  # type: ignore[no-untyped-def]
    return service_for(make_user("sygeplejerske", "clinician", (740,)))


def _count(store: Store, table) -> int:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_save_writes_its_revision_and_audit_row(svc: Service, store: Store) -> None:
    course_id = svc.open_course(
        svc.create_citizen(CPR, "Test Testesen", 740).id, course_data(), complete=True
    ).course_id
    statements: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: statements.append(" ".join(statement.split()[:2]).upper()),
    )
    saved = svc.save_draft(course_id, "start", start_data(), 0)
    if store.dialect == "postgresql":
        assert statements[-1] == "WITH NEW_REGISTRATION"
        assert not any(s.startswith("INSERT") for s in statements)
    else:
        assert [s for s in statements if s.startswith("INSERT")] == ["INSERT INTO", "INSERT INTO"]
    with store.read() as conn:
        row = conn.execute(
            select(registrations).where(registrations.c.course_id == course_id, registrations.c.form == "start")
        ).one()
        entry = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).one()
    assert (row.revision, row.status, row.user_id, row.reason, row.self_reported) == (
        1,
        "draft",
        svc.user.id,
        None,
        None,
    )
    assert json.loads(row.data) == saved.data and row.contract_version == svc.contracts["hjertekom"].version
    assert (entry.action, entry.entity, entry.entity_id, entry.municipality_code, entry.user_id, entry.username) == (
        "registration.save",
        "course",
        str(course_id),
        740,
        svc.user.id,
        "sygeplejerske",
    )
    assert json.loads(entry.detail) == {"form": "start", "revision": 1, "status": "draft"}
    assert abs((row.saved_at - entry.at).total_seconds()) < 5
    # the session's connection went back to the pool as an ordinary one: the next save is a normal one too
    assert svc.mark_complete(course_id, "start", start_data(), 1).revision == 2


def test_a_save_that_loses_the_race_writes_nothing(svc: Service, store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    course_id = svc.open_course(
        svc.create_citizen(CPR, "Test Testesen", 740).id, course_data(), complete=True
    ).course_id
    stale = svc.get_course(course_id)
    svc.save_draft(course_id, "start", start_data(weight_kg=90), 0)
    before = (_count(store, registrations), _count(store, audit_log))
    monkeypatch.setattr(svc, "_load_course", lambda conn, cid, with_history=False: stale)
    with pytest.raises(RevisionConflict):
        svc.save_draft(course_id, "start", start_data(weight_kg=80), 0)
    monkeypatch.undo()
    assert (_count(store, registrations), _count(store, audit_log)) == before
    assert svc.save_draft(course_id, "start", start_data(weight_kg=85), 1).revision == 2
