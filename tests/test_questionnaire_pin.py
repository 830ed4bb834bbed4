"""The questionnaire mode's key, driven through the widgets without a server: signed in at an
authenticating proxy (no password in HjerteKom) the mode does not start without a PIN and then
opens with the PIN only; with the login form the password or the PIN opens it. The browser side is
tests/browser/test_questionnaire_pin_browser.py."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.users import add_user, set_own_pin
from hjertekom_widgets.app import EntryShell
from hjertekom_widgets.session import Session

from factories import TEST_PASSWORD, course_data

PIN = "27183"
pytestmark = pytest.mark.filterwarnings(r"ignore:Passing unrecognized arguments to super\(Layout\)")


def _shell_on_a_start_form(ws: Workspace, *, proxy: bool) -> EntryShell:
    user = add_user(ws.store, SYSTEM, "kliniker", "Kliniker K.", "clinician", TEST_PASSWORD, (740,))
    svc = Service(ws.store, ws.contracts, user)
    cpr = generate_cpr(random.Random(23), birth_date=dt.date(1948, 2, 3), sex="M")
    citizen = svc.create_citizen(cpr, "Tablet Testesen", 740)
    course_id = svc.open_course(citizen.id, course_data(), complete=True).course_id
    shell = EntryShell()
    shell.session = Session(ws, user, proxy=proxy)
    shell.open_course(course_id, "start")
    return shell


def _unlock_words(shell: EntryShell) -> str:
    mode = shell._course_view().questionnaire   # noqa: SLF001 - the page's one course view
    mode._show_unlock()                          # noqa: SLF001 - "Færdig – giv tabletten tilbage"
    return mode.widget.children[2].value + mode._password.placeholder  # noqa: SLF001


def test_signed_in_at_the_proxy_the_mode_needs_a_pin_and_opens_with_it_only(ws: Workspace) -> None:
    shell = _shell_on_a_start_form(ws, proxy=True)
    mode = shell._course_view().questionnaire   # noqa: SLF001
    assert mode.offered() and not mode.way_back()
    mode.enter()
    assert not mode.active and "Vælg først en PIN-kode" in shell.message.value   # not handed over
    assert "hk-qm" not in str(shell.body.children[0]._dom_classes)                # noqa: SLF001

    set_own_pin(ws.store, "kliniker", PIN, PIN, password=None)
    mode.enter()
    assert mode.active and mode.key() == "pin"
    assert "skriv PIN-koden for Kliniker K." in _unlock_words(shell)
    assert not mode.unlock(TEST_PASSWORD)   # the password does not open it here
    assert not mode.unlock("27184")
    assert "Forkert PIN-kode. Spørgeskemaet er stadig låst. (2. forkerte forsøg)" in mode.note.value
    assert mode.active and mode._password.value == ""   # noqa: SLF001 - never left in the page
    assert mode.unlock(PIN) and not mode.active
    with ws.store.read() as conn:
        denied = [json.loads(e["detail"]) for e in audit.entries(conn, action=audit.DENIED)]
        failed = [json.loads(e["detail"]) for e in audit.entries(conn, action="login.failed")]
    assert [d["reason"] for d in denied if d["attempted"] == "questionnaire.unlock"] == ["wrong PIN"] * 2
    assert [d["key"] for d in failed] == ["pin", "pin"]


def test_with_the_login_form_the_password_and_a_pin_both_open_it(ws: Workspace) -> None:
    shell = _shell_on_a_start_form(ws, proxy=False)
    mode = shell._course_view().questionnaire   # noqa: SLF001
    assert mode.way_back() and mode.key() == "password"
    mode.enter()
    assert "skriv adgangskoden for" in _unlock_words(shell)
    assert not mode.unlock(PIN)
    assert "Forkert adgangskode." in mode.note.value
    assert mode.unlock(TEST_PASSWORD)

    set_own_pin(ws.store, "kliniker", PIN, PIN, password=TEST_PASSWORD)
    mode.enter()
    assert mode.active and mode.key() == "pin_or_password"
    assert "skriv PIN-koden eller adgangskoden for" in _unlock_words(shell)
    assert mode.unlock(PIN)
    mode.enter()
    assert mode.unlock(TEST_PASSWORD) and not mode.active
