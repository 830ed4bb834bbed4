"""Snapshot: ``create_snapshot`` of a SQLite store holding about 200,000 courses.

The store: ``hjertekom demo --citizens N --seed S --no-users`` in a fresh data folder (the
embedded SQLite store; about 1.025 courses per citizen, so 195,000 citizens give about 200,000
courses with their course/start/end registrations, drafts, UNKs and all). Filling it is not
measured; with ``--cache-dir`` the filled store is kept and reused (keyed by N and seed).

What is timed, in a fresh Python process: ``hjertekom_core.snapshot.create_snapshot(store,
contracts, out_dir)``, an identified snapshot as ``hjertekom snapshot`` writes it: reading the
store in one transaction (``read_store``), loading the rows into DuckDB and spreading the JSON
into typed columns (``build_tables``), codebook, row counts, content hash, CHECKPOINT, fsync and
the link into place. The first call in the process is printed apart (cold), then the median of the
warm runs; each run writes a new file, deleted afterwards. Target: <= 20 s for 200,000 courses.

Baseline, interleaved with the snapshots in the same process: the bare read of the same rows, i.e.
the SELECT of the latest revision of every registration that ``read_store`` runs, compiled from
the same SQLAlchemy statement and run with the standard library's sqlite3 (``fetchall``, no
pandas, no DuckDB). ``read_store`` itself (all four queries into pandas frames) is printed for
information, and so is a pseudonymised snapshot (HMAC of every citizen, CPR scan of every text
column), which the target does not cover. The stages of create_snapshot are timed by wrapping the
writer's functions (the code under test is not edited).

Run alone: ``python -m benchmarks.snapshot_bench [--quick] [--cache-dir DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import CONTRACTS_DIR, REPO, add_once, machine_line, print_table, verdict

NAME = "snapshot"
TARGET_S = 20.0
TARGET_COURSES = 200_000
CITIZENS = 195_000          # about 1.025 courses per citizen in the demo data
QUICK_CITIZENS = 5_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--snapshot-citizens", type=int, default=None,
                       help=f"citizens in the demo store (default {CITIZENS:,}; {QUICK_CITIZENS:,} with --quick)")
    group.add_argument("--snapshot-runs", type=int, default=None,
                       help="warm snapshots after the cold one (default 3; 1 with --quick)")
    group.add_argument("--snapshot-timeout", type=float, default=3600, help="give up filling the store after s")
    add_once(group, "--cache-dir", type=Path, default=None,
              help="keep generated snapshots/stores here between runs (default: a temporary folder, removed)")


# --- the store -------------------------------------------------------------------------------------

def demo_store(cache: Path, citizens: int, seed: int, timeout: float) -> tuple[Path, float | None]:
    """The data folder of a store filled by ``hjertekom demo`` (made if missing): (folder, seconds
    spent filling it, or None when it came from the cache)."""
    folder = cache / f"demo-{citizens}-seed{seed}"
    data_dir = folder / "data"
    marker = folder / "complete.json"
    if marker.exists() and (data_dir / "hjertekom.sqlite").exists():
        return data_dir, None
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "cwd").mkdir(parents=True)  # no hjertekom.toml there: only the environment configures
    exe = Path(sys.executable).with_name("hjertekom")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
    env["HJERTEKOM_DATA_DIR"] = str(data_dir)
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "demo", "--citizens", str(citizens), "--seed", str(seed), "--no-users"],
                          cwd=folder / "cwd", env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"hjertekom demo failed (exit {proc.returncode}):\n{(proc.stderr or proc.stdout)[-3000:]}")
    marker.write_text(json.dumps({"citizens": citizens, "seed": seed, "seconds": seconds,
                                  "output": proc.stdout.strip().splitlines()[-1:]}), encoding="utf-8")
    return data_dir, seconds


def store_counts(sqlite_file: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True)
    try:
        out = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
               for t in ("citizens", "courses", "registrations")}
        out["latest registrations"] = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM registrations GROUP BY course_id, form)").fetchone()[0]
        return out
    finally:
        conn.close()


# --- worker (a fresh process) ----------------------------------------------------------------------

def latest_registrations_sql() -> str:
    """The SELECT of the latest registrations exactly as ``read_store`` runs it, as SQLite text."""
    from sqlalchemy.dialects import sqlite

    from hjertekom_core.snapshot.writer import latest_registrations

    return str(latest_registrations().compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


STAGES = ("read_store", "build_tables: load raw rows", "build_tables: form tables (JSON -> columns)",
          "build_tables: citizens, courses, codelists", "scan_for_cpr", "_codebook", "user_tables + content_hash",
          "row counts, snapshot_info, CHECKPOINT, close, fsync, link")


class _LoadTimer:
    """Stands in for the DuckDB connection inside build_tables: times the statement that copies the
    registrations frame into DuckDB (``CREATE TEMP TABLE raw_registrations``), delegates the rest."""

    def __init__(self, con: Any, spent: dict[str, float]) -> None:
        self._con = con
        self._spent = spent

    def execute(self, sql: str, *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return self._con.execute(sql, *args)
        finally:
            if sql.startswith("CREATE TEMP TABLE raw_registrations"):
                self._spent["load"] = self._spent.get("load", 0.0) + time.perf_counter() - t

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _instrumented(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``fn`` with the writer's stages timed (seconds each)."""
    from hjertekom_core.snapshot import writer

    spent: dict[str, float] = {}
    names = ("read_store", "build_tables", "_create_form_table", "_codebook", "user_tables", "scan_for_cpr",
             "content_hash")
    originals = {n: getattr(writer, n) for n in names}

    def wrap(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
        return inner

    wrapped = {n: wrap(n, f) for n, f in originals.items()}
    build_fn = wrapped["build_tables"]
    wrapped["build_tables"] = lambda con, *args, **kwargs: build_fn(_LoadTimer(con, spent), *args, **kwargs)
    for n, f in wrapped.items():
        setattr(writer, n, f)
    t0 = time.perf_counter()
    try:
        out = fn()
    finally:
        for n, f in originals.items():
            setattr(writer, n, f)
    total = time.perf_counter() - t0
    build = spent.get("build_tables", 0.0)
    forms = spent.get("_create_form_table", 0.0)
    load = spent.get("load", 0.0)
    stages = {
        "read_store": spent.get("read_store", 0.0),
        "build_tables: load raw rows": load,
        "build_tables: form tables (JSON -> columns)": forms,
        "build_tables: citizens, courses, codelists": build - forms - load,
        "scan_for_cpr": spent.get("scan_for_cpr", 0.0),
        "_codebook": spent.get("_codebook", 0.0),
        "user_tables + content_hash": spent.get("content_hash", 0.0) + spent.get("user_tables", 0.0),
    }
    stages["row counts, snapshot_info, CHECKPOINT, close, fsync, link"] = total - sum(stages.values())
    stages["total"] = total
    return out, stages


def _worker(task: dict[str, Any]) -> dict[str, Any]:
    from hjertekom_core.contract import ContractRegistry
    from hjertekom_core.snapshot import create_snapshot
    from hjertekom_core.snapshot.writer import read_store
    from hjertekom_core.store import Store

    data_dir = Path(task["data_dir"])
    sqlite_file = data_dir / "hjertekom.sqlite"
    store = Store(f"sqlite:///{sqlite_file}")
    contracts = ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])
    out_root = Path(task["out_dir"])
    sql = latest_registrations_sql()
    key_file = data_dir / "pseudonym.key"

    def bare_read() -> int:
        conn = sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True)
        try:
            return len(conn.execute(sql).fetchall())
        finally:
            conn.close()

    def snapshot(pseudo: bool, n: int) -> dict[str, Any]:
        folder = out_root / f"{'pseudo' if pseudo else 'ident'}-{n}"
        info, stages = _instrumented(lambda: create_snapshot(
            store, contracts, folder, pseudonymise=pseudo, key_file=key_file if pseudo else None))
        size = info.path.stat().st_size
        shutil.rmtree(folder, ignore_errors=True)
        return {"stages": stages, "counts": info.row_counts, "size": size}

    rounds: dict[str, list[Any]] = {"bare": [], "read_store": [], "ident": [], "pseudo": []}
    t = time.perf_counter()
    first = snapshot(False, 0)  # cold: the first snapshot in this process
    first_s = time.perf_counter() - t
    rows = 0
    for r in range(task["runs"]):
        t = time.perf_counter()
        rows = bare_read()
        rounds["bare"].append(time.perf_counter() - t)
        t = time.perf_counter()
        read_store(store)
        rounds["read_store"].append(time.perf_counter() - t)
        rounds["ident"].append(snapshot(False, r + 1))
    if task["pseudo"] and key_file.exists():
        rounds["pseudo"].append(snapshot(True, 0))
    store.dispose()
    return {"first_s": first_s, "first": first, "rounds": rounds, "rows": rows, "rss_peak_mb": _peak_rss_mb(),
            "sql": sql}


