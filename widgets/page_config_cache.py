"""Voilà's page configuration read once per server instead of once per page.

For every page it serves, and for every kernel it preheats, Voilà builds the page configuration
afresh: it lists the JupyterLab extension folders on disk and parses each extension's
package.json. In a wave of 20 logins that was a tenth of the server's main-thread time (py-spy,
2026-12-07; benchmarks/README.md), spent on the event loop that relays every page's kernel
messages. The extensions do not change while the server runs (installing one means a restart,
as for any server extension), so the configuration is computed once per base URL and Voilà
configuration, and every page gets its own deep copy to change as it likes.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

_installed = False
_lock = threading.Lock()
#: (base URL, id of the Voilà configuration) -> (that configuration, the page configuration). The
#: configuration object is kept with its entry: an id is only unique while its object lives.
_cache: dict[tuple[str, int], tuple[Any, dict[str, Any]]] = {}


def cached(compute: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``compute`` (voila.utils.get_page_config) remembered by base URL and Voilà configuration."""

    def get_page_config(base_url: str, settings: dict[str, Any], log: Any, voila_configuration: Any) -> dict[str, Any]:
        key = (base_url, id(voila_configuration))
        with _lock:
            entry = _cache.get(key)
        if entry is None or entry[0] is not voila_configuration:
            found = compute(base_url=base_url, settings=settings, log=log, voila_configuration=voila_configuration)
            entry = (voila_configuration, found)
            with _lock:
                _cache[key] = entry
        return copy.deepcopy(entry[1])

    return get_page_config


def install() -> None:
    """Let Voilà's page handler and its kernel pool read the cached configuration (once per process)."""
    global _installed
    if _installed:
        return
    import voila.handler
    import voila.utils
    import voila.voila_kernel_manager

    shared = cached(voila.utils.get_page_config)
    voila.handler.get_page_config = shared  # type: ignore[attr-defined]
    voila.voila_kernel_manager.get_page_config = shared  # type: ignore[attr-defined]
    _installed = True
