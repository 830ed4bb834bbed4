"""Indicators K1-K6 over a synthetic national snapshot: ``hjertekom_core.indicators.compute``.

What is timed: ``compute(con, settings)`` on a read-only DuckDB connection to a snapshot file with
the writer's layout (``benchmarks.synthetic_snapshot``: N courses, 98 municipalities, end meetings
2016-2025), period year, all four levels (municipality, cluster, region, nation), Wilson CIs,
the default standards and ``data_contracts/clusters.yaml``. So the joins of ``finished_facts``
(courses, municipalities, hjertekom_start, hjertekom_end), the flags, the aggregation, the
unpivoting and the statistics all count. Each measurement runs in a fresh Python process: the
first call there is the cold run (the file is opened and read by DuckDB for the first time in that
process; the OS page cache is not dropped), then the warm runs; medians are printed.

Part 1, N = 200,000 (target <= 50 ms). Baseline in the same process, interleaved with compute():
"a single DuckDB pass over one pre-joined table": ``finished_facts`` (with the period and the
cluster) is materialised into one temporary table first (not timed), then ONE ``GROUP BY
municipality, period`` pass computing the same 18 sums with the engine's own flag expressions is
timed. Two variants are printed beside it for information: the same sums under the engine's
GROUPING SETS (all four levels), and a GROUP BY over 18 pre-computed 0/1 columns (the floor).

Part 2, N = 2,000,000 (targets <= 200 ms, peak RSS <= 4 GB, >= 10x faster than pandas): compute()
alone in its own process (its peak RSS: VmHWM, Python and imports included), and the
straightforward pandas implementation of the same definitions (``benchmarks.indicators_pandas``,
reading the same tables, timed from the read to the finished table) in another. The two results
must be IDENTICAL (same rows; numerator, denominator and unknown equal; proportion and CI limits
within 1e-12; names, standards and status equal), else the benchmark fails (exit code 2).

Both parts print where compute()'s time goes (its stages, and DuckDB's operators in the aggregation
query, summed over threads).

Run alone: ``python -m benchmarks.indicators_bench [--quick] [--cache-dir DIR]``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import resource
import shutil
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

NAME = "indicators"
SMALL, BIG = 200_000, 2_000_000
QUICK_SMALL, QUICK_BIG = 20_000, 200_000
TARGET_SMALL_MS = 50.0
TARGET_BIG_MS = 200.0
TARGET_BIG_RSS_GB = 4.0
TARGET_PANDAS_RATIO = 10.0
TOLERANCE = 1e-12


# --- command line --------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--indicator-courses", type=int, default=None,
                       help=f"courses of part 1 (default {SMALL:,}; {QUICK_SMALL:,} with --quick; 0 skips part 1)")
    group.add_argument("--indicator-big-courses", type=int, default=None,
                       help=f"courses of part 2 (default {BIG:,}; {QUICK_BIG:,} with --quick; 0 skips part 2)")
    group.add_argument("--indicator-runs", type=int, default=None,
                       help="warm runs of compute() per measurement (default 15; 5 with --quick)")
    group.add_argument("--pandas-runs", type=int, default=None,
                       help="warm runs of the pandas implementation (default 3; 1 with --quick)")
    add_once(group, "--cache-dir", type=Path, default=None,
              help="keep generated snapshots/stores here between runs (default: a temporary folder, removed)")


# --- the code under test ---------------------------------------------------------------------------

def engine_compute(con: Any, settings: Any) -> Any:
    """compute() as the engine module has it."""
    from hjertekom_core.indicators import engine

    return engine.compute(con, settings)


# --- worker processes ------------------------------------------------------------------------------

def _settings() -> Any:
    from hjertekom_core.config import DEFAULT_STANDARDS
    from hjertekom_core.indicators import IndicatorSettings, load_clusters

    return IndicatorSettings(dict(DEFAULT_STANDARDS), 180, load_clusters(CONTRACTS_DIR / "clusters.yaml"), "wilson")


def _peak_rss_mb() -> float:
    """This process's peak resident set size in MiB: VmHWM from /proc (ru_maxrss would carry the
    parent's peak over the fork + exec of the worker), else getrusage."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall ms, process CPU ms, result)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - w) * 1e3, (time.process_time() - c) * 1e3, out


