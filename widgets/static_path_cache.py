"""Where a template's static file lies, found once per server instead of at every page.

Each ``include_css``/``include_js`` of the page template (eight per page) makes a versioned URL, and
Voilà finds the file behind it by walking every Jupyter data folder and asking the disk whether
the file is there (``TemplateStaticFileHandler.get_absolute_path``); each request for the file does
the same again. At a login that was a tenth of the server's main-thread time (py-spy of sequential
logins, 2026-12-07), on the event loop that relays every page's kernel messages. The template
folders do not move while the server runs (tornado already keeps each file's version hash for the
server's life), so the answer is kept by (root, path).
"""
from __future__ import annotations

import threading
from collections.abc import Callable

_installed = False


def cached(find: Callable[[str, str], str]) -> Callable[[str, str], str]:
    """``find`` (the handler's get_absolute_path) remembered by its arguments."""
    lock = threading.Lock()
    known: dict[tuple[str, str], str] = {}

    def get_absolute_path(root: str, path: str) -> str:
        key = (root, path)
        found = known.get(key)
        if found is None:
            found = find(root, path)
            with lock:
                known[key] = found
        return found

    return get_absolute_path


def install() -> None:
    """Let Voilà's template static file handler remember where its files are (once per process)."""
    global _installed
    if _installed:
        return
    from voila.static_file_handler import TemplateStaticFileHandler

    # tornado calls it on the class (the URL's version) and on the handler (serving the file), with
    # (root, path) either way: a static method of the cached, already bound original does for both.
    find = cached(TemplateStaticFileHandler.get_absolute_path)
    TemplateStaticFileHandler.get_absolute_path = staticmethod(find)  # type: ignore[assignment,method-assign]
    _installed = True
