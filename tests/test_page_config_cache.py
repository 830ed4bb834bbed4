"""Voilà's page configuration is read from disk once per server, and every page gets its own copy."""
from __future__ import annotations

import logging

import voila.utils
from voila.configuration import VoilaConfiguration

from hjertekom_widgets.page_config_cache import cached


def test_the_extensions_are_read_once_and_each_page_may_change_its_copy() -> None:
    calls = []

    def counting(**kwargs):  # Voilà's own function, counted
        calls.append(kwargs["base_url"])
        return voila.utils.get_page_config(**kwargs)

    get = cached(counting)
    configuration = VoilaConfiguration()
    args = {"settings": {}, "log": logging.getLogger("test"), "voila_configuration": configuration}
    first = get(base_url="/", **args)
    fresh = voila.utils.get_page_config(base_url="/", **args)
    assert first == fresh and "federated_extensions" in first
    first["federated_extensions"].clear()           # a page changes its own copy
    second = get(base_url="/", **args)
    assert second == fresh and calls == ["/"]
    # Another base URL, or another Voilà configuration, is read for itself.
    get(base_url="/hjertekom/", **args)
    get(base_url="/", settings={}, log=args["log"], voila_configuration=VoilaConfiguration())
    assert calls == ["/", "/hjertekom/", "/"]
