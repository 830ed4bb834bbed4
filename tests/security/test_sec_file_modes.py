"""Files with personal data are the owner's alone, whatever the umask of whoever runs the workbench.

An auditor's check, done the auditor's way: run the commands a data owner runs (init, demo data,
identified and pseudonymised snapshots with Parquet, a DHRD transfer, individual extracts, a
citizen sheet) under umask 000, then walk every file and folder they made: folders must be 0700,
files 0600. A umask only takes permissions away, so what is private under 000 is private under
every umask; the cheaper tests below also run under the usual 022. A snapshot killed half-way must not leave a readable file
behind, and the next snapshot run tidies up what it left.
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hjertekom_core.store import Store

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process umask for the test (children inherit it), restored afterwards."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def run(cwd: Path, data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
    env["HJERTEKOM_DATA_DIR"] = str(data_dir)
    done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=env, cwd=cwd,  # noqa: S603 - our command
                          timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"hjertekom {' '.join(args)}: {done.stderr}"
    return done.stdout


def offenders(*roots: Path) -> list[str]:
    """Every folder not 0700 and every file not 0600 at or below ``roots``, with its mode."""
    found = []
    for root in roots:
        entries = [root, *root.rglob("*")] if root.is_dir() else [root]
        for path in entries:
            info = path.lstat()
            want = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
            if stat.S_IMODE(info.st_mode) != want:
                found.append(f"{path} {stat.S_IMODE(info.st_mode):04o} (want {want:04o})")
    return found


def last_month() -> str:
    return (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


@pytest.mark.slow
@pytest.mark.parametrize("umask", [0o000], indirect=True, ids=["umask000"])
def test_everything_the_data_owner_writes_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)  # an existing data folder, as an older version left it
    os.chmod(data_dir, 0o755)  # noqa: S103 - the loose mode to be tightened
    run(tmp_path, data_dir, "init")
    run(tmp_path, data_dir, "demo", "--citizens", "40", "--no-users")
    run(tmp_path, data_dir, "snapshot", "--parquet")
    run(tmp_path, data_dir, "snapshot", "--pseudonymise", "--parquet")
    transfers = tmp_path / "outbox"  # an outbox the export makes itself
    run(tmp_path, data_dir, "export", "dhrd", "--month", last_month(), "--out", str(transfers))
    with sqlite3.connect(f"file:{data_dir / 'hjertekom.sqlite'}?mode=ro", uri=True) as con:
        code, course = con.execute(
            "SELECT c.municipality_code, min(c.id) FROM courses c JOIN registrations r ON r.course_id = c.id "
            "AND r.form = 'start' GROUP BY c.municipality_code ORDER BY count(*) DESC LIMIT 1").fetchone()
    con.close()
    for fmt in ("csv", "xlsx", "parquet"):
        run(tmp_path, data_dir, "extract", "-m", str(code), "--level", "individual", "--format", fmt)
    sheets = tmp_path / "sheets"  # a folder that does not exist yet: made private
    run(tmp_path, data_dir, "report", "citizen", "--course", str(course), "--out", str(sheets / "citizen.html"))
    run(tmp_path, data_dir, "report", "summary", "--course", str(course))  # into the (shared) working folder

    # The store as it is while in use: its WAL and shared-memory files exist only then.
    store = Store(f"sqlite:///{data_dir / 'hjertekom.sqlite'}")
    try:
        with store.write() as conn:
            conn.exec_driver_sql("UPDATE municipalities SET name = name WHERE code = 101")
        with store.read() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM citizens").fetchall()
            present = {p.name for p in data_dir.iterdir()}
            assert {"hjertekom.sqlite-wal", "hjertekom.sqlite-shm"} <= present, present
            bad = offenders(*tmp_path.iterdir())  # all the commands made, wherever they put it
    finally:
        store.dispose()

    made = {p.relative_to(data_dir).parts[0] for p in data_dir.rglob("*")}
    assert {"hjertekom.log", "hjertekom.sqlite", "pseudonym.key", "snapshots", "extracts"} <= made
    assert list(transfers.glob("dhrd-*/dhrd_*.csv")) and list((data_dir / "extracts").glob("*.xlsx"))
    assert list((data_dir / "snapshots").glob("*_parquet/*.parquet"))
    assert list(tmp_path.rglob("*-pseudo_parquet/*.parquet"))  # where research snapshots go
    assert (sheets / "citizen.html").is_file() and (tmp_path / f"summary-{course}.html").is_file()
    assert not bad, f"umask {umask:03o}: not private:\n" + "\n".join(bad)


CRASHING_SNAPSHOT = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from hjertekom_core.bootstrap import open_workspace
    from hjertekom_core.config import Config
    from hjertekom_core.snapshot import writer

    built = writer.build_tables

    def build_then_die(*args, **kwargs):
        result = built(*args, **kwargs)
        os._exit(9)  # as if killed half-way: no finally block, no clean-up

    writer.build_tables = build_then_die
    ws = open_workspace(Config(data_dir=Path(sys.argv[1])))
    writer.create_snapshot(ws.store, ws.contracts, Path(sys.argv[1]) / "snapshots")
""")


def hidden(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_snapshot_leaves_nothing_readable_and_the_next_run_removes_it(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "var"
    run(tmp_path, data_dir, "demo", "--citizens", "10", "--no-users")
    snapshots = data_dir / "snapshots"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
    died = subprocess.run([sys.executable, "-c", CRASHING_SNAPSHOT, str(data_dir)], env=env, cwd=tmp_path,  # noqa: S603
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == 9, died.stderr
    left = hidden(snapshots)
    assert left, "the killed writer left its unfinished file"
    bad = offenders(*left)
    assert not bad, f"umask {umask:03o}: an unfinished snapshot is readable by others:\n" + "\n".join(bad)

    # A temporary file as an older version left it: world-readable, next to its WAL.
    legacy = snapshots / ".snapshot-20250101T000000.0123456789abcdef.tmp"
    legacy.write_bytes(b"DUCK")
    legacy.with_name(legacy.name + ".wal").write_bytes(b"WAL")
    a_while_ago = time.time() - 3600  # the writers are long gone
    for path in hidden(snapshots):
        os.utime(path, (a_while_ago, a_while_ago))

    run(tmp_path, data_dir, "snapshot")
    assert hidden(snapshots) == [], "the next snapshot run removes what interrupted runs left"
    assert len(list(snapshots.glob("snapshot-*.duckdb"))) == 1


def test_a_snapshot_being_written_by_another_process_is_left_alone(tmp_path: Path, umask: int) -> None:
    """Clean-up must not take a running writer's file: only files no process holds any more go."""
    from hjertekom_core.private_files import private_temp_dir, remove_stale_temporaries

    folder = tmp_path / "snapshots"
    with private_temp_dir(folder, "snapshot-20250101T000000") as busy:
        assert stat.S_IMODE(busy.stat().st_mode) == 0o700
        a_while_ago = time.time() - 3600
        os.utime(busy, (a_while_ago, a_while_ago))
        assert remove_stale_temporaries(folder, ".snapshot-*.tmp") == []
        assert busy.exists()
    assert not busy.exists()
