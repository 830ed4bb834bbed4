"""Backups of a running store and restoring them, for real on SQLite and PostgreSQL: a backup taken
while clinicians save holds every revision committed before it began, and nothing half-written."""
from __future__ import annotations

import itertools
import os
import random
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from factories import course_data, start_data
from hjertekom_core.access import SYSTEM
from hjertekom_core.backup import BackupError, backup, pg_environment, restore, sqlite_in_use
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, registrations

from factories import TEST_PASSWORD
from paths import PG_URL

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))
WRITERS = 3


@pytest.fixture
def fresh_store(store: Store, tmp_path: Path) -> Iterator[Store]:
    """An empty place on the same backend to restore into (a new file, or a new database)."""
    if store.dialect == "sqlite":
        fresh = Store(f"sqlite:///{tmp_path / 'restored' / 'hjertekom.sqlite'}")
        yield fresh
        fresh.dispose()
        return
    name = f"hjertekom_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = Store(make_url(store.url).set(database=name).render_as_string(hide_password=False))
    try:
        yield fresh
    finally:
        fresh.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _courses(service: Service, n: int) -> list[int]:
    ids, rng = [], random.Random()
    for i in range(n):
        citizen = service.create_citizen(generate_cpr(rng), f"Backup Borger {i}", 740)
        ids.append(service.open_course(citizen.id, course_data(municipality=740)).course_id)
    return ids


def _revisions(store: Store) -> set[tuple[int, str, int]]:
    with store.read() as conn:
        return {(r.course_id, r.form, r.revision) for r in conn.execute(
            select(registrations.c.course_id, registrations.c.form, registrations.c.revision))}


@pytest.mark.slow
def test_a_backup_taken_during_saves_holds_every_revision_committed_before_it(
        store: Store, fresh_store: Store, contracts: ContractRegistry, tmp_path: Path) -> None:
    service = Service(store, contracts, SYSTEM)
    course_ids = _courses(service, WRITERS)
    committed: list[tuple[float, tuple[int, str, int]]] = []  # (monotonic time the save returned, revision)
    errors: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def write(course_id: int) -> None:
        own = Service(store, contracts, SYSTEM)
        try:
            for n in itertools.count(1):
                if stop.is_set():
                    return
                done = own.save_draft(course_id, "start", start_data(weight_kg=f"{80 + n % 40},5"), n - 1)
                with lock:
                    committed.append((time.monotonic(), (course_id, "start", done.revision)))
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c,)) for c in course_ids]
    for t in threads:
        t.start()
    try:
        while len(committed) < 30 and not errors:  # writers are well under way
            time.sleep(0.01)
        started = time.monotonic()
        result = backup(store, tmp_path / "backups" / "store.backup", actor=SYSTEM)
        finished = time.monotonic()
        while not errors and sum(1 for at, _ in committed if at > finished) < 10:  # and go on afterwards
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.path.parent.stat().st_mode) == 0o700

    outcome = restore(fresh_store, result.path)
    assert outcome.schema_revision == store.head_revision()
    assert "ok" in outcome.check or "readable" in outcome.check
    restored = _revisions(fresh_store)
    before = {rev for at, rev in committed if at < started}
    every = {rev for _, rev in committed}
    assert before <= restored, f"{len(before - restored)} revisions committed before the backup are missing"
    assert restored - {(c, "course", 1) for c in course_ids} <= every  # nothing that was never committed
    by_form: dict[tuple[int, str], list[int]] = defaultdict(list)
    for course_id, form, revision in restored:
        by_form[(course_id, form)].append(revision)
    for key, revisions in by_form.items():  # a consistent cut: revisions 1..n, no gap
        assert sorted(revisions) == list(range(1, len(revisions) + 1)), key
    with fresh_store.read() as conn:  # every save's audit entry came with it, and no other
        saves = conn.execute(select(audit_log.c.entity_id).where(audit_log.c.action == "registration.save")).all()
    assert len(saves) == len(restored)  # one entry per revision, the course form included
    with store.read() as conn:
        assert conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "store.backup")).scalar_one()


