"""An entry kernel's store keeps one PostgreSQL connection while idle (pool_size=1), the server's
its pool.

With SQLAlchemy's default pool in every kernel, a kernel could keep several connections open, and
100 clinicians on two hosts ran PostgreSQL (max_connections 100) out of them: the later kernels
could not open the store and their worklists never came (hosted_load, 2026-12-07).
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from hjertekom_core.store import Store

pytestmark = pytest.mark.postgres


def _connections_of(pg_store: Store, application: str) -> int:
    with pg_store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                                {"a": application}).scalar_one())


@pytest.mark.parametrize(("pool_size", "idle_connections"), [(1, 1), (None, 3)])
def test_after_three_uses_at_once_an_idle_store_keeps_its_pool_size(
        pg_database_url: str, pg_store: Store, pool_size: int | None, idle_connections: int) -> None:
    application = f"hjertekom-test-pool-{pool_size}"
    url = f"{pg_database_url}{'&' if '?' in pg_database_url else '?'}application_name={application}"
    store = Store(url, pool_size=pool_size)
    inside = threading.Barrier(3)

    def use() -> None:
        with store.read() as conn:
            conn.execute(text("SELECT 1"))
            inside.wait(timeout=30)  # three connections in use at the same moment

    try:
        threads = [threading.Thread(target=use) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert _settles_at(pg_store, application, idle_connections) == idle_connections
    finally:
        store.dispose()
    assert _settles_at(pg_store, application, 0) == 0


def _settles_at(pg_store: Store, application: str, expected: int, seconds: float = 10) -> int:
    """How many connections the application has once closing ones are gone: a closed connection's
    backend leaves pg_stat_activity a moment after the client hangs up."""
    deadline = time.monotonic() + seconds
    while (found := _connections_of(pg_store, application)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return found
