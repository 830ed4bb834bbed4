"""The page a clinician sees while the kernel prepares the app: Danish, and still.

Voilà's own loading page spins (CSS animations), and chromium redraws a spinning page at the
screen's frame rate: about 0.1 of a CPU core per waiting page. With 20 clinicians logging in at
once on the entry benchmark's two cores, the waiting pages alone took the machine, and the longer
they waited the more they burned (benchmarks/README.md). The app replaces it with a still message
(widgets/share/voila/templates/hjertekom/spinner.macro.html.j2).
"""
from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect

from browser_accounts import ANNE, FIRST_APP_ELEMENT_MS

_RUNNING_ANIMATIONS = ("() => document.getAnimations()"
                       ".filter(a => a.playState === 'running')"
                       ".map(a => (a.animationName || 'animation') + ' on ' +"
                       " (a.effect && a.effect.target ? a.effect.target.id || a.effect.target.className : '?'))")


def test_the_loading_page_is_danish_and_nothing_moves_until_the_worklist(
        page: Page, hjertekom_server: Any) -> None:
    page.goto(f"{hjertekom_server.base_url}/login")
    page.locator("#username").fill(ANNE.username)
    page.locator("#password").fill(ANNE.password)
    page.locator("#login").click(no_wait_after=True)

    texts: set[str] = set()
    moving: set[str] = set()
    deadline = time.monotonic() + FIRST_APP_ELEMENT_MS / 1000
    while time.monotonic() < deadline:
        try:
            state = page.evaluate("() => { const e = document.getElementById('loading_text');"
                                  " return [e ? e.textContent : null, !!document.querySelector('.hk-search input')]; }")
            moving.update(page.evaluate(_RUNNING_ANIMATIONS))
        except Exception:  # noqa: BLE001 - the page is between documents (the login's redirect)
            time.sleep(0.02)
            continue
        if state[0]:
            texts.add(state[0])
        if state[1]:
            break
        time.sleep(0.02)

    expect(page.locator(".hk-search input")).to_be_visible()
    assert not moving, f"animations ran while the app loaded: {sorted(moving)}"
    assert not page.evaluate(_RUNNING_ANIMATIONS)
    # What the loading page said, whenever the sampling caught it: Danish only (Voilà's own says
    # "Running entry.ipynb..." and "Executing 2 of 3").
    assert all(text.startswith("Indlæser HjerteKom") for text in texts), texts


def test_the_served_page_carries_the_still_danish_loading_message(hjertekom_server: Any) -> None:
    from live_server import WebClient

    client = WebClient(hjertekom_server.base_url)
    client.login(ANNE.username, ANNE.password)
    html = client.get("/").text
    assert "Indlæser HjerteKom" in html
    assert "@keyframes" not in html and "Running " not in html
    assert "window.voila_process = window.hkLoadingText" in html
