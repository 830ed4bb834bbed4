"""User accounts: adding, listing, authenticating (passwords hashed with argon2id), and the
administration the data processor owes the data controllers: deactivation, password resets, role
and municipality changes, and the periodic rights review.

Every change is audited as who changed whom, with the value before and after (``user.change``
with ``{"field", "before", "after"}``; a password reset as ``user.password_reset``, never with the
password). The target is named by its user id (``entity_id``), never by a name. A change of what
a user may do (deactivation, role, municipalities) or a reset password ends the user's open
sessions at once; the entry app's server shuts their kernels down within a sweep (10 s).
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import re
import secrets
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, insert, select, update

from hjertekom_core import audit, login_guard
from hjertekom_core.access import (
    ALL_PROGRAMMES,
    ROLE_LABELS,
    User,
    check_password,
    check_role,
    hash_again,
    hash_password,
    hash_pin,
    is_pin_shape,
    needs_rehash,
    verify_password,
)
from hjertekom_core.errors import AccessDenied, AuthenticationFailed, HjerteKomError, LoginLocked, NotFound
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, municipalities, user_municipalities, users

#: Audit actions of user administration.
USER_ADD, USER_CHANGE = "user.add", "user.change"
PASSWORD_RESET, PASSWORD_CHANGE = "user.password_reset", "user.password_change"
SESSIONS_ENDED, RIGHTS_REVIEW = "user.sessions_ended", "user.review"
#: The questionnaire mode's PIN: set or changed by the user, cleared by an administrator.
PIN_SET, PIN_CLEAR = "user.pin_set", "user.pin_clear"
#: The actions that change a user ("who last changed them" in the rights review).
CHANGE_ACTIONS = (USER_ADD, USER_CHANGE, PASSWORD_RESET, PIN_CLEAR)
#: Why a change ended the user's sessions (web_sessions.ended_reason; the page's notice says so).
ENDED_DEACTIVATED, ENDED_RIGHTS, ENDED_PASSWORD = "deactivated", "rights_changed", "password_reset"
ENDED_PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password
#: An active account without a login for this long is flagged by the rights review.
UNUSED_AFTER = dt.timedelta(days=90)
#: Roles that act in every municipality (administrator) or in none (researcher).
ROLES_WITHOUT_MUNICIPALITIES = ("administrator", "researcher")
DANISH_ZONE = ZoneInfo("Europe/Copenhagen")

@functools.cache
def _dummy_hash() -> str:
    """Checked against when a username is unknown, so that a wrong name takes as long as a wrong
    password and response times do not reveal which usernames exist (made on first use: argon2
    is deliberately slow, and most processes never log anyone in)."""
    return hash_password("not-a-real-password")


class UserExists(HjerteKomError):
    pass


class UserAdminRefused(HjerteKomError, ValueError):
    """A user change that is not allowed as asked (nothing was changed); ``messages`` says in Danish
    and English what to do instead, ``str()`` gives both."""

    def __init__(self, da: str, en: str) -> None:
        self.messages = {"da": da, "en": en}
        super().__init__(f"{da} / {en}")


class PasswordChangeRequired(HjerteKomError):
    """The user's password was reset by an administrator and must be changed before anything else."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(
            f"Adgangskoden skal skiftes først: hjertekom users change-password {username} / "
            f"the password must be changed first: hjertekom users change-password {username}")


def load_user(conn: Connection, where) -> User | None:  # type: ignore[no-untyped-def]
    """The user matching ``where`` (a SQLAlchemy condition on users), with their grants
    (programme, municipality)."""
    row = conn.execute(select(users).where(where)).first()
    if row is None:
        return None
    grants = conn.execute(select(user_municipalities.c.programme, user_municipalities.c.municipality_code)
                          .where(user_municipalities.c.user_id == row.id)).all()
    return User.with_grants(row.id, row.username, row.display_name, row.role, {(p, m) for p, m in grants})


