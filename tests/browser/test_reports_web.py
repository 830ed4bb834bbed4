"""Reports in the web app (issue 5) in a real browser, against the session's server.

- the coordinator's list of their municipality's report files and the download of one file
  (``/hjertekom/rapporter``, ``/hjertekom/rapporter/<year>/<file>``), audited;
- what everybody else gets: another municipality's file, path tricks, a clinician, nobody signed in;
- the citizen sheet and the course summary of a course, rendered on request from the course view
  (``/hjertekom/forloeb/<id>/<borger|opsummering>.<html|pdf>``), and nothing of it for another
  municipality.

The report files are small hand-made files in the server's own reports folder (the batch that
makes real ones is tested elsewhere); the course is made through the Service, as in
test_entry_app.py.
"""
from __future__ import annotations

import http.client
import io
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import func, select

from browser_store import audit_rows
from factories import course_data, end_data, start_data
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.store.schema import audit_log
from hjertekom_core.users import get_user

pytestmark = pytest.mark.slow

PERIOD = "2025"
NOT_FOUND = "Rapporten findes ikke, eller du har ikke adgang til den."
NO_ACCESS = "Din rolle giver ikke adgang til rapporter. Kontakt din koordinator."
COURSE_NOT_FOUND = "Forløbet findes ikke, eller det hører ikke til dine kommuner."
RENDER_TIMEOUT_MS = 180_000   # a sheet runs a notebook (a kernel starts) and, for PDF, a chromium


# --- report files and the course ---------------------------------------------------------------------

@dataclass(frozen=True)
class ReportFiles:
    own_html: Path      # 2025/740-silkeborg.html
    own_pdf: Path       # 2025/740-silkeborg.pdf
    own_older: Path     # 2024/740-silkeborg.html
    other_html: Path    # 2025/101-koebenhavn.html
    other_pdf: Path     # 2025/101-koebenhavn.pdf


def _pdf(marker: str) -> bytes:
    """A tiny file shaped like a PDF: the server serves bytes, it never parses them."""
    return f"%PDF-1.4\n% {marker}\n%%EOF\n".encode("ascii")


def _html(marker: str) -> bytes:
    return f'<!DOCTYPE html><html lang="da"><body><h1>{marker}</h1></body></html>'.encode()


@pytest.fixture(scope="module")
def report_files(hjertekom_server: Any) -> ReportFiles:
    """Report files of Silkeborg (740) and København (101) in the server's reports folder, and the
    period's index page (not a municipality's report: never listed or served)."""
    root = hjertekom_server.reports_dir
    files = ReportFiles(root / PERIOD / "740-silkeborg.html", root / PERIOD / "740-silkeborg.pdf",
                        root / "2024" / "740-silkeborg.html",
                        root / PERIOD / "101-koebenhavn.html", root / PERIOD / "101-koebenhavn.pdf")
    contents = {files.own_html: _html("Ledelsesinformation Silkeborg 2025"),
                files.own_pdf: _pdf("silkeborg-2025-pdf"),
                files.own_older: _html("Ledelsesinformation Silkeborg 2024"),
                files.other_html: _html("Ledelsesinformation Koebenhavn 2025"),
                files.other_pdf: _pdf("koebenhavn-2025-pdf"),
                root / PERIOD / "index.html": _html("Indeks 2025 med alle kommuner")}
    for path, data in contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


@dataclass(frozen=True)
class SheetCourse:
    course_id: int
    cpr: str
    name: str
    walk_start: int   # distinctive values that must appear on the citizen's sheet
    walk_end: int


@pytest.fixture(scope="module")
def sheet_course(hjertekom_server: Any) -> SheetCourse:
    """A finished course of a Silkeborg citizen (start and end registration complete), made by Anne."""
    svc = Service(hjertekom_server.store, hjertekom_server.contracts, get_user(hjertekom_server.store, "anne"))
    cpr = generate_cpr(random.Random(740_501))
    name = "Ingrid Arkenholt"
    citizen = svc.create_citizen(cpr, name, 740)
    course_id = svc.open_course(citizen.id, course_data(), complete=True, confirm=True).course_id
    made = SheetCourse(course_id, cpr, name, walk_start=417, walk_end=489)
    svc.save(course_id, "start", start_data(walk_6min_m=made.walk_start), 0, complete=True, confirm=True)
    svc.save(course_id, "end", end_data(walk_6min_m=made.walk_end), 0, complete=True, confirm=True)
    return made


