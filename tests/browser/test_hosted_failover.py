"""The hosted set-up under a failure: nginx, two hosts on one PostgreSQL, one host killed.

A clinician works through nginx, lands on one host by stickiness, saves two revisions and types
into a field without leaving it (autosave). That host is killed (SIGKILL, with its kernels); after
a reload she goes on on the other host with the same session, and every saved revision and the
autosaved input are there. The stack is tests/hosted_stack.py (real nginx, real PostgreSQL).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from browser_accounts import ACTION_TIMEOUT_MS, ANNE, FIRST_APP_ELEMENT_MS, log_in
from browser_store import new_course, wait_for_store
from browser_form import text_input
from hjertekom_core.store.schema import autosaves, registrations
from hjertekom_core.users import get_user
from hosted_stack import hosted_stack
from live_server import VIEWPORT

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

def sign_in(page: Page, url: str) -> None:
    log_in(page, url, ANNE)


def open_course(page: Page, cpr: str, course_id: int) -> None:
    page.locator(".hk-search input").fill(f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name="Søg").click()
    page.get_by_role("button", name=re.compile(rf"^Forløb {course_id} \(")).click()
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")


def save_draft(page: Page, revision: int) -> None:
    page.locator(".hk-save-draft").click()
    expect(page.locator(".hk-status")).to_contain_text(re.compile(rf"gemt som kladde.*version {revision}\)"))


def kernel_of(page: Page) -> str:
    return str(page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"))


def revisions(store: Any, course_id: int) -> list[tuple[int, dict[str, Any]]]:
    with store.read() as conn:
        rows = conn.execute(select(registrations.c.revision, registrations.c.data)
                            .where(registrations.c.course_id == course_id, registrations.c.form == "start")
                            .order_by(registrations.c.revision)).all()
    return [(row.revision, json.loads(row.data)) for row in rows]


def autosaved(store: Any, course_id: int) -> dict[str, Any]:
    uid = get_user(store, ANNE.username).id
    with store.read() as conn:
        row = conn.execute(select(autosaves.c.data).where(autosaves.c.user_id == uid,
                                                          autosaves.c.course_id == course_id,
                                                          autosaves.c.form == "start")).first()
    return json.loads(row.data) if row else {}


def test_a_clinician_goes_on_on_the_other_host_when_hers_is_killed(tmp_path: Path, browser: Browser,
                                                                   contracts: Any) -> None:
    with hosted_stack(tmp_path, users=[ANNE]) as stack:
        store = stack.store()
        cpr, course_id = new_course(SimpleNamespace(store=store, contracts=contracts), 740_917, "Hanne Værtskifte")
        context = browser.new_context(viewport=VIEWPORT, locale="da-DK")
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())   # "leave the page?" on the reload: yes
        try:
            sign_in(page, stack.url)
            open_course(page, cpr, course_id)
            first = stack.host_of_kernel(kernel_of(page))
            assert first is not None, "the page's kernel runs on neither host"

            # Two saved revisions, then input typed but not yet saved (autosave while typing).
            text_input(page, "Dato for afklarende samtale").fill("17-02-2025")
            text_input(page, "Dato for afklarende samtale").press("Tab")
            text_input(page, "Vægt").fill("82,5")
            text_input(page, "Vægt").press("Tab")
            save_draft(page, 1)
            text_input(page, "Vægt").fill("81,0")
            text_input(page, "Vægt").press("Tab")
            save_draft(page, 2)
            text_input(page, "Højde").fill("172")   # not left: sent for autosave after a pause
            wait_for_store(lambda: autosaved(store, course_id).get("height_cm") == "172", "the autosave of the height")

            stack.kill(first)
            page.reload()   # the address keeps the open course (#/forloeb/<id>/start): it opens again
            expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale", timeout=FIRST_APP_ELEMENT_MS)
            expect(page.locator("#username")).to_have_count(0)   # the same session, no new login
            second = stack.host_of_kernel(kernel_of(page))
            assert second is not None and second is not first

            expect(text_input(page, "Højde")).to_have_value("172")
            expect(text_input(page, "Vægt")).to_have_value("81,0")
            expect(page.locator(".hk-restored")).to_contain_text("ikke-gemte indtastninger")
            assert revisions(store, course_id) == [
                (1, {"meeting_date": "2025-02-17", "weight_kg": 82.5}),
                (2, {"meeting_date": "2025-02-17", "weight_kg": 81.0}),
            ]
            # And she can go on saving on the other host.
            save_draft(page, 3)
            number, data = revisions(store, course_id)[-1]
            assert number == 3 and (data["weight_kg"], data["height_cm"]) == (81.0, 172.0)
            # The other host's kernel reported that save to its server (/metrics).
            wait_for_store(lambda: 'hjertekom_saves_total{outcome="saved"} 1.0' in stack.metrics(second),
                     "the save in the other host's /metrics")
            assert "hjertekom_save_seconds_count 1.0" in stack.metrics(second)
        except BaseException:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "hosted_failover.png"), full_page=True)
            for host in stack.hosts:
                shutil.copyfile(host.output, ARTIFACTS / f"hosted_failover-{host.output.name}")
            raise
        finally:
            context.close()
