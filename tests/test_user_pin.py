"""The questionnaire mode's PIN (issue 19): hashed like the passwords, validated with a Danish
message, set by the user (with the password in the login-form set-up, with the proxy's session in
the hosted one), cleared by an administrator, and checked with the very throttle, lockout and audit
of the password."""
from __future__ import annotations

import datetime as dt
import json
import logging
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM, check_pin
from hjertekom_core.cli import main
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import AccessDenied, AuthenticationFailed, LoginLocked, WeakPin
from hjertekom_core.store.schema import audit_log, users
from hjertekom_core.users import (
    PIN_CLEAR,
    PIN_SET,
    PinMismatch,
    PinRefusedWhileHandedOver,
    add_user,
    authenticate,
    clear_pin,
    has_pin,
    set_own_pin,
    show_user,
    unlock_with_pin_or_password,
)

from factories import TEST_PASSWORD, course_data

PIN = "4711"


def _anne(store):  # type: ignore[no-untyped-def]
    return add_user(store, SYSTEM, "anne", "Anne A.", "clinician", TEST_PASSWORD, [740])


def _actions(store) -> list[str]:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return [e["action"] for e in audit.entries(conn)]


@pytest.mark.parametrize("pin", ["0000", "1111", "1234", "9876", "8901", "123456", "1212", "123123", "12341234",
                                 "1985", "2024", "2580"])
def test_trivial_pins_are_refused_in_danish_saying_what_to_choose(pin: str) -> None:
    with pytest.raises(WeakPin) as refused:
        check_pin(pin)
    assert refused.value.reason == "trivial"
    assert "for let at gætte" in refused.value.messages["da"] and "Vælg 4-8 cifre" in refused.value.messages["da"]


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", " 4711", "", "٤٧١١"])
def test_a_pin_is_four_to_eight_digits(pin: str) -> None:
    with pytest.raises(WeakPin) as refused:
        check_pin(pin)
    assert refused.value.reason == "format" and "4-8 cifre" in refused.value.messages["da"]


@pytest.mark.parametrize("pin", ["4711", "27183", "5173", "90210", "31415926"])
def test_pins_without_a_pattern_are_accepted(pin: str) -> None:
    check_pin(pin)


def test_the_pin_is_stored_as_an_argon2id_hash_and_never_in_clear(store, caplog: pytest.LogCaptureFixture) -> None:
    _anne(store)
    caplog.set_level(logging.DEBUG)
    set_own_pin(store, "anne", "27183", "27183", password=TEST_PASSWORD)
    with store.read() as conn:
        stored = conn.execute(select(users.c.pin_hash)).scalar_one()
        rows = conn.execute(select(audit_log.c.detail)).scalars().all()
    assert stored.startswith("$argon2id$") and "27183" not in stored
    assert not any("27183" in (r or "") for r in rows) and "27183" not in caplog.text
    assert has_pin(store, show_user(store, SYSTEM, "anne").id) and show_user(store, SYSTEM, "anne").has_pin


def test_setting_a_pin_in_the_login_form_set_up_needs_the_password(store) -> None:
    anne = _anne(store)
    with pytest.raises(AuthenticationFailed):
        set_own_pin(store, "anne", PIN, PIN, password="forkert-kode-igen")
    assert not has_pin(store, anne.id)
    with pytest.raises(PinMismatch):
        set_own_pin(store, "anne", PIN, "4712", password=TEST_PASSWORD)
    with pytest.raises(WeakPin):
        set_own_pin(store, "anne", "1234", "1234", password=TEST_PASSWORD)
    assert not has_pin(store, anne.id)
    set_own_pin(store, "anne", PIN, PIN, password=TEST_PASSWORD)
    with store.read() as conn:
        entry = audit.entries(conn, action=PIN_SET)[0]
    assert json.loads(entry["detail"]) == {"replaced": False, "proven_by": "password"}
    assert entry["entity_id"] == str(anne.id)


def test_in_the_hosted_set_up_the_session_suffices_but_not_while_the_tablet_is_with_a_citizen(
        store, service_for) -> None:  # type: ignore[no-untyped-def]
    anne = _anne(store)
    set_own_pin(store, "anne", PIN, PIN, password=None)
    svc = service_for(anne)
    citizen = svc.create_citizen(generate_cpr(random.Random(5), birth_date=dt.date(1951, 3, 4), sex="F"), "Karen Tabletsen", 740)
    course_id = svc.open_course(citizen.id, course_data(), complete=True).course_id
    # A form handed over: the questionnaire mode's autosave.
    svc.autosave(course_id, "start", {"_tablet": {"open": True, "items": []}}, 0)
    with pytest.raises(PinRefusedWhileHandedOver) as refused:
        set_own_pin(store, "anne", "27183", "27183", password=None)
    assert "hos en borger" in refused.value.messages["da"]
    unlock_with_pin_or_password(store, "anne", PIN, password_allowed=False)   # the old PIN still holds
    with store.read() as conn:
        denied = audit.entries(conn, action=audit.DENIED)[0]
    assert json.loads(denied["detail"])["attempted"] == PIN_SET
    # With the password (the login-form set-up) the citizen holding the tablet cannot do it either way.
    set_own_pin(store, "anne", "27183", "27183", password=TEST_PASSWORD)
    unlock_with_pin_or_password(store, "anne", "27183", password_allowed=False)


