"""Feedback computed once per server instead of in every form kernel.

The feedback after a save needs pandas and SciPy. Loading them into each
kernel would put every open form far above its memory budget, so the Voilà server, which is one
process, renders the feedback and the kernels fetch it over the server's private Unix socket
(internal_api.py). The kernel names its user by the identity token the server gave it; the server
then reads the course through the service layer (authorised and audited) as that user.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace
from hjertekom_widgets.internal_api import ServerUnavailable, get_json

if TYPE_CHECKING:
    from hjertekom_core.indicators.live_counts import LiveCounts
    from hjertekom_core.indicators.settings import IndicatorSettings
    from hjertekom_core.store import Store

log = logging.getLogger(__name__)

#: One LiveCounts per store and programme in this process: it remembers every course it has
#: counted, so a save recounts that one course (live_counts.py) instead of the whole municipality.
#: Keyed by the store object itself (weakly): an id() could be reused by a later store.
_COUNTS: weakref.WeakKeyDictionary[Store, dict[str, LiveCounts]] = weakref.WeakKeyDictionary()
_COUNTS_LOCK = threading.Lock()
#: The programme whose settings come from configuration without naming it (HjerteKom, K1-K6).
_DEFAULT_PROGRAMME = "hjertekom"


def _settings(workspace: Workspace, programme: str) -> IndicatorSettings | None:
    """The indicator settings of ``programme`` with its own declarations; None when it declares none."""
    from hjertekom_core.errors import ConfigError
    from hjertekom_core.indicators import settings_from_config

    if programme == _DEFAULT_PROGRAMME:
        return settings_from_config(workspace.config)
    try:
        return settings_from_config(workspace.config, programme=programme)
    except ConfigError:
        return None   # the programme declares no indicators: its courses get their results only


def _live_counts(workspace: Workspace, programme: str = _DEFAULT_PROGRAMME,
                 settings: IndicatorSettings | None = None) -> LiveCounts:
    from hjertekom_core.indicators.live_counts import LiveCounts

    with _COUNTS_LOCK:
        per_programme = _COUNTS.setdefault(workspace.store, {})
        counts = per_programme.get(programme)
        if counts is None:
            chosen = settings or _settings(workspace, programme)
            if chosen is None:
                raise ValueError(f"programme {programme!r} declares no indicators")
            counts = per_programme[programme] = LiveCounts(workspace.store, workspace.contracts, chosen)
        return counts


def warm_live_counts(workspace: Workspace, pause: float = 0.05) -> threading.Thread:
    """Count every municipality's courses once in the background (a daemon thread, started at the
    server's start), so that the first save of the day in a large municipality does not wait for
    all of its courses to be counted. A short pause between municipalities leaves the server's
    event loop its turns; an error is logged and ends only the warming."""
    def run() -> None:
        from sqlalchemy import select

        from hjertekom_core.store.schema import courses

        try:
            # What the first feedback needs even with no course to count yet (a new region, or a store
            # filled after the start): pandas, SciPy and the indicator declarations, about 2 CPU-s
            # of imports. Imported in a request's worker thread they held the GIL for seconds, and
            # the server's event loop, which relays every kernel message, stood still meanwhile.
            import hjertekom_widgets.feedback  # noqa: F401 - imported for its imports
            from hjertekom_core.indicators.live_counts import LiveCounts  # noqa: F401

            _settings(workspace, _DEFAULT_PROGRAMME)
            with workspace.store.read() as conn:
                pairs = sorted(conn.execute(select(courses.c.programme, courses.c.municipality_code).distinct()))
            # Every programme with indicators (HjerteKom's K1-K6, and any other that declares some).
            counted = {programme: _live_counts(workspace, programme, settings)
                       for programme in sorted({programme for programme, _ in pairs})
                       if programme in workspace.contracts
                       and (settings := _settings(workspace, programme)) is not None}
            for programme, place in pairs:
                if programme in counted:
                    counted[programme].indicators(place)
                    time.sleep(pause)
            log.info("live counts ready for %d programmes in %d municipalities", len(counted),
                     len({place for _, place in pairs}))
        except Exception:  # noqa: BLE001 - warming is an optimisation: the feedback counts on demand
            log.exception("warming the live counts failed; they are counted on demand")

    thread = threading.Thread(target=run, name="hjertekom-live-counts", daemon=True)
    thread.start()
    return thread


def render_feedback(workspace: Workspace, user: User, course_id: int) -> dict[str, str]:
    """The citizen's and the municipality's feedback for one course, as HTML.

    HjerteKom's course: K1-K6 for the course and the municipality's K1-K6. Another programme's:
    its declared indicators for the course and the municipality's live counts of the same
    indicators; "municipality" is empty when the programme declares no indicators."""
    from hjertekom_core.indicators import settings_from_config
    from hjertekom_core.indicators.definitions import indicators_of
    from hjertekom_core.service import Service
    from hjertekom_widgets.feedback import course_feedback_html, municipality_feedback_html
    from hjertekom_widgets.programmes import programme_name

    service = Service(workspace.store, workspace.contracts, user)
    course = service.get_course(course_id)  # authorised and audited as the kernel's user
    contract = workspace.contracts[course.programme]
    if course.programme == _DEFAULT_PROGRAMME:
        settings = settings_from_config(workspace.config)
        counts = _live_counts(workspace)
        return {"course": course_feedback_html(contract, course, settings=settings),
                "municipality": municipality_feedback_html(counts.indicators(course.municipality_code),
                                                           completion_limit_days=settings.completion_limit_days)}
    settings = _settings(workspace, course.programme)
    if settings is None or settings.declarations is None:
        return {"course": course_feedback_html(contract, course), "municipality": ""}
    counts = _live_counts(workspace, course.programme, settings)
    return {"course": course_feedback_html(contract, course, settings=settings),
            "municipality": municipality_feedback_html(
                counts.indicators(course.municipality_code), completion_limit_days=settings.completion_limit_days,
                indicators=indicators_of(settings.declarations), programme_name=programme_name(contract))}


def fetch_feedback(course_id: int, timeout: float = 15.0) -> dict[str, str] | None:
    """Kernel side: the feedback from the server, or None when no server answers (then the caller
    renders it itself)."""
    try:
        data = get_json(f"/feedback/{int(course_id)}", timeout=timeout)
        return {"course": str(data["course"]), "municipality": str(data["municipality"])}
    except (ServerUnavailable, KeyError, ValueError) as exc:
        log.warning("feedback service unavailable (%s); rendering in the kernel", type(exc).__name__)
        return None
