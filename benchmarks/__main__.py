"""Run the benchmarks: ``python -m benchmarks [NAME ...] [--quick] [--backend sqlite,postgres]``.

Without names every benchmark runs. Each prints its figures and their ratio to a baseline
measured in the same run; the exit code is 0 when every target is met, 1 when one is missed
(printed as MISS), 2 when a benchmark could not run.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback

from benchmarks import demo_build, save_latency
from benchmarks.common import machine_line

BENCHMARKS = {m.NAME: m for m in (save_latency, demo_build)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="a short run (smaller N; targets still printed)")
    parser.add_argument("--backend", default="sqlite,postgres",
                        help="comma-separated backends for the store benchmarks (default: sqlite,postgres)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    for module in BENCHMARKS.values():
        module.add_arguments(parser)
    options = parser.parse_args(argv)
    unknown = [n for n in options.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    options.backends = [b.strip() for b in options.backend.split(",") if b.strip()]
    bad = [b for b in options.backends if b not in ("sqlite", "postgres")]
    if bad:
        parser.error(f"unknown backend(s) {', '.join(bad)}; choose sqlite and/or postgres")

    print(machine_line())
    status = 0
    for name in options.names or list(BENCHMARKS):
        started = time.monotonic()
        try:
            met = BENCHMARKS[name].run(options)
        except Exception:  # noqa: BLE001 - report and go on with the next benchmark
            traceback.print_exc()
            print(f"\n{name}: ERROR (see the traceback above)")
            status = 2
            continue
        print(f"[{name} took {time.monotonic() - started:.0f} s; targets {'met' if met else 'MISSED'}]")
        if not met and status == 0:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
