"""Shared helpers for the benchmarks: percentiles, tables, worker processes and scratch stores."""
from __future__ import annotations

import argparse

import math
import multiprocessing as mp
import os
import platform
import queue
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO / "data_contracts"
# The tests' hand-written, valid registrations (tests/factories.py) are the benchmark payload.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PG_ADMIN_URL = os.environ.get("HJERTEKOM_BENCH_POSTGRES_URL",
                              os.environ.get("HJERTEKOM_TEST_POSTGRES_URL",
                                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"))


# --- statistics ------------------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100): an observed value, never
    an interpolation, so p99 of 800 samples is the 792nd smallest."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        s = sorted(values)
        return cls(len(s), percentile(s, 50), percentile(s, 95), percentile(s, 99),
                   s[-1] if s else math.nan, sum(s) / len(s) if s else math.nan)


def ratio(value: float, base: float) -> str:
    if not base or math.isnan(base) or math.isnan(value):
        return "n/a"
    return f"{value / base:.1f}x"


def ms(ns: float) -> str:
    return "n/a" if math.isnan(ns) else f"{ns / 1e6:.2f}"


# --- output ----------------------------------------------------------------------------------------

def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """A plain text table; numbers right-aligned, text left-aligned."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def numeric(text: str) -> bool:
        return bool(text) and (text[0].isdigit() or text[0] in "-+.") or text in ("n/a", "-")

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if numeric(v) else v.ljust(w) for v, w in zip(values, widths)).rstrip()

    if title:
        print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print(line(r))


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"machine: nproc={os.cpu_count()} ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


# --- worker processes ------------------------------------------------------------------------------

class WorkerFailed(RuntimeError):
    pass


def _entry(target: Callable[..., Any], index: int, args: Any, barrier: Any, results: Any) -> None:
    try:
        results.put((index, True, target(index, args, barrier)))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails loudly
        try:
            barrier.abort()  # release the others instead of letting them wait for the timeout
        except Exception:  # noqa: BLE001
            pass
        results.put((index, False, traceback.format_exc()))


def run_workers(target: Callable[[int, Any, Any], Any], args: Sequence[Any], *, timeout: float = 900) -> list[Any]:
    """Run ``target(index, args[index], barrier)`` in one fresh 'spawn' process per element of
    ``args`` and return the results in order. ``barrier`` is shared by all workers: a worker does
    its set-up, calls ``barrier.wait()`` and only then starts the measured part, so that all of
    them run at once. Only picklable things (URLs, ids, numbers) go into ``args``."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(args))
    results = ctx.Queue()
    procs = [ctx.Process(target=_entry, args=(target, i, a, barrier, results), daemon=True)
             for i, a in enumerate(args)]
    for p in procs:
        p.start()
    out: dict[int, Any] = {}
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) + len(errors) < len(procs):
            try:
                index, ok, value = results.get(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise WorkerFailed(f"workers did not finish within {timeout:.0f} s") from None
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise WorkerFailed(f"worker process died (exit code {dead[0].exitcode})") from None
                continue
            if ok:
                out[index] = value
            else:
                errors.append(f"worker {index}:\n{value}")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
    if errors:
        real = [e for e in errors if "BrokenBarrierError" not in e] or errors
        raise WorkerFailed("\n".join(real))
    return [out[i] for i in range(len(procs))]


# --- scratch stores --------------------------------------------------------------------------------

def pg_available() -> str | None:
    """None if the PostgreSQL server answers, else the reason."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        engine.dispose()


def pg_settings() -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
            sync = conn.execute(text("SHOW synchronous_commit")).scalar()
            fsync = conn.execute(text("SHOW fsync")).scalar()
        return f"PostgreSQL {version} (fsync={fsync}, synchronous_commit={sync})"
    finally:
        engine.dispose()


@contextmanager
def scratch_store_url(backend: str, label: str = "bench") -> Iterator[str]:
    """The URL of a fresh, empty, migrated store with municipalities; removed afterwards.

    sqlite: a file in a new temporary folder. postgres: a new database on the server of
    HJERTEKOM_BENCH_POSTGRES_URL (default: the tests' server), dropped afterwards.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from hjertekom_core.bootstrap import sync_municipalities
    from hjertekom_core.contract import ContractRegistry
    from hjertekom_core.store import Store

    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"hjertekom_{label}_"))
        url = f"sqlite:///{folder / 'store.sqlite'}"
        cleanup: Callable[[], None] = lambda: shutil.rmtree(folder, ignore_errors=True)  # noqa: E731
    elif backend == "postgres":
        name = f"hjertekom_{label}_{uuid.uuid4().hex[:10]}"
        admin_url = make_url(PG_ADMIN_URL)
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin_url.set(database=name).render_as_string(hide_password=False)

        def cleanup() -> None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        raise ValueError(f"unknown backend {backend!r}")
    try:
        store = Store(url)
        store.migrate()
        sync_municipalities(store, ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"]))
        store.dispose()
        yield url
    finally:
        cleanup()


def add_once(group: Any, *names: str, **kwargs: Any) -> None:
    """Add an option unless another benchmark module already did (e.g. the shared --cache-dir)."""
    try:
        group.add_argument(*names, **kwargs)
    except argparse.ArgumentError:
        pass