def check_programmes(programmes: Iterable[str] | None, known: Collection[str] | None) -> tuple[str, ...]:
    """The programmes asked for, sorted and checked: None gives every programme (``ALL_PROGRAMMES``);
    a programme not in ``known`` (the loaded ones; None: not checked) or none at all is refused."""
    if programmes is None:
        return (ALL_PROGRAMMES,)
    wanted = tuple(sorted({str(p).strip() for p in programmes}))
    if not wanted:
        raise UserAdminRefused("Vælg mindst ét program.", "Choose at least one programme.")
    unknown = [p for p in wanted if p != ALL_PROGRAMMES and known is not None and p not in known]
    if unknown:
        choices = ", ".join(sorted(known or ()))
        raise UserAdminRefused(f"Ukendt program: {', '.join(unknown)}. Vælg blandt: {choices}.",
                               f"unknown programme {', '.join(unknown)}; choose from: {choices}")
    return (ALL_PROGRAMMES,) if ALL_PROGRAMMES in wanted else wanted


def _grant_rows(user_id: int, grants: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"user_id": user_id, "programme": p, "municipality_code": m} for p, m in sorted(set(grants))]


def _require_admin(store: Store, actor: User, attempted: str) -> None:
    """User administration is for administrators; a refusal is audited."""
    try:
        actor.require("user.admin")
    except AccessDenied as exc:
        audit.deny(store, actor, "user.admin", "user", reason=exc.reason, detail={"call": attempted})
        raise


def add_user(store: Store, actor: User, username: str, display_name: str, role: str, password: str,
             municipality_codes: Iterable[int], programmes: Iterable[str] | None = None, *,
             known_programmes: Collection[str] | None = None) -> User:
    """Add a user; the password must pass the policy (``access.check_password``, WeakPassword).

    The user acts in each of ``programmes`` in each municipality; None: in every programme
    (``ALL_PROGRAMMES``, also those loaded later). With ``known_programmes`` (the loaded ones) an
    unknown programme is refused (UserAdminRefused) and nothing is added."""
    _require_admin(store, actor, "add_user")
    check_role(role)
    check_password(password, username)
    granted = check_programmes(programmes, known_programmes)
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
        grants = {(p, c) for p in granted for c in codes}
        if grants:
            conn.execute(insert(user_municipalities), _grant_rows(user_id, grants))
        audit.record(conn, actor, "user.add", "user", user_id,
                     detail={"role": role, "municipalities": codes, "programmes": list(granted)})
    return User.with_grants(user_id, username, display_name, role, grants)


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
    return _authenticate(store, username, lambda row: [row.password_hash], password, {}, "wrong password",
                         address=address, max_failures=max_failures, lockout=lockout)


def unlock_with_pin_or_password(store: Store, username: str, secret: str, *, password_allowed: bool,
                                address: str | None = None, max_failures: int = 10,
                                lockout: dt.timedelta = dt.timedelta(minutes=15)) -> User:
    """The key that takes the tablet back from a citizen (the questionnaire mode): the user's PIN
    (when set and ``secret`` has a PIN's shape) or, with ``password_allowed`` (the login-form
    set-up), the password. The very same throttle, lockout and audit as ``authenticate``: one
    counter per account, so wrong PINs and wrong passwords count together, and a lock refuses
    both (and the login). The audit rows carry ``"key": "pin_or_password"`` or ``"pin"``."""
    key = "pin_or_password" if password_allowed else "pin"

    def hashes(row: Any) -> list[str]:  # noqa: ANN401 - a row of users
        found = [row.pin_hash] if row.pin_hash and is_pin_shape(secret) else []
        return found + ([row.password_hash] if password_allowed else [])

    return _authenticate(store, username, hashes, secret, {"key": key},
                         "wrong PIN or password" if password_allowed else "wrong PIN",
                         address=address, max_failures=max_failures, lockout=lockout)


