"""Signed-in browser sessions of the entry app, kept in the store so that every server host agrees.

The browser's cookie holds only the session id. A session ends at logout, after ``max_age`` since
login, after ``idle`` without use, or when its user is deactivated; an ended session is never
valid again, so a copied cookie is worthless afterwards. ``last_seen_at`` is written at most once
per ``touch_every`` (30 s, or less for a short idle timeout) per session, so that a busy page does
not turn every request into a write.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.store import Store
from hjertekom_core.store.schema import users, web_sessions
from hjertekom_core.users import load_user

TOUCH_EVERY = dt.timedelta(seconds=30)

#: Why a session ended (web_sessions.ended_reason).
LOGOUT, IDLE, EXPIRED, DEACTIVATED, REPLACED = "logout", "idle", "expired", "deactivated", "replaced"


@dataclass(frozen=True)
class SessionState:
    """A session as the server sees it: its user while open, else why it ended."""

    user: User | None
    ended: str | None = None  # one of the reasons above, or "unknown"
    last_seen: dt.datetime | None = None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)  # SQLite: naive UTC


def open_session(store: Store, user: User) -> str:
    """A new session id for a signed-in user (what the browser's cookie holds)."""
    session_id = secrets.token_urlsafe(32)
    now = audit.now()
    with store.write() as conn:
        conn.execute(web_sessions.insert().values(id=session_id, user_id=user.id, created_at=now, last_seen_at=now))
    return session_id


def session_state(store: Store, session_id: str, *, max_age: dt.timedelta, idle: dt.timedelta,
                  touch: bool = False, touch_every: dt.timedelta = TOUCH_EVERY) -> SessionState:
    """The session's user if it is open, unexpired, recently used and its user active.

    A session found too old or idle is ended here (with its reason), so that every host sees the
    same answer afterwards. ``touch`` records this as use (a passive check, such as the page's
    heartbeat, must not keep a session alive).
    """
    now = audit.now()
    with store.read() as conn:
        row = conn.execute(select(web_sessions).where(web_sessions.c.id == session_id)).first()
        if row is None:
            return SessionState(None, "unknown")
        if row.revoked_at is not None:
            return SessionState(None, row.ended_reason or LOGOUT)
        last_seen = _aware(row.last_seen_at or row.created_at)
        reason = EXPIRED if now - _aware(row.created_at) > max_age else IDLE if now - last_seen > idle else None
        user = None if reason else load_user(conn, (users.c.id == row.user_id) & users.c.active.is_(True))
    if reason is None and user is None:
        reason = DEACTIVATED
    if reason is not None:
        end_session(store, session_id, reason)
        return SessionState(None, reason, last_seen)
    if touch and now - last_seen >= touch_every:
        with store.write() as conn:
            conn.execute(web_sessions.update().where(web_sessions.c.id == session_id).values(last_seen_at=now))
        last_seen = now
    return SessionState(user, None, last_seen)


def touch_session(store: Store, session_id: str) -> None:
    """Record use of an open session now (activity that reaches no HTTP handler, e.g. typing)."""
    with store.write() as conn:
        conn.execute(web_sessions.update()
                     .where(web_sessions.c.id == session_id, web_sessions.c.revoked_at.is_(None))
                     .values(last_seen_at=audit.now()))


def end_session(store: Store, session_id: str, reason: str = LOGOUT) -> bool:
    """End an open session; False if it was not open."""
    with store.write() as conn:
        done = conn.execute(web_sessions.update()
                            .where(web_sessions.c.id == session_id, web_sessions.c.revoked_at.is_(None))
                            .values(revoked_at=audit.now(), ended_reason=reason))
    return bool(done.rowcount)


def end_user_sessions(store: Store, user_id: int, reason: str = DEACTIVATED) -> list[str]:
    """End every open session of a user (deactivation, a changed role); returns their ids."""
    with store.write() as conn:
        ids = list(conn.execute(select(web_sessions.c.id).where(web_sessions.c.user_id == user_id,
                                                                web_sessions.c.revoked_at.is_(None))).scalars())
        if ids:
            conn.execute(web_sessions.update().where(web_sessions.c.id.in_(ids))
                         .values(revoked_at=audit.now(), ended_reason=reason))
    return ids