# --- helpers -----------------------------------------------------------------------------------------

def last_audit_id(server: Any) -> int:
    with server.store.read() as conn:
        return int(conn.execute(select(func.coalesce(func.max(audit_log.c.id), 0))).scalar_one())


def audit_since(server: Any, after_id: int, action: str) -> list[tuple[str, str, str | None, int | None]]:
    """(username, entity, entity_id, municipality) of the entries of ``action`` after ``after_id``."""
    return [(r["username"], r["entity"], r["entity_id"], r["municipality_code"])
            for r in audit_rows(server, action=action) if r["id"] > after_id]


def raw_get(base_url: str, path: str, cookie: str = "") -> tuple[int, str, bytes]:
    """GET ``path`` exactly as written (no URL normalisation, redirects not followed):
    (status, Location, body)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.getheader("Location") or "", response.read()
    finally:
        conn.close()


def cookie_header(page: Page) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())


def is_login_redirect(status: int, location: str) -> bool:
    return status in (301, 302, 303, 307) and urlsplit(location).path == "/login"


def open_course(page: Page, cpr: str, course_id: int) -> None:
    """From the worklist: find the citizen by CPR number and open the course."""
    page.locator(".hk-search input").fill(f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name="Søg").click()
    page.get_by_role("button", name=re.compile(rf"^Forløb {course_id} \(")).click()
    expect(page.locator(".hk-form:visible")).to_be_visible()


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def has_number(text: str, number: int) -> bool:
    return re.search(rf"(?<![\d,.]){number}(?![\d,])", text) is not None


# --- the report list and files -----------------------------------------------------------------------

def test_a_coordinator_lists_and_downloads_only_her_municipalitys_reports(
        hjertekom_server, page, users, sign_in, report_files) -> None:
    server = hjertekom_server
    sign_in(page, users.dorte)
    link = page.locator("a.hk-reports")
    expect(link).to_have_text("Rapporter")

    with page.context.expect_page() as opened:
        link.click()
    listing = opened.value
    expect(listing).to_have_url(f"{server.base_url}/hjertekom/rapporter")
    expect(listing.get_by_role("heading", name="Rapporter")).to_be_visible()
    # Silkeborg's files, newest period first; nothing of København, and no index page.
    links = listing.locator("a.hk-report-link")
    expect(links).to_have_text(["740-silkeborg.html", "740-silkeborg.pdf", "740-silkeborg.html"])
    expect(links.nth(0)).to_have_attribute("href", "/hjertekom/rapporter/2025/740-silkeborg.html")
    expect(links.nth(2)).to_have_attribute("href", "/hjertekom/rapporter/2024/740-silkeborg.html")
    pdf_row = listing.get_by_role("row").filter(has=listing.locator('a[href$="/2025/740-silkeborg.pdf"]'))
    expect(pdf_row.get_by_role("cell")).to_have_text(["2025", "Silkeborg", "740-silkeborg.pdf", "PDF"])
    body = listing.locator("body")
    for other in ("101-koebenhavn", "København", "index.html"):
        expect(body).not_to_contain_text(other)

    # The PDF downloads with the file's exact bytes, and the download is audited.
    before = last_audit_id(server)
    with listing.expect_download() as download_info:
        listing.locator('a.hk-report-link[href$="/2025/740-silkeborg.pdf"]').click()
    download = download_info.value
    assert download.suggested_filename == "740-silkeborg.pdf"
    assert download.failure() is None
    assert Path(download.path()).read_bytes() == report_files.own_pdf.read_bytes()
    assert audit_since(server, before, "report.download") == [("dorte", "report", "2025/740-silkeborg.pdf", 740)]

    # The HTML report opens in the browser, also audited.
    before = last_audit_id(server)
    listing.locator('a.hk-report-link[href$="/2025/740-silkeborg.html"]').click()
    expect(listing.get_by_role("heading", name="Ledelsesinformation Silkeborg 2025")).to_be_visible()
    assert audit_since(server, before, "report.download") == [("dorte", "report", "2025/740-silkeborg.html", 740)]


def test_another_municipalitys_report_and_path_tricks_give_404_without_the_file(
        hjertekom_server, page, users, sign_in, report_files) -> None:
    server = hjertekom_server
    secrets = (b"koebenhavn-2025-pdf", b"Koebenhavn 2025", b"Indeks 2025", b"SQLite format")

    # Not signed in: the list and a file send the visitor to the login page.
    for path in ("/hjertekom/rapporter", "/hjertekom/rapporter/2025/740-silkeborg.pdf"):
        status, location, _ = raw_get(server.base_url, path)
        assert is_login_redirect(status, location), (path, status, location)

    sign_in(page, users.dorte)
    before = last_audit_id(server)
    response = page.goto(f"{server.base_url}/hjertekom/rapporter/2025/101-koebenhavn.pdf")
    assert response is not None and response.status == 404
    expect(page.locator(".hk-refused")).to_have_text(NOT_FOUND)
    assert not any(s in response.body() for s in secrets)

    cookie = cookie_header(page)
    tricks = [
        "/hjertekom/rapporter/2025/101-koebenhavn.html",
        "/hjertekom/rapporter/2025/101-koebenhavn.pdf?x=740-silkeborg.pdf",
        "/hjertekom/rapporter/2025/..%2F2025%2F101-koebenhavn.pdf",
        "/hjertekom/rapporter/2025/740-silkeborg.pdf%2F..%2F101-koebenhavn.pdf",
        "/hjertekom/rapporter/2025/..%2F..%2Fhjertekom.sqlite",
        "/hjertekom/rapporter/2025/../2025/101-koebenhavn.pdf",
        "/hjertekom/rapporter/2025/../../hjertekom.sqlite",
        "/hjertekom/rapporter/..%2F2025/101-koebenhavn.pdf",
        "/hjertekom/rapporter/2025",
        "/hjertekom/rapporter/2025/index.html",                # exists, but is not a municipality's report
        "/hjertekom/rapporter/2025/0101-koebenhavn.pdf",
        "/hjertekom/rapporter/2025/740-silkeborg.PDF",
        "/hjertekom/rapporter/2025/740-silkeborg.pdf.bak",
        "/hjertekom/rapporter/2025/740-aarhus.pdf",            # own code, a file that is not there
        "/hjertekom/rapporter/1999/740-silkeborg.pdf",
    ]
    answers = {path: raw_get(server.base_url, path, cookie) for path in tricks}
    assert {path: (status, location) for path, (status, location, _) in answers.items() if status != 404} == {}
    assert [path for path, (_, _, body) in answers.items() if any(s in body for s in secrets)] == []
    # The reports' own answer, in Danish (not Voilà's file handler).
    assert [path for path, (_, _, body) in answers.items() if NOT_FOUND.encode() not in body] == []
    assert audit_since(server, before, "report.download") == []


def test_a_clinician_has_no_reports_link_and_is_refused_the_list(
        hjertekom_server, page, users, sign_in, report_files) -> None:
    server = hjertekom_server
    before = last_audit_id(server)
    sign_in(page, users.anne)
    expect(page.locator("a.hk-logout")).to_be_visible()   # the header is there ...
    expect(page.locator("a.hk-reports")).to_have_count(0)  # ... without "Rapporter"

    response = page.goto(f"{server.base_url}/hjertekom/rapporter")
    assert response is not None and response.status == 403
    expect(page.locator(".hk-refused")).to_have_text(NO_ACCESS)
    expect(page.locator("a.hk-report-link")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("silkeborg")

    # Nor can she fetch her own municipality's file by its address.
    status, _, body = raw_get(server.base_url, "/hjertekom/rapporter/2025/740-silkeborg.pdf", cookie_header(page))
    assert status == 404 and NOT_FOUND.encode() in body
    assert b"silkeborg-2025-pdf" not in body
    assert audit_since(server, before, "report.download") == []


# --- the citizen sheet and the course summary --------------------------------------------------------

def test_the_citizen_sheet_opens_from_the_course_and_downloads_as_pdf(
        hjertekom_server, new_page, users, sign_in, sheet_course) -> None:
    server, course = hjertekom_server, sheet_course
    page = new_page()
    sign_in(page, users.anne)
    open_course(page, course.cpr, course.course_id)
    sheet_link = page.locator("a.hk-sheet-citizen")
    expect(sheet_link).to_have_text("Borgerens resultater")

    before = last_audit_id(server)
    with page.context.expect_page() as opened:
        sheet_link.click()
    sheet = opened.value
    body = sheet.locator("body")
    expect(body).to_contain_text(str(course.walk_end), timeout=RENDER_TIMEOUT_MS)
    expect(sheet).to_have_url(f"{server.base_url}/hjertekom/forloeb/{course.course_id}/borger.html")
    text = body.inner_text()
    assert has_number(text, course.walk_start) and has_number(text, course.walk_end), text
    expect(body).not_to_contain_text(COURSE_NOT_FOUND)
    assert [(r["username"], r["municipality_code"]) for r in audit_rows(server, action="report.citizen")
            if r["id"] > before] == [("anne", 740)]

    # The PDF link (a new tab that turns into a download): a PDF holding the same values.
    with page.expect_download(timeout=RENDER_TIMEOUT_MS) as download_info:
        page.locator("a.hk-sheet-citizen-pdf").click()
    download = download_info.value
    assert download.suggested_filename == f"borger-{course.course_id}.pdf"
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert has_number(text, course.walk_start) and has_number(text, course.walk_end), text


def test_the_course_summary_names_the_citizen(hjertekom_server, page, users, sign_in, sheet_course) -> None:
    course = sheet_course
    sign_in(page, users.anne)
    open_course(page, course.cpr, course.course_id)
    link = page.locator("a.hk-sheet-summary")
    expect(link).to_have_text("Forløbsopsummering")
    expect(page.locator("a.hk-sheet-summary-pdf")).to_have_attribute(
        "href", f"hjertekom/forloeb/{course.course_id}/opsummering.pdf")
    with page.context.expect_page() as opened:
        link.click()
    summary = opened.value
    body = summary.locator("body")
    expect(body).to_contain_text(course.name, timeout=RENDER_TIMEOUT_MS)
    expect(body).to_contain_text(re.compile(rf"{course.cpr[:6]}-?{course.cpr[6:]}"))


def test_a_clinician_of_another_municipality_gets_nothing_of_the_citizen(
        hjertekom_server, page, users, sign_in, sheet_course) -> None:
    server, course = hjertekom_server, sheet_course
    sign_in(page, users.carl)
    before = last_audit_id(server)
    forbidden = (course.name, course.cpr, f"{course.cpr[:6]}-{course.cpr[6:]}", str(course.walk_end))
    for word in ("borger", "opsummering"):
        response = page.goto(f"{server.base_url}/hjertekom/forloeb/{course.course_id}/{word}.html")
        assert response is not None and response.status == 404
        expect(page.locator(".hk-refused")).to_have_text(COURSE_NOT_FOUND)
        html_text = response.text()
        assert not any(s in html_text for s in forbidden), word
        status, _, body = raw_get(server.base_url, f"/hjertekom/forloeb/{course.course_id}/{word}.pdf",
                                  cookie_header(page))
        assert status == 404 and not body.startswith(b"%PDF")
        assert COURSE_NOT_FOUND.encode() in body
    for malformed in ("abc/borger.html", f"{course.course_id}/borger.docx", f"{course.course_id}/../borger.html",
                      f"{course.course_id}", f"{course.course_id}/borger.html/x"):
        status, _, body = raw_get(server.base_url, f"/hjertekom/forloeb/{malformed}", cookie_header(page))
        assert status == 404 and COURSE_NOT_FOUND.encode() in body, malformed
    assert audit_since(server, before, "report.citizen") == []
    assert audit_since(server, before, "report.summary") == []