def _authenticate(store: Store, username: str, hashes: Callable[[Any], list[str]], secret: str,
                  extra: dict[str, str], wrong: str, *, address: str | None, max_failures: int,
                  lockout: dt.timedelta) -> User:
    """``authenticate``'s one implementation: ``secret`` is right if it matches one of ``hashes(row)``
    (the user's row); ``extra`` goes into every audit row, ``wrong`` is the cause of a failure."""
    now = audit.now()
    with store.read() as conn:
        row = conn.execute(select(users.c.id, users.c.password_hash, users.c.pin_hash, users.c.active)
                           .where(users.c.username == username)).first()
    who = User(row.id, username, "", "", frozenset()) if row else audit.ANONYMOUS
    user_id = row.id if row else None
    where = {"address": address} if address else {}
    where = {**where, **extra}
    attempt = login_guard.begin(store, login_guard.keys_for(username, address), now=now,
                                max_failures=max_failures, lockout=lockout)
    if isinstance(attempt, login_guard.Locked):
        with store.write() as conn:
            audit.record(conn, who, "login.locked", "user", user_id, detail={
                **where, "event": "refused", "until": attempt.until.isoformat(timespec="seconds")})
        raise LoginLocked(attempt.until, delay_seconds=login_guard.MAX_DELAY)

    # argon2 runs whether or not the name exists (a dummy hash stands in), so a wrong name takes as
    # long as a wrong password; so does a user without a PIN.
    candidates = hashes(row) if row is not None else []
    if candidates:
        matched = [h for h in candidates if verify_password(h, secret)]  # every hash is checked
    else:
        verify_password(_dummy_hash(), secret)
        matched = []
    correct = bool(matched)
    if correct and row is not None and row.active:
        login_guard.succeeded(store, attempt)
        fresh = _rehashed(row, matched, secret)
        with store.write() as conn:
            user = load_user(conn, users.c.id == row.id)
            if user is None:  # removed a moment ago
                raise AuthenticationFailed()
            audit.record(conn, user, "login", "user", user.id, detail=where)
            conn.execute(update(users).where(users.c.id == user.id).values(last_login_at=now, **fresh))
        login_guard.purge(store, now=now, lockout=lockout)
        return user

    cause = "unknown account" if row is None else ("inactive account" if correct else wrong)
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


def _rehashed(row: Any, matched: list[str], secret: str) -> dict[str, str]:  # noqa: ANN401 - a row of users
    """The user's hashes that ``secret`` matched but that were made with an earlier version's
    parameters, made again now that the secret is known (before the write: hashing takes
    milliseconds the store's write lock need not wait for)."""
    return {column: hash_again(secret) for column in ("password_hash", "pin_hash")
            if getattr(row, column) in matched and needs_rehash(getattr(row, column))}


# --- administration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRecord:
    """A user as user administration sees it (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    municipalities: tuple[int, ...]
    active: bool
    must_change_password: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    grants: tuple[tuple[str, int], ...] = ()   # (programme, municipality), sorted; "*": every programme
    has_pin: bool = False                      # a PIN for the questionnaire mode (never the PIN)

    def as_user(self) -> User:
        if not self.grants:  # a record without grants (an administrator, or made by hand): as before
            return User(self.id, self.username, self.display_name, self.role, frozenset(self.municipalities))
        return User.with_grants(self.id, self.username, self.display_name, self.role, set(self.grants))

    @property
    def programmes(self) -> tuple[str, ...]:
        """The programmes the user acts in somewhere, sorted (``ALL_PROGRAMMES`` for every one)."""
        return tuple(sorted({p for p, _ in self.grants}))

    def programmes_text(self, every: str = "alle") -> str:
        """The grants for a listing: ``hjertekom, moeva`` when the same programmes hold in every
        municipality, else per municipality (``hjertekom: 740; moeva: 740,751``); ``every`` for ``*``."""
        granted = self.as_user().granted()
        name = {ALL_PROGRAMMES: every}
        if len({codes for codes in granted.values()}) <= 1:
            return ", ".join(name.get(p, p) for p in granted)
        return "; ".join(f"{name.get(p, p)}: {','.join(map(str, codes))}" for p, codes in granted.items())

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]["da"]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive UTC back; PostgreSQL aware: always aware UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _records(conn: Connection, where: Any = None) -> list[UserRecord]:  # noqa: ANN401 - a SQLAlchemy condition
    query = select(users).order_by(users.c.username)
    if where is not None:
        query = query.where(where)
    rows = conn.execute(query).all()
    codes: dict[int, list[int]] = {}
    grants: dict[int, list[tuple[str, int]]] = {}
    if rows:
        for user_id, programme, code in conn.execute(
                select(user_municipalities.c.user_id, user_municipalities.c.programme,
                       user_municipalities.c.municipality_code)
                .where(user_municipalities.c.user_id.in_([r.id for r in rows]))
                .order_by(user_municipalities.c.municipality_code, user_municipalities.c.programme)):
            if code not in codes.get(user_id, ()):
                codes.setdefault(user_id, []).append(code)
            grants.setdefault(user_id, []).append((programme, code))
    return [UserRecord(r.id, r.username, r.display_name, r.role, tuple(codes.get(r.id, ())), bool(r.active),
                       bool(r.must_change_password), _utc(r.created_at), _utc(r.last_login_at),  # type: ignore[arg-type]
                       tuple(sorted(grants.get(r.id, ()))), r.pin_hash is not None)
            for r in rows]


def _visible_to(actor: User, record: UserRecord) -> bool:
    """Administrators see everyone; a coordinator (user.read) the users of their own municipalities."""
    return actor.can("user.admin") or bool(set(record.municipalities) & actor.municipalities)


def _require_read(store: Store, actor: User, attempted: str) -> None:
    """Reading users: administrators, and coordinators for their own municipalities (audited refusal)."""
    if actor.can("user.admin"):
        return
    try:
        actor.require("user.read")
    except AccessDenied as exc:
        audit.deny(store, actor, "user.read", "user", reason=exc.reason, detail={"call": attempted})
        raise


def user_records(store: Store, actor: User) -> list[UserRecord]:
    """Every user an administrator may manage, or the users of a coordinator's municipalities."""
    _require_read(store, actor, "user_records")
    with store.read() as conn:
        found = _records(conn)
    return [r for r in found if _visible_to(actor, r)]