def test_the_pin_unlocks_and_the_password_only_where_users_have_one(store) -> None:
    _anne(store)
    with pytest.raises(AuthenticationFailed):   # no PIN yet, hosted: nothing opens
        unlock_with_pin_or_password(store, "anne", PIN, password_allowed=False)
    with pytest.raises(AuthenticationFailed):
        unlock_with_pin_or_password(store, "anne", TEST_PASSWORD, password_allowed=False)
    assert unlock_with_pin_or_password(store, "anne", TEST_PASSWORD, password_allowed=True).username == "anne"
    set_own_pin(store, "anne", PIN, PIN, password=TEST_PASSWORD)
    assert unlock_with_pin_or_password(store, "anne", PIN, password_allowed=False).username == "anne"
    assert unlock_with_pin_or_password(store, "anne", PIN, password_allowed=True).username == "anne"
    assert unlock_with_pin_or_password(store, "anne", TEST_PASSWORD, password_allowed=True).username == "anne"
    with pytest.raises(AuthenticationFailed):
        unlock_with_pin_or_password(store, "anne", "4712", password_allowed=True)
    with pytest.raises(AuthenticationFailed):   # the PIN never logs anyone in
        authenticate(store, "anne", PIN)
    with store.read() as conn:
        failed = json.loads(audit.entries(conn, action="login.failed")[1]["detail"])
        ok = json.loads(audit.entries(conn, action="login")[0]["detail"])
    assert failed == {"key": "pin_or_password", "cause": "wrong PIN or password", "failures": 1}
    assert ok == {"key": "pin_or_password"}


def test_wrong_pins_and_wrong_passwords_count_together_and_the_lock_holds_for_both(store) -> None:
    _anne(store)
    set_own_pin(store, "anne", PIN, PIN, password=TEST_PASSWORD)
    with pytest.raises(AuthenticationFailed):
        unlock_with_pin_or_password(store, "anne", "4712", password_allowed=False, max_failures=3)
    with pytest.raises(AuthenticationFailed):
        authenticate(store, "anne", "forkert-kode-igen", max_failures=3)
    with pytest.raises(LoginLocked):   # the third in a row, a PIN, locks the account
        unlock_with_pin_or_password(store, "anne", "4713", password_allowed=False, max_failures=3)
    with pytest.raises(LoginLocked):   # the right PIN waits ...
        unlock_with_pin_or_password(store, "anne", PIN, password_allowed=False, max_failures=3)
    with pytest.raises(LoginLocked):   # ... and so does the login
        authenticate(store, "anne", TEST_PASSWORD, max_failures=3)
    with store.read() as conn:
        locked = [json.loads(e["detail"]) for e in audit.entries(conn, action="login.locked")]
    assert [d["event"] for d in reversed(locked)] == ["locked", "refused", "refused"]
    assert locked[-1]["key"] == "pin" and "key" not in locked[0]


def test_an_administrator_clears_a_pin_audited_and_no_one_else_may(store) -> None:
    anne = _anne(store)
    other = add_user(store, SYSTEM, "bo", "Bo B.", "clinician", TEST_PASSWORD, [740])
    set_own_pin(store, "anne", PIN, PIN, password=TEST_PASSWORD)
    with pytest.raises(AccessDenied):
        clear_pin(store, other, "anne")
    assert has_pin(store, anne.id) and _actions(store)[0] == audit.DENIED
    change = clear_pin(store, SYSTEM, "anne")
    assert change.changed and not has_pin(store, anne.id) and not change.user.has_pin
    assert _actions(store)[0] == PIN_CLEAR
    assert not clear_pin(store, SYSTEM, "anne").changed


def test_the_command_line_clears_a_pin(tmp_path: Path, cli_env: dict[str, str | None]) -> None:
    env = {**cli_env, "HJERTEKOM_NEW_PASSWORD": TEST_PASSWORD}
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    added = runner.invoke(main, ["users", "add", "anne", "--role", "clinician", "-m", "740"], env=env)
    assert added.exit_code == 0, added.output
    from hjertekom_core.store import Store

    store = Store(f"sqlite:///{tmp_path / 'data' / 'hjertekom.sqlite'}")
    try:
        set_own_pin(store, "anne", PIN, PIN, password=TEST_PASSWORD)
        done = runner.invoke(main, ["users", "clear-pin", "anne"], env=env)
        assert done.exit_code == 0, done.output
        assert "PIN-koden er fjernet" in done.output
        assert not has_pin(store, show_user(store, SYSTEM, "anne").id)
        again = runner.invoke(main, ["users", "clear-pin", "anne"], env=env)
        assert "har ingen PIN-kode" in again.output
        shown = runner.invoke(main, ["users", "show", "anne", "--json"], env=env)
        assert json.loads(shown.output)["pin"] is False
        unknown = runner.invoke(main, ["users", "clear-pin", "nobody"], env=env)
        assert unknown.exit_code != 0
    finally:
        store.engine.dispose()
