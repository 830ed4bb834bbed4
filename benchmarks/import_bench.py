"""Import of a large CSV: peak memory and time of ``import_file``, against just reading the file.

A CSV near the import limit (default 19 MB, under the default ``import_max_mb`` of 20) is made of
distinct synthetic citizens, each with one complete course written as a clinician would
(tests/factories.py: Danish dates, decimal comma, codes). Each measurement runs in a fresh
interpreter that first imports the importer, opens the store and loads the contracts, so both
share the same fixed part:

* baseline: read every row of the file with the standard library's ``csv`` module and count them;
* import: ``import_file`` of the same file into a fresh, empty store (all rows valid, so every row is
  checked and written).

Reported: seconds and peak RSS (``ru_maxrss``) of each, and the import's memory above the baseline
as a multiple of the file size. Target: the import needs at most 4x the file's size above the
baseline (before streaming it held several copies of every row: 2.7 GB for a 50 MB file).
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess  # noqa: S404 - the measured import runs in a fresh interpreter of this venv
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, add_once, machine_line, print_table, ratio, scratch_store_url

NAME = "import"
TARGET_EXTRA_PER_FILE_MB = 4.0
DEFAULT_MB = 19.0
QUICK_MB = 2.0

# Runs in the child: argv = mode, store URL, file. Prints one JSON line.
_CHILD = r"""
import csv, json, resource, sys, time
from pathlib import Path
from hjertekom_core.access import SYSTEM
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.importer import import_file
from hjertekom_core.service import Service
from hjertekom_core.store import Store
import datetime as dt, inspect

mode, url, path = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = Store(url)
service = Service(store, ContractRegistry(Path(sys.argv[4]), programmes=["hjertekom"]), SYSTEM, today=dt.date(2026, 6, 30))
t0 = time.perf_counter()
if mode == "baseline":
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = sum(1 for _ in csv.reader(fh, delimiter=";")) - 1
else:
    # Above the size limit; older checkouts (before the limit) are measured too, for comparison.
    kwargs = {"max_mb": 1000} if "max_mb" in inspect.signature(import_file).parameters else {}
    rows = import_file(service, path, **kwargs).courses
seconds = time.perf_counter() - t0
store.dispose()
print(json.dumps({"seconds": seconds, "rows": rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--import-mb", type=float, default=None,
                       help=f"size of the generated CSV in MB (default: {DEFAULT_MB:g}; {QUICK_MB:g} with --quick)")
    add_once(group, "--import-timeout", type=float, default=1800, help="give up on one import after this many s")


def _row_cells() -> tuple[list[str], list[str]]:
    """Header and the cells of one valid course (CPR and name left for the caller)."""
    from tests.factories import course_data, end_data, start_data

    header: list[str] = ["cpr", "name"]
    cells: list[str] = []
    for form, data in (("course", course_data()), ("start", start_data()), ("end", end_data())):
        for key, value in data.items():
            header.append(f"{form}.{key}")
            cells.append(";".join(value) if isinstance(value, list) else str(value))
    return header, cells


def write_csv(path: Path, size_mb: float, seed: int) -> int:
    """A ';'-separated UTF-8 CSV of distinct citizens, about ``size_mb`` MB; returns its data rows."""
    import random

    from hjertekom_core.cpr import generate_cpr

    rng = random.Random(seed)  # noqa: S311 - synthetic, reproducible test data, not a secret
    header, cells = _row_cells()
    target = int(size_mb * 1024 * 1024)
    seen: set[str] = set()
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(header)
        while fh.tell() < target:
            cpr = generate_cpr(rng)
            while cpr in seen:
                cpr = generate_cpr(rng)
            seen.add(cpr)
            writer.writerow([f"{cpr[:6]}-{cpr[6:]}", f"Borger {rows + 1}", *cells])
            rows += 1
    return rows


def _measure(mode: str, url: str, path: Path, timeout: float) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 - our own interpreter and code, no user input
        [sys.executable, "-c", _CHILD, mode, url, str(path), str(REPO / "data_contracts")],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(options: argparse.Namespace) -> bool:
    size = options.import_mb or (QUICK_MB if options.quick else DEFAULT_MB)
    print(f"\n== import: import_file of a {size:g} MB CSV vs. reading it with csv ==")
    print(machine_line())
    folder = Path(tempfile.mkdtemp(prefix="hjertekom_bench_import_"))
    met = True
    try:
        path = folder / "import.csv"
        rows = write_csv(path, size, options.seed)
        file_mb = path.stat().st_size / 1024 / 1024
        for backend in options.backends:
            try:
                with scratch_store_url(backend, "import") as url:
                    base = _measure("baseline", url, path, options.import_timeout)
                    done = _measure("import", url, path, options.import_timeout)
            except Exception as exc:  # noqa: BLE001 - e.g. no PostgreSQL server: say so, go on
                print(f"{backend}: UNAVAILABLE ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
                if backend == "sqlite":
                    met = False
                continue
            extra = done["peak_mb"] - base["peak_mb"]
            per_file = extra / file_mb
            ok = per_file <= TARGET_EXTRA_PER_FILE_MB and done["rows"] == rows
            met = met and ok
            print_table(["", "seconds", "peak RSS MB", "rows"], [
                ["read with csv (baseline)", f"{base['seconds']:.2f}", f"{base['peak_mb']:.0f}", base["rows"]],
                ["import_file", f"{done['seconds']:.2f}", f"{done['peak_mb']:.0f}", done["rows"]],
                ["ratio import / baseline", ratio(done["seconds"], base["seconds"]),
                 ratio(done["peak_mb"], base["peak_mb"]), ""],
            ], title=f"{backend}: {file_mb:.1f} MB, {rows:,} rows ({done['rows'] / done['seconds']:,.0f} rows/s)")
            print(f"memory above the baseline: {extra:.0f} MB = {per_file:.1f}x the file; target <= "
                  f"{TARGET_EXTRA_PER_FILE_MB:g}x -> {'PASS' if ok else 'MISS'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return met