def show_user(store: Store, actor: User, username: str) -> UserRecord:
    """One user; NotFound (audited) for a name that does not exist or that the actor may not see."""
    _require_read(store, actor, "show_user")
    with store.read() as conn:
        found = _records(conn, users.c.username == username)
    if not found or not _visible_to(actor, found[0]):
        audit.deny(store, actor, "user.read", "user", found[0].id if found else None,
                   reason="not found or not in the actor's municipalities")
        raise NotFound("user", username)
    return found[0]


def must_change_password(store: Store, user_id: int | None) -> bool:
    """Whether the user must choose a new password before anything else (after a reset)."""
    if user_id is None:
        return False
    with store.read() as conn:
        return bool(conn.execute(select(users.c.must_change_password).where(users.c.id == user_id)).scalar())


def _target(conn: Connection, username: str) -> UserRecord:
    found = _records(conn, users.c.username == username)
    if not found:
        raise NotFound("user", username)
    return found[0]


def _check_codes(conn: Connection, role: str, codes: Sequence[int]) -> None:
    if role not in ROLES_WITHOUT_MUNICIPALITIES and not codes:
        raise UserAdminRefused(f"En {ROLE_LABELS[role]['da'].lower()} skal have mindst én kommune.",
                               f"A {role} must act in at least one municipality.")
    known = set(conn.execute(select(municipalities.c.code).where(municipalities.c.code.in_(codes))).scalars())
    unknown = sorted(set(codes) - known)
    if unknown:
        raise UserAdminRefused(f"Ukendt kommunekode: {', '.join(map(str, unknown))}. Brug koderne fra kommunelisten.",
                               f"unknown municipality code(s): {unknown}")


def _not_yourself(actor: User, target: UserRecord, what_da: str, what_en: str) -> None:
    """An administrator cannot lock themselves out (another administrator, or the CLI, can)."""
    if actor.id is not None and actor.id == target.id:
        raise UserAdminRefused(f"Du kan ikke {what_da} for dig selv; bed en anden administrator om det.",
                               f"You cannot {what_en} yourself; ask another administrator.")


def _end_sessions(store: Store, actor: User, target: UserRecord, reason: str) -> int:
    """End the target's open sessions (after the change is committed) and audit how many."""
    from hjertekom_core.web_sessions import end_user_sessions  # web_sessions imports this module

    ended = end_user_sessions(store, target.id, reason)
    if ended:
        with store.write() as conn:
            audit.record(conn, actor, SESSIONS_ENDED, "user", target.id,
                         detail={"sessions": len(ended), "reason": reason})
    return len(ended)


@dataclass(frozen=True)
class Change:
    """What one administration call did: the user afterwards, whether anything changed, and how many
    of the user's sessions it ended."""

    user: UserRecord
    changed: bool
    sessions_ended: int = 0


