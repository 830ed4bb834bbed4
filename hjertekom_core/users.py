"""User accounts: adding, listing, authenticating (passwords hashed with argon2id)."""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from hjertekom_core import audit, login_guard
from hjertekom_core.access import User, check_password, check_role, hash_password, verify_password
from hjertekom_core.errors import AccessDenied, AuthenticationFailed, HjerteKomError, LoginLocked, NotFound
from hjertekom_core.store import Store
from hjertekom_core.store.schema import municipalities, user_municipalities, users

@functools.cache
def _dummy_hash() -> str:
    """Checked against when a username is unknown, so that a wrong name takes as long as a wrong
    password and response times do not reveal which usernames exist (made on first use: argon2
    is deliberately slow, and most processes never log anyone in)."""
    return hash_password("not-a-real-password")


class UserExists(HjerteKomError):
    pass


def load_user(conn: Connection, where) -> User | None:  # type: ignore[no-untyped-def]
    """The user matching ``where`` (a SQLAlchemy condition on users), with their municipalities."""
    row = conn.execute(select(users).where(where)).first()
    if row is None:
        return None
    codes = conn.execute(select(user_municipalities.c.municipality_code)
                         .where(user_municipalities.c.user_id == row.id)).scalars()
    return User(row.id, row.username, row.display_name, row.role, frozenset(codes))


def _require_admin(store: Store, actor: User, attempted: str) -> None:
    """User administration is for administrators; a refusal is audited."""
    try:
        actor.require("user.admin")
    except AccessDenied as exc:
        audit.deny(store, actor, "user.admin", "user", reason=exc.reason, detail={"call": attempted})
        raise


def add_user(store: Store, actor: User, username: str, display_name: str, role: str, password: str,
             municipality_codes: Iterable[int]) -> User:
    """Add a user; the password must pass the policy (``access.check_password``, WeakPassword)."""
    _require_admin(store, actor, "add_user")
    check_role(role)
    check_password(password, username)
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
    _require_admin(store, actor, "list_users")
    with store.read() as conn:
        ids = conn.execute(select(users.c.id).order_by(users.c.username)).scalars().all()
        return [u for i in ids if (u := load_user(conn, users.c.id == i)) is not None]


def get_user(store: Store, username: str) -> User:
    with store.read() as conn:
        user = load_user(conn, users.c.username == username)
    if user is None:
        raise NotFound("user", username)
    return user


def active_user(store: Store, username: str) -> User | None:
    """The active user of that name with role and municipalities, or None (unknown or inactive)."""
    with store.read() as conn:
        return load_user(conn, (users.c.username == username) & users.c.active.is_(True))


def authenticate(store: Store, username: str, password: str, *, address: str | None = None,
                 max_failures: int = 10, lockout: dt.timedelta = dt.timedelta(minutes=15)) -> User:
    """The active user for a correct username and password, throttled and audited.

    Raises AuthenticationFailed with one message for an unknown name, a wrong password and an
    inactive account, and LoginLocked (``until``) when the account name or ``address`` (the
    client's, for the web login) has had ``max_failures`` failures in a row: then even the right
    password is refused until ``lockout`` has passed. Both carry ``delay_seconds``, which the
    caller waits before answering (asyncio.sleep in the web server). Role checks stay with the
    caller. See ``login_guard`` for how attempts are counted across processes.

    Audit: ``login``, ``login.failed`` (with the cause, for the auditor) and ``login.locked`` (the
    lock began, or an attempt was refused while locked), each with the address. An unknown name is
    recorded as ``audit.ANONYMOUS``, never as typed: it may be a password or a CPR number.
    """
    now = audit.now()
    with store.read() as conn:
        row = conn.execute(select(users.c.id, users.c.password_hash, users.c.active)
                           .where(users.c.username == username)).first()
    who = User(row.id, username, "", "", frozenset()) if row else audit.ANONYMOUS
    user_id = row.id if row else None
    where = {"address": address} if address else {}
    attempt = login_guard.begin(store, login_guard.keys_for(username, address), now=now,
                                max_failures=max_failures, lockout=lockout)
    if isinstance(attempt, login_guard.Locked):
        with store.write() as conn:
            audit.record(conn, who, "login.locked", "user", user_id, detail={
                **where, "event": "refused", "until": attempt.until.isoformat(timespec="seconds")})
        raise LoginLocked(attempt.until, delay_seconds=login_guard.MAX_DELAY)

    # argon2 runs whether or not the name exists (a dummy hash stands in), so a wrong name takes as
    # long as a wrong password.
    correct = verify_password(row.password_hash if row else _dummy_hash(), password)
    if correct and row is not None and row.active:
        login_guard.succeeded(store, attempt)
        with store.write() as conn:
            user = load_user(conn, users.c.id == row.id)
            if user is None:  # removed a moment ago
                raise AuthenticationFailed()
            audit.record(conn, user, "login", "user", user.id, detail=where)
        login_guard.purge(store, now=now, lockout=lockout)
        return user

    cause = "unknown account" if row is None else ("inactive account" if correct else "wrong password")
    with store.write() as conn:
        audit.record(conn, who, "login.failed", "user", user_id,
                     detail={**where, "cause": cause, "failures": attempt.failures})
        if attempt.locks_until is not None:
            audit.record(conn, who, "login.locked", "user", user_id, detail={
                **where, "event": "locked", "until": attempt.locks_until.isoformat(timespec="seconds"),
                "failures": attempt.failures})
    if attempt.locks_until is not None:
        raise LoginLocked(attempt.locks_until, delay_seconds=login_guard.MAX_DELAY)
    raise AuthenticationFailed(delay_seconds=login_guard.delay_for(attempt.failures))
