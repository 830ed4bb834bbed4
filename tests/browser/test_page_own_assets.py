"""The entry app's page loads nothing from a third party and says it is Danish.

Voilà's lab template takes Font Awesome's stylesheets from a CDN (jsdelivr): every clinician's
browser would tell that third party when and from where HjerteKom is used, and on a network without
the internet the buttons lost their icons. The app's template serves the icons itself
(widgets/share/voila/templates/hjertekom/static/fontawesome) and marks the page ``lang="da"`` for
screen readers.
"""
from __future__ import annotations

import urllib.parse
from typing import Any

from playwright.sync_api import Page, Request

from browser_accounts import ANNE, log_in

_LOAD_ICON_FONT = """async () => {
    const icon = document.createElement('i');
    icon.className = 'fa fa-check';
    document.body.appendChild(icon);
    const faces = await document.fonts.load('900 16px "Font Awesome 6 Free"');
    const family = getComputedStyle(icon, '::before').fontFamily;
    icon.remove();
    return [faces.length, family];
}"""


def test_the_page_asks_only_its_own_server_and_its_icons_load_from_there(page: Page, hjertekom_server: Any) -> None:
    own = urllib.parse.urlsplit(hjertekom_server.base_url).netloc
    elsewhere: list[str] = []

    def note(request: Request) -> None:
        parts = urllib.parse.urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != own:
            elsewhere.append(request.url)

    page.on("request", note)
    log_in(page, hjertekom_server.base_url, ANNE)
    faces, family = page.evaluate(_LOAD_ICON_FONT)

    assert not elsewhere, f"the page asked other servers: {elsewhere}"
    assert faces >= 1, "the icon font did not load from the app's server"
    assert "Font Awesome" in family
    assert page.evaluate("() => document.documentElement.lang") == "da"