class _TimedConnection:
    """Stands in for the DuckDB connection inside compute(): times its query (execute
    and fetch apart) and keeps its SQL, delegating everything to the real connection."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.active = False
        self.clock = {"execute": 0.0, "fetch": 0.0}
        self.sql: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, *args: Any) -> _TimedConnection:
        t = time.perf_counter()
        self._con.execute(sql, *args)
        if self.active:
            self.clock["execute"] += time.perf_counter() - t
            self.sql.append((sql, args))
        return self

    def df(self) -> Any:
        t = time.perf_counter()
        out = self._con.df()
        if self.active:
            self.clock["fetch"] += time.perf_counter() - t
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


STAGES = ("query: execute", "query: fetch .df()", "_with_statistics", "other (building the SQL)")


def _stage_run(con: Any, settings: Any) -> tuple[dict[str, float], list[tuple[str, tuple[Any, ...]]]]:
    """One instrumented compute(): milliseconds per stage, and its SQL."""
    from hjertekom_core.indicators import engine

    proxy = _TimedConnection(con)
    spent = 0.0
    original = engine._with_statistics

    def timed_statistics(*args: Any, **kwargs: Any) -> Any:
        nonlocal spent
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent += (time.perf_counter() - t) * 1e3

    engine._with_statistics = timed_statistics
    proxy.active = True
    try:
        t = time.perf_counter()
        engine.compute(proxy, settings)  # type: ignore[arg-type]
        total = (time.perf_counter() - t) * 1e3
    finally:
        engine._with_statistics = original
    out = {"query: execute": proxy.clock["execute"] * 1e3, "query: fetch .df()": proxy.clock["fetch"] * 1e3,
           "_with_statistics": spent}
    out["other (building the SQL)"] = total - sum(out.values())
    out["total"] = total
    return out, proxy.sql


def _operator_profile(con: Any, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """DuckDB's profile of one run of ``sql``: time per operator type (summed over threads), and
    the hash joins with their estimated and actual rows."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{path}'")
        try:
            con.execute(sql, *args).fetchall()
        finally:
            con.execute("PRAGMA disable_profiling")
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    finally:
        os.unlink(path)
    by_type: dict[str, float] = {}
    joins: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        name = node.get("operator_name") or node.get("name") or "?"
        timing = node.get("operator_timing", node.get("timing", 0.0)) or 0.0
        by_type[name.strip()] = by_type.get(name.strip(), 0.0) + timing * 1e3
        info = node.get("extra_info") or {}
        if "JOIN" in name and isinstance(info, dict):
            joins.append(f"{info.get('Join Type', '')} {info.get('Conditions', '')}: est. "
                         f"{info.get('Estimated Cardinality', '?')} rows, actual "
                         f"{node.get('operator_cardinality', node.get('intermediate_rows', '?'))}")
        for child in node.get("children", []):
            walk(child)

    for top in doc.get("operator", doc.get("children", [])):
        walk(top)
    ops = sorted(((k, v) for k, v in by_type.items() if v > 0), key=lambda kv: -kv[1])
    total = doc.get("query", {}).get("total_time", doc.get("latency"))
    return [{"ops": ops, "joins": joins, "total_ms": total * 1e3 if isinstance(total, (int, float)) else None}]


def _clusters_sql(settings: Any) -> str:
    rows = [f"({int(code)}, '{name.replace(chr(39), chr(39) * 2)}')"
            for name, codes in settings.clusters.items() for code in codes]
    return (f"(VALUES {', '.join(rows)}) AS cl(code, cluster)" if rows
            else "(SELECT NULL::INTEGER AS code, NULL::VARCHAR AS cluster) cl")


