"""User administration as the data processor owes it: deactivation, password resets, role and
municipality changes (each audited with who, whom, before and after, and ending the user's
sessions), coordinators' read-only view, the rights review, and the command line."""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from hjertekom_core import audit, web_sessions
from hjertekom_core.access import SYSTEM
from hjertekom_core.errors import AccessDenied, AuthenticationFailed, NotFound, WeakPassword
from hjertekom_core.store import Store
from hjertekom_core.store.schema import users as users_table
from hjertekom_core.users import (
    PasswordMismatch,
    SamePassword,
    UserAdminRefused,
    authenticate,
    change_own_password,
    deactivate_user,
    must_change_password,
    reactivate_user,
    reset_password,
    rights_review,
    set_municipalities,
    set_role,
    show_user,
    user_records,
    write_review_csv,
)

from factories import TEST_PASSWORD

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))


def entries(store: Store, action: str | None = None) -> list[dict]:
    with store.read() as conn:
        return list(reversed(audit.entries(conn, action=action)))


def open_sessions(store: Store, user_id: int) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(select(web_sessions.web_sessions.c.id).where(
            web_sessions.web_sessions.c.user_id == user_id, web_sessions.web_sessions.c.revoked_at.is_(None))).scalars())


@pytest.fixture
def admin(make_user):  # type: ignore[no-untyped-def]
    return make_user("admin", "administrator", ())


def test_deactivation_ends_the_sessions_refuses_the_login_and_is_audited(store, make_user, admin) -> None:
    anne = make_user("anne")
    first, second = web_sessions.open_session(store, anne), web_sessions.open_session(store, anne)
    change = deactivate_user(store, admin, "anne")
    assert change.changed and change.sessions_ended == 2 and not change.user.active
    assert open_sessions(store, anne.id) == []
    state = web_sessions.session_state(store, first, max_age=dt.timedelta(hours=1), idle=dt.timedelta(hours=1))
    assert state.user is None and state.ended == "deactivated"
    with pytest.raises(AuthenticationFailed):
        authenticate(store, "anne", TEST_PASSWORD)

    [entry] = entries(store, "user.change")
    assert (entry["username"], entry["user_id"], entry["entity"], entry["entity_id"]) == ("admin", admin.id, "user",
                                                                                          str(anne.id))
    assert json.loads(entry["detail"]) == {"field": "active", "before": True, "after": False}
    [ended] = entries(store, "user.sessions_ended")
    assert json.loads(ended["detail"]) == {"sessions": 2, "reason": "deactivated"}
    assert second not in open_sessions(store, anne.id)

    assert not deactivate_user(store, admin, "anne").changed  # again: nothing to do, nothing audited
    assert len(entries(store, "user.change")) == 1
    reactivate_user(store, admin, "anne")
    assert authenticate(store, "anne", TEST_PASSWORD).username == "anne"
    assert json.loads(entries(store, "user.change")[-1]["detail"]) == {"field": "active", "before": False,
                                                                        "after": True}


def test_a_role_or_municipality_change_is_audited_before_and_after_and_ends_the_sessions(store, make_user,
                                                                                          admin) -> None:
    anne = make_user("anne")
    web_sessions.open_session(store, anne)
    change = set_role(store, admin, "anne", "coordinator")
    assert change.user.role == "coordinator" and change.sessions_ended == 1
    web_sessions.open_session(store, anne)
    change = set_municipalities(store, admin, "anne", [741, 740])
    assert change.user.municipalities == (740, 741) and change.sessions_ended == 1
    details = [json.loads(e["detail"]) for e in entries(store, "user.change")]
    assert details == [{"field": "role", "before": "clinician", "after": "coordinator"},
                       {"field": "municipalities", "before": [740], "after": [740, 741]}]
    assert [json.loads(e["detail"])["reason"] for e in entries(store, "user.sessions_ended")] == \
        ["rights_changed", "rights_changed"]
    assert authenticate(store, "anne", TEST_PASSWORD).municipalities == frozenset({740, 741})


@pytest.mark.parametrize(("call", "message"), [
    (lambda s, a: set_municipalities(s, a, "anne", [999]), "Ukendt kommunekode: 999"),
    (lambda s, a: set_municipalities(s, a, "anne", []), "skal have mindst én kommune"),
    (lambda s, a: set_role(s, a, "anne", "nurse"), "Ukendt rolle"),
    (lambda s, a: deactivate_user(s, a, "admin"), "Du kan ikke lukke adgangen for dig selv"),
    (lambda s, a: set_role(s, a, "admin", "clinician"), "Du kan ikke ændre rollen for dig selv"),
])
def test_a_change_that_will_not_do_says_why_and_changes_nothing(store, make_user, admin, call, message) -> None:
    make_user("anne")
    web_sessions.open_session(store, admin)
    with pytest.raises(UserAdminRefused) as refused:
        call(store, admin)
    assert message in refused.value.messages["da"]
    assert entries(store, "user.change") == []
    assert show_user(store, SYSTEM, "anne").municipalities == (740,)
    assert show_user(store, SYSTEM, "admin").active


