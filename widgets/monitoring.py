"""What an operator watches: ``GET /healthz`` for the proxy's checks, ``GET /metrics`` for Prometheus,
and the server's drain on SIGTERM (docs/deployment.md).

- ``/healthz`` needs no session and says nothing personal: whether the store answers, how many
  kernels run, the version, and whether the server is draining. 200 when it can serve, else 503.
- ``/metrics`` is the Prometheus text format, read only with the bearer token of the private file
  ``<data dir>/metrics.token`` (0600, made at start); the proxy never routes it (deploy/nginx).
  No label holds a user, a citizen or a course: counts, latencies and memory only.
- Saves happen in the kernels (separate processes): each kernel's save observer
  (internal_api.py ``ServerSaveReports``, on hjertekom_core/save_events.py) reports the start of
  every service save before it touches the store, and its end, over the server's private socket,
  so the server counts saves and their latency and knows which are still in flight.
- Logins are counted where the login form answers (``count_login``, from the base handler).

One ``Monitor`` per server process, kept in the tornado settings under ``SETTINGS_KEY``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import os
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text

from hjertekom_core.bootstrap import ensure_secret

log = logging.getLogger(__name__)

disable_created_metrics()  # the *_created series only repeat the start time

SETTINGS_KEY = "hjertekom_monitor"
TOKEN_FILE_NAME = "metrics.token"  # noqa: S105 - the name of the file, not a secret
#: A store that does not answer within this time is unreachable for the health check.
STORE_CHECK_SECONDS = 3.0
#: Save latencies in seconds (a save is a validation and two INSERTs: tens of milliseconds).
SAVE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SAVE_OUTCOMES = ("saved", "refused", "failed")


def app_version() -> str:
    try:
        return version("hjertekom")
    except PackageNotFoundError:
        return "unknown"


def kernel_processes() -> list[psutil.Process]:
    """This server's kernels: its child processes that run ipykernel."""
    found = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue  # gone while we looked
    return found


def kernel_memory_bytes() -> float:
    total = 0
    for proc in kernel_processes():
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return float(total)


@dataclass
class Monitor:
    """The server's counters, its saves in flight and its draining state."""

    token: str
    kernel_manager: Any = None   # Voilà's, set once it exists
    draining_since: float | None = None
    _in_flight: dict[str, float] = field(default_factory=dict)   # report key -> start (monotonic)
    # Ends whose start was not (yet) heard: a start that timed out in the kernel may still arrive
    # after its end, and must not then count as a save in flight. Key -> when (monotonic).
    _ended_unbegun: dict[str, float] = field(default_factory=dict)
    told: set[str] = field(default_factory=set)                  # kernels whose page heard of the restart

    def __post_init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.saves = Counter("hjertekom_saves", "Service saves reported by this server's kernels, by outcome "
                             "(saved; refused: validation, conflict or rights; failed: an unexpected error)",
                             ["outcome"], registry=reg)
        for outcome in SAVE_OUTCOMES:
            self.saves.labels(outcome)
        self.save_seconds = Histogram("hjertekom_save_seconds", "Duration of the service saves that wrote a "
                                      "revision, in the kernel", buckets=SAVE_BUCKETS, registry=reg)
        Gauge("hjertekom_saves_in_flight", "Saves started and not yet finished", registry=reg) \
            .set_function(lambda: float(self.saves_in_flight()))
        self.logins = Counter("hjertekom_logins", "Successful logins on the login form", registry=reg)
        self.login_failures = Counter("hjertekom_login_failures", "Refused logins on the login form "
                                      "(wrong password, locked, researcher)", registry=reg)
        Gauge("hjertekom_kernels", "Kernels running (pages served and preheated)", registry=reg) \
            .set_function(self.kernel_count)
        Gauge("hjertekom_kernel_memory_bytes", "Resident memory of all kernels of this server",
              registry=reg).set_function(kernel_memory_bytes)
        Gauge("hjertekom_draining", "1 while the server stops (SIGTERM received)", registry=reg) \
            .set_function(lambda: 1.0 if self.draining else 0.0)
        Gauge("hjertekom_info", "Version of this server", ["version"], registry=reg).labels(app_version()).set(1)
        ProcessCollector(registry=reg)  # the server process's own memory, CPU and open files

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Monitor:
        """The monitor with the token of ``<data dir>/metrics.token`` (made 0600 if missing)."""
        return cls(token=ensure_secret(data_dir / TOKEN_FILE_NAME).hex())

    # --- state ----------------------------------------------------------------------------------------
    @property
    def draining(self) -> bool:
        return self.draining_since is not None

    def kernel_count(self) -> float:
        km = self.kernel_manager
        return float(len(km.list_kernel_ids())) if km is not None else 0.0

    def save_began(self, key: str) -> None:
        if self._ended_unbegun.pop(key, None) is None:
            self._in_flight[key] = time.monotonic()

    def save_ended(self, key: str, seconds: float, outcome: str) -> None:
        if self._in_flight.pop(key, None) is None:
            self._ended_unbegun[key] = time.monotonic()
            if len(self._ended_unbegun) > 1000:   # a server that did not answer the starts for a while
                self._forget_stale()
        outcome = outcome if outcome in SAVE_OUTCOMES else "failed"
        self.saves.labels(outcome).inc()
        if outcome == "saved":
            self.save_seconds.observe(max(0.0, seconds))

    def saves_in_flight(self) -> int:
        self._forget_stale()
        return len(self._in_flight)

    def _forget_stale(self) -> None:
        # A kernel killed in the middle of a save never reports its end: forget it after a minute.
        now = time.monotonic()
        for table in (self._in_flight, self._ended_unbegun):
            for key, since in list(table.items()):
                if now - since > 60:
                    table.pop(key, None)

    def count_login(self, status: int) -> None:
        """The login form answered a POST: a redirect is a login, 403 or 429 a refusal."""
        if status in (302, 303):
            self.logins.inc()
        elif status in (403, 429):
            self.login_failures.inc()

    # --- the two pages --------------------------------------------------------------------------------
    def metrics_text(self) -> bytes:
        return generate_latest(self.registry)

    def token_ok(self, authorization: str) -> bool:
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    async def health(self, store: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of ``/healthz``."""
        reachable = await _store_answers(store)
        body = {"status": "ok", "store": reachable, "kernels": int(self.kernel_count()), "version": app_version(),
                "draining": self.draining, "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        if self.draining:
            body["status"] = "draining"
        elif not reachable:
            body["status"] = "unavailable"
        return (200 if body["status"] == "ok" else 503), body


def _ping(store: Any) -> None:
    with store.read() as conn:
        conn.execute(text("SELECT 1"))


async def _store_answers(store: Any) -> bool:
    loop = asyncio.get_running_loop()
    try:
        # In a thread: a store that hangs must not hold up the server's other requests.
        await asyncio.wait_for(loop.run_in_executor(None, _ping, store), STORE_CHECK_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"; logged without secrets
        log.warning("health check: the store does not answer (%s)", type(exc).__name__)
        return False
    return True


def health_json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


__all__ = ["CONTENT_TYPE_LATEST", "Monitor", "SETTINGS_KEY", "health_json", "kernel_processes"]
