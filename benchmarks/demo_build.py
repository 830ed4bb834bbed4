"""Demo data: ``hjertekom demo --citizens N --seed S --no-users`` into a fresh data folder, against
a bare executemany of the same rows.

Timed: the whole command, run as a subprocess with the venv's ``hjertekom`` executable and
HJERTEKOM_DATA_DIR pointing at a new, empty folder (so the embedded SQLite store; start-up,
``initialise`` and generation all count, as for a user). Target: <= 60 s for 100 000 citizens.

Baseline, in the same run: the rows the demo produced (every table it filled except the
municipalities and alembic_version: citizens, courses, registrations, audit log, ...) read back
before the clock starts, then inserted with the standard library's sqlite3 ``executemany`` into a
fresh, migrated store with the same PRAGMAs as the Store (WAL, synchronous=NORMAL, foreign keys
on), in one transaction. That is the cost of just writing the data; the ratio is what generating
and validating it costs on top. If the demo fails, the baseline inserts synthetic rows (one
course with course/start/end registrations per citizen, from tests/factories.py) and the demo row
says why it failed. ``hjertekom init`` in another fresh folder is shown too: the fixed part
(interpreter and import start-up, migrations) that any run of the command pays.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CONTRACTS_DIR, machine_line, print_table, ratio

NAME = "demo"
TARGET_S = 60.0
TARGET_CITIZENS = 100_000
SKIP_TABLES = ("municipalities", "alembic_version")
TABLE_ORDER = ("users", "user_municipalities", "citizens", "courses", "registrations", "audit_log")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--citizens", type=int, default=None,
                       help=f"citizens for the demo (default: {TARGET_CITIZENS}; 2000 with --quick)")
    group.add_argument("--demo-timeout", type=float, default=1800, help="give up on the demo after this many s")


def hjertekom_executable() -> Path:
    return Path(sys.executable).with_name("hjertekom")


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
    env["HJERTEKOM_DATA_DIR"] = str(data_dir)
    return env


def _run_cli(args: list[str], folder: Path, timeout: float) -> tuple[float, subprocess.CompletedProcess[str] | str]:
    """Seconds and the finished process (or why it could not run), in a fresh data folder."""
    data_dir = folder / "data"
    work = folder / "cwd"  # no hjertekom.toml here, so only the environment configures the run
    work.mkdir(parents=True)
    exe = hjertekom_executable()
    if not exe.exists():
        return float("nan"), f"{exe} not found (is the project installed in this venv?)"
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([str(exe), *args], cwd=work, env=_env(data_dir), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, f"timed out after {timeout:.0f} s"
    return time.perf_counter() - t0, proc


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join("    " + ln for ln in text.strip().splitlines()[-lines:])


# --- pre-made rows ---------------------------------------------------------------------------------

Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def rows_of(sqlite_file: Path) -> Rows:
    """Every row of every table except municipalities/alembic_version, in insertion order."""
    conn = sqlite3.connect(sqlite_file)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
        out: Rows = {}
        for table in sorted((t for t in tables if t not in SKIP_TABLES),
                            key=lambda t: TABLE_ORDER.index(t) if t in TABLE_ORDER else len(TABLE_ORDER)):
            cur = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
            rows = cur.fetchall()
            if rows:
                out[table] = ([d[0] for d in cur.description], rows)
        return out
    finally:
        conn.close()


def synthetic_rows(n_citizens: int, seed: int) -> Rows:
    """One citizen, one course and complete course/start/end registrations per citizen."""
    from hjertekom_core.contract import ContractRegistry
    from hjertekom_core.cpr import generate_cpr, parse_cpr
    from hjertekom_core.validation import validate_form
    from tests.factories import course_data, end_data, start_data

    contract = ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])["hjertekom"]
    today = dt.date(2025, 6, 1)
    cleaned: dict[str, dict[str, Any]] = {}
    for form, data in (("course", course_data()), ("start", start_data()), ("end", end_data())):
        cleaned[form] = validate_form(contract, form, data, context=dict(cleaned), complete=True, today=today).cleaned
    payload = {f: json.dumps(d, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for f, d in cleaned.items()}
    rng = random.Random(seed)
    stamp = "2025-06-01 12:00:00.000000"
    seen: set[str] = set()
    citizens, courses, regs = [], [], []
    for i in range(1, n_citizens + 1):
        cpr = generate_cpr(rng)
        while cpr in seen:
            cpr = generate_cpr(rng)
        seen.add(cpr)
        info = parse_cpr(cpr)
        citizens.append((i, cpr, f"Borger {i}", info.birth_date.isoformat(), info.sex, 740, stamp, None))
        courses.append((i, i, "hjertekom", 740, stamp, None))
        for form in ("course", "start", "end"):
            regs.append((len(regs) + 1, i, form, 1, "complete", payload[form], contract.version, None, stamp))
    return {
        "citizens": (["id", "cpr", "name", "birth_date", "sex", "municipality_code", "created_at", "created_by"],
                     citizens),
        "courses": (["id", "citizen_id", "programme", "municipality_code", "created_at", "created_by"], courses),
        "registrations": (["id", "course_id", "form", "revision", "status", "data", "contract_version", "user_id",
                           "saved_at"], regs),
    }


def bare_insert(rows: Rows, folder: Path) -> float:
    """Seconds to executemany ``rows`` into a fresh, migrated store (one transaction)."""
    from hjertekom_core.bootstrap import sync_municipalities
    from hjertekom_core.contract import ContractRegistry
    from hjertekom_core.store import Store

    path = folder / "baseline.sqlite"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    sync_municipalities(store, ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"]))
    store.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for table, (columns, values) in rows.items():
        names = ", ".join(f'"{c}"' for c in columns)
        conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', values)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


# --- the benchmark ---------------------------------------------------------------------------------

def run(options: argparse.Namespace) -> bool:
    n = options.citizens or (2000 if options.quick else TARGET_CITIZENS)
    seed = options.seed
    command = ["demo", "--citizens", str(n), "--seed", str(seed), "--no-users"]
    print(f"\n== demo: hjertekom {' '.join(command)} into a fresh data folder (SQLite) ==")
    print(machine_line())
    root = Path(tempfile.mkdtemp(prefix="hjertekom_bench_demo_"))
    try:
        init_s, init_proc = _run_cli(["init"], root / "init", options.demo_timeout)
        demo_s, demo_proc = _run_cli(command, root / "demo", options.demo_timeout)
        demo_error = None
        if isinstance(demo_proc, str):
            demo_error = demo_proc
        elif demo_proc.returncode != 0:
            demo_error = f"exit code {demo_proc.returncode}:\n{_tail(demo_proc.stderr or demo_proc.stdout)}"
        if demo_error is None:
            rows = rows_of(root / "demo" / "data" / "hjertekom.sqlite")
            source = "the demo's own rows, read back"
        else:
            rows = synthetic_rows(n, seed)
            source = "synthetic rows (the demo did not run): 1 course + 3 registrations per citizen"
        total_rows = sum(len(v) for _, v in rows.values())
        base_s = bare_insert(rows, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    init_ok = not isinstance(init_proc, str) and init_proc.returncode == 0
    table_rows = [
        ["bare executemany (baseline)", f"{base_s:.2f}", total_rows, f"{total_rows / base_s:,.0f}", ""],
        ["hjertekom demo", "n/a" if demo_error else f"{demo_s:.2f}", "" if demo_error else total_rows,
         "" if demo_error else f"{total_rows / demo_s:,.0f}", "" if demo_error else f"{n / demo_s:,.0f}"],
        ["ratio demo / baseline", "n/a" if demo_error else ratio(demo_s, base_s), "", "", ""],
        ["hjertekom init (fixed part)", f"{init_s:.2f}" if init_ok else "failed", "", "", ""],
    ]
    print_table(["", "seconds", "rows", "rows/s", "citizens/s"], table_rows,
                title=f"N={n} citizens, seed {seed}; baseline rows: {source}")
    print("rows: " + ", ".join(f"{t} {len(v):,}" for t, (_, v) in rows.items()))
    if demo_error:
        print(f"hjertekom demo: UNAVAILABLE ({demo_error})")
        return False
    if n == TARGET_CITIZENS:
        print(f"target <= {TARGET_S:g} s for {TARGET_CITIZENS:,} citizens: {demo_s:.1f} s -> "
              f"{'PASS' if demo_s <= TARGET_S else 'MISS'}")
        return demo_s <= TARGET_S
    fixed = init_s if init_ok else 0.0
    estimate = fixed + max(0.0, demo_s - fixed) * TARGET_CITIZENS / n
    print(f"target <= {TARGET_S:g} s is for {TARGET_CITIZENS:,} citizens; this run has {n:,}: linear estimate "
          f"{estimate:.0f} s (the init time as fixed part, the rest scaled; no verdict)")
    return True
