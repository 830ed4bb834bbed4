"""Run the benchmarks: ``python -m benchmarks [NAME ...] [--quick] [--backend sqlite,postgres]``.

Without names every benchmark runs. Each prints its figures, its ratio to a baseline measured in
the same run, and PASS/MISS against its target; a summary follows. Exit code: 2 if a benchmark
could not run, else 0 (or, with --strict, 1 when a target was missed).

A benchmark is any module of this package with ``NAME``, ``add_arguments(parser)`` and
``run(options) -> bool`` at top level; it is found without being listed here.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

FIRST = ("save_latency", "demo_build")  # shown and run first; the others follow by module name
_PACKAGE_DIR = Path(__file__).resolve().parent


def discover() -> tuple[dict[str, ModuleType], dict[str, str]]:
    """Benchmark modules by NAME, and the modules that look like benchmarks but fail to load."""
    candidates = []
    for info in pkgutil.iter_modules([str(_PACKAGE_DIR)]):
        if info.name.startswith("_") or info.name == "common":
            continue
        try:
            source = (_PACKAGE_DIR / f"{info.name}.py").read_text(encoding="utf-8")
        except OSError:
            continue
        if re.search(r"^NAME\s*=", source, re.M) and re.search(r"^def run\(", source, re.M):
            candidates.append(info.name)
    order = [m for m in FIRST if m in candidates] + sorted(m for m in candidates if m not in FIRST)
    found: dict[str, ModuleType] = {}
    broken: dict[str, str] = {}
    for module_name in order:
        try:
            module = importlib.import_module(f"benchmarks.{module_name}")
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not stop the others
            broken[module_name] = f"{type(exc).__name__}: {exc}"
            continue
        found[module.NAME] = module
    return found, broken


def main(argv: list[str] | None = None) -> int:
    benchmarks, broken = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(benchmarks)}")
    parser.add_argument("--quick", action="store_true", help="a short run (smaller N; targets still printed)")
    parser.add_argument("--backend", default="sqlite,postgres",
                        help="comma-separated backends for the store benchmarks (default: sqlite,postgres)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument("--strict", action="store_true", help="exit with 1 when a target is missed")
    for name, module in list(benchmarks.items()):
        try:
            module.add_arguments(parser)
        except (argparse.ArgumentError, AttributeError) as exc:
            broken[name] = f"its options: {exc}"
            del benchmarks[name]
    options = parser.parse_args(argv)
    unknown = [n for n in options.names if n not in benchmarks]
    if unknown:
        parser.error(f"unknown or broken benchmark(s) {', '.join(unknown)}; choose from {', '.join(benchmarks)}"
                     + "".join(f"\n  {m}: {why}" for m, why in broken.items()))
    options.backends = [b.strip() for b in options.backend.split(",") if b.strip()]
    bad = [b for b in options.backends if b not in ("sqlite", "postgres")]
    if bad:
        parser.error(f"unknown backend(s) {', '.join(bad)}; choose sqlite and/or postgres")

    summary: list[tuple[str, str, str]] = []
    if not options.names:
        summary += [(m, "-", f"ERROR, not loaded ({why})") for m, why in broken.items()]
    for name in options.names or list(benchmarks):
        started = time.monotonic()
        try:
            met = benchmarks[name].run(options)
            result = "targets met" if met else "target MISSED"
        except Exception:  # noqa: BLE001 - report and go on with the next benchmark
            traceback.print_exc()
            result = "ERROR (traceback above)"
        took = f"{time.monotonic() - started:.0f} s"
        print(f"[{name}: {result}; {took}]")
        summary.append((name, took, result))

    print("\nsummary")
    for name, took, result in summary:
        print(f"  {name:16} {took:>7}  {result}")
    if any(r.startswith("ERROR") for _, _, r in summary):
        return 2
    return 1 if options.strict and any("MISSED" in r for _, _, r in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
