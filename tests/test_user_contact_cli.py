"""``hjertekom users contact``: the command line sets a user's work phone and e-mail (the signature
of their course summaries), as the system data owner or ``--user`` administrator, audited without
the values; bad input is one clear line, a failing exit code and nothing changed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, users

from factories import TEST_PASSWORD

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))

pytestmark = pytest.mark.slow  # each call is a process of its own


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
    environ.update({"HJERTEKOM_DATA_DIR": str(tmp_path / "var"), **(env or {})})
    done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=120)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def stored(tmp_path: Path, username: str) -> tuple[str | None, str | None]:
    store = Store(f"sqlite:///{tmp_path / 'var' / 'hjertekom.sqlite'}")
    try:
        with store.read() as conn:
            row = conn.execute(select(users.c.phone, users.c.email).where(users.c.username == username)).one()
        return row.phone, row.email
    finally:
        store.dispose()


def contact_entries(tmp_path: Path) -> list[dict]:
    store = Store(f"sqlite:///{tmp_path / 'var' / 'hjertekom.sqlite'}")
    try:
        with store.read() as conn:
            rows = conn.execute(select(audit_log).where(audit_log.c.action.in_(("user.change", "access.denied")))
                                .order_by(audit_log.c.id)).all()
        return [dict(r._mapping) for r in rows]
    finally:
        store.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Path:
    run(tmp_path, "init")
    for name, role, codes in (("admin", "administrator", ()), ("anne", "clinician", ("740",)),
                              ("bo", "clinician", ("740",))):
        run(tmp_path, "users", "add", name, "--role", role, *[a for c in codes for a in ("-m", c)],
            env={"HJERTEKOM_NEW_PASSWORD": TEST_PASSWORD})
    return tmp_path


def test_an_administrator_sets_and_clears_a_users_phone_and_email_audited_without_them(world: Path) -> None:
    as_admin = {"HJERTEKOM_USER": "admin", "HJERTEKOM_PASSWORD": TEST_PASSWORD}
    out = run(world, "users", "contact", "anne", "--phone", "87 22 33 44", "--email", "anne.hjerte@silkeborg.dk",
              env=as_admin).stdout
    assert "kontaktoplysninger gemt" in out and "87 22 33 44" in out
    assert stored(world, "anne") == ("87 22 33 44", "anne.hjerte@silkeborg.dk")

    # One value given: the other stays; the system data owner (no --user) may do it too.
    run(world, "users", "contact", "anne", "--phone", "+45 86001122")
    assert stored(world, "anne") == ("+45 86001122", "anne.hjerte@silkeborg.dk")
    shown = json.loads(run(world, "users", "show", "anne", "--json").stdout)
    assert (shown["phone"], shown["email"]) == ("+45 86001122", "anne.hjerte@silkeborg.dk")
    assert "uændrede" in run(world, "users", "contact", "anne", "--phone", "+45 86001122").stdout
    run(world, "users", "contact", "anne", "--clear-email")
    assert stored(world, "anne") == ("+45 86001122", None)

    changes = [e for e in contact_entries(world) if e["action"] == "user.change"]
    assert [(e["username"], json.loads(e["detail"])) for e in changes] == [
        ("admin", {"field": "contact", "phone": True, "email": True}),
        ("system", {"field": "contact", "phone": True, "email": True}),
        ("system", {"field": "contact", "phone": True, "email": False})]
    text = " ".join(str(e["detail"]) for e in contact_entries(world))
    for value in ("87 22 33 44", "86001122", "silkeborg"):
        assert value not in text


BAD_INPUT = [
    (("--phone", "ring til mig"), "Telefonnummeret skal være cifre"),
    (("--email", "anne at silkeborg"), "E-mailadressen skal have formen navn@domæne.dk"),
    (("--phone", "87 22 33 44", "--clear-phone"), "ikke begge"),
    ((), "Angiv --phone"),
]


def test_bad_input_is_one_clear_line_a_failing_exit_code_and_nothing_changed(world: Path) -> None:
    run(world, "users", "contact", "anne", "--phone", "87 22 33 44")
    before = len(contact_entries(world))
    for args, message in BAD_INPUT:
        done = run(world, "users", "contact", "anne", *args, ok=False)
        assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr, args
    assert stored(world, "anne") == ("87 22 33 44", None)
    assert len(contact_entries(world)) == before


def test_a_clinician_sets_their_own_but_not_a_colleagues_and_the_refusal_is_audited(world: Path) -> None:
    as_anne = {"HJERTEKOM_USER": "anne", "HJERTEKOM_PASSWORD": TEST_PASSWORD}
    run(world, "users", "contact", "anne", "--email", "anne.hjerte@silkeborg.dk", env=as_anne)
    assert stored(world, "anne") == (None, "anne.hjerte@silkeborg.dk")
    refused = run(world, "users", "contact", "bo", "--phone", "87 22 33 44", env=as_anne, ok=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert stored(world, "bo") == (None, None)
    denied = [e for e in contact_entries(world) if e["action"] == "access.denied"]
    assert [(e["username"], json.loads(e["detail"])["attempted"]) for e in denied] == [("anne", "user.admin")]
    assert run(world, "users", "contact", "nobody", "--phone", "87 22 33 44", ok=False).returncode == 1
