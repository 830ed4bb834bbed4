"""Login throttling: failed logins in a row, per account name and per client address, in the store.

The counters live in the ``login_failures`` table, so every server process and every host on one
PostgreSQL sees the same counts. ``users.authenticate`` is the one caller; it audits.

How an attempt is counted:

1. ``begin`` (one write transaction, before the password is checked): if the account name or the
   address is locked, the attempt is refused at once. Otherwise it is counted as a failure
   *in advance*; when that count reaches ``max_failures`` the lock is set. Counting before
   checking means that guesses fired in parallel cannot slip past the limit while argon2 runs:
   at most ``max_failures`` passwords are ever checked per lockout.
2. The caller checks the password (argon2, outside any transaction).
3. ``succeeded`` ends the streaks of a correct login: the account's and the address's rows are
   deleted ("failures in a row": a success breaks the row). So an office behind one address is not
   locked out by a morning of typing errors spread over many people. The price: someone holding
   one valid account could mix own logins into guesses at other accounts from one address; each
   guessed account still gets at most ``max_failures`` tries per lockout, and every login is
   audited with its address.

A streak ends by itself when no failure came for ``lockout``, and a lock ends after ``lockout``;
then the count starts again from one. Attempts while locked are not counted, so a lock is not
prolonged by the attacker who set it (it can be set again after it ends: that is the price of
any lockout; the audit log shows it).

Locked attempts do not run argon2: the answer says "locked" anyway, so equal timing would hide
nothing, and skipping it keeps a flood of attempts against a locked name or address cheap. The
caller is told to wait ``MAX_DELAY`` before answering, so a locked answer is never quicker than a
late failure. Unknown account names are counted exactly like real ones, so neither the answers
nor the locks reveal which names exist.

Addresses: several people behind one office NAT share one address counter; ``max_failures``
failures from that office with no success between them lock it for ``lockout``. Behind a proxy
the web login passes the client's address, not the proxy's: the one the proxy names in
``X-Real-IP``, believed only from ``trusted_proxies`` (widgets/client_address.py), so one user's
typing errors behind nginx do not lock everyone's login.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from hjertekom_core.store import Store
from hjertekom_core.store.schema import login_failures

ACCOUNT = "account"
ADDRESS = "address"
#: Failures in a row answered without delay; after them the delay doubles with each failure.
FREE_FAILURES = 3
BASE_DELAY = 0.25   # seconds, for the first failure after the free ones ... doubled each time
MAX_DELAY = 4.0     # ... up to this
PURGE_BATCH = 1000
_KEY_LENGTH = 100   # login_failures.key


def delay_for(failures: int) -> float:
    """Seconds to wait before answering after ``failures`` failures in a row: none for the first
    three, then 0.5, 1, 2, 4, 4, ... (0.25 s * 2^(n-3), capped at MAX_DELAY)."""
    if failures <= FREE_FAILURES:
        return 0.0
    return min(BASE_DELAY * 2 ** (failures - FREE_FAILURES), MAX_DELAY)


def keys_for(username: str, address: str | None) -> tuple[tuple[str, str], ...]:
    """The counters an attempt touches, in the one order every transaction locks them in (so two
    attempts never wait for each other crosswise). The account name is stored only as a hash:
    people type passwords (or CPR numbers) into the name field."""
    account = hashlib.sha256(username.casefold().encode("utf-8")).hexdigest()
    keys = [(ACCOUNT, account)]
    if address:
        keys.append((ADDRESS, address[:_KEY_LENGTH]))
    return tuple(sorted(keys))


@dataclass(frozen=True)
class Attempt:
    """An attempt counted in advance as a failure."""

    keys: tuple[tuple[str, str], ...]
    failures: int                        # the longest streak it belongs to, itself included
    locks_until: dt.datetime | None      # set when this attempt, if it fails, locks the login


@dataclass(frozen=True)
class Locked:
    """The account name or the address is locked until ``until`` (UTC)."""

    until: dt.datetime


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back; what we store is always UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


def _insert_missing(conn: Connection, scope: str, key: str) -> None:
    """Create the counter row if it is missing, without failing when another process just did."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(login_failures)
                 .values(scope=scope, key=key, failures=0, last_failure_at=None, locked_until=None)
                 .on_conflict_do_nothing())


def _row_of(scope: str, key: str):  # type: ignore[no-untyped-def]
    return and_(login_failures.c.scope == scope, login_failures.c.key == key)


def _locked_row(conn: Connection, scope: str, key: str):  # type: ignore[no-untyped-def]
    """The counter row, made if missing and locked for this transaction (PostgreSQL; SQLite's write
    lock covers it). ON CONFLICT DO NOTHING does not lock the row it found, so a concurrent
    ``purge`` may delete it before the lock is taken (seen with 100 logins on two hosts: an HTTP
    500 at the login); then it is made again."""
    for _ in range(3):
        _insert_missing(conn, scope, key)
        row = conn.execute(select(login_failures).where(_row_of(scope, key)).with_for_update()).first()
        if row is not None:
            return row
    raise RuntimeError(f"login counter {scope} could not be locked: deleted three times in a row")


def begin(store: Store, keys: Sequence[tuple[str, str]], *, now: dt.datetime, max_failures: int,
          lockout: dt.timedelta) -> Attempt | Locked:
    """Refuse the attempt if a counter is locked, else count it in advance (see the module doc)."""
    with store.write() as conn:
        rows = []
        for scope, key in keys:
            rows.append(_locked_row(conn, scope, key))
        locked = [until for r in rows if (until := _utc(r.locked_until)) is not None and until > now]
        if locked:
            return Locked(max(locked))
        longest, locks_until = 0, None
        for row in rows:
            last, until = _utc(row.last_failure_at), _utc(row.locked_until)
            streak_over = last is None or now - last >= lockout or (until is not None and until <= now)
            failures = 1 if streak_over else row.failures + 1
            new_lock = now + lockout if failures >= max_failures else None
            conn.execute(update(login_failures).where(_row_of(row.scope, row.key))
                         .values(failures=failures, last_failure_at=now, locked_until=new_lock))
            longest = max(longest, failures)
            if new_lock is not None:
                locks_until = new_lock
    return Attempt(tuple(keys), longest, locks_until)


def succeeded(store: Store, attempt: Attempt) -> None:
    """End the streaks of a correct login: its account's and its address's (see the module doc)."""
    with store.write() as conn:
        for scope, key in attempt.keys:
            conn.execute(delete(login_failures).where(_row_of(scope, key)))


def purge(store: Store, *, now: dt.datetime, lockout: dt.timedelta) -> int:
    """Delete counters whose streak and lock are over (they mean the same as no row); returns how
    many. Rows another transaction holds are skipped, never waited for, so this cannot deadlock
    with a login in progress."""
    stale = and_(or_(login_failures.c.last_failure_at.is_(None), login_failures.c.last_failure_at < now - lockout),
                 or_(login_failures.c.locked_until.is_(None), login_failures.c.locked_until <= now))
    with store.write() as conn:
        found = conn.execute(select(login_failures.c.scope, login_failures.c.key).where(stale)
                             .limit(PURGE_BATCH).with_for_update(skip_locked=True)).all()
        if not found:
            return 0
        keys = [tuple(r) for r in found]
        conn.execute(delete(login_failures).where(
            tuple_(login_failures.c.scope, login_failures.c.key).in_(keys), stale))
    return len(keys)
