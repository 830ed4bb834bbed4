"""The questionnaire mode's PIN in a real browser, in the hosted set-up (``hjertekom serve
--trusted-header``: the user signs in at the authenticating proxy and has no password in HjerteKom):

- without a PIN the tablet is not handed over, and the clinician is told to choose one first;
- "Min PIN-kode" (the app's header) refuses a trivial PIN in Danish and saves a good one, asking
  for no password here;
- the clinician hands the tablet over, a wrong PIN is refused (counted by the login's throttle,
  audited), the right PIN returns to the form with the citizen's answer marked;
- while the tablet is with the citizen, the PIN cannot be changed from that session (a citizen
  typing the page's address into the tablet would otherwise choose their own key).
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from browser_accounts import FIRST_APP_ELEMENT_MS, Account, log_in, open_header_page
from browser_form import field
from browser_store import audit_rows, new_course
from hjertekom_core.access import SYSTEM
from hjertekom_core.users import add_user, get_user

pytestmark = pytest.mark.slow

PIA = Account("pia", "hyld-skov-740-bro", "Pia Pinsen", 740)
PIN = "27183"
NAME = "Tabita Pinborg"
HADS_1 = "2 – en hel del"


def _proxy_headers(server: Any, username: str) -> dict[str, str]:
    """What the authenticating proxy sends: the user, and the secret only it knows."""
    secret = (server.data_dir / "proxy.secret").read_text(encoding="ascii").strip()
    return {"X-Forwarded-User": username, "X-HjerteKom-Proxy-Secret": secret}


@pytest.fixture
def pia_page(hosted_server: str, hjertekom_server: Any, browser: Any) -> Any:
    store = hjertekom_server.store
    try:
        get_user(store, PIA.username)
    except Exception:  # noqa: BLE001 - not there yet
        add_user(store, SYSTEM, PIA.username, PIA.display_name, PIA.role, PIA.password, [PIA.municipality])
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="da-DK",
                                  extra_http_headers=_proxy_headers(hjertekom_server, PIA.username))
    try:
        yield context.new_page()
    finally:
        context.close()


def _unlock(page: Page, pin: str) -> None:
    page.locator(".hk-qm-password input").fill(pin)
    page.get_by_role("button", name="Lås op").click()


def test_a_clinician_signed_in_at_the_proxy_sets_a_pin_hands_over_and_takes_the_tablet_back_with_it(
        hosted_server: str, hjertekom_server: Any, pia_page: Page) -> None:
    server, page = hjertekom_server, pia_page
    _, course_id = new_course(server, 1_919_019, NAME)   # Silkeborg's: Pia works there too
    page.goto(f"{hosted_server}/#/forloeb/{course_id}/start")
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale", timeout=FIRST_APP_ELEMENT_MS)

    # --- no PIN yet: the tablet is not handed over -----------------------------------------------------
    page.get_by_role("button", name="Borgerens spørgeskema (tablet)").click()
    expect(page.locator(".hk-app")).to_contain_text("Vælg først en PIN-kode under \"Min PIN-kode\"")
    expect(page.locator(".hk-qm")).to_have_count(0)
    expect(page.locator("a.hk-logout")).to_be_visible()

    # --- "Min PIN-kode": a trivial PIN is refused, a good one saved (no password asked here) -------------
    pin_page = open_header_page(page, "a.hk-pin", "Min PIN-kode")
    expect(pin_page.locator("#hk-pin-state")).to_have_text("Du har ingen PIN-kode endnu.")
    expect(pin_page.locator("#hk-password")).to_have_count(0)
    pin_page.get_by_label("Ny PIN-kode").fill("1234")
    pin_page.get_by_label("Gentag den nye PIN-kode").fill("1234")
    pin_page.locator("#hk-save-pin").click()
    expect(pin_page.locator(".hk-error")).to_contain_text("PIN-koden er for let at gætte. Vælg 4-8 cifre")
    expect(pin_page.locator("#hk-pin-state")).to_have_text("Du har ingen PIN-kode endnu.")
    pin_page.get_by_label("Ny PIN-kode").fill(PIN)
    pin_page.get_by_label("Gentag den nye PIN-kode").fill(PIN)
    pin_page.locator("#hk-save-pin").click()
    expect(pin_page.locator(".hk-ok")).to_contain_text("Din PIN-kode er gemt.")
    expect(pin_page.locator("#hk-pin-state")).to_contain_text("Du har en PIN-kode.")
    pia = str(get_user(server.store, PIA.username).id)
    sets = [json.loads(r["detail"]) for r in audit_rows(server, action="user.pin_set", entity_id=pia)]
    assert sets == [{"replaced": False, "proven_by": "proxy"}]
    assert not any(PIN in (r["detail"] or "") for r in audit_rows(server, entity_id=pia))

    # --- the hand-over ------------------------------------------------------------------------------
    page.get_by_role("button", name="Borgerens spørgeskema (tablet)").click()
    expect(page.locator(".hk-qm")).to_be_visible()
    expect(page.locator("a.hk-logout, a.hk-pin")).to_have_count(0)
    page.locator(".hk-qm-item-hads_01 button", has_text=HADS_1).click()
    expect(page.locator(".hk-qm-item-hads_01 button.mod-active")).to_have_text(HADS_1)

    # The citizen types the PIN page's address into the tablet: the PIN cannot be changed now.
    pin_page.get_by_label("Ny PIN-kode").fill("90210")
    pin_page.get_by_label("Gentag den nye PIN-kode").fill("90210")
    pin_page.locator("#hk-save-pin").click()
    expect(pin_page.locator(".hk-error")).to_contain_text("Din tablet er lige nu hos en borger")
    assert [json.loads(r["detail"])["attempted"] for r in audit_rows(server, action="access.denied", entity_id=pia)
            ] == ["user.pin_set"]

    page.get_by_role("button", name="Færdig – giv tabletten tilbage").click()
    expect(page.locator(".hk-qm")).to_contain_text("skriv PIN-koden for Pia Pinsen")
    _unlock(page, "90210")                                   # the refused new one: wrong
    expect(page.locator(".hk-qm-note")).to_contain_text("Forkert PIN-kode. Spørgeskemaet er stadig låst.")
    expect(page.locator(".hk-qm")).to_be_visible()
    expect(page.locator(".hk-qm-password input")).to_have_value("")
    failed = [json.loads(r["detail"]) for r in audit_rows(server, action="login.failed", entity_id=pia)]
    assert failed[-1] == {"key": "pin", "cause": "wrong PIN", "failures": 1}   # the login's own counter

    _unlock(page, PIN)
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")
    expect(page).to_have_url(re.compile(re.escape(f"#/forloeb/{course_id}/start") + "$"))
    expect(page.locator("a.hk-pin")).to_be_visible()
    expect(field(page, "HADS 1 – angst").locator(".hk-self-reported")).to_have_text(
        re.compile("Besvaret af borgeren"))
    assert json.loads(audit_rows(server, action="login", entity_id=pia)[-1]["detail"]) == {"key": "pin"}


ADMIN = Account("adminpin", "kløver-eng-2026-by", "Anders Pinadmin", 0, "administrator")


def test_with_the_login_form_the_pin_page_asks_the_password_and_an_administrator_removes_a_pin(
        hjertekom_server: Any, new_page: Any) -> None:
    server = hjertekom_server
    store = server.store
    try:
        get_user(store, ADMIN.username)
    except Exception:  # noqa: BLE001 - not there yet
        add_user(store, SYSTEM, ADMIN.username, ADMIN.display_name, ADMIN.role, ADMIN.password, [])
    app = log_in(new_page(), server.base_url, ADMIN, ready="a.hk-logout")
    pin_page = open_header_page(app, "a.hk-pin", "Min PIN-kode")
    pin_page.get_by_label("Ny PIN-kode").fill("31415")
    pin_page.get_by_label("Gentag den nye PIN-kode").fill("31415")
    pin_page.get_by_label("Din nuværende adgangskode").fill("forkert-kodeord-9")
    pin_page.locator("#hk-save-pin").click()
    expect(pin_page.locator(".hk-error")).to_contain_text("Den nuværende adgangskode er forkert.")
    assert not get_user_pin(store, ADMIN.username)
    pin_page.get_by_label("Ny PIN-kode").fill("31415")
    pin_page.get_by_label("Gentag den nye PIN-kode").fill("31416")
    pin_page.get_by_label("Din nuværende adgangskode").fill(ADMIN.password)
    pin_page.locator("#hk-save-pin").click()
    expect(pin_page.locator(".hk-error")).to_contain_text("De to PIN-koder er ikke ens.")
    pin_page.get_by_label("Ny PIN-kode").fill("31415")
    pin_page.get_by_label("Gentag den nye PIN-kode").fill("31415")
    pin_page.get_by_label("Din nuværende adgangskode").fill(ADMIN.password)
    pin_page.locator("#hk-save-pin").click()
    expect(pin_page.locator(".hk-ok")).to_contain_text("Din PIN-kode er gemt.")
    assert get_user_pin(store, ADMIN.username)
    # Another site's form (no _xsrf token), with the session's cookie: refused, nothing changed.
    before = _pin_hash(store, ADMIN.username)
    forged = app.request.post(f"{server.base_url}/hjertekom/pin", max_redirects=0,
                              form={"pin": "90210", "repeat": "90210", "password": ADMIN.password})
    assert forged.status == 403 and _pin_hash(store, ADMIN.username) == before

    # "Brugere": the row says so, and "Fjern PIN-kode" removes it (audited).
    users_page = open_header_page(app, "a.hk-users", "Brugere")
    row = users_page.locator(f"tr[data-user='{ADMIN.username}']")
    expect(row).to_contain_text("har PIN-kode")
    row.get_by_role("button", name="Fjern PIN-kode").click()
    expect(users_page.locator(".hk-ok")).to_contain_text("PIN-koden er fjernet.")
    expect(users_page.locator(f"tr[data-user='{ADMIN.username}']")).not_to_contain_text("har PIN-kode")
    assert not get_user_pin(store, ADMIN.username)
    admin_id = str(get_user(store, ADMIN.username).id)
    assert [r["username"] for r in audit_rows(server, action="user.pin_clear", entity_id=admin_id)] == [ADMIN.username]


def get_user_pin(store: Any, username: str) -> bool:
    from hjertekom_core.users import has_pin

    return has_pin(store, get_user(store, username).id)


def _pin_hash(store: Any, username: str) -> str | None:
    from sqlalchemy import select

    from hjertekom_core.store.schema import users

    with store.read() as conn:
        return conn.execute(select(users.c.pin_hash).where(users.c.username == username)).scalar()
