"""The preheated kernel pool grows with demand, bounded by memory, and shrinks back when quiet.

Voilà keeps a fixed number of preheated kernels (``default_pool_size``) and, after each claim,
starts a replacement. When many clinicians sign in together (the morning, after a training
session), all but the first few waited for kernels started only then (issue 16: 20 logins at once,
2 preheated, 18 cold starts). Here the pool's size follows recent demand: each login that had to
wait for a kernel still starting adds one to the pool (for ``DEMAND_WINDOW_SECONDS``), so the next
wave finds its kernels ready. Missing kernels are started all at once (in parallel).

Bound: a kernel costs memory whether used or not, so the pool never grows past the memory
available when it grows (``MEMORY_SHARE`` of it, at ``KERNEL_MB`` per kernel) nor past
``MAX_POOL``. When demand is gone, surplus idle preheated kernels are shut down, one per check.
"""
from __future__ import annotations

import collections
import logging
import os
import time
from typing import Any

from jupyter_core.utils import ensure_async

log = logging.getLogger(__name__)

#: Waits for a kernel count as current demand for this long.
DEMAND_WINDOW_SECONDS = 1800.0
#: How often the pool's size is reconsidered.
CHECK_SECONDS = 10.0
#: The pool grows only after this long without a page request (growth must not take CPU from a wave).
QUIET_SECONDS = 20.0
#: RSS of one kernel with a form open, with headroom (measured about 60 MB; benchmarks/entry_app.py).
KERNEL_MB = 100.0
#: Share of the memory available at the time that the pool may take.
MEMORY_SHARE = 0.5
#: Never more preheated kernels than this, whatever the memory.
MAX_POOL = 32


def available_mb() -> float:
    """Memory available for new processes (MemAvailable), in MB; 0 when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (ValueError, OSError):
        return 0.0


class ElasticPool:
    """Sets the target size of Voilà's pool (``kernel_pools_config``) from recent waits.

    A page request that finds no ready kernel in the pool is a miss: either it claims one still
    starting, or the pool is empty and Voilà starts a kernel just for it (its handler asks
    ``get_pool_size`` first; Voilà refills only once the claimed kernel is ready, so during a
    wave the pool is mostly empty). Every ``CHECK_SECONDS`` (``adjust``), once no page was
    requested for ``QUIET_SECONDS`` and no kernel of the pool is still starting (growth must not
    take CPU from the logins of a wave), the target becomes the base size plus the misses of the
    last ``DEMAND_WINDOW_SECONDS``, bounded by memory, and the missing kernels are started at once.
    Without misses the target falls back, one kernel per check.
    """

    def __init__(self, manager: Any, base: int, *, clock: Any = time.monotonic,
                 memory_mb: Any = available_mb) -> None:
        self.manager = manager
        self.base = max(base, 0)
        self.clock = clock
        self.memory_mb = memory_mb
        self.misses: collections.deque[float] = collections.deque()
        self.last_request = float("-inf")

    def install(self) -> None:
        """Look at the pool at every page request (Voilà's handler asks ``get_pool_size``, then
        claims with ``get_rendered_notebook`` or starts a kernel of its own when the pool is empty)."""
        original_claim = self.manager.get_rendered_notebook
        original_size = self.manager.get_pool_size

        async def get_rendered_notebook(*args: Any, **kwargs: Any) -> Any:
            self.claimed(kwargs.get("notebook_name", args[0] if args else None))
            return await original_claim(*args, **kwargs)

        def get_pool_size(notebook_name: str) -> int:
            size = int(original_size(notebook_name))
            self.last_request = self.clock()
            if size == 0:  # Voilà starts a kernel for this request alone
                self.misses.append(self.clock())
            return size

        self.manager.get_rendered_notebook = get_rendered_notebook
        self.manager.get_pool_size = get_pool_size

    @property
    def target(self) -> int:
        return int(self.manager.kernel_pools_config["default"]["pool_size"])

    def _set_target(self, size: int) -> None:
        log.info("preheated kernel pool: target %d -> %d", self.target, size)
        self.manager.kernel_pools_config["default"]["pool_size"] = size

    def _pools(self) -> dict[str, list[Any]]:
        return self.manager._pools  # Voilà's pending/ready kernels (asyncio tasks) per notebook

    def claimed(self, notebook_name: str | None) -> None:
        """A page takes a preheated kernel: a miss when none of the pool is ready."""
        pool = self._pools().get(notebook_name or "", [])
        if not any(task.done() for task in pool):
            self.misses.append(self.clock())

    def demand(self) -> int:
        """Misses in the last window (older ones forgotten)."""
        now = self.clock()
        while self.misses and now - self.misses[0] > DEMAND_WINDOW_SECONDS:
            self.misses.popleft()
        return len(self.misses)

    def ceiling(self) -> int:
        """The most kernels the pool may hold now: what the free memory allows, at least the base."""
        by_memory = int(self.memory_mb() * MEMORY_SHARE // KERNEL_MB)
        return max(self.base, min(MAX_POOL, self.target + by_memory))

    async def adjust(self) -> None:
        """Grow the pool to the recent demand (in parallel) or shrink it by one idle kernel."""
        try:
            pools = self._pools()
            if any(not task.done() for pool in pools.values() for task in pool):
                return  # kernels are still starting: logins may be waiting for them
            wanted = self.base + self.demand()
            if wanted > self.target and self.clock() - self.last_request < QUIET_SECONDS:
                return  # a wave of logins may still be going on
            if wanted > self.target:
                wanted = min(wanted, self.ceiling())
                if wanted > self.target:
                    self._set_target(wanted)
                    for notebook_name in list(pools):
                        self.manager.fill_if_needed(delay=0, notebook_name=notebook_name)
            elif wanted < self.target:
                self._set_target(self.target - 1)
                for pool in pools.values():
                    if len(pool) > self.target:
                        await self._drop(pool[-1])
        except Exception:  # noqa: BLE001 - logged; the next check tries again
            log.exception("adjusting the kernel pool failed")

    async def _drop(self, task: Any) -> None:
        """Shut down one idle preheated kernel (Voilà's shutdown also takes it out of the pool)."""
        content = task.result()
        content["task"].cancel()  # its render waits for a request that will not come
        log.info("preheated kernel pool: shutting down surplus kernel %s", content["kernel_id"])
        await ensure_async(self.manager.shutdown_kernel(content["kernel_id"]))
