"""Contact details in a real browser, against the session's server (issue 18's signature):

- a clinician opens "Min profil" from the app's header, sets her work phone, and the course
  summary she signs then shows it; a bad e-mail gets the Danish message and changes nothing;
- a clinician cannot set a colleague's details (not by the users page's address, not by adding a
  name to her profile's form), and without the _xsrf token nothing changes; refusals are audited;
- an administrator sets a user's e-mail on "Brugere".
The audit rows say what changed, never the numbers or addresses.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from browser_accounts import Account, log_in, open_header_page
from browser_store import audit_rows
from factories import course_data, end_data, start_data
from hjertekom_core.access import SYSTEM
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.store.schema import users as users_table
from hjertekom_core.users import add_user, get_user
from live_server import WebClient
from sqlalchemy import select

pytestmark = pytest.mark.slow

HELLE = Account("helle", "valmue-eng-740-sti", "Helle Holm", 740)
IB = Account("ib", "rønnebær-740-vej-k", "Ib Iversen", 740)
ADMIN = Account("adminp", "lind-allé-2026-sø", "Poul Profiladmin", 0, "administrator")
RENDER_TIMEOUT_MS = 180_000  # the summary runs a notebook (a kernel starts)


@pytest.fixture(scope="module")
def profile_world(hjertekom_server):  # type: ignore[no-untyped-def]
    """Two more clinicians and an administrator, and a finished course whose end Helle registered."""
    store = hjertekom_server.store
    for account in (HELLE, IB, ADMIN):
        add_user(store, SYSTEM, account.username, account.display_name, account.role, account.password,
                 [account.municipality] if account.municipality else [])
    svc = Service(store, hjertekom_server.contracts, get_user(store, "helle"))
    citizen = svc.create_citizen(generate_cpr(random.Random(740_777)), "Oda Profilsen", 740)
    course_id = svc.open_course(citizen.id, course_data(), complete=True, confirm=True).course_id
    svc.save(course_id, "start", start_data(), 0, complete=True, confirm=True)
    svc.save(course_id, "end", end_data(), 0, complete=True, confirm=True)
    return hjertekom_server, course_id


def contact(server, username: str) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    with server.store.read() as conn:
        row = conn.execute(select(users_table.c.phone, users_table.c.email)
                           .where(users_table.c.username == username)).one()
    return row.phone, row.email


def contact_changes(server, username: str) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    """(who acted, detail) of the contact changes of ``username``."""
    target = str(get_user(server.store, username).id)
    return [(r["username"], json.loads(r["detail"])) for r in audit_rows(server, action="user.change")
            if r["entity_id"] == target and json.loads(r["detail"]).get("field") == "contact"]


def sign_in_as(new_page: Callable[[], Page], server, account: Account) -> Page:  # type: ignore[no-untyped-def]
    return log_in(new_page(), server.base_url, account, ready="a.hk-logout")


def test_a_clinician_sets_her_phone_and_her_course_summary_shows_it(
        profile_world, new_page: Callable[[], Page]) -> None:  # type: ignore[no-untyped-def]
    server, course_id = profile_world
    app = sign_in_as(new_page, server, HELLE)
    profile = open_header_page(app, "a.hk-profile", "Min profil")
    expect(profile.locator("table.hk-facts")).to_contain_text("Helle Holm")

    profile.get_by_label("Telefon (arbejde)").fill("86 12 34 56")
    profile.locator("#hk-save-profile").click()
    expect(profile.get_by_role("status")).to_have_text(
        "Dine kontaktoplysninger er gemt. De bruges på forløbsopsummeringer fra nu af.")
    expect(profile.get_by_label("Telefon (arbejde)")).to_have_value("86 12 34 56")
    assert contact(server, "helle") == ("86 12 34 56", None)

    # A bad e-mail: the Danish message, what was typed kept in the form, nothing stored.
    profile.get_by_label("E-mail (arbejde)").fill("helle at silkeborg")
    profile.locator("#hk-save-profile").click()
    expect(profile.get_by_role("alert")).to_have_text("E-mailadressen skal have formen navn@domæne.dk.")
    expect(profile.get_by_label("E-mail (arbejde)")).to_have_value("helle at silkeborg")
    assert contact(server, "helle") == ("86 12 34 56", None)

    changes = contact_changes(server, "helle")
    assert changes == [("helle", {"field": "contact", "phone": True, "email": False})]

    # The summary she signs (she registered the end meeting) now carries her phone.
    summary = profile  # the same browser: her session
    summary.goto(f"{server.base_url}/hjertekom/forloeb/{course_id}/opsummering.html")
    body = summary.locator("body")
    expect(body).to_contain_text("Oda Profilsen", timeout=RENDER_TIMEOUT_MS)
    expect(body).to_contain_text("Helle Holm")
    expect(body).to_contain_text("86 12 34 56")


def test_a_clinician_cannot_set_a_colleagues_details_and_the_refusals_are_audited(
        profile_world) -> None:  # type: ignore[no-untyped-def]
    server, _ = profile_world
    ib_id = get_user(server.store, "ib").id
    as_helle = WebClient(server.base_url)
    assert as_helle.login(HELLE.username, HELLE.password).status == 302
    assert as_helle.get("/hjertekom/profil").status == 200

    # By the users page's address: refused by role, audited.
    refused = as_helle.post(f"/hjertekom/brugere/{ib_id}/kontakt", {"phone": "99 99 99 99", "email": ""})
    assert refused.status == 403 and b"99 99 99 99" not in refused.body
    # A name added to her own form changes only her own details.
    assert as_helle.post("/hjertekom/profil", {"phone": "86 12 34 57", "email": "", "username": "ib",
                                               "user": "ib"}).status == 303
    # Without the _xsrf token nothing changes.
    assert as_helle.post("/hjertekom/profil", {"phone": "11 11 11 11", "email": ""}, xsrf=False).status == 403
    assert contact(server, "ib") == (None, None)
    assert contact(server, "helle")[0] == "86 12 34 57"

    # Not signed in: the page sends the visitor to the login.
    anonymous = WebClient(server.base_url).get("/hjertekom/profil")
    assert anonymous.status in (302, 303) and urlsplit(anonymous.headers.get("location", "")).path == "/login"

    denied = [(r["username"], json.loads(r["detail"])["attempted"]) for r in audit_rows(server, action="access.denied")]
    assert ("helle", "user.admin") in denied and ("helle", "xsrf") in denied
    assert contact_changes(server, "ib") == []
    text = " ".join(r["detail"] or "" for r in audit_rows(server))
    assert "86 12 34 5" not in text and "99 99 99 99" not in text


def test_an_administrator_sets_a_users_email_on_the_users_page(
        profile_world, new_page: Callable[[], Page]) -> None:  # type: ignore[no-untyped-def]
    server, _ = profile_world
    app = sign_in_as(new_page, server, ADMIN)
    users = open_header_page(app, "a.hk-users", "Brugere")
    row = users.locator('tr[data-user="ib"]')
    row.get_by_label("E-mail (arbejde)").fill("ib.iversen@silkeborg.dk")
    row.get_by_role("button", name="Gem kontakt").click()
    expect(users.locator(".hk-ok")).to_have_text("Kontaktoplysningerne er gemt.")
    expect(users.locator('tr[data-user="ib"]').get_by_label("E-mail (arbejde)")).to_have_value(
        "ib.iversen@silkeborg.dk")
    assert contact(server, "ib") == (None, "ib.iversen@silkeborg.dk")
    assert contact_changes(server, "ib") == [("adminp", {"field": "contact", "phone": False, "email": True})]

    # A bad phone on the users page: the Danish message, nothing changed.
    row = users.locator('tr[data-user="ib"]')
    row.get_by_label("Telefon (arbejde)").fill("ring til mig")
    row.get_by_role("button", name="Gem kontakt").click()
    expect(users.get_by_role("alert")).to_contain_text("Telefonnummeret skal være cifre")
    assert contact(server, "ib") == (None, "ib.iversen@silkeborg.dk")
