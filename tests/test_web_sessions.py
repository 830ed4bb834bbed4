"""Web sessions in the store: they end at logout, with age, without use, and with their user."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from hjertekom_core.store import Store
from hjertekom_core.store.schema import users, web_sessions
from hjertekom_core.web_sessions import end_session, end_user_sessions, open_session, session_state, touch_session

AGE, IDLE = dt.timedelta(hours=12), dt.timedelta(minutes=30)


def _state(store: Store, session: str, **kwargs):  # type: ignore[no-untyped-def]
    return session_state(store, session, max_age=kwargs.pop("max_age", AGE), idle=kwargs.pop("idle", IDLE), **kwargs)


def _backdate(store: Store, session: str, minutes: int) -> None:
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)
    with store.write() as conn:
        conn.execute(update(web_sessions).where(web_sessions.c.id == session).values(last_seen_at=then))


def test_a_session_ends_at_logout_and_stays_ended(store: Store, make_user) -> None:
    user = make_user("anna")
    session = open_session(store, user)
    assert _state(store, session).user.username == "anna"
    assert _state(store, "forged-session-id").user is None
    assert end_session(store, session)
    assert not end_session(store, session)  # ending twice changes nothing
    state = _state(store, session)
    assert state.user is None and state.ended == "logout"


def test_a_session_ends_with_age_and_without_use(store: Store, make_user) -> None:
    user = make_user("anna")
    old = open_session(store, user)
    assert _state(store, old, max_age=dt.timedelta(seconds=-1)).ended == "expired"
    assert _state(store, old).ended == "expired"  # ended for good, whatever the next caller asks

    idle = open_session(store, user)
    _backdate(store, idle, 31)
    assert _state(store, idle).ended == "idle"

    used = open_session(store, user)
    _backdate(store, used, 29)
    touch_session(store, used)  # typing in a form
    assert _state(store, used).user is not None


def test_asking_passively_does_not_count_as_use(store: Store, make_user) -> None:
    session = open_session(store, make_user("anna"))
    _backdate(store, session, 29)
    assert _state(store, session, touch=False).user is not None
    with store.read() as conn:
        seen = conn.execute(select(web_sessions.c.last_seen_at).where(web_sessions.c.id == session)).scalar_one()
    assert dt.datetime.now(dt.timezone.utc) - seen.replace(tzinfo=dt.timezone.utc) > dt.timedelta(minutes=28)
    assert _state(store, session, touch=True).user is not None  # a real request: counted
    with store.read() as conn:
        seen = conn.execute(select(web_sessions.c.last_seen_at).where(web_sessions.c.id == session)).scalar_one()
    assert dt.datetime.now(dt.timezone.utc) - seen.replace(tzinfo=dt.timezone.utc) < dt.timedelta(minutes=1)


def test_a_deactivated_users_sessions_end(store: Store, make_user) -> None:
    user = make_user("anna")
    first, second = open_session(store, user), open_session(store, user)
    with store.write() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(active=False))
    assert _state(store, first).ended == "deactivated"
    assert end_user_sessions(store, user.id) == [second]
    assert _state(store, second).ended == "deactivated"
