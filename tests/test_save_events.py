"""The save observer hook of ``Service.save`` (hjertekom_core/save_events.py) and the kernel's
observer that reports saves to its server (internal_api.ServerSaveReports), on a real store and the
server's real private socket: outcomes are classified, an observer's failure never fails a save,
and the server counts a save as in flight before the save touches the store (what the drain on
SIGTERM relies on). The drain of a real ``hjertekom serve`` is in browser/test_server_shutdown.py."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from tornado.ioloop import IOLoop

from hjertekom_core.bootstrap import Workspace
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import RevisionConflict, ValidationFailed
from hjertekom_core.save_events import SaveOutcome, add_save_observer, remove_save_observer
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import registrations
from hjertekom_widgets.guard import Guard
from hjertekom_widgets.internal_api import IDENTITY_ENV, SOCKET_ENV, SOCKET_NAME, ServerSaveReports, \
    start_internal_server
from hjertekom_widgets.monitoring import Monitor

from factories import course_data, start_data

CPR = generate_cpr(random.Random(17), birth_date=dt.date(1950, 5, 1), sex="F")
WEIGHT_ONLY = {"meeting_date": "17-02-2025", "weight_kg": "79,5"}


class Recorder:
    """An observer that writes down what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._n = 0

    def begin(self) -> int:
        self._n += 1
        self.events.append(("begin", self._n))
        return self._n

    def end(self, token: int, outcome: SaveOutcome, seconds: float) -> None:
        self.events.append(("end", token, outcome, seconds))


class Broken:
    def begin(self) -> Any:
        raise RuntimeError("observer down")

    def end(self, token: Any, outcome: SaveOutcome, seconds: float) -> None:
        raise RuntimeError("observer down")


class BrokenAtEnd(Recorder):
    def end(self, token: int, outcome: SaveOutcome, seconds: float) -> None:
        raise RuntimeError("observer down")


@pytest.fixture
def observe() -> Iterator[Callable[[Any], Any]]:
    """Register observers for one test only (the hook is process-wide)."""
    added: list[Any] = []

    def add(observer: Any) -> Any:
        add_save_observer(observer)
        added.append(observer)
        return observer

    yield add
    for observer in added:
        remove_save_observer(observer)


@pytest.fixture
def svc(make_user: Callable[..., Any], service_for: Callable[[Any], Service]) -> Service:
    return service_for(make_user("sygeplejerske"))


@pytest.fixture
def course_id(svc: Service) -> int:
    citizen = svc.create_citizen(CPR, "Karen Kernesen", 740)
    return svc.open_course(citizen.id, course_data(), complete=True).course_id


def revisions(store: Store, course_id: int) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(registrations)
                            .where(registrations.c.course_id == course_id, registrations.c.form == "start")).scalar_one()


# --- the core hook -------------------------------------------------------------------------------

def test_each_save_is_told_with_its_outcome(svc: Service, course_id: int, observe: Callable[[Any], Any]) -> None:
    seen = observe(Recorder())
    svc.save_draft(course_id, "start", WEIGHT_ONLY, 0)
    with pytest.raises(RevisionConflict):                    # someone saved since: answered to the user
        svc.save_draft(course_id, "start", WEIGHT_ONLY, 0)
    with pytest.raises(ValidationFailed):
        svc.save_draft(course_id, "start", {"weight_kg": "ikke et tal"}, 1)
    with pytest.raises(ValueError):                          # a programming error, not the user's
        svc.save(course_id, "start", WEIGHT_ONLY, 1, complete=True, reopen=True)
    svc.mark_complete(course_id, "start", start_data(), 1)   # one save, told once
    assert [e[0] for e in seen.events] == ["begin", "end"] * 5
    ends = [e for e in seen.events if e[0] == "end"]
    assert [(token, outcome) for _, token, outcome, _ in ends] == [
        (1, "saved"), (2, "refused"), (3, "refused"), (4, "failed"), (5, "saved")]
    assert all(0 <= seconds < 5 for *_, seconds in ends)


def test_a_failing_observer_neither_fails_a_save_nor_silences_the_others(
        svc: Service, course_id: int, store: Store, observe: Callable[[Any], Any],
        caplog: pytest.LogCaptureFixture) -> None:
    observe(Broken())
    observe(BrokenAtEnd())
    seen = observe(Recorder())
    with caplog.at_level(logging.WARNING, logger="hjertekom_core.save_events"):
        saved = svc.save_draft(course_id, "start", WEIGHT_ONLY, 0)
    assert (saved.revision, saved.status) == (1, "draft")
    assert revisions(store, course_id) == 1
    assert [e[:3] for e in seen.events] == [("begin", 1), ("end", 1, "saved")]
    # Logged: Broken at its begin (so it is not asked to end), BrokenAtEnd at its end.
    assert [r.getMessage() for r in caplog.records if "observer" in r.getMessage()] == [
        "save observer Broken failed at begin; the save goes on", "save observer BrokenAtEnd failed at end"]
    # Nor does it hide the user's own error behind its own.
    with pytest.raises(RevisionConflict):
        svc.save_draft(course_id, "start", WEIGHT_ONLY, 0)


# --- the kernel's observer on the server's private socket ---------------------------------------