def test_restore_refuses_a_store_with_data_unless_forced_and_keeps_the_one_it_replaced(
        sqlite_store: Store, contracts: ContractRegistry, tmp_path: Path) -> None:
    service = Service(sqlite_store, contracts, SYSTEM)
    _courses(service, 1)
    made = backup(sqlite_store, tmp_path / "one.backup")
    _courses(service, 2)  # the store moves on after the backup
    with pytest.raises(BackupError, match="holds data"):
        restore(sqlite_store, made.path)
    assert len(_revisions(sqlite_store)) == 3
    done = restore(sqlite_store, made.path, force=True, actor=SYSTEM)
    assert len(_revisions(sqlite_store)) == 1
    assert done.replaced is not None and stat.S_IMODE(done.replaced.stat().st_mode) == 0o600
    kept = Store(f"sqlite:///{done.replaced}")
    try:
        assert len(_revisions(kept)) == 3
    finally:
        kept.dispose()
    with sqlite_store.read() as conn:
        assert conn.execute(select(audit_log.c.action).order_by(audit_log.c.id.desc())).first()[0] == "store.restore"


def test_restore_refuses_a_sqlite_store_another_process_has_open(sqlite_store: Store, tmp_path: Path) -> None:
    made = backup(sqlite_store, tmp_path / "one.backup")
    path = Path(make_url(sqlite_store.url).database)
    sqlite_store.dispose()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"con = sqlite3.connect({str(path)!r}); con.execute('select count(*) from users').fetchall()\n"
        "print('open', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert sqlite_in_use(path)
        with pytest.raises(BackupError, match="open in another process"):
            restore(sqlite_store, made.path, force=True)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert not sqlite_in_use(path)
    restore(sqlite_store, made.path, force=True)


def test_a_broken_backup_is_refused_and_the_store_is_left_alone(sqlite_store: Store, tmp_path: Path) -> None:
    broken = tmp_path / "broken.backup"
    broken.write_bytes(b"SQLite format 3\x00" + os.urandom(5000))
    with pytest.raises(BackupError):
        restore(sqlite_store, broken, force=True)
    assert sqlite_store.schema_revision() == sqlite_store.head_revision()


def test_postgresql_credentials_reach_the_tools_through_the_environment_only() -> None:
    env = pg_environment("postgresql+psycopg://hk:s3cret%21@db.example:6543/hjertekom?sslmode=require",
                         base={"PATH": "/usr/bin", "PGPASSWORD": "stale"})
    assert env == {"PATH": "/usr/bin", "PGHOST": "db.example", "PGPORT": "6543", "PGUSER": "hk",
                   "PGPASSWORD": "s3cret!", "PGDATABASE": "hjertekom", "PGSSLMODE": "require"}


@pytest.mark.slow
def test_the_command_line_backs_up_and_restores_into_a_fresh_place(tmp_path: Path) -> None:
    def run(data: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
        env.update({"HJERTEKOM_DATA_DIR": str(tmp_path / data), "HJERTEKOM_NEW_PASSWORD": TEST_PASSWORD})
        done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert (done.returncode == 0) == ok, done.stderr
        return done

    run("var", "init")
    run("var", "users", "add", "anne", "--role", "clinician", "-m", "740")
    made = run("var", "backup", "--out", str(tmp_path / "b" / "hk.backup")).stdout
    assert "schema 0013" in made and "sha256" in made
    assert stat.S_IMODE((tmp_path / "b" / "hk.backup").stat().st_mode) == 0o600
    restored = run("elsewhere", "restore", str(tmp_path / "b" / "hk.backup")).stdout
    assert "integrity_check ok" in restored and "schema 0013" in restored
    assert "anne" in run("elsewhere", "users", "list").stdout
    refused = run("elsewhere", "restore", str(tmp_path / "b" / "hk.backup"), ok=False)
    assert "holds data" in refused.stderr and "--force" in refused.stderr and "Traceback" not in refused.stderr
