"""The page template's static files are found on disk once per server, at the same place as Voilà finds them."""
from __future__ import annotations

import os

from voila.static_file_handler import TemplateStaticFileHandler
from voila.utils import make_url

from hjertekom_widgets import static_path_cache
from hjertekom_widgets.server import SHARE


def test_each_file_is_looked_up_once_and_found_where_voila_finds_it(monkeypatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(SHARE))
    original = TemplateStaticFileHandler.get_absolute_path
    calls: list[str] = []

    def counting(root: str, path: str) -> str:
        calls.append(path)
        return original(root, path)

    find = static_path_cache.cached(counting)
    path = "hjertekom/static/hjertekom-actions.js"
    expected = original("/fake-root/", path)
    assert os.path.isfile(expected) and expected.startswith(str(SHARE))
    assert find("/fake-root/", path) == expected and find("/fake-root/", path) == expected
    assert calls == [path]
    assert find("/fake-root/", "hjertekom/static/hjertekom.css").endswith("hjertekom.css") and len(calls) == 2


def test_installed_the_page_links_are_versioned_as_before_and_looked_up_once(monkeypatch) -> None:
    import voila.static_file_handler as handler_module

    monkeypatch.setenv("JUPYTER_PATH", str(SHARE))
    before = make_url("hjertekom", "/", "static/hjertekom.css")
    monkeypatch.setattr(TemplateStaticFileHandler, "get_absolute_path", TemplateStaticFileHandler.get_absolute_path)
    monkeypatch.setattr(static_path_cache, "_installed", False)
    static_path_cache.install()
    walks: list[object] = []
    collect = handler_module.collect_static_paths
    monkeypatch.setattr(handler_module, "collect_static_paths", lambda *a, **k: walks.append(a) or collect(*a, **k))
    assert make_url("hjertekom", "/", "static/hjertekom.css") == before and "?v=" in before
    assert make_url("hjertekom", "/", "static/hjertekom.css") == before
    assert len(walks) == 1   # the data folders walked for the first page only