def _baseline_queries(con: Any, settings: Any) -> dict[str, str]:
    """Materialise the facts the indicators count (finished_facts, every indicator's population)
    into one table (not timed) and return the timed GROUP BY passes."""
    from hjertekom_core.indicators.definitions import INDICATORS
    from hjertekom_core.indicators.engine import PERIODS, _flags_sql
    from hjertekom_core.indicators.facts import FINISHED_FACTS_SQL

    limit = settings.completion_limit_days
    period = PERIODS["year"].format(d="f.end_date")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE bench_prejoined AS
        SELECT f.*, mu.region_code, cl.cluster, {period} AS p
        FROM ({FINISHED_FACTS_SQL}) f JOIN municipalities mu ON mu.code = f.municipality_code
        LEFT JOIN {_clusters_sql(settings)} ON cl.code = f.municipality_code
        WHERE f.end_date IS NOT NULL""")
    flags = _flags_sql(INDICATORS, limit)
    columns = []
    for ind in INDICATORS:
        den = f"coalesce(({ind.denominator}), false)"
        columns.append(f"({den})::INTEGER AS d_{ind.id}")
        columns.append(f"({den} AND coalesce(({ind.numerator.format(limit=limit)}), false))::INTEGER AS n_{ind.id}")
        columns.append(f"({den} AND coalesce(({ind.unknown.format(limit=limit)}), false))::INTEGER AS u_{ind.id}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE bench_preflags AS SELECT municipality_code, cluster, region_code, p, "
                f"{', '.join(columns)} FROM bench_prejoined")
    names = [f"{k}_{ind.id}" for ind in INDICATORS for k in "dnu"]
    counts = ", ".join(f"coalesce(count_if({n}), 0) AS {n}" for n in names)  # as the engine counts its flags
    flagged = f"(SELECT municipality_code, cluster, region_code, p, {flags} FROM bench_prejoined)"
    return {
        "main": f"SELECT municipality_code, p, {counts} FROM {flagged} GROUP BY municipality_code, p",
        "grouping_sets": f"SELECT municipality_code, cluster, region_code, p, "
                         f"grouping(municipality_code, cluster, region_code) AS g, {counts} FROM {flagged} "
                         f"GROUP BY GROUPING SETS ((municipality_code, p), (cluster, p), (region_code, p), (p))",
        "flag_columns": f"SELECT municipality_code, p, {', '.join(f'sum({n}) AS {n}' for n in names)} "
                        f"FROM bench_preflags GROUP BY municipality_code, p",
    }


def _check_baseline(rows: list[tuple[Any, ...]], result: Any) -> list[str]:
    """The baseline's municipality sums must equal compute()'s municipality rows."""
    from hjertekom_core.indicators.definitions import INDICATORS

    muni = result[result["level"] == "municipality"]
    got = {(i, u, p): (int(d), int(n), int(k)) for i, u, p, d, n, k in zip(
        muni["indicator"], muni["unit"], muni["period"], muni["denominator"], muni["numerator"], muni["unknown"])}
    problems = []
    for row in rows:
        code, period, values = str(row[0]), row[1], row[2:]
        for k, ind in enumerate(INDICATORS):
            mine = tuple(int(v) for v in values[3 * k: 3 * k + 3])
            theirs = got.get((ind.id, code, period))
            if theirs is None:
                problems.append(f"{ind.id} {code} {period} missing in compute()")
            elif theirs != mine:
                problems.append(f"{ind.id} {code} {period}: (denominator, numerator, unknown) baseline {mine} "
                                f"!= compute() {theirs}")
    if len(rows) * len(INDICATORS) != len(muni):
        problems.append(f"baseline has {len(rows)} municipality-periods, compute() {len(muni) // len(INDICATORS)}")
    return problems[:10]


def _worker_interleaved(task: dict[str, Any]) -> dict[str, Any]:
    """compute() interleaved with the pre-joined baselines."""
    from hjertekom_core import duck

    settings = _settings()
    rss_start = _peak_rss_mb()
    con = duck.connect(task["path"], read_only=True)
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    out: dict[str, Any] = {"threads": threads[0] if threads else "?"}
    wall, cpu, result = _timed(lambda: engine_compute(con, settings))  # the first call: cold
    cold = {"current": (wall, cpu)}
    t0 = time.perf_counter()
    queries = _baseline_queries(con, settings)
    out["baseline_prepare_ms"] = (time.perf_counter() - t0) * 1e3
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in ["current", *queries]}
    base_rows: Any = None
    for _ in range(task["runs"]):
        wall, cpu, _r = _timed(lambda: engine_compute(con, settings))
        samples["current"].append((wall, cpu))
        for k, sql in queries.items():
            wall, cpu, rows = _timed(lambda sql=sql: con.execute(sql).fetchall())
            samples[k].append((wall, cpu))
            if k == "main":
                base_rows = rows
    out["baseline_problems"] = _check_baseline(base_rows, result)
    runs = []
    sql: list[str] = []
    for _ in range(max(3, task["runs"] // 2)):
        spent, sql = _stage_run(con, settings)
        runs.append(spent)
    stages = {"current": {k: [r[k] for r in runs] for k in runs[0]}}
    profiles = {"current": _operator_profile(con, *sql[-1]) if sql else None}
    out.update(cold=cold, samples=samples, stages=stages, profiles=profiles,
               rss_start_mb=rss_start, rss_peak_mb=_peak_rss_mb())
    with open(task["out"], "wb") as fh:
        pickle.dump(result, fh)
    return out


def _worker_compute(task: dict[str, Any]) -> dict[str, Any]:
    """compute() alone (cold + warm), for time and peak RSS."""
    from hjertekom_core import duck

    settings = _settings()
    rss_start = _peak_rss_mb()
    con = duck.connect(task["path"], read_only=True)
    cold = _timed(lambda: engine_compute(con, settings))
    samples = []
    for _ in range(task["runs"]):
        wall, cpu, result = _timed(lambda: engine_compute(con, settings))
        samples.append((wall, cpu))
    with open(task["out"], "wb") as fh:
        pickle.dump(cold[2], fh)
    return {"cold": cold[:2], "samples": samples, "rss_start_mb": rss_start, "rss_peak_mb": _peak_rss_mb(),
            "rows": len(result)}


def _worker_pandas(task: dict[str, Any]) -> dict[str, Any]:
    from hjertekom_core import duck

    from benchmarks.indicators_pandas import compute_from_tables, read_tables

    settings = _settings()
    rss_start = _peak_rss_mb()
    con = duck.connect(task["path"], read_only=True)
    runs = []
    result = None
    for _ in range(1 + task["runs"]):
        w, c = time.perf_counter(), time.process_time()
        tables = read_tables(con)
        read = (time.perf_counter() - w) * 1e3
        result = compute_from_tables(tables, settings)
        del tables
        runs.append(((time.perf_counter() - w) * 1e3, (time.process_time() - c) * 1e3, read))
    with open(task["out"], "wb") as fh:
        pickle.dump(result, fh)
    return {"cold": runs[0], "samples": runs[1:], "rss_start_mb": rss_start, "rss_peak_mb": _peak_rss_mb()}


WORKERS = {"interleaved": _worker_interleaved, "compute": _worker_compute, "pandas": _worker_pandas}


def _spawn(task: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """Run one worker task in a fresh interpreter; its last stdout line is the JSON answer."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.indicators_bench", "--worker", json.dumps(task)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {task['mode']} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- reporting -------------------------------------------------------------------------------------

