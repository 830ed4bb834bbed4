"""Another programme's indicators in the entry app's feedback, in a real browser (issue 19).

A server of this module's own loads HjerteKom and the invented programme ``faldforebyggelse``
(tests/invented_programme_files.py: F1 lower fall risk, F2 stronger legs, declared in YAML only),
as tests/browser/test_entry_programmes_browser.py does. A clinician completes the end of a fall
prevention course and sees, after the save, the course's declared indicators (one met, one not,
with the reason) and the municipality's live counts of F1 and F2. The same views without a server
are tests/test_course_indicators_feedback.py.
"""
from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from browser_accounts import ANNE, log_in
from browser_form import field, type_in
from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.users import add_user
from invented_programme_files import BOTH, BOTH_ENV, PROGRAMME, contracts_with_invented
from live_server import RunningServer, hjertekom_command, server_env, start_server

pytestmark = pytest.mark.slow

SILKEBORG = 740


@dataclass(frozen=True)
class Served:
    server: RunningServer
    ws: Workspace


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``hjertekom serve`` over HjerteKom and the invented programme, with Anne (clinician, Silkeborg)."""
    root = tmp_path_factory.mktemp("hjertekom-course-indicators-browser")
    contracts = contracts_with_invented(root)
    data_dir = root / "data"
    data_dir.mkdir()
    extra = {"HJERTEKOM_CONTRACTS_DIR": str(contracts), **BOTH_ENV}
    done = subprocess.run([hjertekom_command(), "init"], cwd=data_dir, env=server_env(data_dir, extra),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ws = open_workspace(Config(data_dir=data_dir, contracts_dir=contracts, programmes=BOTH))
    add_user(ws.store, SYSTEM, ANNE.username, ANNE.display_name, ANNE.role, ANNE.password, [ANNE.municipality])
    server = start_server(data_dir, "--pool-size", "1", env=extra)
    try:
        yield Served(server, ws)
    finally:
        server.stop()
        ws.store.dispose()


def _fall_course(svc: Service, seed: int, name: str, start: dict[str, Any], end: dict[str, Any] | None) -> int:
    citizen = svc.create_citizen(generate_cpr(random.Random(seed)), name, SILKEBORG)   # noqa: S311 - synthetic
    course = svc.open_course(citizen.id, {"municipality": SILKEBORG, "referral_date": "2025-01-08"},
                             programme=PROGRAMME, complete=True).course_id
    svc.save(course, "start", {"visit_date": "2025-02-05", "falls_last_year": 1, **start}, 0, complete=True,
             confirm=True)
    if end is not None:
        svc.save(course, "end", {"visit_date": "2025-05-05", "completed": True, **end}, 0, complete=True,
                 confirm=True)
    return course


def test_saving_the_end_of_a_fall_prevention_course_shows_its_declared_indicators(served: Served,
                                                                                  page: Page) -> None:
    system = Service(served.ws.store, served.ws.contracts, SYSTEM)
    # Alma finished earlier (F1 and F2 met); Bodil has started, moderate risk and 10 chair stands.
    _fall_course(system, 19_801, "Alma Fald", {"fall_risk": "high", "chair_stands": 8},
                 {"fall_risk": "low", "chair_stands": 11})
    bodil = _fall_course(system, 19_802, "Bodil Fald", {"fall_risk": "moderate", "chair_stands": 10}, None)

    log_in(page, served.server.base_url, ANNE)
    page.goto(f"{served.server.base_url}/#/forloeb/{bodil}/end")
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afslutning")
    type_in(page, "Dato", "06-05-2025")
    field(page, "Forløbet gennemført").locator("select").select_option(label="Ja")
    type_in(page, "Rejse-sætte-sig på 30 sekunder", "11")
    field(page, "Faldrisiko").locator("select").select_option(label="Lav")
    page.locator(".hk-complete").click()

    # The course's own indicators: F1 met (moderate to low), F2 not (one stand more), saying why.
    expect(page.get_by_role("heading", name="Kvalitetsindikatorer for forløbet")).to_be_visible()
    f1 = page.locator('tr[data-indicator="F1"][data-state]')
    f2 = page.locator('tr[data-indicator="F2"][data-state]')
    expect(f1).to_have_attribute("data-state", "met")
    expect(f1).to_contain_text("Lavere faldrisiko")
    expect(f2).to_have_attribute("data-state", "not_met")
    expect(f2.locator(".hk-reason")).to_have_text("Ikke opfyldt: mindst 2 flere rejse-sætte-sig ved afslutning")
    expect(page.locator('tr[data-indicator^="K"]')).to_have_count(0)   # no HjerteKom K1-K6

    # The municipality's live counts of the same indicators: Alma and Bodil, both ended in 2025.
    expect(page.get_by_role("heading", name="Kommunens kvalitetsindikatorer – Faldforebyggelse")).to_be_visible()
    expect(page.get_by_role("heading", name="Silkeborg – 2025")).to_be_visible()
    expect(page.locator('tr[data-indicator="F1"][data-status]').get_by_role("cell").nth(1)).to_have_text("2 / 2")
    expect(page.locator('tr[data-indicator="F2"][data-status]').get_by_role("cell").nth(1)).to_have_text("1 / 2")

    saved = Service(served.ws.store, served.ws.contracts, SYSTEM).get_course(bodil)
    assert saved.forms["end"].status == "complete" and saved.data_of("end")["fall_risk"] == "low"
