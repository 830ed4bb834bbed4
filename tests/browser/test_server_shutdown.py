"""SIGTERM on ``hjertekom serve`` (a restart, an update, systemd stopping the unit): the save in
flight is written, the open page says that the server restarts and that the input is kept, what
was typed is autosaved, and the process is gone within 10 seconds (server.py ``drain``)."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from browser_accounts import ACTION_TIMEOUT_MS, ANNE, log_in
from browser_store import new_course
from browser_form import text_input
from hjertekom_core.access import SYSTEM
from hjertekom_core.store import Store
from hjertekom_core.store.schema import autosaves, registrations
from hjertekom_core.users import add_user, get_user
from hosted_stack import http_get
from live_server import VIEWPORT, init_data_dir, running_server

pytestmark = pytest.mark.slow

STOP_LIMIT_S = 10.0
def stored(store: Store, course_id: int) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, Any]]:
    """(revisions of the start form, Anne's autosave of it)."""
    uid = get_user(store, ANNE.username).id
    with store.read() as conn:
        revs = conn.execute(select(registrations.c.revision, registrations.c.data)
                            .where(registrations.c.course_id == course_id, registrations.c.form == "start")
                            .order_by(registrations.c.revision)).all()
        auto = conn.execute(select(autosaves.c.data).where(autosaves.c.user_id == uid,
                                                           autosaves.c.course_id == course_id)).first()
    return [(r.revision, json.loads(r.data)) for r in revs], (json.loads(auto.data) if auto else {})


def start_form_with_input(page: Page, base_url: str, cpr: str, course_id: int) -> None:
    """Anne logs in, opens the course's start form and fills in (and leaves) its date and the weight."""
    log_in(page, base_url, ANNE)
    page.locator(".hk-search input").fill(f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name="Søg").click()
    page.get_by_role("button", name=re.compile(rf"^Forløb {course_id} \(")).click()
    for label, value in (("Dato for afklarende samtale", "17-02-2025"), ("Vægt", "79,5")):
        text_input(page, label).fill(value)
        text_input(page, label).press("Tab")


def test_sigterm_tells_the_open_page_keeps_its_input_and_stops_within_10_s(tmp_path: Path, browser: Browser,
                                                                           contracts: Any) -> None:
    init_data_dir(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'hjertekom.sqlite'}", key_file=tmp_path / "pseudonym.key")
    try:
        add_user(store, SYSTEM, ANNE.username, ANNE.display_name, ANNE.role, ANNE.password, [ANNE.municipality])
        cpr, course_id = new_course(SimpleNamespace(store=store, contracts=contracts), 740_933, "Grethe Genstart")
        with running_server(tmp_path, "--pool-size", "1") as server:
            context = browser.new_context(viewport=VIEWPORT, locale="da-DK")
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            page = context.new_page()
            try:
                start_form_with_input(page, server.base_url, cpr, course_id)

                page.locator(".hk-save-draft").click()    # a save on its way ...
                text_input(page, "Højde").fill("169")     # ... and input typed, not yet left
                connections = server.connection_dir()
                started = time.monotonic()
                os.kill(server.pid, signal.SIGTERM)       # the server only (systemd: KillMode=mixed)

                # While it drains: the proxy's check says so, and no new page is served here.
                status, body = http_get(f"{server.base_url}/healthz")
                assert (status, json.loads(body)["status"]) == (503, "draining")
                notice = page.locator(".hk-signed-out")
                expect(notice).to_contain_text("HjerteKom genstarter.", timeout=STOP_LIMIT_S * 1000)
                expect(notice).to_contain_text("Det, du har skrevet, er gemt automatisk.")
                expect(page.locator("#hk-reload")).to_be_focused()
                server.proc.wait(timeout=STOP_LIMIT_S + 5)
                stopped_after = time.monotonic() - started
            finally:
                context.close()
        print(f"SIGTERM to exit: {stopped_after:.1f} s")
        assert stopped_after < STOP_LIMIT_S
        assert server.proc.returncode == 0, server.proc.returncode
        revisions, autosave = stored(store, course_id)
        assert revisions == [(1, {"meeting_date": "2025-02-17", "weight_kg": 79.5})]
        assert autosave.get("height_cm") == "169"
        # Its kernels went with it.
        assert not [proc.pid for proc in psutil.process_iter(["cmdline"])
                    if str(connections) in " ".join(proc.info["cmdline"] or [])]
    finally:
        store.dispose()


def test_a_stop_right_after_a_save_began_waits_for_that_save(tmp_path: Path, browser: Browser,
                                                             contracts: Any) -> None:
    """The kernel's save has told the server that it began and waits for the store (held here);
    SIGTERM comes now. The server must stay up until that save is written, then stop."""
    init_data_dir(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'hjertekom.sqlite'}", key_file=tmp_path / "pseudonym.key")
    try:
        add_user(store, SYSTEM, ANNE.username, ANNE.display_name, ANNE.role, ANNE.password, [ANNE.municipality])
        cpr, course_id = new_course(SimpleNamespace(store=store, contracts=contracts), 740_934, "Gunnar Gemmesen")
        with running_server(tmp_path, "--pool-size", "1") as server:
            token = (tmp_path / "metrics.token").read_text(encoding="ascii").strip()

            def in_flight() -> float:
                status, body = http_get(f"{server.base_url}/metrics", {"Authorization": f"Bearer {token}"})
                found = re.search(r"^hjertekom_saves_in_flight (\S+)$", body, re.M)
                assert status == 200 and found, status
                return float(found.group(1))

            context = browser.new_context(viewport=VIEWPORT, locale="da-DK")
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            page = context.new_page()
            try:
                start_form_with_input(page, server.base_url, cpr, course_id)
                assert in_flight() == 0
                with store.write():   # every writer of this store waits: the save stops at its write
                    page.locator(".hk-save-draft").click()
                    deadline = time.monotonic() + 15
                    while in_flight() < 1:   # the kernel's report that the save began
                        assert time.monotonic() < deadline, "the save's start never reached the server"
                        time.sleep(0.05)
                    os.kill(server.pid, signal.SIGTERM)
                    stopping = time.monotonic()
                    status, body = http_get(f"{server.base_url}/healthz")
                    assert (status, json.loads(body)["status"]) == (503, "draining")
                    # Well past the pages' autosave grace: still up, because of the save alone.
                    time.sleep(2.5)
                    assert server.proc.poll() is None, "the server stopped with a save in flight"
                    assert in_flight() == 1
                server.proc.wait(timeout=STOP_LIMIT_S + 5)
                stopped_after = time.monotonic() - stopping
            finally:
                context.close()
        print(f"SIGTERM to exit, 2.5 s of it with the save held: {stopped_after:.1f} s")
        assert server.proc.returncode == 0, server.proc.returncode
        assert stopped_after < STOP_LIMIT_S
        revisions, _autosave = stored(store, course_id)
        assert revisions == [(1, {"meeting_date": "2025-02-17", "weight_kg": 79.5})]
    finally:
        store.dispose()
