"""Several programmes in the entry app, in a real browser (issue 19): a server of this module's own
loads HjerteKom and the invented programme ``faldforebyggelse`` (tests/invented_programme_files.py,
declared by YAML alone) side by side.

A clinician chooses the invented programme for a new citizen's course, fills and saves its course
and start forms, and finds the course in the worklist and in the citizen view labelled with its
programme; the same citizen's HjerteKom course still opens with HjerteKom's forms. The invented
course links its citizen sheet (not HjerteKom's course summary), which shows its measures, and a
clinician without that programme is refused the sheet (audited). On the "Rapporter" page a
coordinator of both programmes finds and downloads the invented programme's report, and one of
HjerteKom alone neither sees nor gets it. The views with HjerteKom alone are the session server's
(the other browser tests), unchanged.
"""
from __future__ import annotations

import datetime as dt
import random
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from browser_accounts import ANNE, BO, Account, log_in
from browser_form import field, type_in
from browser_store import audit_rows
from factories import course_data
from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.indicators.counting import DANISH_TIME
from hjertekom_core.service import Service
from hjertekom_core.users import add_user, get_user
from invented_programme_files import BOTH, BOTH_ENV, PROGRAMME, contracts_with_invented
from live_server import RunningServer, hjertekom_command, server_env, start_server

pytestmark = pytest.mark.slow

#: Coordinators of Silkeborg: one acting in both programmes, one in HjerteKom alone. Bo (clinician,
#: Silkeborg) acts in HjerteKom alone here.
GITTE = Account("gitte", "hyldebaer-eng-740", "Gitte Gram", 740, "coordinator")
HENRIK = Account("henrik", "tjoernekrat-vej-740", "Henrik Holm", 740, "coordinator")
SHEET_TIMEOUT_MS = 180_000   # the sheet runs a notebook (a kernel starts)
COURSE_NOT_FOUND = "Forløbet findes ikke, eller det hører ikke til dine kommuner."
REPORT_NOT_FOUND = "Rapporten findes ikke, eller du har ikke adgang til den."


@dataclass(frozen=True)
class TwoProgrammes:
    server: RunningServer
    ws: Workspace   # the server's store and contracts, read back by the tests

    def service(self, username: str = ANNE.username) -> Service:
        return Service(self.ws.store, self.ws.contracts, get_user(self.ws.store, username))


