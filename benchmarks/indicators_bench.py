"""Indicators K1-K6 over a synthetic national snapshot: ``hjertekom_core.indicators.compute``.

What is timed: ``compute(con, settings)`` on a read-only DuckDB connection to a snapshot file with
the writer's layout (``benchmarks.synthetic_snapshot``: N courses, 98 municipalities, end meetings
2016-2025, the indicators' facts table as the writer makes it), period year, all four levels
(municipality, cluster, region, nation), Wilson CIs, the default standards and
``data_contracts/clusters.yaml``: reading the facts, the flags, the aggregation, every
participating municipality in every period, the roll-up, the unpivoting, the fetch and the
statistics all count.

The baseline, measured in the same process and interleaved with compute() (ratios only, never
absolute times): ONE ``GROUP BY municipality, period`` pass over a pre-joined table of the same
courses. The table is built first, not timed: the facts of every course of the programme joined
from the raw tables (``facts.facts_select``), with the period already computed. The pass
computes the same 24 sums with the engine's own flag expressions. Targets, at N = 200,000 and
N = 2,000,000 (median of several runs):

* time: compute() <= 2.0 x the baseline pass;
* memory (N = 2,000,000): compute()'s peak resident memory <= 2 x the baseline pass's, each in a
  fresh process, the peak reset (``/proc/self/clear_refs``) right before the measured work, so
  that it is the work's peak (Python, imports and the open snapshot included in both; the baseline
  holds its pre-joined table in memory, as a pre-joined table is).

Checks (exit code 2 if they fail): the baseline's sums equal compute()'s municipality rows (and
compute()'s other municipality rows are 0/0), and compute() from the raw tables (a snapshot
without the facts table) gives an identical result. For information: compute() from the raw
tables, and the same sums under GROUPING SETS. (A pandas implementation of the old definitions
was compared here; its ratio target was dropped, and it was not rewritten for the new ones.)

Run alone: ``python -m benchmarks.indicators_bench [--quick] [--cache-dir DIR]``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pickle
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

from benchmarks.common import CONTRACTS_DIR, REPO, add_once, machine_line, print_table

NAME = "indicators"
SMALL, BIG = 200_000, 2_000_000
QUICK_SMALL, QUICK_BIG = 20_000, 200_000
TARGET_RATIO = 2.0
TARGET_MEMORY_RATIO = 2.0


# --- command line --------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--indicator-courses", type=int, default=None,
                       help=f"courses of part 1 (default {SMALL:,}; {QUICK_SMALL:,} with --quick; 0 skips part 1)")
    group.add_argument("--indicator-big-courses", type=int, default=None,
                       help=f"courses of part 2 (default {BIG:,}; {QUICK_BIG:,} with --quick; 0 skips part 2)")
    group.add_argument("--indicator-runs", type=int, default=None,
                       help="interleaved runs of compute() and the baseline (default 11; 5 with --quick)")
    add_once(group, "--cache-dir", type=Path, default=None,
             help="keep generated snapshots/stores here between runs (default: a temporary folder, removed)")


# --- worker processes ------------------------------------------------------------------------------

def _settings() -> Any:
    from hjertekom_core.config import DEFAULT_STANDARDS
    from hjertekom_core.indicators import IndicatorSettings, load_clusters

    return IndicatorSettings(dict(DEFAULT_STANDARDS), 180, load_clusters(CONTRACTS_DIR / "clusters.yaml"), "wilson")


def _rss_mb(key: str = "VmHWM") -> float:
    """This process's resident memory (VmRSS) or its peak since the last reset (VmHWM), MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return math.nan


