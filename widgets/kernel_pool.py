"""The preheated kernel pool grows with demand, bounded by memory, and refills in parallel (issue 16).

Voilà keeps ``default_pool_size`` preheated kernels and replaces each one claimed. When many
clinicians log in together, all but the first few find the pool empty and wait for a kernel of
their own. Here every page request that found no ready kernel (a miss) counts as demand for
``DEMAND_WINDOW_SECONDS``; once a wave of logins is over (no page request and no kernel activity
for ``QUIET_SECONDS``, no pool kernel still starting: growth takes no CPU from the logins) the pool's
target becomes the base size plus the misses, and Voilà starts the missing kernels all at once
(with the kernel zygote, each is a fork: kernel_zygote.py). The next wave finds them ready.

Bound: never more than ``max_size`` (``HJERTEKOM_POOL_MAX``; default: half of the memory available
when it grows, at ``KERNEL_MB`` a kernel, and at most ``MAX_POOL``).

Safety (an earlier growing pool lost a login, commit abc36c9): this one never shuts a kernel down
and never cancels a render. When demand is gone the target falls back to the base size, and the
surplus kernels are used by the next logins and not replaced; every kernel of the pool is one
Voilà started and hands over itself. Tested by tests/browser/test_entry_login_wave.py.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: A miss counts as demand for this long.
DEMAND_WINDOW_SECONDS = 1800.0
#: How often the pool's size is reconsidered.
CHECK_SECONDS = 5.0
#: The pool grows only after this long without a page request (a wave of logins is over).
QUIET_SECONDS = 30.0
#: Memory of a preheated kernel with headroom (idle preheated kernels: about 75 MB RSS, much of
#: it shared with the zygote; benchmarks/entry_app.py).
KERNEL_MB = 100.0
#: Share of the memory available at the time that the pool may take.
MEMORY_SHARE = 0.5
#: Never more preheated kernels than this, whatever the memory.
MAX_POOL = 32
MAX_ENV = "HJERTEKOM_POOL_MAX"


def available_mb() -> float:
    """Memory available for new processes (MemAvailable), in MB; 0 when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def configured_max() -> int | None:
    """``HJERTEKOM_POOL_MAX`` if set to a whole number, else None (the memory decides)."""
    raw = os.environ.get(MAX_ENV, "").strip()
    if not raw:
        return None
    try:
        return max(int(raw), 0)
    except ValueError:
        log.warning("%s=%r is not a whole number: ignored", MAX_ENV, raw)
        return None


def _failed(task: Any) -> bool:  # noqa: ANN401 - an asyncio task or future of Voilà's pool
    return bool(task.done() and (task.cancelled() or task.exception() is not None))


class GrowingPool:
    """Sets the target size of Voilà's pool (``kernel_pools_config``) from recent misses."""

    def __init__(self, manager: Any, base: int, *, max_size: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 memory_mb: Callable[[], float] = available_mb) -> None:
        self.manager = manager
        self.base = max(base, 0)
        self.max_size = max_size
        self.clock = clock
        self.memory_mb = memory_mb
        self.misses: collections.deque[float] = collections.deque()
        self.last_request = float("-inf")

    def install(self) -> None:
        """Look at the pool at every page request: Voilà's page handler asks ``get_pool_size``
        once, then claims the pool's first kernel when the size is above 0, or starts a kernel for
        that request alone.

        Only ready kernels count, and they go first. Voilà would hand out a refill that is still
        starting as well, and a refill first sleeps Voilà's ``fill_delay`` (1 s) before it starts
        its kernel: in a wave of logins the two that claimed the refills of the first two were the
        slowest of all, by about 0.7 s (issue 16). Such a login now starts a kernel of its own,
        as the others of the wave do, and the refill stays in the pool for the next login."""

        def get_pool_size(notebook_name: str) -> int:
            self.last_request = self.clock()
            pool = self._pools().get(notebook_name, [])
            failed = [task for task in pool if _failed(task)]
            for task in failed:  # handed out, it would fail the page; the next refill replaces it
                error = None if task.cancelled() else task.exception()
                log.warning("a preheated kernel of %s failed to start: left out of the pool", notebook_name,
                            exc_info=error)
                pool.remove(task)
            pool.sort(key=lambda task: not task.done())  # stable: ready first, each group in its order
            ready = sum(1 for task in pool if task.done())
            if not ready:
                self.misses.append(self.clock())
            return ready

        self.manager.get_pool_size = get_pool_size

    def _pools(self) -> dict[str, list[Any]]:
        return self.manager._pools  # Voilà's pending/ready kernels (asyncio tasks) per notebook

    @property
    def target(self) -> int:
        return int(self.manager.kernel_pools_config["default"]["pool_size"])

    def _set_target(self, size: int) -> None:
        log.info("preheated kernel pool: target %d -> %d", self.target, size)
        self.manager.kernel_pools_config["default"]["pool_size"] = size

    def demand(self) -> int:
        """Misses in the last window (older ones forgotten)."""
        now = self.clock()
        while self.misses and now - self.misses[0] > DEMAND_WINDOW_SECONDS:
            self.misses.popleft()
        return len(self.misses)

    def ceiling(self) -> int:
        """The most kernels the pool may hold: the configured maximum, else what memory allows."""
        if self.max_size is not None:
            return max(self.base, self.max_size)
        ready = sum(len(pool) for pool in self._pools().values())  # their memory is taken already
        by_memory = int(self.memory_mb() * MEMORY_SHARE // KERNEL_MB) + ready
        return max(self.base, min(MAX_POOL, by_memory))

    def _quiet(self) -> bool:
        """No page request and no kernel activity (pages of a wave still loading, their kernels
        answering) for ``QUIET_SECONDS``: growth now takes no CPU from anybody's login."""
        if self.clock() - self.last_request < QUIET_SECONDS:
            return False
        last = getattr(self.manager, "last_kernel_activity", None)  # jupyter_server: any kernel's iopub
        if isinstance(last, dt.datetime):
            now = dt.datetime.now(last.tzinfo) if last.tzinfo else dt.datetime.now()
            if (now - last).total_seconds() < QUIET_SECONDS:
                return False
        return True

    async def adjust(self) -> None:
        """Grow the pool to the recent demand once a wave is over; fall back when demand is gone."""
        try:
            pools = self._pools()
            if any(not task.done() for pool in pools.values() for task in pool):
                return  # kernels are still starting: logins may be waiting for them
            if not self._quiet():
                return  # a wave of logins may still be going on
            wanted = min(self.base + self.demand(), self.ceiling())
            if wanted == self.target:
                return
            grow = wanted > self.target
            self._set_target(wanted)
            if grow:
                for notebook_name in list(pools):
                    self.manager.fill_if_needed(delay=0, notebook_name=notebook_name)  # all at once
        except Exception:  # noqa: BLE001 - logged; the next check tries again, the pool stays as it is
            log.exception("adjusting the kernel pool failed")