@pytest.fixture(scope="module")
def two_programmes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoProgrammes]:
    """``hjertekom serve`` over a contracts folder with HjerteKom and the invented programme, on a
    fresh store with Anne (clinician, Silkeborg)."""
    root = tmp_path_factory.mktemp("hjertekom-programmes-browser")
    contracts = contracts_with_invented(root)
    data_dir = root / "data"
    data_dir.mkdir()
    extra = {"HJERTEKOM_CONTRACTS_DIR": str(contracts), **BOTH_ENV}
    done = subprocess.run([hjertekom_command(), "init"], cwd=data_dir, env=server_env(data_dir, extra),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ws = open_workspace(Config(data_dir=data_dir, contracts_dir=contracts, programmes=BOTH))
    assert sorted(ws.contracts.programmes) == [PROGRAMME, "hjertekom"]
    add_user(ws.store, SYSTEM, ANNE.username, ANNE.display_name, ANNE.role, ANNE.password, [ANNE.municipality])
    for account, programmes in ((BO, ["hjertekom"]), (GITTE, ["hjertekom", PROGRAMME]), (HENRIK, ["hjertekom"])):
        add_user(ws.store, SYSTEM, account.username, account.display_name, account.role, account.password,
                 [account.municipality], programmes)
    server = start_server(data_dir, "--pool-size", "1", env=extra)
    try:
        yield TwoProgrammes(server, ws)
    finally:
        server.stop()
        ws.store.dispose()


def _form_heading(page: Page) -> Any:
    return page.locator(".hk-form:visible h2")


def _form_button(page: Page, label: str) -> Any:
    """The course view's button of one form, e.g. "Første samtale (kladde)"."""
    return page.get_by_role("button", name=re.compile(rf"^{re.escape(label)} \("))


def _day(days_ago: int) -> str:
    return f"{dt.datetime.now(DANISH_TIME).date() - dt.timedelta(days=days_ago):%d-%m-%Y}"


def test_a_course_of_the_invented_programme_beside_hjertekom(two_programmes: TwoProgrammes, page: Page) -> None:
    cpr = generate_cpr(random.Random(19_740))   # noqa: S311 - a synthetic person
    shown_cpr, name = f"{cpr[:6]}-{cpr[6:]}", "Frida Faldtest"
    log_in(page, two_programmes.server.base_url, ANNE)

    # A new citizen: the programme is chosen first, then its course form appears.
    page.get_by_role("button", name="Ny borger og forløb").click()
    expect(page.get_by_role("heading", name="Ny borger og forløb")).to_be_visible()
    page.get_by_label("CPR-nummer").fill(shown_cpr)
    page.get_by_label("Navn", exact=True).fill(name)
    programme = page.locator(".hk-new-programme select")
    expect(programme.locator("option")).to_have_text(
        ["— vælg program —", "HjerteKom – kommunal hjerterehabilitering", "Faldforebyggelse"])
    expect(page.locator(".hk-form:visible")).to_have_count(0)   # no course form before a programme
    programme.select_option(label="Faldforebyggelse")
    expect(field(page, "Kommune").locator("select")).to_have_value("Silkeborg")   # the user's one municipality
    expect(field(page, "Diagnose og indgreb")).to_have_count(0)                   # not HjerteKom's course form
    type_in(page, "Henvisningsdato", _day(30))
    page.get_by_role("button", name="Opret forløb").click()

    # Its start form opens, with its own forms' words.
    expect(_form_heading(page)).to_have_text("Første samtale")
    expect(page.locator(".hk-app")).to_contain_text("Forløbet er oprettet. Udfyld nu: Første samtale.")
    expect(page.locator(".hk-course-programme")).to_have_text("Faldforebyggelse")
    expect(_form_button(page, "Forløb")).to_have_text(re.compile(r"Forløb \(færdig\)"))
    type_in(page, "Dato", _day(20))
    type_in(page, "Fald det seneste år", "2")
    field(page, "Faldrisiko").locator("select").select_option(label="Høj")
    page.locator(".hk-save-next").click()   # "Gem og gå videre": a draft, then the end form
    expect(_form_heading(page)).to_have_text("Afslutning")
    expect(field(page, "Forløbet gennemført")).to_be_visible()
    _form_button(page, "Første samtale").click()
    expect(_form_heading(page)).to_have_text("Første samtale")
    page.locator(".hk-complete").click()
    expect(_form_button(page, "Første samtale")).to_have_text(re.compile(r"\(færdig\)"))

    svc = two_programmes.service()
    citizen = svc.find_citizen(cpr)
    assert citizen is not None
    (course,) = svc.courses_of(citizen.id)
    assert course.programme == PROGRAMME
    assert course.forms["course"].status == "complete" and course.forms["start"].status == "complete"
    assert course.data_of("start")["fall_risk"] == "high" and course.data_of("start")["falls_last_year"] == 2

    # The same citizen gets a HjerteKom course (another programme: no reason needed for a second one).
    heart = svc.open_course(citizen.id, course_data(), complete=True).course_id

    # The worklist: started without an end, labelled with its programme, status by role.
    page.get_by_role("button", name="Arbejdsliste").click()
    expect(page.get_by_role("heading", name="Find borger")).to_be_visible()
    row = page.locator(".hk-missing-end .hk-worklist-row").filter(has_text=name)
    expect(row.locator(".hk-cell-programme")).to_have_text("Faldforebyggelse")
    expect(row.locator(".hk-cell-status-start")).to_have_text("færdig")
    expect(page.locator(".hk-missing-end .hk-sort-programme")).to_have_text("Program")
    waiting = page.locator(".hk-awaiting-start .hk-worklist-row").filter(has_text=name)
    expect(waiting.locator(".hk-cell-programme")).to_have_text("HjerteKom")   # its HjerteKom course

    # The citizen view: both courses, each with its programme and its own forms' words.
    page.locator(".hk-search input").fill(shown_cpr)
    page.locator(".hk-search input").press("Enter")
    page.locator(".hk-open-citizen").click()
    invented = page.locator(".hk-citizen-course").filter(has_text=f"Åbn forløb {course.id}")
    expect(invented.locator(".hk-course-programme")).to_have_text("Faldforebyggelse")
    expect(invented).to_contain_text("Første samtale: færdig")
    hjertekom = page.locator(".hk-citizen-course").filter(has_text=f"Åbn forløb {heart}")
    expect(hjertekom.locator(".hk-course-programme")).to_have_text("HjerteKom")
    expect(hjertekom).to_contain_text("Afklarende samtale: ikke startet")

    # The HjerteKom course opens with HjerteKom's forms, in the same course view.
    hjertekom.get_by_role("button", name=f"Åbn forløb {heart}").click()
    expect(_form_heading(page)).to_have_text("Afklarende samtale")
    expect(_form_button(page, "Afslutning")).to_be_visible()
    expect(_form_button(page, "Første samtale")).to_have_count(0)
    expect(field(page, "Vægt")).to_be_visible()
    expect(field(page, "Faldrisiko")).to_have_count(0)
    expect(page.locator(".hk-sheet-citizen")).to_be_visible()   # HjerteKom's citizen sheet

    # And back: the invented course again with its own forms (finished start: it opens on the end).
    page.go_back()
    expect(page.locator(".hk-citizen-course")).to_have_count(2)
    invented.get_by_role("button", name=f"Åbn forløb {course.id}").click()
    expect(_form_heading(page)).to_have_text("Afslutning")
    expect(_form_button(page, "Første samtale")).to_have_text(re.compile(r"\(færdig\)"))
    expect(field(page, "Vægt")).to_have_count(0)
    # Its citizen sheet is linked (HTML and PDF), not HjerteKom's course summary for hospital and GP.
    sheet_link = page.locator(".hk-sheet-citizen")
    expect(sheet_link).to_have_text("Borgerens resultater")
    expect(sheet_link).to_have_attribute("href", f"hjertekom/forloeb/{course.id}/borger.html")
    expect(page.locator(".hk-sheet-citizen-pdf")).to_have_attribute("href", f"hjertekom/forloeb/{course.id}/borger.pdf")
    expect(page.locator(".hk-sheet-summary")).to_have_count(0)
    with page.context.expect_page() as opened:
        sheet_link.click()
    sheet = opened.value
    expect(sheet.locator("body")).to_contain_text("Dine resultater – Faldforebyggelse", timeout=SHEET_TIMEOUT_MS)
    expect(sheet.locator("body")).to_contain_text("Faldrisiko")   # the course's measure at start ...
    expect(sheet.locator("body")).to_contain_text("Høj")          # ... with the value saved above
    expect(sheet.locator("body")).not_to_contain_text(COURSE_NOT_FOUND)
    assert [(r["username"], r["entity_id"]) for r in audit_rows(two_programmes.ws, action="report.citizen")] == [
        (ANNE.username, str(course.id))]

    # Bo (Silkeborg, HjerteKom only) is refused the sheet by its address, and the refusal is audited.
    before = max([r["id"] for r in audit_rows(two_programmes.ws)], default=0)
    bo = log_in(page.context.browser.new_context().new_page(), two_programmes.server.base_url, BO)
    response = bo.goto(f"{two_programmes.server.base_url}/hjertekom/forloeb/{course.id}/borger.html")
    assert response is not None and response.status == 404
    expect(bo.locator(".hk-refused")).to_have_text(COURSE_NOT_FOUND)
    expect(bo.locator("body")).not_to_contain_text(name)
    assert [r["username"] for r in audit_rows(two_programmes.ws, action="access.denied") if r["id"] > before] \
        == [BO.username]
    assert [r for r in audit_rows(two_programmes.ws, action="report.citizen") if r["id"] > before] == []
    bo.context.close()


def _report_files(two_programmes: TwoProgrammes) -> dict[str, bytes]:
    """Report files in the server's reports folder, as the batches lay them out: HjerteKom's
    management report and the invented programme's report of Silkeborg, and København's."""
    root = two_programmes.ws.config.data_dir / "reports"   # the server's (live_server.server_env)
    files = {"2025/740-silkeborg.html": b"<!DOCTYPE html><html><body><h1>Ledelsesinformation 2025</h1></body></html>",
             f"{PROGRAMME}/2025/740-silkeborg.html":
                 b"<!DOCTYPE html><html><body><h1>Faldforebyggelse Silkeborg 2025</h1></body></html>",
             f"{PROGRAMME}/2025/740-silkeborg.pdf": b"%PDF-1.4\n% fald-silkeborg-2025\n%%EOF\n",
             f"{PROGRAMME}/2025/101-koebenhavn.pdf": b"%PDF-1.4\n% fald-koebenhavn-2025\n%%EOF\n"}
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_the_reports_page_offers_the_invented_programmes_report_only_to_a_coordinator_in_it(
        two_programmes: TwoProgrammes, new_page: Any) -> None:
    files = _report_files(two_programmes)
    base = two_programmes.server.base_url
    fall_pdf = f"/hjertekom/rapporter/{PROGRAMME}/2025/740-silkeborg.pdf"

    # Gitte (both programmes): each programme under its label, the invented programme's files of Silkeborg.
    app = log_in(new_page(), base, GITTE)
    with app.context.expect_page() as opened:
        app.locator("a.hk-reports").click()
    listing = opened.value
    expect(listing.locator("h2.hk-reports-programme")).to_have_text(
        ["HjerteKom – kommunal hjerterehabilitering", "Faldforebyggelse"])
    fall = listing.locator(f'table.hk-reports-table[data-programme="{PROGRAMME}"] a.hk-report-link')
    expect(fall).to_have_text(["740-silkeborg.html", "740-silkeborg.pdf"])
    expect(fall.nth(1)).to_have_attribute("href", fall_pdf)
    expect(listing.locator("body")).not_to_contain_text("koebenhavn")
    before = max([r["id"] for r in audit_rows(two_programmes.ws)], default=0)
    with listing.expect_download() as download_info:
        fall.nth(1).click()
    download = download_info.value
    assert download.suggested_filename == "740-silkeborg.pdf" and download.failure() is None
    assert Path(download.path()).read_bytes() == files[f"{PROGRAMME}/2025/740-silkeborg.pdf"]
    fall.nth(0).click()
    expect(listing.get_by_role("heading", name="Faldforebyggelse Silkeborg 2025")).to_be_visible()
    assert [(r["username"], r["entity_id"], r["municipality_code"], r["detail"])
            for r in audit_rows(two_programmes.ws, action="report.download") if r["id"] > before] == [
        (GITTE.username, "2025/740-silkeborg.pdf", 740, f'{{"programme": "{PROGRAMME}"}}'),
        (GITTE.username, "2025/740-silkeborg.html", 740, f'{{"programme": "{PROGRAMME}"}}')]
    # Another municipality's file and a path trick: the same Danish "not found".
    for path in (f"/hjertekom/rapporter/{PROGRAMME}/2025/101-koebenhavn.pdf",
                 f"/hjertekom/rapporter/{PROGRAMME}/2025/..%2F2025%2F101-koebenhavn.pdf",
                 f"/hjertekom/rapporter/..%2F{PROGRAMME}/2025/101-koebenhavn.pdf"):
        response = listing.goto(f"{base}{path}")
        assert response is not None and response.status == 404, path
        assert REPORT_NOT_FOUND in response.text() and "fald-koebenhavn" not in response.text()

    # Henrik (HjerteKom only): HjerteKom's report, nothing of the invented programme; its file is refused.
    other = log_in(new_page(), base, HENRIK)
    other.goto(f"{base}/hjertekom/rapporter")
    expect(other.locator("a.hk-report-link")).to_have_text(["740-silkeborg.html"])
    expect(other.locator("a.hk-report-link")).to_have_attribute("href", "/hjertekom/rapporter/2025/740-silkeborg.html")
    expect(other.locator("body")).not_to_contain_text("Faldforebyggelse")
    before = max([r["id"] for r in audit_rows(two_programmes.ws)], default=0)
    response = other.goto(f"{base}{fall_pdf}")
    assert response is not None and response.status == 404
    expect(other.locator(".hk-refused")).to_have_text(REPORT_NOT_FOUND)
    assert b"fald-silkeborg" not in response.body()
    assert [(r["username"], r["municipality_code"]) for r in audit_rows(two_programmes.ws, action="access.denied")
            if r["id"] > before] == [(HENRIK.username, 740)]
    assert [r for r in audit_rows(two_programmes.ws, action="report.download") if r["id"] > before] == []
