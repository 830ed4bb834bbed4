"""User accounts: adding, listing, authenticating (passwords hashed with argon2id)."""
from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from hjertekom_core import audit
from hjertekom_core.access import User, check_role, hash_password, verify_password
from hjertekom_core.errors import AuthenticationFailed, HjerteKomError, NotFound
from hjertekom_core.store import Store
from hjertekom_core.store.schema import municipalities, user_municipalities, users, web_sessions

@functools.cache
def _dummy_hash() -> str:
    """Checked against when a username is unknown, so that a wrong name takes as long as a wrong
    password and response times do not reveal which usernames exist (made on first use: argon2
    is deliberately slow, and most processes never log anyone in)."""
    return hash_password("not-a-real-password")


class UserExists(HjerteKomError):
    pass


def _load(conn: Connection, where) -> User | None:  # type: ignore[no-untyped-def]
    row = conn.execute(select(users).where(where)).first()
    if row is None:
        return None
    codes = conn.execute(select(user_municipalities.c.municipality_code)
                         .where(user_municipalities.c.user_id == row.id)).scalars()
    return User(row.id, row.username, row.display_name, row.role, frozenset(codes))


def add_user(store: Store, actor: User, username: str, display_name: str, role: str, password: str,
             municipality_codes: Iterable[int]) -> User:
    actor.require("user.admin")
    check_role(role)
    codes = sorted({int(c) for c in municipality_codes})
    if role not in ("administrator", "researcher") and not codes:
        raise ValueError(f"a {role} must act in at least one municipality")
    password_hash = hash_password(password)
    with store.write() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise UserExists(f"user {username!r} exists already")
        known = set(conn.execute(select(municipalities.c.code).where(municipalities.c.code.in_(codes))).scalars())
        unknown = sorted(set(codes) - known)
        if unknown:
            raise ValueError(f"unknown municipality code(s): {unknown}")
        user_id = conn.execute(insert(users).values(
            username=username, display_name=display_name, role=role, password_hash=password_hash,
            active=True, created_at=audit.now())).inserted_primary_key[0]
        if codes:
            conn.execute(insert(user_municipalities), [{"user_id": user_id, "municipality_code": c} for c in codes])
        audit.record(conn, actor, "user.add", "user", user_id, detail={"role": role, "municipalities": codes})
    return User(user_id, username, display_name, role, frozenset(codes))


def list_users(store: Store, actor: User) -> list[User]:
    actor.require("user.admin")
    with store.read() as conn:
        ids = conn.execute(select(users.c.id).order_by(users.c.username)).scalars().all()
        return [u for i in ids if (u := _load(conn, users.c.id == i)) is not None]


def get_user(store: Store, username: str) -> User:
    with store.read() as conn:
        user = _load(conn, users.c.username == username)
    if user is None:
        raise NotFound("user", username)
    return user


def active_user(store: Store, username: str) -> User | None:
    """The active user of that name with role and municipalities, or None (unknown or inactive)."""
    with store.read() as conn:
        return _load(conn, (users.c.username == username) & users.c.active.is_(True))


def authenticate(store: Store, username: str, password: str) -> User:
    """The user for a correct username and password; AuthenticationFailed otherwise (audited)."""
    with store.read() as conn:
        row = conn.execute(select(users.c.password_hash, users.c.active).where(users.c.username == username)).first()
    ok = verify_password(row.password_hash if row else _dummy_hash(), password) and bool(row and row.active)
    with store.write() as conn:
        user = _load(conn, users.c.username == username) if ok else None
        who = user or User(None, username[:80], "", "", frozenset())
        audit.record(conn, who, "login" if ok else "login.failed", "user", user.id if user else None)
    if user is None:
        raise AuthenticationFailed("unknown user, wrong password or inactive account")
    return user


# --- web sessions of the entry app --------------------------------------------------------------

def open_web_session(store: Store, user: User) -> str:
    """A new session id for a signed-in user (what the browser's cookie holds)."""
    session_id = secrets.token_urlsafe(32)
    with store.write() as conn:
        conn.execute(web_sessions.insert().values(id=session_id, user_id=user.id, created_at=audit.now()))
    return session_id


def web_session_user(store: Store, session_id: str, max_age: dt.timedelta) -> User | None:
    """The active user of an open, unexpired session; None for a revoked, old or unknown one."""
    with store.read() as conn:
        row = conn.execute(select(web_sessions.c.user_id, web_sessions.c.created_at, web_sessions.c.revoked_at)
                           .where(web_sessions.c.id == session_id)).first()
        if row is None or row.revoked_at is not None:
            return None
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.timezone.utc)
        if audit.now() - created > max_age:
            return None
        return _load(conn, (users.c.id == row.user_id) & users.c.active.is_(True))


def close_web_session(store: Store, session_id: str) -> None:
    with store.write() as conn:
        conn.execute(web_sessions.update().where(web_sessions.c.id == session_id, web_sessions.c.revoked_at.is_(None))
                     .values(revoked_at=audit.now()))