def test_a_reset_password_works_once_must_be_changed_and_is_never_audited(store, make_user, admin) -> None:
    anne = make_user("anne")
    web_sessions.open_session(store, anne)
    done = reset_password(store, admin, "anne")
    assert done.generated and len(done.password) >= 12 and done.sessions_ended == 1
    assert must_change_password(store, anne.id)
    with pytest.raises(AuthenticationFailed):
        authenticate(store, "anne", TEST_PASSWORD)  # the old password is gone
    authenticate(store, "anne", done.password)
    [entry] = entries(store, "user.password_reset")
    assert json.loads(entry["detail"]) == {"generated": True, "must_change": True}
    with store.read() as conn:
        every_detail = " ".join(e["detail"] for e in audit.entries(conn))
    assert done.password not in every_detail and "Anne" not in every_detail

    with pytest.raises(PasswordMismatch):
        change_own_password(store, "anne", done.password, "Hyldebær-og-kanel-42", "Hyldebaer-og-kanel-42")
    with pytest.raises(SamePassword):
        change_own_password(store, "anne", done.password, done.password, done.password)
    with pytest.raises(WeakPassword) as weak:
        change_own_password(store, "anne", done.password, "anne12345678", "anne12345678")
    assert "må ikke indeholde brugernavnet" in weak.value.messages["da"]
    with pytest.raises(AuthenticationFailed):
        change_own_password(store, "anne", "forkert-gammel-kode", "Hyldebær-og-kanel-42", "Hyldebær-og-kanel-42")
    assert must_change_password(store, anne.id)

    change_own_password(store, "anne", done.password, "Hyldebær-og-kanel-42", "Hyldebær-og-kanel-42")
    assert not must_change_password(store, anne.id)
    assert authenticate(store, "anne", "Hyldebær-og-kanel-42").username == "anne"
    assert json.loads(entries(store, "user.password_change")[-1]["detail"]) == {"forced": True}


def test_a_given_reset_password_must_pass_the_policy(store, make_user, admin) -> None:
    make_user("anne")
    with pytest.raises(WeakPassword):
        reset_password(store, admin, "anne", "password1")
    assert entries(store, "user.password_reset") == []
    done = reset_password(store, admin, "anne", "Rønnebær-skov-2026")
    assert not done.generated and authenticate(store, "anne", "Rønnebær-skov-2026")


def test_only_administrators_change_users_and_refusals_are_audited(store, make_user) -> None:
    make_user("anne")
    dorte = make_user("dorte", "coordinator", (740,))
    for call in (lambda: deactivate_user(store, dorte, "anne"), lambda: set_role(store, dorte, "anne", "coordinator"),
                 lambda: reset_password(store, dorte, "anne"), lambda: rights_review(store, dorte)):
        with pytest.raises(AccessDenied):
            call()
    denied = entries(store, audit.DENIED)
    assert len(denied) == 4 and all(e["username"] == "dorte" for e in denied)
    assert {json.loads(e["detail"])["attempted"] for e in denied} == {"user.admin"}
    assert show_user(store, SYSTEM, "anne").active and show_user(store, SYSTEM, "anne").role == "clinician"


def test_a_coordinator_sees_the_users_of_their_own_municipalities_only(store, make_user) -> None:
    make_user("anne", "clinician", (740,))
    make_user("carl", "clinician", (101,))
    make_user("admin", "administrator", ())
    dorte = make_user("dorte", "coordinator", (740,))
    assert [u.username for u in user_records(store, dorte)] == ["anne", "dorte"]
    assert show_user(store, dorte, "anne").username == "anne"
    with pytest.raises(NotFound):
        show_user(store, dorte, "carl")
    assert json.loads(entries(store, audit.DENIED)[-1]["detail"])["attempted"] == "user.read"
    anne = authenticate(store, "anne", TEST_PASSWORD)
    with pytest.raises(AccessDenied):
        user_records(store, anne)


def test_a_login_is_remembered_for_the_administration_page(store, make_user) -> None:
    make_user("anne")
    assert show_user(store, SYSTEM, "anne").last_login_at is None
    before = audit.now()
    authenticate(store, "anne", TEST_PASSWORD)
    seen = show_user(store, SYSTEM, "anne").last_login_at
    assert seen is not None and seen >= before - dt.timedelta(seconds=1)


