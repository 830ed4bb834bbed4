"""Reports: 98 municipality reports, HTML and PDF, from one snapshot.

Data: ``hjertekom demo --citizens N`` (default 20,000: every region, most municipalities with
courses in the period) and one identified snapshot of it. The period is the last full calendar
year. Every one of the 98 municipalities gets a report (one without courses gets its "no data"
report, as ``hjertekom report`` makes it).

Timed: ``hjertekom_core.reports.batch.render_all`` for the 98 codes, HTML and PDF, with the
configured number of workers (default: the CPU count, at most 4), from the pool's start to the
last file and the index. Target: <= 60 s on the 2-core machine, peak memory of the whole process
tree (this process, the workers, their kernels and browsers; proportional set size, so shared
pages count once) <= 3 GB, sampled every second: reading the PSS of a dozen processes costs
about 35 ms of CPU, which at 10 samples a second took a third of a core from the batch it measured.

Baseline, same run: the naive loop, per municipality one after another: ``papermill`` on the
command line (a new kernel), ``jupyter nbconvert --to html --no-input``, and chromium's own
``--print-to-pdf``. The naive loop takes about 98 times the time of one; it runs for a sample of
municipalities (``--reports-naive``, default 8; 0 = all 98) and its mean per report, times 98, is
the baseline, printed as such. Target: the batch >= 6x faster than the baseline.

Run alone: ``python -m benchmarks.reports_bench [--quick] [--cache-dir DIR]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import REPO, add_once, machine_line, print_table, verdict

NAME = "reports"
TARGET_S = 60.0
TARGET_SPEEDUP = 6.0
TARGET_GB = 3.0
CITIZENS = 20_000
QUICK_CITIZENS = 3_000
CHROMIUM = "/usr/bin/chromium"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--reports-citizens", type=int, default=None,
                       help=f"citizens in the demo store (default {CITIZENS:,}; {QUICK_CITIZENS:,} with --quick)")
    group.add_argument("--reports-naive", type=int, default=None,
                       help="municipalities in the naive loop's sample (default 8; 3 with --quick; 0 = all 98)")
    group.add_argument("--reports-workers", type=int, default=None, help="batch workers (default: the setting)")
    add_once(group, "--cache-dir", type=Path, default=None,
             help="keep generated snapshots/stores here between runs (default: a temporary folder, removed)")


# --- memory of a process tree ----------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _pss_kb(pid: int) -> int:
    """Proportional set size: a page shared by n processes counts 1/n in each. Summing RSS instead
    would count chromium's shared pages once per chromium process."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
    except OSError:
        return 0


def tree_pss_gb(root: int) -> float:
    seen, todo, total = set(), [root], 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _pss_kb(pid)
        todo.extend(_children(pid))
    return total / 1024 / 1024


class PeakMemory:
    """Samples the memory (PSS) of this process and all its descendants until stopped."""

    def __init__(self, interval: float = 1.0) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss_gb(os.getpid()))
            self._stop.wait(interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the two ways of making the reports --------------------------------------------------------------

def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def naive_one(snapshot: Path, code: int, period: str, out: Path) -> float:
    """papermill CLI, then nbconvert CLI, then chromium --print-to-pdf: seconds for one report."""
    t0 = time.perf_counter()
    nb = out / f"{code}.ipynb"
    subprocess.run([_bin("papermill"), str(REPO / "notebooks" / "reports" / "municipality.ipynb"), str(nb),
                    "-p", "snapshot", str(snapshot), "-p", "municipality", str(code), "-p", "period", period,
                    "--no-progress-bar", "--log-level", "ERROR"],
                   check=True, capture_output=True, cwd=REPO)
    subprocess.run([_bin("jupyter"), "nbconvert", "--to", "html", "--no-input", str(nb)],
                   check=True, capture_output=True)
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={out / f'{code}.pdf'}", (out / f"{code}.html").as_uri()],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def run(options: argparse.Namespace) -> bool:
    from benchmarks.snapshot_bench import demo_store
    from hjertekom_core.config import Config
    from hjertekom_core.contract import ContractRegistry
    from hjertekom_core.reports.batch import municipality_names, render_all
    from hjertekom_core.snapshot import create_snapshot
    from hjertekom_core.store import Store

    citizens = options.reports_citizens or (QUICK_CITIZENS if options.quick else CITIZENS)
    sample = options.reports_naive if options.reports_naive is not None else (3 if options.quick else 8)
    workers = options.reports_workers or Config().report_workers
    period = str(dt.date.today().year - 1)
    scratch = Path(tempfile.mkdtemp(prefix="hk-reports-bench-"))
    cache = options.cache_dir or scratch
    print(f"\n== {NAME}: 98 municipality reports (HTML + PDF), period {period} ==")
    print(machine_line())
    try:
        data_dir, _ = demo_store(cache, citizens, options.seed, 3600)
        snapshot = create_snapshot(Store(f"sqlite:///{data_dir / 'hjertekom.sqlite'}"),
                                   ContractRegistry(REPO / "data_contracts", programmes=["hjertekom"]), scratch / "snapshots").path
        codes = sorted(municipality_names(snapshot))
        print(f"demo store: {citizens:,} citizens; snapshot {snapshot.name}; {len(codes)} municipalities; "
              f"{workers} workers")

        out = scratch / "reports"
        t0 = time.perf_counter()
        with PeakMemory() as memory:
            result = render_all(snapshot, period, out, codes=codes, workers=workers, chromium=Path(CHROMIUM))
        batch_s = time.perf_counter() - t0
        if result.failed:
            raise RuntimeError(f"{len(result.failed)} reports failed, e.g. {result.failed[0].code}: "
                               f"{result.failed[0].error}")
        per_report = [o.seconds for o in result.made]

        naive_dir = scratch / "naive"
        naive_dir.mkdir()
        chosen = codes if sample == 0 else codes[:: max(1, len(codes) // sample)][:sample]
        naive = [naive_one(snapshot, code, period, naive_dir) for code in chosen]
        naive_total = statistics.mean(naive) * len(codes)
        speedup = naive_total / batch_s

        print_table(["measure", "value", "target", "result"], [
            ["batch, 98 reports, wall clock", f"{batch_s:.1f} s", f"<= {TARGET_S:.0f} s", verdict(batch_s, TARGET_S)],
            ["  per report in a worker (median)", f"{statistics.median(per_report):.2f} s", "", ""],
            ["  peak memory, whole process tree", f"{memory.peak:.2f} GB", f"<= {TARGET_GB:.0f} GB",
             verdict(memory.peak, TARGET_GB)],
            [f"naive loop, mean of {len(naive)} reports", f"{statistics.mean(naive):.2f} s", "", ""],
            ["naive loop for 98 (mean x 98)" if sample else "naive loop, 98 reports", f"{naive_total:.0f} s", "",
             ""],
            ["speed-up of the batch", f"{speedup:.1f}x", f">= {TARGET_SPEEDUP:.0f}x",
             "PASS" if speedup >= TARGET_SPEEDUP else "MISS"],
        ], title="Result")
        return batch_s <= TARGET_S and speedup >= TARGET_SPEEDUP and memory.peak <= TARGET_GB
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    add_arguments(parser)
    sys.exit(0 if run(parser.parse_args()) else 1)


if __name__ == "__main__":
    main()
