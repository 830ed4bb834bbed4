"""The entry app server's security state in one object: sessions, kernel owners, refusals.

One ``Guard`` per server process. Handlers ask it whether a session is open, whom a kernel
belongs to, and to record a refusal; a periodic sweep (``sweep``) shuts down the kernels of ended
sessions (logout on another host, idle timeout, deactivation) and of pages that have gone.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jupyter_core.utils import ensure_async

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.store import Store
from hjertekom_core.users import active_user
from hjertekom_core import web_sessions
from hjertekom_core.web_sessions import SessionState, end_session, session_state, touch_session
from hjertekom_widgets.kernel_registry import KernelRegistry

log = logging.getLogger(__name__)
T = TypeVar("T")


#: Threads of their own for the session checks' store round trips: Python's default pool also runs
#: the argon2 password checks, and in a wave of logins a page's session check would wait behind them.
_SESSION_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hjertekom-session")


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("recording a session's use failed", exc_info=future.exception())

SESSION_MAX_AGE = dt.timedelta(hours=12)
#: How often the sweep looks for ended sessions and gone pages.
SWEEP_SECONDS = 10.0


class AccountCache:
    """Active users by name, re-read after a short time so a deactivated account stops quickly."""

    def __init__(self, store: Store, seconds: float = 30.0) -> None:
        self.store = store
        self.seconds = seconds
        self._cache: dict[str, tuple[float, User | None]] = {}

    def get(self, username: str) -> User | None:
        hit = self._cache.get(username)
        if hit and time.monotonic() - hit[0] < self.seconds:
            return hit[1]
        user = active_user(self.store, username)
        self._cache[username] = (time.monotonic(), user)
        return user


@dataclass
class Guard:
    workspace: Workspace
    idle: dt.timedelta
    max_age: dt.timedelta = SESSION_MAX_AGE
    registry: KernelRegistry = field(default_factory=KernelRegistry)
    kernel_manager: Any = None  # Voilà's, set once it exists
    proxy_sign_in: bool = False  # hosted set-up: users sign in at the authenticating proxy
    _touched: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.accounts = AccountCache(self.workspace.store)
        # Use of a session is written at most this often: 30 s, or a quarter of a short idle timeout.
        self.touch_every = min(web_sessions.TOUCH_EVERY, self.idle / 4)

    @property
    def store(self) -> Store:
        return self.workspace.store

    # --- sessions ----------------------------------------------------------------------------------
    def state(self, session_id: str, *, touch: bool) -> SessionState:
        return session_state(self.store, session_id, max_age=self.max_age, idle=self.idle, touch=touch,
                             touch_every=self.touch_every)

    async def state_off_loop(self, session_id: str, *, touch: bool) -> SessionState:
        """``state`` in a worker thread. The server's one event loop relays every kernel message of
        every page; a store round trip on it (PostgreSQL under load: several ms) holds them all up.
        At 100 clinicians on two hosts the session checks were the event loop's largest blocking
        work (hosted_load, 2026-12-07)."""
        return await asyncio.get_running_loop().run_in_executor(
            _SESSION_THREADS, functools.partial(self.state, session_id, touch=touch))

    async def off_loop(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` (a store round trip of the sessions) in the sessions' worker threads."""
        return await asyncio.get_running_loop().run_in_executor(_SESSION_THREADS, functools.partial(func, *args))

    def touch(self, session_id: str) -> None:
        """Use of the session seen outside HTTP (a websocket message, on the event loop), written at
        most every ``touch_every``, in a worker thread (see state_off_loop)."""
        now = time.monotonic()
        if now - self._touched.get(session_id, 0.0) < self.touch_every.total_seconds():
            return
        self._touched[session_id] = now
        write = asyncio.get_running_loop().run_in_executor(_SESSION_THREADS, touch_session, self.store, session_id)
        write.add_done_callback(_log_failure)

    async def end(self, session_id: str, reason: str) -> None:
        """End a session here and now: the row, its tokens and its kernels."""
        end_session(self.store, session_id, reason)
        await self.drop_session(session_id)

    async def drop_session(self, session_id: str) -> None:
        self._touched.pop(session_id, None)
        for kernel_id in self.registry.end_session(session_id):
            await self._shutdown(kernel_id, "session ended")

    # --- kernels -----------------------------------------------------------------------------------
    async def shutdown(self, kernel_id: str, why: str) -> None:
        self.registry.forget(kernel_id)
        await self._shutdown(kernel_id, why)

    async def _shutdown(self, kernel_id: str, why: str) -> None:
        km = self.kernel_manager
        if km is None or kernel_id not in km:
            return
        log.info("shutting down kernel %s (%s)", kernel_id, why)
        try:
            await ensure_async(km.shutdown_kernel(kernel_id))
        except Exception:  # noqa: BLE001 - a kernel that will not stop must not stop the sweep
            log.exception("shutting down kernel %s failed", kernel_id)

    def _ended(self, session_ids: Iterable[str]) -> list[str]:
        return [session_id for session_id in session_ids if self.state(session_id, touch=False).user is None]

    async def sweep(self) -> None:
        """Shut down kernels of ended sessions and of pages that have gone; forget dead kernels."""
        try:
            km = self.kernel_manager
            # One store round trip per open session: in a worker thread, not on the event loop.
            ended = await asyncio.get_running_loop().run_in_executor(_SESSION_THREADS, self._ended,
                                                                     self.registry.sessions())
            for session_id in ended:
                await self.drop_session(session_id)
            for kernel_id in self.registry.pages_gone():
                await self.shutdown(kernel_id, "its page has gone")
            if km is not None:
                for session_id in self.registry.sessions():
                    for kernel_id in self.registry.kernels_of(session_id):
                        if kernel_id not in km:
                            self.registry.forget(kernel_id)
        except Exception:  # noqa: BLE001 - logged; the next sweep tries again
            log.exception("kernel sweep failed")

    # --- refusals ----------------------------------------------------------------------------------
    def deny(self, username: str | None, attempted: str, entity: str, entity_id: object = None,
             reason: str = "", address: str | None = None) -> None:
        """Audit a refused request (never fails the request it refuses)."""
        user = self.accounts.get(username) if username else None
        if user is None and username:
            user = User(None, username[:80], "", "", frozenset())
        detail = {"address": address} if address else None
        try:
            audit.deny(self.store, user, attempted, entity, entity_id, None, reason, detail)
        except Exception:  # noqa: BLE001 - the refusal stands even if the audit write fails
            log.exception("could not audit a refused %s", attempted)
        log.warning("refused %s on %s %s for %s: %s", attempted, entity, entity_id, username or "anonymous", reason)
