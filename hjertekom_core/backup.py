"""Backing up and restoring the operational store while the workbench keeps running.

- SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies the store in one step
  inside a read transaction, so the copy is the store as it was when the backup began, whatever
  is written meanwhile (WAL lets the writers go on). The copy is written 0600 under a temporary
  name, checked (``PRAGMA integrity_check``) and renamed into place.
- PostgreSQL: ``pg_dump --format=custom`` (one repeatable-read snapshot). The connection details
  reach pg_dump and pg_restore through the environment (PGHOST, PGUSER, PGPASSWORD, ...), never
  the command line, where every local account could read them in ``ps``.

Restoring refuses a store that holds data unless ``force``. SQLite: the backup is copied into a
0600 temporary beside the store and checked, then put in place with an atomic rename while no
process has the store open (checked through SQLite's own lock on the ``-shm`` file; stop
``hjertekom serve`` first); the store it replaces is kept beside it as ``<name>.replaced-<time>``.
PostgreSQL: ``pg_restore --clean --if-exists`` into the configured database, in one transaction.
Both end with a check (``integrity_check`` and ``foreign_key_check``, or a query of every table)
and report the schema revision.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import sqlite3
import subprocess  # noqa: S404 - pg_dump and pg_restore, with argument lists, never a shell
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from sqlalchemy import inspect, select, text
from sqlalchemy import func as sa_func
from sqlalchemy.engine import URL, make_url

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.audit_report import audit_safe_hex
from hjertekom_core.errors import HjerteKomError
from hjertekom_core.private_files import create_private_file, private_dir, private_temp_file
from hjertekom_core.store import Store
from hjertekom_core.store.engine import SQLITE_COMPANIONS

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None

#: The tables whose rows make a store "hold data" (a restore over them needs --force). Not the
#: audit log: every command records its start there (software.start), even in a new store.
DATA_TABLES = ("users", "citizens", "courses", "registrations")
#: The byte of SQLite's ``-shm`` file on which every open connection holds a shared lock
#: (os_unix.c: UNIX_SHM_DMS = (22 + SQLITE_SHM_NLOCK) * 4 + SQLITE_SHM_NLOCK = 128).
_SHM_DMS_BYTE = 128


class BackupError(HjerteKomError):
    """A backup or restore that could not be done; nothing was changed (the message says why)."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    backend: str
    size: int
    sha256: str
    schema_revision: str | None

    def describe(self) -> str:
        return (f"Backup of the {self.backend} store written to {self.path} ({self.size:,} bytes, schema "
                f"{self.schema_revision}, sha256 {self.sha256})")


@dataclass(frozen=True)
class RestoreResult:
    backend: str
    source: Path
    schema_revision: str | None
    check: str
    replaced: Path | None  # SQLite: where the store that was replaced was kept

    def describe(self) -> str:
        kept = f"; the store it replaced is kept as {self.replaced}" if self.replaced else ""
        return f"Restored {self.source} into the {self.backend} store: {self.check}, schema {self.schema_revision}{kept}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError(f"cannot back up or restore the SQLite store {url.database!r}: a file path is needed")
    return Path(url.database)


def _revision_of_sqlite(path: Path) -> str | None:
    with _sqlite(path, read_only=True) as con:
        try:
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            return None
    return row[0] if row else None


@contextmanager
def _sqlite(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    con = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        yield con
    finally:
        con.close()


def check_sqlite(path: Path) -> str:
    """``PRAGMA integrity_check`` and ``foreign_key_check`` of a SQLite file: "ok", or BackupError."""
    with _sqlite(path, read_only=True) as con:
        try:
            problems = [r[0] for r in con.execute("PRAGMA integrity_check")]
            broken_keys = con.execute("PRAGMA foreign_key_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path.name} is not a readable SQLite store: {exc}") from None
    if problems != ["ok"]:
        raise BackupError(f"integrity check of {path.name} failed: {'; '.join(problems[:5])}")
    if broken_keys:
        raise BackupError(f"foreign key check of {path.name} failed: {len(broken_keys)} row(s)")
    return "integrity_check ok, foreign_key_check ok"


# --- PostgreSQL: pg_dump and pg_restore ----------------------------------------------------------------

#: URL query parameters libpq also takes from the environment.
_PG_QUERY_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
                 "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME"}


