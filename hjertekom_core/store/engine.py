"""Connecting to the operational store: a SQLite file (WAL) or PostgreSQL, and migrating it."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Select, create_engine, event, text
from sqlalchemy.engine import make_url

from hjertekom_core.private_files import create_private_file, private_dir, restrict
from hjertekom_core.store.driver import Driver

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # not on Windows: there SQLite's own busy handler queues the writers
    fcntl = None

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, foreign keys on, and writers that queue instead of failing.

    pysqlite's own transaction handling is switched off so that we can emit BEGIN IMMEDIATE for
    writes: a deferred transaction that upgrades to a write lock can fail with 'database is
    locked' without waiting, while BEGIN IMMEDIATE waits (busy_timeout) for its turn.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode across application crashes
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("hjertekom_one_statement"):
            return  # StoreSession.statement(): no transaction, the statement is its own
        mode = "IMMEDIATE" if options.get("hjertekom_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


#: The files SQLite keeps beside the store, and our writers' lock: all hold or reveal personal data.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal", "-writelock")


def _private_sqlite_files(database: Path) -> None:
    """Create the store file 0600 before SQLite does, and make an existing one and its companions
    0600. SQLite gives the WAL and shared-memory files the mode of the main file, so a main file
    created through the umask (0644, or 0666 under umask 000) would expose all three."""
    private_dir(database.parent, tighten=False)  # the data folder itself is tightened by bootstrap
    create_private_file(database)
    for suffix in SQLITE_COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            restrict(companion)


def make_engine(url: str, *, pool_size: int | None = None) -> Engine:
    """``pool_size``: connections a server database's pool keeps open when idle (SQLAlchemy's
    default, 5, when None); up to 2 more are opened while busy and closed after."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            _private_sqlite_files(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))  # psycopg 3 is the driver we ship
    if pool_size is not None:
        return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=2)
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` shared by every process and thread that takes it.

    A descriptor of its own per use: flock locks belong to the open file, so two threads sharing
    one descriptor would not exclude each other.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # 0600 at most, whatever the umask
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class Store:
    """The operational store. ``read()`` and ``write()`` give a connection inside a transaction."""

    def __init__(self, url: str, *, key_file: Path | None = None, pool_size: int | None = None) -> None:
        self.url = url
        # pool_size=1 for the entry kernels: each serves one clinician, one statement at a time. With
        # the default pool a kernel could keep several connections open, and 100 clinicians on two
        # hosts ran PostgreSQL out of connections (max_connections 100: "too many clients already";
        # docs/deployment.md). A connection per use instead was measured too: it made saves under
        # load 10 times slower (a PostgreSQL backend started for every statement).
        self.engine = make_engine(url, pool_size=pool_size)
        # The pseudonymisation key (``pseudonym_key_file``), kept outside the store: tombstones of
        # erased citizens hold a keyed hash of the CPR number, and every writer of citizens checks
        # new numbers against them (citizen_erasure.py). None: not known (a bare store in a test).
        self.key_file = key_file
        # SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps
        # 1, 2, 5, 10, 15 ... ms between tries, so with eight writers a save could wait 18 ms for
        # a lock that was free after 1. Queueing on a file lock wakes the next writer as soon as
        # the lock is released. (PostgreSQL queues writers itself.)
        parsed = make_url(url)
        self._write_lock: Path | None = None
        if (
            parsed.get_backend_name() == "sqlite"
            and parsed.database
            and parsed.database != ":memory:"
            and fcntl is not None
        ):
            self._write_lock = Path(parsed.database).with_name(Path(parsed.database).name + "-writelock")
        # SQLite: a save's statements run on the driver's cursor (StoreSession.rows and .writes),
        # where SQLAlchemy's own execution cost more CPU than SQLite's work (issue 17).
        self.driver: Driver | None = Driver(self.engine.dialect) if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def describe(self) -> str:
        """The URL without a password, for logs and snapshot metadata."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with _file_lock(self._write_lock) if self._write_lock else nullcontext(), self.engine.connect() as conn:
            conn = conn.execution_options(hjertekom_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def session(self) -> Iterator[StoreSession]:
        """One pooled connection for several transactions in a row (a save's read, then its
        write): one checkout from the pool, and on PostgreSQL one liveness ping, instead of one
        per transaction. The transactions are the same as ``read()``'s and ``write()``'s."""
        with self.engine.connect() as conn:
            yield StoreSession(self, conn)

    # --- migrations ------------------------------------------------------------------------------
    # Alembic is imported only here: entry-app kernels and CLI reads never migrate.
    def _alembic_config(self, conn: Connection):  # type: ignore[no-untyped-def]
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        return cfg

    def migrate(self) -> str:
        """Create or upgrade the schema to the newest migration; returns the revision."""
        from alembic import command

        with self.write() as conn:
            command.upgrade(self._alembic_config(conn), "head")
        return self.schema_revision() or ""

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory(str(MIGRATIONS_DIR))
        return script.get_current_head() or ""

    def dispose(self) -> None:
        self.engine.dispose()


def _can_autocommit(conn: Connection) -> bool:
    """A PostgreSQL connection (psycopg) outside a transaction: one statement can run in autocommit."""
    return (conn.dialect.name == "postgresql" and conn.connection.driver_connection is not None
            and not conn.in_transaction())


@contextmanager
def _autocommit(conn: Connection) -> Iterator[Connection]:
    """``conn`` in autocommit for one statement (psycopg: no BEGIN before it, no COMMIT after it)."""
    driver = conn.connection.driver_connection
    driver.autocommit = True
    try:
        with conn.begin():
            yield conn
    finally:
        _end_autocommit(conn, driver)


def _end_autocommit(conn: Connection, driver: Any) -> None:  # noqa: ANN401 - the driver's connection
    """Back to transactions after a statement in autocommit. A connection the driver will not
    switch back (broken meanwhile) is invalidated, never handed back to the pool in autocommit;
    the statement's own error, if any, is what the caller sees."""
    try:
        driver.autocommit = False
    except Exception:  # noqa: BLE001
        log.warning("a connection could not leave autocommit; it is discarded", exc_info=True)
        conn.invalidate()


#: Runs one statement with its parameters inside ``StoreSession.writes()``.
Execute = Callable[[Executable, Mapping[str, Any]], None]
_BEGIN_IMMEDIATE = text("BEGIN IMMEDIATE")


class StoreSession:
    """Transactions one after another on one connection (see ``Store.session``)."""

    def __init__(self, store: Store, conn: Connection) -> None:
        self._store = store
        self._conn = conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._conn.begin():
            yield self._conn

    @property
    def dialect(self) -> str:
        return self._conn.dialect.name

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """For ONE statement that only reads: run without a transaction around it. A single
        statement sees one consistent state of the store by itself (SQLite runs it in an implicit
        read transaction of its own, PostgreSQL in a snapshot of its own), so the result is what
        ``read()`` gives, without the BEGIN and COMMIT: on PostgreSQL two round trips fewer.
        A save reads its course so (issue 17). More than one statement needs ``read()``."""
        conn = self._conn
        if conn.dialect.name == "sqlite":
            # pysqlite is in autocommit mode (isolation_level None) and BEGIN comes from our
            # "begin" listener, which this option skips; its commit() is then a no-op.
            conn.execution_options(hjertekom_one_statement=True)
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.execution_options(hjertekom_one_statement=False)
            return
        if not _can_autocommit(conn):
            with conn.begin():  # anything else: an ordinary read transaction
                yield conn
            return
        with _autocommit(conn):
            yield conn

    def rows(self, statement: Select[Any], params: Mapping[str, Any]) -> Sequence[Any]:
        """Every row of ONE statement that only reads, run as ``statement()`` runs it (no transaction
        around it). On SQLite on the driver's cursor (store/driver.py): the same rows, named and
        converted as SQLAlchemy's, at about two thirds of its CPU (one save's course: 0.027
        against 0.040 ms)."""
        driver = self._store.driver
        if driver is not None and not self._conn.in_transaction():
            cursor = driver.cursor(self._conn)
            try:
                return cursor.all(statement, params)
            finally:
                cursor.close()
        with self.statement() as conn:
            return conn.execute(statement, params).all()

    @contextmanager
    def writes(self) -> Iterator[Execute]:
        """``write()``'s transaction for statements without rows, each run by the function given.
        On SQLite the file lock, BEGIN IMMEDIATE, the statements and COMMIT (ROLLBACK on an error)
        run on the driver's cursor, as ``write()`` runs them through SQLAlchemy."""
        driver, conn = self._store.driver, self._conn
        if driver is None or conn.in_transaction():
            with self.write() as written:

                def execute(statement: Executable, params: Mapping[str, Any]) -> None:
                    written.execute(statement, params)

                yield execute
            return
        lock = self._store._write_lock
        with _file_lock(lock) if lock else nullcontext():
            cursor = driver.cursor(conn)
            try:
                cursor.run(_BEGIN_IMMEDIATE, {})
                try:
                    yield cursor.run
                    cursor.commit()
                except BaseException:
                    cursor.rollback()  # a no-op when the COMMIT itself ended the transaction
                    raise
            finally:
                cursor.close()

    @contextmanager
    def write_statement(self) -> Iterator[Connection]:
        """For ONE statement that writes: on PostgreSQL it runs as a transaction of its own
        (autocommit: all of it or, on an error, nothing), without the BEGIN and COMMIT round trips;
        elsewhere this is ``write()``. A save writes its revision and audit row so (issue 17)."""
        conn = self._conn
        if not _can_autocommit(conn):
            with self.write() as conn:
                yield conn
            return
        with _autocommit(conn):
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        lock = self._store._write_lock
        with _file_lock(lock) if lock else nullcontext():
            # execution_options changes the connection in place (SQLAlchemy 2): set for this
            # transaction's BEGIN (IMMEDIATE on SQLite) and taken back after it.
            self._conn.execution_options(hjertekom_write=True)
            try:
                with self._conn.begin():
                    yield self._conn
            finally:
                self._conn.execution_options(hjertekom_write=False)
