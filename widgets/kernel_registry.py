"""Which login owns which kernel, and the identities handed to kernels (server side, in memory).

A kernel belongs to the browser session whose page request it served; only that session may talk
to it, and it dies with that session (logout, idle timeout, deactivation). The kernel learns who
its user is from an opaque token: a random value that means something only to this server
process, only while its session lives, and only on the server's private Unix socket
(``internal_api.py``). Nothing here is persisted: a restarted server has no kernels and honours no
old token.

Liveness of a page: the page's script calls in every few seconds (a heartbeat) and the kernel's
websocket counts its connections. A kernel whose page has gone (no websocket, no heartbeat) is shut
down after ``PAGE_GONE_SECONDS``; an open but idle page keeps its kernel until the session ends.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: An issued token must reach a kernel within this time, or it is worthless.
UNBOUND_TOKEN_SECONDS = 120.0
#: A kernel with no open websocket and no heartbeat from its page for this long has lost its page.
PAGE_GONE_SECONDS = 120.0
#: A kernel with no heartbeat at all for this long has lost its page even if a half-open websocket
#: still counts as connected (a browser killed without closing its connections).
SILENT_PAGE_SECONDS = 600.0


@dataclass
class KernelClaim:
    """What the server knows of one kernel it handed to a page."""

    session_id: str
    username: str
    token: str
    assigned_at: float
    last_heartbeat: float
    connections: int = 0
    last_disconnect: float | None = None


@dataclass
class _Token:
    session_id: str
    username: str
    issued_at: float
    kernel_id: str | None = None


@dataclass
class KernelRegistry:
    """Owners, tokens and liveness of the kernels of one server process (thread-safe)."""

    clock: Callable[[], float] = time.monotonic
    _kernels: dict[str, KernelClaim] = field(default_factory=dict)
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- tokens ------------------------------------------------------------------------------------
    def issue(self, session_id: str, username: str) -> str:
        """A fresh token for a page request of this session (bound to a kernel by ``assign``)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_stale_tokens()
            self._tokens[token] = _Token(session_id, username, self.clock())
        return token

    def identity(self, token: str | None) -> tuple[str, str, str | None] | None:
        """(session id, username, kernel id or None) of a live token; None for anything else."""
        if not token:
            return None
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                return None
            if found.kernel_id is None and self.clock() - found.issued_at > UNBOUND_TOKEN_SECONDS:
                del self._tokens[token]
                return None
            return found.session_id, found.username, found.kernel_id

    def _drop_stale_tokens(self) -> None:
        now = self.clock()
        for token in [t for t, v in self._tokens.items()
                      if v.kernel_id is None and now - v.issued_at > UNBOUND_TOKEN_SECONDS]:
            del self._tokens[token]

    # --- kernels -----------------------------------------------------------------------------------
    def assign(self, kernel_id: str, token: str) -> bool:
        """Give ``kernel_id`` to the session of ``token``; False if the token is unknown or the kernel
        already belongs to someone (a kernel is never handed over)."""
        with self._lock:
            found = self._tokens.get(token)
            if found is None or kernel_id in self._kernels:
                return False
            found.kernel_id = kernel_id
            now = self.clock()
            self._kernels[kernel_id] = KernelClaim(found.session_id, found.username, token, now, now)
            return True

    def owner(self, kernel_id: str) -> str | None:
        """The session id that owns the kernel, or None (unknown kernel, or one nobody owns)."""
        with self._lock:
            claim = self._kernels.get(kernel_id)
            return claim.session_id if claim else None

    def claim(self, kernel_id: str) -> KernelClaim | None:
        with self._lock:
            return self._kernels.get(kernel_id)

    def kernels_of(self, session_id: str) -> list[str]:
        with self._lock:
            return [k for k, c in self._kernels.items() if c.session_id == session_id]

    def sessions(self) -> set[str]:
        """Sessions that own at least one kernel."""
        with self._lock:
            return {c.session_id for c in self._kernels.values()}

    def forget(self, kernel_id: str) -> None:
        """The kernel is gone: its token dies with it."""
        with self._lock:
            claim = self._kernels.pop(kernel_id, None)
            if claim is not None:
                self._tokens.pop(claim.token, None)

    def end_session(self, session_id: str) -> list[str]:
        """Revoke every token of the session; returns its kernels (for the caller to shut down)."""
        with self._lock:
            for token in [t for t, v in self._tokens.items() if v.session_id == session_id]:
                del self._tokens[token]
            kernels = [k for k, c in self._kernels.items() if c.session_id == session_id]
            for kernel_id in kernels:
                del self._kernels[kernel_id]
            return kernels

    # --- liveness ----------------------------------------------------------------------------------
    def heartbeat(self, kernel_id: str, session_id: str) -> bool:
        """The page of ``kernel_id`` is open; False if that kernel is not this session's."""
        with self._lock:
            claim = self._kernels.get(kernel_id)
            if claim is None or claim.session_id != session_id:
                return False
            claim.last_heartbeat = self.clock()
            return True

    def connected(self, kernel_id: str) -> None:
        with self._lock:
            if (claim := self._kernels.get(kernel_id)) is not None:
                claim.connections += 1

    def disconnected(self, kernel_id: str) -> None:
        with self._lock:
            if (claim := self._kernels.get(kernel_id)) is not None:
                claim.connections = max(0, claim.connections - 1)
                claim.last_disconnect = self.clock()

    def pages_gone(self) -> list[str]:
        """Kernels whose page has gone (see the module docstring)."""
        now = self.clock()
        gone = []
        with self._lock:
            for kernel_id, claim in self._kernels.items():
                quiet = now - max(claim.last_heartbeat, claim.last_disconnect or 0.0)
                if (claim.connections == 0 and quiet > PAGE_GONE_SECONDS) \
                        or now - claim.last_heartbeat > SILENT_PAGE_SECONDS:
                    gone.append(kernel_id)
        return gone