def _set_field(store: Store, actor: User, username: str, field: str, after: Any,  # noqa: ANN401
               ended_reason: str, attempted: str) -> Change:
    """Set one field of a user (active, role or municipalities), audited with before and after."""
    _require_admin(store, actor, attempted)
    with store.write() as conn:
        target = _target(conn, username)
        before = getattr(target, field)
        unchanged = before == after
        if field == "programmes":  # the same programmes, but not in every municipality, is a change
            unchanged = set(target.grants) == {(p, m) for p in after for m in target.municipalities}
        if unchanged:
            return Change(target, False)
        if field == "active" and not after:
            _not_yourself(actor, target, "lukke adgangen", "deactivate")
        if field == "role":
            _not_yourself(actor, target, "ændre rollen", "change the role of")
            _check_codes(conn, after, target.municipalities)
            conn.execute(update(users).where(users.c.id == target.id).values(role=after))
        elif field == "municipalities":
            _check_codes(conn, target.role, after)
            _replace_grants(conn, target.id, _grants_moved(target, after))
        elif field == "programmes":
            _replace_grants(conn, target.id, {(p, m) for p in after for m in target.municipalities})
        else:
            conn.execute(update(users).where(users.c.id == target.id).values(**{field: after}))
        audit.record(conn, actor, USER_CHANGE, "user", target.id, detail={
            "field": field, "before": list(before) if isinstance(before, tuple) else before,
            "after": list(after) if isinstance(after, tuple) else after})
        changed = _target(conn, username)
    ended = _end_sessions(store, actor, changed, ended_reason) if ended_reason else 0
    return Change(changed, True, ended)


def _replace_grants(conn: Connection, user_id: int, grants: set[tuple[str, int]]) -> None:
    conn.execute(delete(user_municipalities).where(user_municipalities.c.user_id == user_id))
    if grants:
        conn.execute(insert(user_municipalities), _grant_rows(user_id, grants))


def _grants_moved(target: UserRecord, codes: Sequence[int]) -> set[tuple[str, int]]:
    """The grants after the municipalities became ``codes``: a municipality kept keeps its
    programmes; a new one gets every programme the user has anywhere (``*`` for a user with none)."""
    everywhere = set(target.programmes) or {ALL_PROGRAMMES}
    kept: dict[int, set[str]] = {}
    for programme, code in target.grants:
        kept.setdefault(code, set()).add(programme)
    return {(p, c) for c in codes for p in kept.get(c, everywhere)}


def deactivate_user(store: Store, actor: User, username: str) -> Change:
    """Close the account: no login, and every open session ends now (its pages and kernels follow)."""
    return _set_field(store, actor, username, "active", False, ENDED_DEACTIVATED, "deactivate_user")


def reactivate_user(store: Store, actor: User, username: str) -> Change:
    """Open a closed account again (its old sessions stay ended)."""
    return _set_field(store, actor, username, "active", True, "", "reactivate_user")


def set_role(store: Store, actor: User, username: str, role: str) -> Change:
    """Change the role; the user's sessions end, so that the new rights apply from the next login."""
    _require_admin(store, actor, "set_role")
    try:
        check_role(role)
    except ValueError:
        raise UserAdminRefused(f"Ukendt rolle: {role}.", f"unknown role {role!r}") from None
    return _set_field(store, actor, username, "role", role, ENDED_RIGHTS, "set_role")


def set_municipalities(store: Store, actor: User, username: str, codes: Iterable[int]) -> Change:
    """Set the municipalities the user acts in; the user's sessions end (their rights changed)."""
    wanted = tuple(sorted({int(c) for c in codes}))
    return _set_field(store, actor, username, "municipalities", wanted, ENDED_RIGHTS, "set_municipalities")


def set_programmes(store: Store, actor: User, username: str, programmes: Iterable[str] | None, *,
                   known_programmes: Collection[str] | None = None) -> Change:
    """Set the programmes the user acts in, in each of their municipalities (None: every programme,
    ``ALL_PROGRAMMES``); the user's sessions end. An unknown programme (not in ``known_programmes``)
    is refused and nothing changes. Audited as ``user.change`` of ``programmes``, before and after."""
    _require_admin(store, actor, "set_programmes")
    wanted = check_programmes(programmes, known_programmes)
    return _set_field(store, actor, username, "programmes", wanted, ENDED_RIGHTS, "set_programmes")


#: Letters and digits of a generated password, without look-alikes (0/O, 1/l/I).
_PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 - an alphabet