def _spawn(task: dict[str, Any], timeout: float = 7200) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.snapshot_bench", "--worker", json.dumps(task)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"snapshot worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the benchmark ---------------------------------------------------------------------------------

def _loadavg() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average n/a"


def run(options: argparse.Namespace) -> bool:
    citizens = options.snapshot_citizens or (QUICK_CITIZENS if options.quick else CITIZENS)
    runs = options.snapshot_runs or (1 if options.quick else 3)
    print("\n== snapshot: create_snapshot() of a SQLite store filled by hjertekom demo ==")
    print(machine_line())
    print(f"{_loadavg()} at start")
    owned = options.cache_dir is None
    cache = Path(tempfile.mkdtemp(prefix="hjertekom_bench_snap_")) if owned else Path(options.cache_dir)
    out_dir = Path(tempfile.mkdtemp(prefix="hjertekom_bench_snap_out_"))
    try:
        data_dir, filled = demo_store(cache, citizens, options.seed, options.snapshot_timeout)
        counts = store_counts(data_dir / "hjertekom.sqlite")
        size_mb = (data_dir / "hjertekom.sqlite").stat().st_size / 2**20
        print(f"store: hjertekom demo --citizens {citizens:,} --seed {options.seed} "
              + (f"(filled in {filled:.0f} s, not measured)" if filled is not None else "(cached)")
              + f"; {size_mb:,.0f} MB; " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        res = _spawn({"data_dir": str(data_dir), "out_dir": str(out_dir), "runs": runs, "pseudo": True})
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        if owned:
            shutil.rmtree(cache, ignore_errors=True)

    r = res["rounds"]
    bare = statistics.median(r["bare"])
    snap = statistics.median(x["stages"]["total"] for x in r["ident"])
    n_courses = counts["courses"]
    rows = [
        ["baseline: SELECT of the latest registrations (sqlite3, fetchall)", "-", f"{bare:.2f}",
         f"{min(r['bare']):.2f}", "1.0x", "", ""],
        ["info: read_store() (4 queries into pandas)", "-", f"{statistics.median(r['read_store']):.2f}",
         f"{min(r['read_store']):.2f}", f"{statistics.median(r['read_store']) / bare:.1f}x", "", ""],
        ["create_snapshot() identified", f"{res['first_s']:.2f}", f"{snap:.2f}",
         f"{min(x['stages']['total'] for x in r['ident']):.2f}", f"{snap / bare:.1f}x", f"<= {TARGET_S:g}",
         verdict(snap, TARGET_S) if n_courses >= TARGET_COURSES * 0.97 else "no verdict"],
    ]
    if r["pseudo"]:
        p = r["pseudo"][0]["stages"]["total"]
        rows.append(["info: create_snapshot() pseudonymised (1 run)", "-", f"{p:.2f}", "", f"{p / bare:.1f}x", "", ""])
    print_table(["", "first s", "median s", "min s", "vs baseline", "target", "verdict"], rows,
                title=f"N={n_courses:,} courses ({res['rows']:,} latest registrations read); {runs} warm runs, "
                      f"interleaved with the baseline; peak RSS of the process {res['rss_peak_mb']:,.0f} MB")
    first = res["first"]
    print(f"snapshot file {first['size'] / 2**20:,.1f} MB; tables: "
          + ", ".join(f"{k} {v:,}" for k, v in first["counts"].items()))
    variants = {"identified (median)": r["ident"]}
    if r["pseudo"]:
        variants["pseudonymised"] = r["pseudo"]
    stage_rows = []
    for k in (*STAGES, "total"):
        stage_rows.append([k, *(f"{statistics.median(x['stages'][k] for x in v):.2f}" for v in variants.values())])
    print_table(["stage of create_snapshot() (s)", *variants], stage_rows, title="Where the time goes")
    print(f"{_loadavg()} at the end")
    if n_courses < TARGET_COURSES * 0.97:
        print(f"target <= {TARGET_S:g} s is for {TARGET_COURSES:,} courses; this run has {n_courses:,} (no verdict)")
        return True
    return snap <= TARGET_S


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        print(json.dumps(_worker(json.loads(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.snapshot_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (smaller N; no verdict)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the demo data (default: 1)")
    add_arguments(parser)
    try:
        met = run(parser.parse_args(argv))
    except Exception:  # noqa: BLE001 - could not run: exit 2
        traceback.print_exc()
        print(f"\n{NAME}: ERROR (see the traceback above)")
        return 2
    print(f"[{NAME}: target {'met' if met else 'MISSED'}]")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
