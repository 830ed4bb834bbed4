"""The store itself: migrations, SQLite settings, municipalities."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from hjertekom_core.bootstrap import sync_municipalities
from hjertekom_core.store import Store
from hjertekom_core.store.schema import metadata, municipalities


def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    with store.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    assert store.schema_revision() == store.head_revision() == "0013"


def test_migrating_again_changes_nothing(store: Store, contracts) -> None:
    store.migrate()
    assert sync_municipalities(store, contracts) == 98
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(municipalities)).scalar_one() == 98
        assert conn.execute(select(municipalities.c.name).where(municipalities.c.code == 740)).scalar_one() == "Silkeborg"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_store: Store) -> None:
    with sqlite_store.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_describe_hides_the_password() -> None:
    store = Store("postgresql://hk:secret@db.example/hjertekom")
    assert "secret" not in store.describe()
    assert store.engine.dialect.driver == "psycopg"


def test_sqlite_writers_queue_on_a_file_lock_that_other_processes_see(sqlite_store: Store) -> None:
    """While one write transaction runs, the store's write lock is taken for every other process."""
    import fcntl
    import os

    from sqlalchemy.engine import make_url

    lock = make_url(sqlite_store.url).database + "-writelock"

    def free() -> bool:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    assert free()
    with sqlite_store.write() as conn:
        conn.execute(text("SELECT 1"))
        assert not free()
    assert free()
    with sqlite_store.read():  # readers never take it: WAL lets them read beside a writer
        assert free()