def _med(samples: list[Any], i: int = 0) -> float:
    return statistics.median(s[i] for s in samples) if samples else math.nan


def _min(samples: list[Any], i: int = 0) -> float:
    return min(s[i] for s in samples) if samples else math.nan


def _f(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def _ratio(a: float, b: float) -> str:
    return "n/a" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.1f}x"


def _print_stages(stages: dict[str, dict[str, list[float]]], profiles: dict[str, Any], title: str) -> None:
    variants = list(stages)
    rows = []
    for k in (*STAGES, "total"):
        rows.append([k, *(_f(statistics.median(stages[v][k]), 2) for v in variants)])
    print_table(["stage of compute() (median ms)", *variants], rows, title=title)
    for v in variants:
        prof = profiles.get(v)
        if not prof:
            continue
        p = prof[0]
        ops = ", ".join(f"{name} {ms_:.1f}" for name, ms_ in p["ops"][:7])
        total = f"{p['total_ms']:.1f} ms wall; " if p.get("total_ms") else ""
        print(f"DuckDB operators of compute()'s query ({v}; {total}ms summed over threads): {ops}")
        for j in p["joins"]:
            print(f"    join {j}")


def _load(path: Path) -> Any:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _equal_or_raise(label: str, expected: Any, actual: Any) -> str:
    from benchmarks.indicators_pandas import compare

    problems = compare(expected, actual, tolerance=TOLERANCE)
    if problems:
        raise ResultsDiffer(f"{label}: results differ:\n  " + "\n  ".join(problems))
    return (f"{label}: IDENTICAL, {len(expected):,} rows (numerator, denominator, unknown equal; proportion and "
            f"CI limits within {TOLERANCE:g}; names, standards and status equal)")


class ResultsDiffer(AssertionError):
    pass


LABEL = "compute() (current engine)"