def test_the_rights_review_flags_unused_accounts_and_names_who_changed_them(store, make_user, admin,
                                                                             tmp_path: Path) -> None:
    make_user("anne")
    make_user("bo")
    make_user("=cmd", "clinician", (740,))  # a name a spreadsheet would run as a formula
    make_user("gone")
    deactivate_user(store, admin, "gone")
    authenticate(store, "anne", TEST_PASSWORD)
    set_role(store, admin, "bo", "coordinator")
    later = audit.now() + dt.timedelta(days=91)
    with store.write() as conn:  # anne logged in just before the review (91 days on)
        conn.execute(users_table.update().where(users_table.c.username == "anne").values(last_login_at=later))
    rows = {r.user.username: r for r in rights_review(store, admin, now=later)}
    assert set(rows) == {"admin", "anne", "bo", "=cmd"}  # active users only
    assert not rows["anne"].unused and rows["bo"].unused and rows["=cmd"].unused
    assert rows["bo"].last_changed_by == "admin" and rows["anne"].last_changed_by == "system"

    out = write_review_csv(list(rows.values()), tmp_path / "review.csv")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with out.open(encoding="utf-8-sig") as fh:
        table = list(csv.DictReader(fh, delimiter=";"))
    by_name = {r["brugernavn"]: r for r in table}
    assert "'=cmd" in by_name and by_name["bo"]["rolle"] == "coordinator"
    assert by_name["bo"]["ubrugt_90_dage"] == "ja" and by_name["anne"]["ubrugt_90_dage"] == "nej"
    assert by_name["bo"]["aendret_af"] == "admin" and by_name["bo"]["kommuner"] == "740"
    assert entries(store, "user.review")[-1]["detail"] == json.dumps({"unused": 3, "users": 4})


# --- the command line ---------------------------------------------------------------------------------

def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, ok: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
    environ.update({"HJERTEKOM_DATA_DIR": str(tmp_path / "var"), **(env or {})})
    done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=environ, cwd=tmp_path,
                          timeout=120, input=stdin)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_the_command_line_manages_users_and_a_reset_password_must_be_changed_first(tmp_path: Path) -> None:
    run(tmp_path, "init")
    for name, role, codes in (("admin", "administrator", ()), ("anne", "clinician", ("740",))):
        run(tmp_path, "users", "add", name, "--role", role, *[a for c in codes for a in ("-m", c)],
            env={"HJERTEKOM_NEW_PASSWORD": TEST_PASSWORD})
    as_admin = {"HJERTEKOM_USER": "admin", "HJERTEKOM_PASSWORD": TEST_PASSWORD}
    assert "role coordinator" in run(tmp_path, "users", "set-role", "anne", "coordinator", env=as_admin).stdout
    assert "municipalities 740,741" in run(tmp_path, "users", "set-municipalities", "anne", "-m", "740", "-m", "741",
                                           env=as_admin).stdout
    reset = run(tmp_path, "users", "reset-password", "anne", env=as_admin).stdout
    password = reset.split("in person): ")[1].split()[0]
    assert "must be changed at the next login" in reset

    refused = run(tmp_path, "users", "list", env={"HJERTEKOM_USER": "anne", "HJERTEKOM_PASSWORD": password}, ok=False)
    assert refused.returncode == 1
    assert "hjertekom users change-password anne" in refused.stderr and "Traceback" not in refused.stderr
    weak = run(tmp_path, "users", "change-password", "anne",
               env={"HJERTEKOM_PASSWORD": password, "HJERTEKOM_NEW_PASSWORD": "kort"}, ok=False)
    assert "mindst 12 tegn" in weak.stderr
    run(tmp_path, "users", "change-password", "anne", env={"HJERTEKOM_PASSWORD": password},
        stdin="Hyldebær-og-kanel-42\nHyldebær-og-kanel-42\n")
    listed = run(tmp_path, "users", "list", env={"HJERTEKOM_USER": "anne", "HJERTEKOM_PASSWORD": "Hyldebær-og-kanel-42"})
    assert "anne" in listed.stdout and "admin" not in listed.stdout  # a coordinator: own municipalities only

    shown = json.loads(run(tmp_path, "users", "show", "anne", "--json").stdout)
    assert shown["role"] == "coordinator" and shown["municipalities"] == [740, 741]
    assert shown["last_changed_by"] == "admin" and shown["last_login_at"] and not shown["must_change_password"]
    assert "deactivated" in run(tmp_path, "users", "deactivate", "anne", env=as_admin).stdout
    assert json.loads(run(tmp_path, "users", "show", "anne", "--json").stdout)["active"] is False
    review = run(tmp_path, "users", "review", "--out", str(tmp_path / "r" / "review.csv")).stdout
    assert "1 active user(s)" in review
    assert stat.S_IMODE((tmp_path / "r" / "review.csv").stat().st_mode) == 0o600
