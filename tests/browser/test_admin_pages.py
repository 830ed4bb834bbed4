"""The administrators' pages in a real browser, against the session's server (issue 15):

- "Brugere": an administrator closes a clinician's access and the clinician's open page is covered
  and its kernel gone within seconds; a reset password is shown once and must be changed at the
  next login ("Skift adgangskode", with the policy's Danish messages);
- a coordinator sees the users of their own municipality, read-only; a clinician is refused; a
  change without the _xsrf token or by a coordinator is refused; every refusal is audited;
- "Revisionsspor": filtering by a CPR number finds the citizen's entries without the number ever
  appearing in an address, the page, the audit log or the server's log; the CSV export; both audited.
"""
from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import psutil
import pytest
from playwright.sync_api import Page, expect

from browser_store import audit_rows
from browser_accounts import FIRST_APP_ELEMENT_MS, Account, open_header_page
from factories import course_data
from hjertekom_core.access import SYSTEM
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.users import add_user, get_user
from live_server import WebClient

pytestmark = pytest.mark.slow

ADMIN = Account("admina", "ege-lund-mose-2026", "Agnete Admin", 0, "administrator")
EVA = Account("eva", "hyben-sti-740-klint", "Eva Eskildsen", 740)
FRIDA = Account("frida", "mirabel-have-740-bro", "Frida Frandsen", 740)
GORM = Account("gorm", "tjørne-hegn-101-ager", "Gorm Gregersen", 101)
KERNEL_GONE_S = 30


@pytest.fixture(scope="module")
def admin_world(hjertekom_server):  # type: ignore[no-untyped-def]
    """An administrator and three more clinicians on the session's server."""
    for account in (ADMIN, EVA, FRIDA, GORM):
        add_user(hjertekom_server.store, SYSTEM, account.username, account.display_name, account.role,
                 account.password, [account.municipality] if account.municipality else [])
    return hjertekom_server


def kernels(server) -> set[str]:  # type: ignore[no-untyped-def]
    """The ids of the server's running kernels (from each kernel's connection file name)."""
    found = set()
    for child in psutil.Process(server.pid).children(recursive=True):
        try:
            match = re.search(r"kernel-([\w-]+)\.json", " ".join(child.cmdline()))
        except psutil.Error:
            continue
        if match:
            found.add(match.group(1))
    return found


def kernel_of(page: Page) -> str:
    found = re.search(r'"kernelId":\s*"([\w-]+)"', page.content())
    assert found
    return found.group(1)


def users_page(page: Page, base_url: str) -> Page:
    """From the app's header to the "Brugere" page (it opens in a new tab)."""
    return open_header_page(page, "a.hk-users", "Brugere")


