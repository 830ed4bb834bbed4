"""A login whose counter row is purged by another login between making it and locking it still
gets its answer (PostgreSQL; found by hosted_load: an HTTP 500 at the login with 100 clinicians,
once the password check ran in worker threads)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, event

from hjertekom_core import login_guard
from hjertekom_core.store import Store
from hjertekom_core.store.schema import login_failures

pytestmark = pytest.mark.postgres


def test_a_counter_purged_between_insert_and_lock_is_made_again(pg_store: Store) -> None:
    keys = login_guard.keys_for("anne", "10.0.0.7")
    with pg_store.engine.begin() as conn:  # the counters exist already (an earlier login made them)
        conn.execute(delete(login_failures))
        for scope, key in keys:
            conn.execute(login_failures.insert().values(scope=scope, key=key, failures=0))
    deleted: list[str] = []

    def purge_once(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        # Just before the first lock is taken, another transaction deletes the rows (as purge does).
        if "FOR UPDATE" in statement and not deleted:
            deleted.append(statement)
            with pg_store.engine.begin() as other:
                other.execute(delete(login_failures))

    event.listen(pg_store.engine, "before_cursor_execute", purge_once)
    try:
        attempt = login_guard.begin(pg_store, keys, now=dt.datetime.now(dt.timezone.utc), max_failures=5,
                                    lockout=dt.timedelta(minutes=15))
    finally:
        event.remove(pg_store.engine, "before_cursor_execute", purge_once)
    assert deleted, "the race was not staged"
    assert isinstance(attempt, login_guard.Attempt)
    assert attempt.failures == 1