def _reset_peak() -> None:
    """Start VmHWM again from the current resident memory (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall ms, process CPU ms, result)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - w) * 1e3, (time.process_time() - c) * 1e3, out


def _baseline(con: Any, settings: Any) -> dict[str, str]:
    """Build the pre-joined table (not timed) and return the timed baseline queries."""
    from hjertekom_core.indicators.conditions import Scope
    from hjertekom_core.indicators.counting import PERIODS, declarations_of, per_course_sql, reference_date
    from hjertekom_core.indicators.facts import facts_select

    decl = declarations_of(settings)
    scope = Scope(decl, "query", reference_date(con), settings.values())
    date = scope.known_value(decl.indicators[0].period_date)  # hjertekom: one period date for all
    clusters = [f"({int(code)}, '{name.replace(chr(39), chr(39) * 2)}')"
                for name, codes in settings.clusters.items() for code in codes]
    con.execute(f"""CREATE OR REPLACE TEMP TABLE bench_prejoined AS
        SELECT f.*, mu.region_code, cl.cluster, {PERIODS['year'].format(d=f"date_trunc('year', {date})")} AS p
        FROM ({facts_select(decl)}) f JOIN municipalities mu ON mu.code = f.municipality_code
        LEFT JOIN (VALUES {', '.join(clusters)}) AS cl(code, cluster) ON cl.code = f.municipality_code""")
    names = [f"{k}_{ind.id}" for ind in decl.indicators for k in "ndux"]
    counts = ", ".join(f"count_if({n}) AS {n}" for n in names)  # as the engine counts its flags
    flagged = per_course_sql(decl, decl.indicators, "bench_prejoined", scope, "f.p")
    flagged_sets = flagged.replace("SELECT municipality_code, k,", "SELECT municipality_code, k, cluster, region_code,", 1) \
                          .replace("SELECT f.municipality_code,", "SELECT f.municipality_code, f.cluster, f.region_code,", 1)
    return {
        "main": f"SELECT municipality_code, k, {counts} FROM ({flagged}) GROUP BY municipality_code, k",
        "grouping_sets": f"SELECT municipality_code, cluster, region_code, k, {counts} FROM ({flagged_sets}) "
                         f"GROUP BY GROUPING SETS ((municipality_code, k), (cluster, k), (region_code, k), (k))",
    }


def _check_baseline(rows: list[tuple[Any, ...]], result: Any) -> list[str]:
    """The baseline's municipality sums must equal compute()'s municipality rows; compute()'s
    other municipality rows (periods with nothing to count there) must be 0/0."""
    from hjertekom_core.indicators.counting import declarations_of

    ids = [ind.id for ind in declarations_of(_settings()).indicators]
    muni = result[result["level"] == "municipality"]
    got = {(i, u, p): (int(n), int(d), int(k), int(x)) for i, u, p, n, d, k, x in zip(
        muni["indicator"], muni["unit"], muni["period"], muni["numerator"], muni["denominator"], muni["unknown"],
        muni["excluded"])}
    problems, seen = [], set()
    for row in rows:
        code, period, values = str(row[0]), row[1], row[2:]
        if period is None:
            continue
        for j, ind in enumerate(ids):
            mine = tuple(int(v) for v in values[4 * j: 4 * j + 4])
            theirs = got.get((ind, code, period))
            seen.add((ind, code, period))
            if theirs is None:
                if any(mine):
                    problems.append(f"{ind} {code} {period} missing in compute()")
            elif theirs != mine:
                problems.append(f"{ind} {code} {period}: (n, d, unknown, excluded) baseline {mine} != compute() {theirs}")
    rest = [k for k, v in got.items() if k not in seen and any(v)]
    if rest:
        problems.append(f"{len(rest)} compute() rows with counts the baseline has not, e.g. {rest[0]}")
    return problems[:10]


def _raw_compute(con: Any, settings: Any) -> Any:
    """compute() as on a snapshot without the facts table: every fact joined from the raw tables."""
    from hjertekom_core.indicators import counting, facts

    original = counting.facts_relation
    counting.facts_relation = lambda c, decl: f"({facts.facts_select(decl)})"  # type: ignore[assignment]
    try:
        return counting.compute(con, settings)
    finally:
        counting.facts_relation = original  # type: ignore[assignment]


def _worker_interleaved(task: dict[str, Any]) -> dict[str, Any]:
    """compute() interleaved with the baseline passes (and, for information, from the raw tables)."""
    import pandas as pd

    from hjertekom_core import duck
    from hjertekom_core.indicators import compute

    settings = _settings()
    con = duck.connect(task["path"], read_only=True)
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    wall, cpu, result = _timed(lambda: compute(con, settings))  # the first call: cold
    out: dict[str, Any] = {"threads": threads[0] if threads else "?", "cold": (wall, cpu)}
    t0 = time.perf_counter()
    queries = _baseline(con, settings)
    out["baseline_prepare_ms"] = (time.perf_counter() - t0) * 1e3
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in ["compute", *queries, "raw"]}
    base_rows: Any = None
    for _ in range(task["runs"]):
        samples["compute"].append(_timed(lambda: compute(con, settings))[:2])
        for k, sql in queries.items():
            wall, cpu, rows = _timed(lambda sql=sql: con.execute(sql).fetchall())
            samples[k].append((wall, cpu))
            if k == "main":
                base_rows = rows
        if len(samples["raw"]) < task["raw_runs"]:
            wall, cpu, raw = _timed(lambda: _raw_compute(con, settings))
            samples["raw"].append((wall, cpu))
    out["baseline_problems"] = _check_baseline(base_rows, result)
    raw = _raw_compute(con, settings)
    try:
        pd.testing.assert_frame_equal(raw, result)
        out["raw_identical"] = ""
    except AssertionError as exc:
        out["raw_identical"] = str(exc)[:2000]
    out.update(samples=samples, rows=len(result))
    with open(task["out"], "wb") as fh:
        pickle.dump(result, fh)
    return out


def _worker_memory(task: dict[str, Any]) -> dict[str, Any]:
    """Peak resident memory of the measured work alone: compute() (cold and warm) or the baseline
    pass (its pre-joined table built first, then the peak reset)."""
    from hjertekom_core import duck
    from hjertekom_core.indicators import compute

    settings = _settings()
    con = duck.connect(task["path"], read_only=True)
    if task["what"] == "compute":
        before = _rss_mb("VmRSS")
        _reset_peak()
        for _ in range(task["runs"]):
            compute(con, settings)
    else:
        sql = _baseline(con, settings)["main"]
        before = _rss_mb("VmRSS")
        _reset_peak()
        for _ in range(task["runs"]):
            con.execute(sql).fetchall()
    return {"before_mb": before, "peak_mb": _rss_mb("VmHWM")}


WORKERS = {"interleaved": _worker_interleaved, "memory": _worker_memory}


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


def _f(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def _ratio(a: float, b: float) -> float:
    return math.nan if not b or math.isnan(a) or math.isnan(b) else a / b


class ResultsDiffer(AssertionError):
    pass


def _part(path: Path, n: int, info: str, runs: int, quick: bool, work: Path, memory: bool) -> bool:
    out = _spawn({"mode": "interleaved", "path": str(path), "runs": runs, "raw_runs": max(3, runs // 3),
                  "out": str(work / f"{n}.pickle")})
    if out["baseline_problems"]:
        raise ResultsDiffer("baseline sums differ from compute():\n  " + "\n  ".join(out["baseline_problems"]))
    if out["raw_identical"]:
        raise ResultsDiffer("compute() from the raw tables differs from compute() from the facts table:\n"
                            + out["raw_identical"])
    s = out["samples"]
    base = _med(s["main"])
    ratio = _ratio(_med(s["compute"]), base)
    ok = ratio <= TARGET_RATIO
    rows = [["baseline: one GROUP BY pass over the pre-joined courses", "-", _f(base), _f(_med(s["main"], 1)),
             "1.00x", "", ""],
            ["compute()", _f(out["cold"][0]), _f(_med(s["compute"])), _f(_med(s["compute"], 1)), f"{ratio:.2f}x",
             f"<= {TARGET_RATIO:g}x", "no verdict" if quick else ("PASS" if ok else "MISS")],
            ["info: the baseline's sums under GROUPING SETS", "-", _f(_med(s["grouping_sets"])),
             _f(_med(s["grouping_sets"], 1)), f"{_ratio(_med(s['grouping_sets']), base):.2f}x", "", ""],
            ["info: compute() from the raw tables (no facts table)", "-", _f(_med(s["raw"])), _f(_med(s["raw"], 1)),
             f"{_ratio(_med(s['raw']), base):.2f}x", "", ""]]
    print_table(["", "cold ms", "median ms", "cpu ms", "vs baseline", "target", "verdict"], rows,
                title=f"N={n:,} courses ({info}); {runs} interleaved runs in one process (raw: {len(s['raw'])}); "
                      f"DuckDB threads={out['threads']}")
    print(f"(pre-joined table built in {out['baseline_prepare_ms']:.0f} ms, not timed; cpu ms = process CPU time, "
          f"all threads; cold = compute()'s first call in a fresh process)")
    print(f"checks: baseline sums = compute()'s municipality rows; compute() from the raw tables IDENTICAL "
          f"({out['rows']:,} rows)")
    if memory:
        mem_runs = max(3, runs // 3)
        comp = _spawn({"mode": "memory", "what": "compute", "path": str(path), "runs": mem_runs})
        pas = _spawn({"mode": "memory", "what": "baseline", "path": str(path), "runs": mem_runs})
        mem_ratio = _ratio(comp["peak_mb"], pas["peak_mb"])
        mem_ok = mem_ratio <= TARGET_MEMORY_RATIO
        print_table(["peak resident memory (MiB)", "before the work", "peak during it", "vs baseline", "target",
                     "verdict"],
                    [["baseline pass (pre-joined table in memory)", _f(pas["before_mb"], 0), _f(pas["peak_mb"], 0),
                      "1.00x", "", ""],
                     ["compute()", _f(comp["before_mb"], 0), _f(comp["peak_mb"], 0), f"{mem_ratio:.2f}x",
                      f"<= {TARGET_MEMORY_RATIO:g}x", "no verdict" if quick else ("PASS" if mem_ok else "MISS")]],
                    title=f"Memory at N={n:,}: each in a fresh process, {mem_runs} runs, peak reset right before")
        ok = ok and mem_ok
    return quick or ok


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
    runs = options.indicator_runs or (5 if quick else 11)
    print("\n== indicators: compute() K1-K6 x municipalities x years + clusters, regions, nation, with CIs ==")
    print(machine_line())
    print(f"{_loadavg()} at start (other work on the machine inflates every figure; ratios are measured "
          f"in the same run)")
    owned = options.cache_dir is None
    cache = Path(tempfile.mkdtemp(prefix="hjertekom_bench_ind_")) if owned else Path(options.cache_dir)
    work = Path(tempfile.mkdtemp(prefix="hjertekom_bench_ind_work_"))
    ok = True
    try:
        for n, big in ((n_small, False), (n_big, True)):
            if not n:
                continue
            path, built = cached(cache, n, options.seed)
            print(f"\nsnapshot {path.name}: " + (f"generated in {built:.1f} s (not measured)" if built else "cached")
                  + f"\n  {describe(path)}")
            ok = _part(path, n, "synthetic national decade", runs, quick, work, memory=big) and ok
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
