"""The "Rapporter" page with several programmes (issue 19), without a server: the page's own
functions (widgets/reports_api.py) over a workspace with HjerteKom and the invented programme
``faldforebyggelse`` (tests/invented_programme_files.py), and report files laid out as the batches
write them: HjerteKom's management reports in ``<reports_dir>/<period>/``, any programme's reports
(``hjertekom report programme-all``) in ``<reports_dir>/<programme>/<period>/``.

Rights are per (programme, municipality): a coordinator sees a programme's files of the
municipalities where they act in that programme, an administrator every file. The browser side is
tests/browser/test_entry_programmes_browser.py; the refusals are tests/security/test_sec_programme_reports.py.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.users import add_user
from hjertekom_widgets.reports_api import find_report, listing_html, record_download, visible_reports

from factories import TEST_PASSWORD
from invented_programme_files import BOTH, PROGRAMME, contracts_with_invented
from paths import CONTRACTS_DIR

SILKEBORG, KOEBENHAVN = 740, 101
FILES = ("2025/740-silkeborg.html", "2025/101-koebenhavn.html",                      # HjerteKom's management
         f"{PROGRAMME}/2025/740-silkeborg.html", f"{PROGRAMME}/2025/740-silkeborg.pdf",
         f"{PROGRAMME}/2024/740-silkeborg.html", f"{PROGRAMME}/2025/101-koebenhavn.html",
         "hjertekom/2025/740-silkeborg.html",                                         # HjerteKom's programme report
         "moeva/2025/740-silkeborg.html")            # MoEva is in the contracts folder, but not run here


@dataclass
class Page:
    ws: Workspace
    users: dict[str, User]

    def links(self, username: str) -> list[str]:
        body = listing_html(self.ws.contracts, visible_reports(self.ws, self.users[username]), "/")
        return re.findall(r'class="hk-report-link" href="/hjertekom/rapporter/([^"]+)"', body)


def _workspace(root: Path, contracts_dir: Path, programmes: tuple[str, ...] = ("hjertekom",)) -> Workspace:
    ws = open_workspace(Config(data_dir=root / "data", contracts_dir=contracts_dir, reports_dir=root / "reports",
                               programmes=programmes))
    initialise(ws)
    for relative in FILES:
        path = root / "reports" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"report {relative}")
    return ws


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Page]:
    ws = _workspace(tmp_path, contracts_with_invented(tmp_path), BOTH)
    users = {
        "begge": add_user(ws.store, SYSTEM, "begge", "Begge", "coordinator", TEST_PASSWORD, (SILKEBORG,),
                          ["hjertekom", PROGRAMME]),
        "hjerte": add_user(ws.store, SYSTEM, "hjerte", "Hjerte", "coordinator", TEST_PASSWORD, (SILKEBORG,),
                           ["hjertekom"]),
        "fald": add_user(ws.store, SYSTEM, "fald", "Fald", "coordinator", TEST_PASSWORD, (SILKEBORG,), [PROGRAMME]),
        "alle": add_user(ws.store, SYSTEM, "alle", "Alle", "coordinator", TEST_PASSWORD, (SILKEBORG,)),  # '*'
        "admin": add_user(ws.store, SYSTEM, "admin", "Admin", "administrator", TEST_PASSWORD, ()),
    }
    yield Page(ws, users)
    ws.store.dispose()


def test_a_coordinator_of_both_programmes_sees_each_programmes_own_municipality_reports_grouped(two: Page) -> None:
    user = two.users["begge"]
    body = listing_html(two.ws.contracts, visible_reports(two.ws, user), "/")
    headings = re.findall(r'<h2 class="hk-reports-programme" data-programme="(\w+)">([^<]+)</h2>', body)
    assert headings == [("hjertekom", "HjerteKom – kommunal hjerterehabilitering"),
                        ("hjertekom", "HjerteKom – kommunal hjerterehabilitering (programrapport)"),
                        (PROGRAMME, "Faldforebyggelse")]
    assert two.links("begge") == ["2025/740-silkeborg.html", "hjertekom/2025/740-silkeborg.html",
                                  f"{PROGRAMME}/2025/740-silkeborg.html", f"{PROGRAMME}/2025/740-silkeborg.pdf",
                                  f"{PROGRAMME}/2024/740-silkeborg.html"]
    assert "koebenhavn" not in body and "moeva" not in body
    # Each programme's table holds its own files only.
    fall = body.split(f'data-programme="{PROGRAMME}">Faldforebyggelse</h2>')[1]
    assert "/hjertekom/rapporter/2025/" not in fall


def test_each_programme_is_seen_only_where_the_user_acts_in_it(two: Page) -> None:
    assert two.links("hjerte") == ["2025/740-silkeborg.html", "hjertekom/2025/740-silkeborg.html"]
    assert two.links("fald") == [f"{PROGRAMME}/2025/740-silkeborg.html", f"{PROGRAMME}/2025/740-silkeborg.pdf",
                                 f"{PROGRAMME}/2024/740-silkeborg.html"]
    assert two.links("alle") == two.links("begge")        # every programme, own municipality
    assert {link for link in two.links("admin")} == set(FILES) - {"moeva/2025/740-silkeborg.html"}


def test_a_programme_report_downloads_audited_with_its_programme(two: Page) -> None:
    user = two.users["begge"]
    found = find_report(two.ws, user, PROGRAMME, "2025/740-silkeborg.pdf")
    assert found.path.read_text() == f"report {PROGRAMME}/2025/740-silkeborg.pdf"
    assert (found.programme, found.format, found.relative) == (PROGRAMME, "pdf", f"{PROGRAMME}/2025/740-silkeborg.pdf")
    record_download(two.ws, user, found)
    management = find_report(two.ws, user, "2025", "740-silkeborg.html")
    assert management.programme == "hjertekom" and not management.in_programme_folder
    record_download(two.ws, user, management)
    with two.ws.store.read() as conn:
        rows = list(reversed(audit.entries(conn, action="report.download")))
    assert [(r["username"], r["entity_id"], r["municipality_code"], json.loads(r["detail"])) for r in rows] == [
        ("begge", "2025/740-silkeborg.pdf", SILKEBORG, {"programme": PROGRAMME}),
        ("begge", "2025/740-silkeborg.html", SILKEBORG, {})]


def test_with_hjertekom_alone_the_page_is_as_it_was(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, CONTRACTS_DIR)
    try:
        user = add_user(ws.store, SYSTEM, "k", "K", "coordinator", TEST_PASSWORD, (SILKEBORG,))
        files = visible_reports(ws, user)
        assert [f.relative for f in files] == ["2025/740-silkeborg.html", "hjertekom/2025/740-silkeborg.html"]
        body = listing_html(ws.contracts, files[:1], "/")
        assert "<h2" not in body and 'href="/hjertekom/rapporter/2025/740-silkeborg.html"' in body
        # A folder named like a programme that is not loaded is never listed or served.
        assert all(PROGRAMME not in f.relative for f in files)
    finally:
        ws.store.dispose()
