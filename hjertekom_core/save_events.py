"""Who wants to know that a service save starts and ends: a typed observer hook of ``Service.save``.

The entry app's kernels register one (hjertekom_widgets.internal_api) that tells their server, for
``/metrics`` and for the drain on SIGTERM; the core knows nothing of that. An observer is told
``begin()`` before the save touches the store and ``end(token, outcome, seconds)`` after it, with
the token its ``begin`` returned. Outcomes: ``saved``; ``refused`` (a HjerteKomError answered to
the user: validation, conflict, confirmation, rights); ``failed`` (anything else).

An observer's own failure never fails a save: it is logged and the save goes on. Observers run in
the saving thread, so they must be quick (the kernel's ``begin`` waits at most half a second).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol

from hjertekom_core.errors import HjerteKomError

log = logging.getLogger(__name__)

SaveOutcome = Literal["saved", "refused", "failed"]


class SaveObserver(Protocol):
    def begin(self) -> Any:
        """A save starts (nothing is read or written yet); returns a token for ``end``."""

    def end(self, token: Any, outcome: SaveOutcome, seconds: float) -> None:
        """The save of ``token`` ended with ``outcome`` after ``seconds`` of its own work."""


_lock = threading.Lock()
# A tuple, replaced whole: a save reads it once without taking the lock.
_observers: tuple[SaveObserver, ...] = ()


def add_save_observer(observer: SaveObserver) -> None:
    """Tell ``observer`` of every service save in this process from now on (once, however often added)."""
    global _observers
    with _lock:
        if observer not in _observers:
            _observers = (*_observers, observer)


def remove_save_observer(observer: SaveObserver) -> None:
    global _observers
    with _lock:
        _observers = tuple(obs for obs in _observers if obs is not observer)


def save_observers() -> tuple[SaveObserver, ...]:
    return _observers


@contextmanager
def observed_save() -> Iterator[None]:
    """Around the work of one save (``Service.save``): tells every observer its begin and end."""
    observers = _observers
    if not observers:
        yield
        return
    begun: list[tuple[SaveObserver, Any]] = []
    for observer in observers:
        try:
            begun.append((observer, observer.begin()))
        except Exception:  # noqa: BLE001 - an observer must never fail a save
            log.warning("save observer %s failed at begin; the save goes on", type(observer).__name__, exc_info=True)
    started = time.perf_counter()
    outcome: SaveOutcome = "failed"
    try:
        yield
        outcome = "saved"
    except HjerteKomError:
        outcome = "refused"
        raise
    finally:
        seconds = time.perf_counter() - started
        for observer, token in begun:
            try:
                observer.end(token, outcome, seconds)
            except Exception:  # noqa: BLE001 - nor hide the save's own result or error
                log.warning("save observer %s failed at end", type(observer).__name__, exc_info=True)
