"""The audit log is append-only in the database (issue 12: "rows of audit_log can be updated and
deleted").

An auditor relies on the log: on both backends the database itself refuses to change or remove a
row, whoever asks; on PostgreSQL the service's own role has no right to do so either, and it cannot
switch the protection off because it does not own the table.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM
from hjertekom_core.store import Store
from hjertekom_core.store.engine import make_engine
from hjertekom_core.store.roles import grant_app_role
from hjertekom_core.store.schema import audit_log


def _write_entries(store: Store) -> list[tuple]:
    with store.write() as conn:
        audit.record(conn, SYSTEM, "test.one", "thing", 1)
        audit.record(conn, SYSTEM, "test.two", "thing", 2)
    return _rows(store)


def _rows(store: Store) -> list[tuple]:
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET action = 'rewritten'",
    "UPDATE audit_log SET username = 'someone-else' WHERE action = 'test.one'",
    "DELETE FROM audit_log",
    "DELETE FROM audit_log WHERE action = 'test.two'",
])
def test_audit_rows_cannot_be_changed_or_deleted(store: Store, statement: str) -> None:
    before = _write_entries(store)
    with pytest.raises(DBAPIError, match="append-only"):
        with store.write() as conn:
            conn.execute(text(statement))
    assert _rows(store) == before


def test_new_entries_can_still_be_written(store: Store) -> None:
    before = _write_entries(store)
    with store.write() as conn:
        audit.record(conn, SYSTEM, "test.three", "thing", 3)
    assert _rows(store)[:2] == before and len(_rows(store)) == 3


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(pg_store: Store) -> None:
    before = _write_entries(pg_store)
    with pytest.raises(DBAPIError, match="append-only"):
        with pg_store.write() as conn:
            conn.execute(text("TRUNCATE audit_log"))
    assert _rows(pg_store)[-2:] == before[-2:]


# --- PostgreSQL: the service's own role -------------------------------------------------------------

@pytest.fixture
def app_role(pg_store: Store) -> Iterator[tuple[str, Engine]]:
    """A role set up as the docs say (grant_app_role), and an engine that acts as it (SET ROLE)."""
    role = f"hk_app_{uuid.uuid4().hex[:8]}"
    with pg_store.write() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
    grant_app_role(pg_store, role)
    engine = make_engine(pg_store.url)
    try:
        yield role, engine
    finally:
        engine.dispose()
        with pg_store.write() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


@pytest.mark.postgres
@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET action = 'rewritten'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "SET session_replication_role = replica",
])
def test_the_service_role_can_neither_change_the_log_nor_switch_the_protection_off(
        pg_store: Store, app_role: tuple[str, Engine], statement: str) -> None:
    role, engine = app_role
    before = _write_entries(pg_store)
    with engine.connect() as conn:
        conn.execute(text(f'SET ROLE "{role}"'))
        with pytest.raises(DBAPIError, match="permission denied|must be owner|append-only"):
            conn.execute(text(statement))
        conn.rollback()
    assert _rows(pg_store)[-2:] == before[-2:]


@pytest.mark.postgres
def test_the_service_role_can_do_its_work(pg_store: Store, app_role: tuple[str, Engine]) -> None:
    """Writing audit entries, registrations, sessions and login counters works as the service role."""
    role, engine = app_role
    with engine.connect() as conn:
        conn.execute(text(f'SET ROLE "{role}"'))
        conn.execute(text("INSERT INTO audit_log (at, username, action, entity, detail) "
                          "VALUES (now(), 'x', 'test.role', 'thing', '{}')"))
        conn.execute(text("INSERT INTO users (username, display_name, role, password_hash, active, created_at) "
                          "VALUES ('rolle', 'R', 'clinician', 'x', true, now())"))
        conn.execute(text("UPDATE users SET active = false WHERE username = 'rolle'"))
        conn.execute(text("INSERT INTO login_failures (scope, key, failures) VALUES ('address', '192.0.2.1', 1)"))
        conn.execute(text("DELETE FROM login_failures WHERE key = '192.0.2.1'"))
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'test.role'")).scalar_one() == 1
        conn.rollback()