def pg_environment(url: str | URL, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that points libpq's tools at ``url``: host, port, user, password and database
    as PG* variables (so that no secret stands on a command line), on top of ``base``."""
    parsed = make_url(url) if isinstance(url, str) else url
    env = {k: v for k, v in (base if base is not None else os.environ).items() if not k.startswith("PG")}
    values = {"PGHOST": parsed.host, "PGPORT": parsed.port, "PGUSER": parsed.username,
              "PGPASSWORD": parsed.password, "PGDATABASE": parsed.database}
    env.update({k: str(v) for k, v in values.items() if v not in (None, "")})
    for key, name in _PG_QUERY_ENV.items():
        if key in parsed.query:
            value = parsed.query[key]
            env[name] = value if isinstance(value, str) else value[-1]
    return env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed: on Debian, apt-get install postgresql-client "
                          "(of the server's major version or newer)")
    return found


def _run_pg(args: list[str], url: URL, what: str) -> None:
    done = subprocess.run(args, env=pg_environment(url), capture_output=True, text=True, check=False,  # noqa: S603
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise BackupError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


# --- backup --------------------------------------------------------------------------------------------


def backup(store: Store, out: Path, *, actor: User | None = None) -> BackupResult:
    """Write a consistent copy of the running store to ``out`` (0600; missing folders 0700), audited
    as ``store.backup`` in the store (with the file's name and checksum) when ``actor`` is given."""
    out = Path(out)
    private_dir(out.parent, tighten=False)
    url = make_url(store.url)
    backend = url.get_backend_name()
    with private_temp_file(out) as tmp:
        if backend == "sqlite":
            source = _sqlite_path(url)
            if not source.exists():
                raise BackupError(f"the store {source} does not exist")
            with _sqlite(source) as src, _sqlite(tmp) as dst:
                src.backup(dst)  # all pages in one step: one read transaction, a consistent copy
                dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal
            check_sqlite(tmp)
            revision = _revision_of_sqlite(tmp)
        elif backend == "postgresql":
            _run_pg([_pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={tmp}"], url, "pg_dump")
            revision = store.schema_revision()
        else:
            raise BackupError(f"backups of {backend} stores are not supported")
        os.replace(tmp, out)
    result = BackupResult(out, backend, out.stat().st_size, sha256_of(out), revision)
    if actor is not None:
        with store.write() as conn:
            audit.record(conn, actor, "store.backup", "store", None, None,
                         {"file": out.name, "sha256": audit_safe_hex(result.sha256), "bytes": result.size, "backend": backend,
                          "schema": revision})
    return result


# --- restore -------------------------------------------------------------------------------------------


def holds_data(store: Store) -> bool:
    """Whether any of DATA_TABLES exists with a row in it."""
    with store.read() as conn:
        present = set(inspect(conn).get_table_names())
        for table in DATA_TABLES:
            if table in present and conn.execute(select(sa_func.count()).select_from(text(table))).scalar():
                return True
    return False


def sqlite_in_use(path: Path) -> bool:
    """Whether another process has the SQLite store open: every connection holds a shared lock on
    one byte of the ``-shm`` file (WAL mode). Call it with no connection of this process open:
    POSIX locks are per process, and closing our descriptor would drop SQLite's own locks."""
    shm = path.with_name(path.name + "-shm")
    if fcntl is None or not shm.exists():
        return False
    fd = os.open(shm, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)


def restore(store: Store, source: Path, *, force: bool = False, actor: User | None = None) -> RestoreResult:
    """Put the backup ``source`` in place of the configured store (see the module docstring).

    Refuses (BackupError, nothing changed) a store that holds data unless ``force``, a SQLite store
    that another process has open, and a backup that fails its check. Audited in the restored
    store as ``store.restore`` when ``actor`` is given.
    """
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    url = make_url(store.url)
    backend = url.get_backend_name()
    if holds_data(store) and not force:
        raise BackupError(f"the store {store.describe()} holds data; restoring would replace it. "
                          "Give --force to replace it (a SQLite store is kept beside it).")
    store.dispose()  # no connection of ours may stay open (see sqlite_in_use)
    replaced: Path | None = None
    if backend == "sqlite":
        replaced, check = _restore_sqlite(_sqlite_path(url), source)
    elif backend == "postgresql":
        _run_pg([_pg_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction", "--no-owner",
                 "--exit-on-error", "--no-password", f"--dbname={url.database}", str(source)], url, "pg_restore")
        check = _check_postgres(store)
    else:
        raise BackupError(f"restoring {backend} stores is not supported")
    revision = store.schema_revision()
    if actor is not None:
        with store.write() as conn:
            audit.record(conn, actor, "store.restore", "store", None, None,
                         {"file": source.name, "sha256": audit_safe_hex(sha256_of(source)), "backend": backend, "schema": revision})
    return RestoreResult(backend, source, revision, check, replaced)


def _restore_sqlite(target: Path, source: Path) -> tuple[Path | None, str]:
    if sqlite_in_use(target):
        raise BackupError(f"the store {target} is open in another process (hjertekom serve, a kernel, a "
                          "command): stop it before restoring")
    private_dir(target.parent, tighten=False)
    with private_temp_file(target) as tmp:
        with _sqlite(source, read_only=True) as src, _sqlite(tmp) as dst:
            try:
                src.backup(dst)
            except sqlite3.DatabaseError as exc:
                raise BackupError(f"{source.name} is not a SQLite backup: {exc}") from None
            dst.execute("PRAGMA journal_mode=WAL")  # as the store runs
        check = check_sqlite(tmp)
        replaced = None
        if target.exists() and target.stat().st_size > 0:
            # Fold a WAL left behind into the old store before it is moved aside, so that it is
            # complete, and so that no old WAL can ever be applied to the restored file.
            with _sqlite(target) as old:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                old.execute("PRAGMA journal_mode=DELETE")
            replaced = target.with_name(f"{target.name}.replaced-{dt.datetime.now():%Y%m%dT%H%M%S}")
            os.replace(target, replaced)
        for suffix in SQLITE_COMPANIONS[:3]:  # -wal, -shm, -journal of the old store
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(tmp, target)
    create_private_file(target)  # 0600 (it is; a no-op that says so)
    return replaced, check


def _check_postgres(store: Store) -> str:
    """Every table of the restored database answers a count (the dump's data is readable)."""
    with store.read() as conn:
        tables = inspect(conn).get_table_names()
        rows = sum(conn.execute(select(sa_func.count()).select_from(text(f'"{t}"'))).scalar_one() for t in tables)
    return f"{len(tables)} tables readable, {rows:,} rows"