@dataclass
class Channel:
    monitor: Monitor
    socket_path: Path


@pytest.fixture
def channel(store: Store, contracts: ContractRegistry, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Channel]:
    """The server's private socket served by the real handlers (in a thread), and this process set
    up as one of its kernels (the socket and an identity token in the environment)."""
    base = Path(tempfile.mkdtemp(prefix="hk-", dir="/tmp"))   # Unix socket paths are short
    base.chmod(0o700)
    guard = Guard(Workspace(Config(data_dir=tmp_path), contracts, store), idle=dt.timedelta(minutes=30))
    token = guard.registry.issue("session-of-anne", "anne")
    monitor = Monitor(token="0" * 64)
    path = base / SOCKET_NAME
    started = threading.Event()
    parts: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        parts["loop"] = IOLoop.current()
        parts["server"] = start_internal_server(guard, str(path), monitor)
        started.set()
        parts["loop"].start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30)
    monkeypatch.setenv(SOCKET_ENV, str(path))
    monkeypatch.setenv(IDENTITY_ENV, token)
    try:
        yield Channel(monitor, path)
    finally:
        loop = parts["loop"]
        loop.add_callback(lambda: (parts["server"].stop(), loop.stop()))
        thread.join(10)
        shutil.rmtree(base, ignore_errors=True)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_the_server_counts_a_save_in_flight_before_it_touches_the_store(
        svc: Service, course_id: int, store: Store, channel: Channel, observe: Callable[[Any], Any]) -> None:
    monitor = channel.monitor
    observe(ServerSaveReports())
    in_flight_at_first_statement: list[int] = []

    def first_statement(*_args: Any) -> None:
        if not in_flight_at_first_statement:
            in_flight_at_first_statement.append(monitor.saves_in_flight())

    event.listen(store.engine, "before_cursor_execute", first_statement)
    try:
        svc.save_draft(course_id, "start", WEIGHT_ONLY, 0)
    finally:
        event.remove(store.engine, "before_cursor_execute", first_statement)
    # A drain starting at that moment would have waited for this save.
    assert in_flight_at_first_statement == [1]
    wait_until(lambda: monitor.saves_in_flight() == 0, "the end of the save reported")
    with pytest.raises(ValidationFailed):
        svc.save_draft(course_id, "start", {"weight_kg": "ikke et tal"}, 1)
    wait_until(lambda: monitor.saves.labels("refused")._value.get() == 1, "the refusal reported")
    assert monitor.saves.labels("saved")._value.get() == 1
    assert monitor.save_seconds._sum.get() > 0   # the one saved save's duration
    assert monitor.saves_in_flight() == 0


def test_reporting_the_start_costs_about_a_millisecond(channel: Channel) -> None:
    reports = ServerSaveReports()
    for _ in range(20):   # warm the server's handler up
        reports.end(reports.begin(), "saved", 0.01)
    costs = []
    for _ in range(300):
        started = time.perf_counter()
        token = reports.begin()
        costs.append(time.perf_counter() - started)
        reports.end(token, "saved", 0.01)
    median, p95 = statistics.median(costs), statistics.quantiles(costs, n=20)[-1]
    print(f"added latency per save (synchronous start report): median {median * 1e3:.2f} ms, "
          f"p95 {p95 * 1e3:.2f} ms")
    wait_until(lambda: channel.monitor.saves.labels("saved")._value.get() == 320, "every end reported")
    assert channel.monitor.saves_in_flight() == 0
    assert median < 0.005


def test_a_server_that_does_not_answer_delays_a_save_at_most_half_a_second(
        svc: Service, course_id: int, store: Store, observe: Callable[[Any], Any], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    base = Path(tempfile.mkdtemp(prefix="hk-", dir="/tmp"))
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)   # accepts connections, never answers
    try:
        silent.bind(str(base / SOCKET_NAME))
        silent.listen(16)
        monkeypatch.setenv(SOCKET_ENV, str(base / SOCKET_NAME))
        monkeypatch.setenv(IDENTITY_ENV, "a-token")
        observe(ServerSaveReports())
        started = time.perf_counter()
        with caplog.at_level(logging.DEBUG, logger="hjertekom_widgets.internal_api"):
            saved = svc.save_draft(course_id, "start", WEIGHT_ONLY, 0)
        took = time.perf_counter() - started
    finally:
        silent.close()
        shutil.rmtree(base, ignore_errors=True)
    assert saved.revision == 1 and revisions(store, course_id) == 1
    assert 0.5 <= took < 1.5, took
    assert any("save start not delivered" in r.getMessage() for r in caplog.records)


def test_an_end_heard_before_its_start_leaves_no_save_in_flight() -> None:
    """A start that timed out in the kernel may still reach the server after the save's end."""
    monitor = Monitor(token="0" * 64)
    monitor.save_ended("kernel-1:7", 0.02, "saved")
    monitor.save_began("kernel-1:7")
    assert monitor.saves_in_flight() == 0
    monitor.save_began("kernel-1:8")
    assert monitor.saves_in_flight() == 1
    monitor.save_ended("kernel-1:8", 0.02, "saved")
    assert monitor.saves_in_flight() == 0
    assert monitor.saves.labels("saved")._value.get() == 2