def generate_password(username: str = "") -> str:
    """A random password that passes the policy: four groups of four, e.g. ``k7Pq-xR2m-...`` (95 bits)."""
    while True:
        groups = ("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(4))
        password = "-".join(groups)
        try:
            check_password(password, username)
        except ValueError:  # a username inside it, say: draw again
            continue
        return password


@dataclass(frozen=True)
class PasswordReset:
    """A reset password: ``password`` is shown to the administrator once and stored nowhere else."""

    user: UserRecord
    password: str
    generated: bool
    sessions_ended: int


def reset_password(store: Store, actor: User, username: str, password: str | None = None) -> PasswordReset:
    """Give the user a new password, random unless ``password`` is given (it must pass the policy);
    it must be changed at the next login, and the user's open sessions end now."""
    _require_admin(store, actor, "reset_password")
    generated = password is None
    new = generate_password(username) if password is None else password
    check_password(new, username)
    password_hash = hash_password(new)
    with store.write() as conn:
        target = _target(conn, username)
        conn.execute(update(users).where(users.c.id == target.id)
                     .values(password_hash=password_hash, must_change_password=True))
        audit.record(conn, actor, PASSWORD_RESET, "user", target.id,
                     detail={"generated": generated, "must_change": True})
        target = _target(conn, username)
    ended = _end_sessions(store, actor, target, ENDED_PASSWORD)
    return PasswordReset(target, new, generated, ended)


class PasswordMismatch(UserAdminRefused):
    """The new password and its repetition differ."""

    def __init__(self) -> None:
        super().__init__("De to nye adgangskoder er ikke ens. Skriv den samme adgangskode to gange.",
                         "The two new passwords differ. Type the same password twice.")


class SamePassword(UserAdminRefused):
    """The new password is the old one."""

    def __init__(self) -> None:
        super().__init__("Den nye adgangskode skal være en anden end den gamle.",
                         "The new password must differ from the old one.")


def change_own_password(store: Store, username: str, old: str, new: str, repeat: str, *,
                        address: str | None = None, max_failures: int = 10,
                        lockout: dt.timedelta = dt.timedelta(minutes=15)) -> User:
    """A user chooses a new password, proving the old one (throttled and audited as a login).

    Raises AuthenticationFailed (or LoginLocked) for a wrong old password, PasswordMismatch,
    SamePassword or WeakPassword for a new one that will not do; nothing is changed then. Other
    open sessions of the user end (``password_changed``). Audited as ``user.password_change``.
    """
    user = authenticate(store, username, old, address=address, max_failures=max_failures, lockout=lockout)
    if new != repeat:
        raise PasswordMismatch()
    if new == old:
        raise SamePassword()
    check_password(new, username)
    password_hash = hash_password(new)
    with store.write() as conn:
        forced = bool(conn.execute(select(users.c.must_change_password).where(users.c.id == user.id)).scalar())
        conn.execute(update(users).where(users.c.id == user.id)
                     .values(password_hash=password_hash, must_change_password=False))
        audit.record(conn, user, PASSWORD_CHANGE, "user", user.id, detail={"forced": forced})
    from hjertekom_core.web_sessions import end_user_sessions  # web_sessions imports this module

    end_user_sessions(store, user.id, ENDED_PASSWORD_CHANGED)  # type: ignore[arg-type]
    return user


# --- the PIN of the questionnaire mode -------------------------------------------------------------------


class PinMismatch(UserAdminRefused):
    """The new PIN and its repetition differ."""

    def __init__(self) -> None:
        super().__init__("De to PIN-koder er ikke ens. Skriv den samme PIN-kode to gange.",
                         "The two PINs differ. Type the same PIN twice.")


class PinRefusedWhileHandedOver(UserAdminRefused):
    """Hosted set-up: the tablet is with a citizen, so the PIN that takes it back is not changed."""

    def __init__(self) -> None:
        super().__init__("Din tablet er lige nu hos en borger i spørgeskematilstand. PIN-koden kan ikke ændres, "
                         "før du har taget tabletten tilbage med den PIN-kode, du har.",
                         "Your tablet is with a citizen in questionnaire mode. The PIN cannot be changed until "
                         "you have taken the tablet back with the PIN you have.")


def has_pin(store: Store, user_id: int | None) -> bool:
    """Whether the user has a PIN for the questionnaire mode."""
    if user_id is None:
        return False
    with store.read() as conn:
        return conn.execute(select(users.c.pin_hash).where(users.c.id == user_id)).scalar() is not None


def hand_over_open(conn: Connection, user_id: int) -> bool:
    """Whether one of the user's forms is handed to a citizen right now (an autosave holding an
    open hand-over of the questionnaire mode, widgets/questionnaire_mode.py)."""
    import json

    from hjertekom_core.store.schema import autosaves

    for data in conn.execute(select(autosaves.c.data).where(
            autosaves.c.user_id == user_id, autosaves.c.data.contains('"_tablet"', autoescape=True))).scalars():
        try:
            hand_over = json.loads(data).get("_tablet")
        except (ValueError, AttributeError):
            continue
        if isinstance(hand_over, dict) and hand_over.get("open") is True:
            return True
    return False


def set_own_pin(store: Store, username: str, pin: str, repeat: str, *, password: str | None,
                address: str | None = None, max_failures: int = 10,
                lockout: dt.timedelta = dt.timedelta(minutes=15)) -> User:
    """The signed-in user sets or changes their own PIN (the questionnaire mode's key).

    ``password``: the current password, proven like a login (throttled and audited) in the
    login-form set-up; None in the hosted set-up, where the proxy's authenticated session
    suffices. There, while one of the user's forms is handed to a citizen and the user has a PIN,
    the PIN is not changed (PinRefusedWhileHandedOver, audited as ``access.denied``): the citizen
    holds that session. Raises WeakPin or PinMismatch for a PIN that will not do, before any
    password is checked; nothing changes then. Audited as ``user.pin_set`` (whether one was
    replaced, and how the user proved who they are), never with the PIN.
    """
    if pin != repeat:
        raise PinMismatch()
    pin_hash = hash_pin(pin)   # checks it first (WeakPin)
    if password is not None:
        user = authenticate(store, username, password, address=address, max_failures=max_failures, lockout=lockout)
    else:
        found = active_user(store, username)
        if found is None:
            raise NotFound("user", username)
        user = found
    with store.write() as conn:
        had = conn.execute(select(users.c.pin_hash).where(users.c.id == user.id)).scalar() is not None
        if password is None and had and hand_over_open(conn, user.id):  # type: ignore[arg-type]
            refused = True
        else:
            refused = False
            conn.execute(update(users).where(users.c.id == user.id).values(pin_hash=pin_hash))
            audit.record(conn, user, PIN_SET, "user", user.id,
                         detail={"replaced": had, "proven_by": "password" if password is not None else "proxy"})
    if refused:
        audit.deny(store, user, PIN_SET, "user", user.id, reason="a form is handed over to a citizen")
        raise PinRefusedWhileHandedOver()
    return user


def clear_pin(store: Store, actor: User, username: str) -> Change:
    """An administrator removes a user's PIN (forgotten, or seen by someone); the user sets a new
    one on "Min PIN-kode". Audited as ``user.pin_clear``."""
    _require_admin(store, actor, "clear_pin")
    with store.write() as conn:
        target = _target(conn, username)
        if conn.execute(select(users.c.pin_hash).where(users.c.id == target.id)).scalar() is None:
            return Change(target, False)
        conn.execute(update(users).where(users.c.id == target.id).values(pin_hash=None))
        audit.record(conn, actor, PIN_CLEAR, "user", target.id, detail={"had_pin": True})
        target = _target(conn, username)
    return Change(target, True)


# --- the rights review --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRow:
    """One active user in the rights review."""

    user: UserRecord
    last_changed_at: dt.datetime | None
    last_changed_by: str
    unused: bool  # no login for UNUSED_AFTER (or never, and created before that)


def last_changes(conn: Connection) -> dict[int, tuple[dt.datetime, str]]:
    """When each user was last added or changed, and by whom (from the audit log)."""
    newest = (select(func.max(audit_log.c.id)).where(audit_log.c.entity == "user",
                                                     audit_log.c.action.in_(CHANGE_ACTIONS))
              .group_by(audit_log.c.entity_id))
    found: dict[int, tuple[dt.datetime, str]] = {}
    for row in conn.execute(select(audit_log.c.entity_id, audit_log.c.at, audit_log.c.username)
                            .where(audit_log.c.id.in_(newest))):
        if row.entity_id and row.entity_id.isdigit():
            found[int(row.entity_id)] = (_utc(row.at), row.username)  # type: ignore[assignment]
    return found


def rights_review(store: Store, actor: User, *, now: dt.datetime | None = None,
                  unused_after: dt.timedelta = UNUSED_AFTER) -> list[ReviewRow]:
    """Every active user with role, municipalities, last login and last change; accounts without a
    login for ``unused_after`` are flagged. Audited as ``user.review``."""
    _require_admin(store, actor, "rights_review")
    moment = now or audit.now()
    with store.read() as conn:
        records = [r for r in _records(conn) if r.active]
        changes = last_changes(conn)
    rows = []
    for record in records:
        seen = record.last_login_at or record.created_at
        at, by = changes.get(record.id, (None, ""))
        rows.append(ReviewRow(record, at, by, moment - seen > unused_after))
    with store.write() as conn:
        audit.record(conn, actor, RIGHTS_REVIEW, "user", None,
                     detail={"users": len(rows), "unused": sum(r.unused for r in rows)})
    return rows


def local_text(moment: dt.datetime | None) -> str:
    """``2026-03-05 14:02`` in Danish local time, or empty."""
    return f"{_utc(moment).astimezone(DANISH_ZONE):%Y-%m-%d %H:%M}" if moment else ""  # type: ignore[union-attr]


REVIEW_COLUMNS = ("brugernavn", "rolle", "kommuner", "oprettet", "seneste_login", "senest_aendret",
                  "aendret_af", "skal_skifte_adgangskode", "ubrugt_90_dage", "programmer")


def write_review_csv(rows: Sequence[ReviewRow], path: Path) -> Path:
    """The review as CSV (semicolons, UTF-8 with BOM for Excel), 0600, text cells formula-quoted."""
    from hjertekom_core.export.formulas import csv_cell
    from hjertekom_core.private_files import atomic_private_write

    with atomic_private_write(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(REVIEW_COLUMNS)
        for row in rows:
            u = row.user
            writer.writerow([csv_cell(v) for v in (
                u.username, u.role, ",".join(map(str, u.municipalities)) or "alle", local_text(u.created_at),
                local_text(u.last_login_at), local_text(row.last_changed_at), row.last_changed_by,
                "ja" if u.must_change_password else "nej", "ja" if row.unused else "nej",
                u.programmes_text() if u.grants else "alle")])
    return path


# --- contact details on the profile (the course summary's signature) ---------------------------------
_PHONE = re.compile(r"^\+?[0-9][0-9 ]{6,18}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ContactDetails:
    """How a hospital or GP reaches a clinician: work phone and e-mail, each optional."""

    phone: str | None = None
    email: str | None = None


def set_contact(store: Store, actor: User, username: str, phone: str | None, email: str | None) -> Change:
    """Set a user's work phone and e-mail (blank clears one): the user themselves or an administrator.
    Audited as ``user.change`` of the field ``contact`` without the values (they identify a person)."""
    phone = (phone or "").strip() or None
    email = (email or "").strip() or None
    if phone is not None and not _PHONE.fullmatch(phone):
        raise UserAdminRefused("Telefonnummeret skal være cifre, fx 87 22 33 44 eller +45 87223344.",
                               "The phone number must be digits, e.g. 87 22 33 44 or +45 87223344.")
    if email is not None and not _EMAIL.fullmatch(email):
        raise UserAdminRefused("E-mailadressen skal have formen navn@domæne.dk.",
                               "The e-mail address must look like name@domain.dk.")
    if actor.username != username:
        _require_admin(store, actor, "set_contact")
    with store.write() as conn:
        target = _target(conn, username)
        before = contact_of(conn, target.id)
        if before == ContactDetails(phone, email):
            return Change(target, False)
        conn.execute(update(users).where(users.c.id == target.id).values(phone=phone, email=email))
        audit.record(conn, actor, USER_CHANGE, "user", target.id, detail={
            "field": "contact", "phone": phone is not None, "email": email is not None})
    return Change(target, True)


def contact_of(conn: Connection, user_id: int | None) -> ContactDetails:
    """The user's contact details (empty for an unknown user or a system job)."""
    if user_id is None:
        return ContactDetails()
    row = conn.execute(select(users.c.phone, users.c.email).where(users.c.id == user_id)).first()
    return ContactDetails() if row is None else ContactDetails(row.phone, row.email)