def row(page: Page, username: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr[data-user="{username}"]')


def test_closing_a_users_access_covers_their_open_page_and_ends_its_kernel(
        admin_world, new_page: Callable[[], Page], sign_in) -> None:  # type: ignore[no-untyped-def]
    server = admin_world
    working = sign_in(new_page(), EVA)
    kernel = kernel_of(working)
    working.locator(".hk-search input").fill("Hansen")  # in the middle of something

    admin = sign_in(new_page(), ADMIN)
    users = users_page(admin, server.base_url)
    expect(row(users, "eva")).to_contain_text("Kliniker")
    expect(row(users, "eva")).to_contain_text("740 Silkeborg")
    row(users, "eva").get_by_role("button", name="Luk adgang").click()
    expect(users.locator(".hk-ok")).to_contain_text("Adgangen er lukket")
    expect(row(users, "eva")).to_contain_text("Lukket")

    notice = working.locator(".hk-signed-out")
    expect(notice).to_be_visible(timeout=KERNEL_GONE_S * 1000)
    expect(notice).to_contain_text("Din adgang er lukket.")
    deadline = time.monotonic() + KERNEL_GONE_S
    while kernel in kernels(server) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert kernel not in kernels(server)

    eva = get_user(server.store, "eva")
    [change] = [r for r in audit_rows(server, action="user.change") if r["entity_id"] == str(eva.id)]
    assert change["username"] == "admina" and json.loads(change["detail"]) == {
        "field": "active", "before": True, "after": False}
    row(users, "eva").get_by_role("button", name="Genåbn adgang").click()
    expect(users.locator(".hk-ok")).to_contain_text("Adgangen er åbnet igen.")


def test_a_reset_password_is_shown_once_and_must_be_changed_before_anything_else(
        admin_world, new_page: Callable[[], Page], sign_in) -> None:  # type: ignore[no-untyped-def]
    server = admin_world
    users = users_page(sign_in(new_page(), ADMIN), server.base_url)
    row(users, "frida").get_by_role("button", name="Nulstil adgangskode").click()
    expect(users.locator(".hk-ok")).to_contain_text("vises kun denne ene gang")
    password = users.locator("#hk-new-password").inner_text().strip()
    assert len(password) >= 12
    users.goto(f"{server.base_url}/hjertekom/brugere")  # shown once: the list again does not hold it
    expect(users.locator("#hk-new-password")).to_have_count(0)
    expect(row(users, "frida")).to_contain_text("skal skifte adgangskode")

    page = new_page()
    page.goto(f"{server.base_url}/login")
    page.locator("#username").fill("frida")
    page.locator("#password").fill(FRIDA.password)  # the old one is gone
    page.locator("#login").click()
    expect(page.get_by_role("alert")).to_have_text("Forkert brugernavn eller adgangskode. Prøv igen.")
    page.locator("#username").fill("frida")
    page.locator("#password").fill(password)
    page.locator("#login").click()
    expect(page.locator("#hk-change-password")).to_have_text("Skift adgangskode")
    page.goto(f"{server.base_url}/")  # no session yet: nothing else opens
    expect(page.locator("#login")).to_be_visible()

    page.locator("#username").fill("frida")
    page.locator("#password").fill(password)
    page.locator("#login").click()

    def change(old: str, new: str, repeat: str) -> None:
        page.locator("#old_password").fill(old)
        page.locator("#new_password").fill(new)
        page.locator("#repeat_password").fill(repeat)
        page.locator("#change-password").click()

    change(password, "kort", "kort")
    expect(page.get_by_role("alert")).to_contain_text("Adgangskoden skal have mindst 12 tegn")
    change(password, "Hyldebær-og-kanel-42", "Hyldebær-og-kanel-24")
    expect(page.get_by_role("alert")).to_have_text("De to nye adgangskoder er ikke ens. Skriv den samme "
                                                    "adgangskode to gange.")
    change("forkert-gammel-kode", "Hyldebær-og-kanel-42", "Hyldebær-og-kanel-42")
    expect(page.get_by_role("alert")).to_have_text("Den nuværende adgangskode er forkert. Prøv igen.")
    change(password, "Hyldebær-og-kanel-42", "Hyldebær-og-kanel-42")
    expect(page.locator(".hk-search input")).to_be_visible(timeout=FIRST_APP_ELEMENT_MS)

    frida = get_user(server.store, "frida")
    reset = [r for r in audit_rows(server, action="user.password_reset") if r["entity_id"] == str(frida.id)]
    assert reset and password not in reset[-1]["detail"]
    changed = [r for r in audit_rows(server, action="user.password_change") if r["entity_id"] == str(frida.id)]
    assert json.loads(changed[-1]["detail"]) == {"forced": True}


def test_a_coordinator_reads_their_municipalitys_users_and_every_refusal_is_audited(
        admin_world, new_page: Callable[[], Page], sign_in, users) -> None:  # type: ignore[no-untyped-def]
    server = admin_world
    coordinator = sign_in(new_page(), users.dorte)
    expect(coordinator.locator("a.hk-audit")).to_have_count(0)
    listing = users_page(coordinator, server.base_url)
    expect(listing.get_by_text("Brugerne i dine kommuner (kun til gennemsyn)")).to_be_visible()
    names = [listing.locator("tr[data-user]").nth(i).get_attribute("data-user")
             for i in range(listing.locator("tr[data-user]").count())]
    assert {"anne", "bo", "dorte", "eva", "frida"} <= set(names)
    assert "carl" not in names and "gorm" not in names and "admina" not in names
    expect(listing.locator("form")).to_have_count(0)
    expect(listing.get_by_role("button")).to_have_count(0)

    clinician = sign_in(new_page(), users.anne)
    expect(clinician.locator("a.hk-users")).to_have_count(0)
    answer = clinician.goto(f"{server.base_url}/hjertekom/brugere")
    assert answer is not None and answer.status == 403
    expect(clinician.get_by_role("alert")).to_contain_text("Det har du ikke adgang til")

    anne = get_user(server.store, "anne")
    as_dorte = WebClient(server.base_url)
    as_dorte.login(users.dorte.username, users.dorte.password)
    assert as_dorte.get("/hjertekom/brugere").status == 200
    refused = as_dorte.post(f"/hjertekom/brugere/{anne.id}/deaktiver")
    assert refused.status == 403
    as_admin = WebClient(server.base_url)
    as_admin.login(ADMIN.username, ADMIN.password)
    assert as_admin.get("/hjertekom/brugere").status == 200
    assert as_admin.post(f"/hjertekom/brugere/{anne.id}/deaktiver", xsrf=False).status == 403
    assert as_admin.get(f"/hjertekom/brugere/{anne.id}/deaktiver").status == 405
    assert get_user(server.store, "anne").role == "clinician" and \
        WebClient(server.base_url).login(users.anne.username, users.anne.password).status == 302  # still active

    denied = [(r["username"], json.loads(r["detail"])["attempted"]) for r in audit_rows(server, action="access.denied")]
    assert ("dorte", "user.admin") in denied and ("anne", "user.read") in denied and ("admina", "xsrf") in denied


def test_the_audit_log_is_filtered_by_a_cpr_number_that_is_never_shown_and_exported(
        admin_world, new_page: Callable[[], Page], sign_in, users) -> None:  # type: ignore[no-untyped-def]
    server = admin_world
    cpr = generate_cpr(random.Random(1515))
    service = Service(server.store, server.contracts, get_user(server.store, "bo"))
    citizen = service.create_citizen(cpr, "Karen Kristiansen", 740)
    course = service.open_course(citizen.id, course_data(municipality=740)).course_id

    admin = sign_in(new_page(), ADMIN)
    link = admin.locator("a.hk-audit")
    expect(link).to_have_text("Revisionsspor")
    with admin.context.expect_page() as opened:
        link.click()
    viewer = opened.value
    expect(viewer.locator("h1")).to_have_text("Revisionsspor")
    viewer.locator('input[name="cpr"]').fill(cpr)
    viewer.locator("#hk-filter").click()
    expect(viewer.locator("#hk-hits")).to_contain_text("hændelser")
    query = urlsplit(viewer.url).query
    assert f"citizen={citizen.id}" in query and cpr not in viewer.url and cpr[:6] not in viewer.url
    table = viewer.locator("table.hk-audit")
    expect(table).to_contain_text("citizen.create")
    expect(table).to_contain_text(f"course {course}")
    assert cpr not in viewer.content() and cpr[:6] + "-" + cpr[6:] not in viewer.content()
    expect(viewer.locator('input[name="citizen"]')).to_have_value(str(citizen.id))

    with viewer.expect_download() as download:
        viewer.locator("#hk-export").click()
    exported = download.value.path().read_text(encoding="utf-8-sig")
    assert "citizen.create" in exported and cpr not in exported

    viewer.locator('input[name="citizen"]').fill("")
    viewer.locator('input[name="cpr"]').fill(generate_cpr(random.Random(1616)))
    viewer.locator("#hk-filter").click()
    expect(viewer.get_by_role("alert")).to_have_text("Der er ingen borger med det CPR-nummer.")

    reads = [json.loads(r["detail"]) for r in audit_rows(server, action="audit.read") if r["username"] == "admina"]
    assert any(r.get("citizen_id") == citizen.id and r.get("by_cpr") for r in reads)
    assert [r for r in audit_rows(server, action="audit.export") if r["username"] == "admina"]
    every = " ".join(f"{r['entity_id']} {r['detail']}" for r in audit_rows(server))
    assert cpr not in every and cpr[:6] not in every
    assert cpr not in (server.data_dir / "hjertekom.log").read_text(encoding="utf-8", errors="replace")

    clinician = WebClient(server.base_url)
    clinician.login(users.anne.username, users.anne.password)
    assert clinician.get("/hjertekom/revisionsspor").status == 403
    assert clinician.get("/hjertekom/revisionsspor.csv").status == 403
