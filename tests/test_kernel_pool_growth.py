"""The preheated pool grows after logins found it empty, within memory, and never stops a kernel
(widgets/kernel_pool.py).

Voilà's kernel manager is replaced by a stand-in with the same pool structures (a list of asyncio
tasks or futures per notebook, ``kernel_pools_config``, ``fill_if_needed``), so sizes can be
checked without starting kernels; the browser test test_entry_login_wave.py runs the real thing.
"""
from __future__ import annotations

import logging
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

import pytest

from hjertekom_widgets import kernel_pool
from hjertekom_widgets.kernel_pool import GrowingPool

NB = "entry.ipynb"


class FakeManager:
    """Voilà's VoilaKernelManager as far as the pool goes."""

    def __init__(self, size: int) -> None:
        self.kernel_pools_config: dict[str, Any] = {"default": {"pool_size": size}}
        self._pools: dict[str, list[Any]] = {NB: []}
        self.started = 0
        self.shut_down: list[str] = []
        self.fill_if_needed(delay=0, notebook_name=NB)

    def fill_if_needed(self, delay: float | None = None, notebook_name: str | None = None) -> None:
        pool = self._pools[notebook_name or NB]
        while len(pool) < self.kernel_pools_config["default"]["pool_size"]:
            self.started += 1
            future: Future[dict[str, Any]] = Future()
            future.set_result({"kernel_id": f"k{self.started}"})
            pool.append(future)

    def get_pool_size(self, notebook_name: str) -> int:
        return len(self._pools[notebook_name])

    def page_request(self) -> str:
        """What Voilà's page handler does: ask the size, then claim the first or start its own."""
        if self.get_pool_size(NB) == 0:
            self.started += 1
            return "own kernel"
        self._pools[NB].pop(0)
        self.fill_if_needed(notebook_name=NB)
        return "preheated"

    def shutdown_kernel(self, kernel_id: str) -> None:
        self.shut_down.append(kernel_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine waited for something")


def _pool(size: int = 2, memory_mb: float = 100_000.0, max_size: int | None = None
          ) -> tuple[GrowingPool, FakeManager, Clock]:
    manager, clock = FakeManager(size), Clock()
    pool = GrowingPool(manager, size, max_size=max_size, clock=clock, memory_mb=lambda: memory_mb)
    pool.install()
    return pool, manager, clock


def _wave(manager: FakeManager, n: int) -> list[str]:
    """n logins at once: each asks the pool's size first and claims the pool's first kernel when
    the size is above 0 (as Voilà's handler does); the first take the ready kernels, the rest
    start their own (a refill still starting would be "waited")."""
    outcomes = []
    for _ in range(n):
        pool = manager._pools[NB]
        if manager.get_pool_size(NB) == 0:
            outcomes.append("own kernel")
            continue
        claimed = pool.pop(0)
        outcomes.append("preheated" if claimed.done() else "waited")
        if claimed.done():
            pool.append(Future())  # Voilà's refill, still starting
    manager._pools[NB] = [f for f in manager._pools[NB] if f.done()]
    manager.fill_if_needed(notebook_name=NB)  # the refills are ready
    return outcomes


def test_a_refill_still_starting_is_not_handed_out_and_ready_kernels_go_first() -> None:
    pool, manager, _ = _pool(2)
    assert _wave(manager, 20) == ["preheated"] * 2 + ["own kernel"] * 18  # nobody waits for a refill
    manager.fill_if_needed(notebook_name=NB)
    first, second, ready = Future(), Future(), manager._pools[NB][0]
    manager._pools[NB][:] = [first, ready, second]
    assert manager.get_pool_size(NB) == 1
    assert manager._pools[NB] == [ready, first, second]   # the ready one first, the others in order
    assert manager.page_request() == "preheated"
    assert len(pool.misses) == 18


def test_a_pool_kernel_that_failed_to_start_is_left_out_and_why_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    _, manager, _ = _pool(2)
    broken: Future[dict[str, Any]] = Future()
    broken.set_exception(RuntimeError("kernel died"))
    manager._pools[NB].insert(0, broken)
    with caplog.at_level(logging.WARNING, logger=kernel_pool.__name__):
        assert manager.get_pool_size(NB) == 2 and broken not in manager._pools[NB]
    assert "failed to start" in caplog.text and "RuntimeError: kernel died" in caplog.text


def test_logins_that_find_a_ready_kernel_do_not_grow_the_pool() -> None:
    pool, manager, clock = _pool(2)
    for _ in range(5):
        assert manager.page_request() == "preheated"
        clock.now += 60
        _run(pool.adjust())
    assert pool.target == 2 and len(manager._pools[NB]) == 2


def test_after_a_wave_the_pool_grows_by_the_logins_that_waited_all_at_once_and_the_next_wave_finds_them() -> None:
    pool, manager, clock = _pool(2)
    first = _wave(manager, 20)
    assert first.count("preheated") == 2
    _run(pool.adjust())
    assert pool.target == 2  # the wave may still be going on: no growth while logins arrive
    clock.now += kernel_pool.QUIET_SECONDS
    _run(pool.adjust())
    assert pool.target == 20
    assert len(manager._pools[NB]) == 20 and all(f.done() for f in manager._pools[NB])  # started at once
    assert _wave(manager, 20).count("preheated") == 20


def test_the_pool_grows_no_further_than_memory_or_the_configured_maximum_allow() -> None:
    pool, manager, clock = _pool(2, memory_mb=3 * kernel_pool.KERNEL_MB / kernel_pool.MEMORY_SHARE)
    _wave(manager, 20)
    clock.now += kernel_pool.QUIET_SECONDS
    _run(pool.adjust())
    assert pool.target == 2 + 3

    pool, manager, clock = _pool(2, max_size=6)
    _wave(manager, 20)
    clock.now += kernel_pool.QUIET_SECONDS
    _run(pool.adjust())
    assert pool.target == 6


def test_when_demand_is_gone_the_target_falls_back_and_no_kernel_is_stopped() -> None:
    pool, manager, clock = _pool(2)
    _wave(manager, 10)
    clock.now += kernel_pool.QUIET_SECONDS
    _run(pool.adjust())
    assert pool.target == 10
    clock.now += kernel_pool.DEMAND_WINDOW_SECONDS + 1
    _run(pool.adjust())
    assert pool.target == 2
    assert manager.shut_down == []
    assert len(manager._pools[NB]) == 10  # the surplus is used by the next logins, not replaced
    for _ in range(10):
        assert manager.page_request() == "preheated"
    assert len(manager._pools[NB]) == 2


def test_while_the_pages_of_a_wave_still_load_the_pool_does_not_grow() -> None:
    import datetime as dt

    pool, manager, clock = _pool(2)
    _wave(manager, 20)
    clock.now += kernel_pool.QUIET_SECONDS
    manager.last_kernel_activity = dt.datetime.now(dt.timezone.utc)  # kernels answer the pages' widgets
    _run(pool.adjust())
    assert pool.target == 2
    manager.last_kernel_activity -= dt.timedelta(seconds=kernel_pool.QUIET_SECONDS)
    _run(pool.adjust())
    assert pool.target == 20


def test_while_pool_kernels_are_starting_the_pool_does_not_change() -> None:
    pool, manager, clock = _pool(2)
    _wave(manager, 8)
    manager._pools[NB].append(Future())  # one still starting
    clock.now += kernel_pool.QUIET_SECONDS
    _run(pool.adjust())
    assert pool.target == 2


def test_the_maximum_comes_from_the_environment_when_it_is_a_number(monkeypatch: Any) -> None:
    monkeypatch.setenv(kernel_pool.MAX_ENV, "12")
    assert kernel_pool.configured_max() == 12
    monkeypatch.setenv(kernel_pool.MAX_ENV, "many")
    assert kernel_pool.configured_max() is None
    monkeypatch.delenv(kernel_pool.MAX_ENV)
    assert kernel_pool.configured_max() is None
