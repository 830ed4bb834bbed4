"""The preheated kernel pool grows after logins had to wait, within memory, and shrinks back (kernel_pool.py).

Voilà's kernel manager is replaced by a stand-in with the same pool structures (a list of asyncio
tasks per notebook, ``kernel_pools_config``), so sizes can be checked without starting kernels.
"""
from __future__ import annotations

from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

from hjertekom_widgets import kernel_pool
from hjertekom_widgets.kernel_pool import ElasticPool

NB = "entry.ipynb"


class FakeManager:
    """Voilà's VoilaKernelManager as far as the pool goes: tasks that are ready or still starting."""

    def __init__(self, size: int) -> None:
        self.kernel_pools_config: dict[str, Any] = {"default": {"pool_size": size}}
        self._pools: dict[str, list[Any]] = {NB: []}
        self.started = 0
        self.shut_down: list[str] = []
        self.fill_if_needed(delay=0, notebook_name=NB)

    def _ready(self) -> Any:
        self.started += 1
        future: Future[dict[str, Any]] = Future()
        future.set_result({"kernel_id": f"k{self.started}", "task": Future()})
        return future

    def fill_if_needed(self, delay: float | None = None, notebook_name: str | None = None) -> None:
        pool = self._pools[notebook_name or NB]
        while len(pool) < self.kernel_pools_config["default"]["pool_size"]:
            pool.append(self._ready())

    def starting(self) -> None:
        """A refill whose kernel has not started yet."""
        self._pools[NB].append(Future())

    def get_pool_size(self, notebook_name: str) -> int:
        return len(self._pools[notebook_name])

    async def get_rendered_notebook(self, notebook_name: str, **kwargs: Any) -> str:
        task = self._pools[notebook_name].pop(0)
        return str(task.result()["kernel_id"]) if task.done() else "waited"

    async def shutdown_kernel(self, kernel_id: str) -> None:
        self.shut_down.append(kernel_id)
        pool = self._pools[NB]
        pool[:] = [t for t in pool if not (t.done() and t.result()["kernel_id"] == kernel_id)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits (the stand-in answers at once), without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine waited for something")


def _pool(size: int = 2, memory_mb: float = 10_000.0) -> tuple[ElasticPool, FakeManager, Clock]:
    manager, clock = FakeManager(size), Clock()
    pool = ElasticPool(manager, size, clock=clock, memory_mb=lambda: memory_mb)
    pool.install()
    return pool, manager, clock


def _claim_all_and_wait(manager: FakeManager, n: int) -> None:
    """n logins at once: each takes the first of the pool; refills are still starting."""
    for _ in range(n):
        if not manager._pools[NB]:
            manager.starting()
        _run(manager.get_rendered_notebook(notebook_name=NB))


def test_logins_that_found_a_ready_kernel_leave_the_pool_at_its_size() -> None:
    pool, manager, _clock = _pool(2)
    for _ in range(5):
        _run(manager.get_rendered_notebook(notebook_name=NB))
        manager.fill_if_needed(notebook_name=NB)
    _run(pool.adjust())
    assert pool.target == 2
    assert len(manager._pools[NB]) == 2


def test_after_a_wave_of_logins_the_pool_grows_by_those_who_waited_and_starts_them_at_once() -> None:
    pool, manager, _clock = _pool(2)
    _claim_all_and_wait(manager, 6)  # 2 found a ready kernel, 4 waited
    manager.starting()  # a refill still starting: the pool does not grow yet
    _run(pool.adjust())
    assert pool.target == 2
    manager._pools[NB].clear()
    _run(pool.adjust())
    assert pool.target == 6
    assert len(manager._pools[NB]) == 6 and all(t.done() for t in manager._pools[NB])


def test_the_pool_grows_no_further_than_the_free_memory_allows() -> None:
    per_kernel = kernel_pool.KERNEL_MB / kernel_pool.MEMORY_SHARE
    pool, manager, _clock = _pool(2, memory_mb=3 * per_kernel)
    _claim_all_and_wait(manager, 20)
    manager._pools[NB].clear()
    _run(pool.adjust())
    assert pool.target == 2 + 3


def test_when_the_demand_is_over_the_pool_shrinks_one_idle_kernel_per_check_back_to_its_size() -> None:
    pool, manager, clock = _pool(2)
    _claim_all_and_wait(manager, 5)
    manager._pools[NB].clear()
    _run(pool.adjust())
    assert pool.target == 5
    clock.now += kernel_pool.DEMAND_WINDOW_SECONDS + 1
    sizes = []
    for _ in range(5):
        _run(pool.adjust())
        sizes.append(len(manager._pools[NB]))
    assert sizes == [4, 3, 2, 2, 2]
    assert len(manager.shut_down) == 3
    assert pool.target == 2


def test_requests_that_found_the_pool_empty_count_and_the_pool_grows_only_once_the_wave_is_over() -> None:
    pool, manager, clock = _pool(2)
    _claim_all_and_wait(manager, 2)  # the two ready kernels are taken
    for _ in range(8):  # Voilà finds an empty pool and starts a kernel for each of these itself
        assert manager.get_pool_size(NB) == 0
    _run(pool.adjust())
    assert pool.target == 2  # logins came just now: a wave may still be going on
    clock.now += kernel_pool.QUIET_SECONDS
    _run(pool.adjust())
    assert pool.target == 2 + 8
    assert len(manager._pools[NB]) == 10