def _part_small(path: Path, n: int, info: str, runs: int, quick: bool, work: Path) -> bool:
    out = _spawn({"mode": "interleaved", "path": str(path), "runs": runs, "out": str(work / "small.pickle")})
    pandas = _spawn({"mode": "pandas", "path": str(path), "runs": 1, "out": str(work / "small-pandas.pickle")})
    checks = [_equal_or_raise("pandas vs compute()", _load(work / "small.pickle"),
                              _load(work / "small-pandas.pickle"))]
    if out["baseline_problems"]:
        raise ResultsDiffer("baseline sums differ from compute():\n  " + "\n  ".join(out["baseline_problems"]))

    s = out["samples"]
    base = _med(s["main"])
    rows = [["baseline: one GROUP BY pass over pre-joined finished_facts", "-", _f(base), _f(_min(s["main"])),
             _f(_med(s["main"], 1)), "1.0x", "", ""]]
    med = _med(s["current"])
    rows.append([LABEL, _f(out["cold"]["current"][0]), _f(med), _f(_min(s["current"])), _f(_med(s["current"], 1)),
                 _ratio(med, base), f"<= {TARGET_SMALL_MS:g}",
                 "no verdict" if quick else verdict(med, TARGET_SMALL_MS)])
    rows += [
        ["info: same sums under GROUPING SETS, pre-joined", "-", _f(_med(s["grouping_sets"])),
         _f(_min(s["grouping_sets"])), _f(_med(s["grouping_sets"], 1)), _ratio(_med(s["grouping_sets"]), base), "", ""],
        ["info: sums of 18 pre-computed 0/1 columns", "-", _f(_med(s["flag_columns"])),
         _f(_min(s["flag_columns"])), _f(_med(s["flag_columns"], 1)), _ratio(_med(s["flag_columns"]), base), "", ""],
        ["info: pandas implementation (same definitions)", _f(pandas["cold"][0]), _f(_med(pandas["samples"])),
         _f(_min(pandas["samples"])), _f(_med(pandas["samples"], 1)), _ratio(_med(pandas["samples"]), base), "", ""],
    ]
    print_table(["", "cold ms", "median ms", "min ms", "cpu ms", "vs baseline", "target", "verdict"], rows,
                title=f"Part 1: N={n:,} courses ({info}); {runs} warm runs each, interleaved; "
                      f"DuckDB threads={out['threads']}")
    print(f"(pre-joined table built in {out['baseline_prepare_ms']:.0f} ms, not timed; cpu ms = process CPU "
          f"time, all threads; cold = first call in a fresh process, for the current engine)")
    for c in checks:
        print(c)
    _print_stages(out["stages"], out["profiles"], title="Where compute()'s time goes (instrumented runs)")
    if quick:
        print(f"target <= {TARGET_SMALL_MS:g} ms is for N={SMALL:,}; this run has N={n:,} (no verdict)")
        return True
    return _med(s["current"]) <= TARGET_SMALL_MS


def _part_big(path: Path, n: int, info: str, runs: int, pandas_runs: int, quick: bool, work: Path) -> bool:
    cur = _spawn({"mode": "compute", "path": str(path), "runs": runs, "out": str(work / "big.pickle")})
    pandas = _spawn({"mode": "pandas", "path": str(path), "runs": pandas_runs, "out": str(work / "big-pandas.pickle")})
    detail_runs = max(3, runs // 2)
    detail = _spawn({"mode": "interleaved", "path": str(path), "runs": detail_runs,
                     "out": str(work / "big-detail.pickle")})
    checks = [_equal_or_raise("pandas vs compute()", _load(work / "big.pickle"), _load(work / "big-pandas.pickle"))]
    if detail["baseline_problems"]:
        raise ResultsDiffer("baseline sums differ from compute():\n  " + "\n  ".join(detail["baseline_problems"]))

    pd_med, pd_cpu = _med(pandas["samples"]), _med(pandas["samples"], 1)
    rows = [
        ["pandas implementation (baseline)", _f(pandas["cold"][0]), _f(pd_med), _f(_min(pandas["samples"])),
         _f(pd_cpu), _f(pandas["rss_peak_mb"], 0), "1.0x", "1.0x", "", ""],
        ["  of which reading the tables into pandas", _f(pandas["cold"][2]), _f(_med(pandas["samples"], 2)),
         "", "", "", "", "", "", ""],
    ]
    med = _med(cur["samples"])
    rows.append([LABEL, _f(cur["cold"][0]), _f(med), _f(_min(cur["samples"])), _f(_med(cur["samples"], 1)),
                 _f(cur["rss_peak_mb"], 0), _ratio(pd_med, med), _ratio(pd_cpu, _med(cur["samples"], 1)),
                 f"<= {TARGET_BIG_MS:g} ms", "no verdict" if quick else verdict(med, TARGET_BIG_MS)])
    rows.append(["", "", "", "", "", "", "", "", "", ""])
    base_labels = {"main": "one GROUP BY pass over pre-joined finished_facts",
                   "grouping_sets": "same sums under GROUPING SETS, pre-joined",
                   "flag_columns": "sums of 18 pre-computed 0/1 columns"}
    for v in ["current", *base_labels]:
        label = base_labels.get(v) or LABEL
        sv = detail["samples"][v]
        rows.append([f"interleaved: {label}", "", _f(_med(sv)), _f(_min(sv)), _f(_med(sv, 1)), "",
                     _ratio(pd_med, _med(sv)), _ratio(pd_cpu, _med(sv, 1)), "", ""])
    print_table(["", "cold ms", "median ms", "min ms", "cpu ms", "peak RSS MB", "vs pandas", "vs pandas cpu",
                 "target", "verdict"],
                rows, title=f"Part 2: N={n:,} courses ({info}); compute() {runs} warm runs and pandas {pandas_runs}, "
                            f"each in its own process; then {detail_runs} rounds interleaved in one process")
    print(f"peak RSS = the worker process's high-water mark (VmHWM; Python, imports and DuckDB included; "
          f"{cur['rss_start_mb']:.0f} MB before the snapshot was opened)")
    rss_gb = cur["rss_peak_mb"] / 1024
    speedup = pd_med / med if med else math.nan
    time_ok, mem_ok, ratio_ok = med <= TARGET_BIG_MS, rss_gb <= TARGET_BIG_RSS_GB, speedup >= TARGET_PANDAS_RATIO
    if quick:
        print(f"targets are for N={BIG:,}; this run has N={n:,} (no verdict)")
    else:
        print(f"targets (current engine): time <= {TARGET_BIG_MS:g} ms: {verdict(med, TARGET_BIG_MS)} ({med:.0f} ms); "
              f"peak RSS <= {TARGET_BIG_RSS_GB:g} GB: {'PASS' if mem_ok else 'MISS'} ({rss_gb:.2f} GB); "
              f">= {TARGET_PANDAS_RATIO:g}x faster than pandas: {'PASS' if ratio_ok else 'MISS'} ({speedup:.1f}x)")
    for c in checks:
        print(c)
    _print_stages(detail["stages"], detail["profiles"], title="Where compute()'s time goes (instrumented runs)")
    return quick or (time_ok and mem_ok and ratio_ok)


def _loadavg() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average n/a"


def run(options: argparse.Namespace) -> bool:
    from benchmarks.synthetic_snapshot import cached, describe

    quick = options.quick
    n_small = options.indicator_courses if options.indicator_courses is not None else (
        QUICK_SMALL if quick else SMALL)
    n_big = options.indicator_big_courses if options.indicator_big_courses is not None else (
        QUICK_BIG if quick else BIG)
    runs = options.indicator_runs or (5 if quick else 15)
    pandas_runs = options.pandas_runs if options.pandas_runs is not None else (1 if quick else 3)
    print("\n== indicators: compute() K1-K6 x municipalities x years + clusters, regions, nation, with CIs ==")
    print(machine_line())
    print(f"{_loadavg()} at start (other work on the machine inflates every figure; ratios are measured "
          f"in the same run)")
    owned = options.cache_dir is None
    cache = Path(tempfile.mkdtemp(prefix="hjertekom_bench_ind_")) if owned else Path(options.cache_dir)
    work = Path(tempfile.mkdtemp(prefix="hjertekom_bench_ind_work_"))
    ok = True
    try:
        for n, part in ((n_small, "small"), (n_big, "big")):
            if not n:
                continue
            path, built = cached(cache, n, options.seed)
            info = describe(path)
            print(f"\nsnapshot {path.name}: " + (f"generated in {built:.1f} s (not measured)" if built else "cached")
                  + f"\n  {info}")
            if part == "small":
                ok = _part_small(path, n, "synthetic national decade", runs, quick, work) and ok
            else:
                ok = _part_big(path, n, "synthetic national decade", max(3, runs // 2), pandas_runs, quick,
                               work) and ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if owned:
            shutil.rmtree(cache, ignore_errors=True)
    print(f"{_loadavg()} at the end")
    return ok


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        task = json.loads(argv[1])
        print(json.dumps(WORKERS[task["mode"]](task)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.indicators_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (smaller N; no verdicts)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (default: 1)")
    add_arguments(parser)
    options = parser.parse_args(argv)
    try:
        met = run(options)
    except ResultsDiffer as exc:
        print(f"\n{NAME}: FAILED, {exc}")
        return 2
    except Exception:  # noqa: BLE001 - a worker that could not run: report it, exit 2 as python -m benchmarks does
        traceback.print_exc()
        print(f"\n{NAME}: ERROR (see the traceback above)")
        return 2
    print(f"[{NAME}: targets {'met' if met else 'MISSED'}]")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
