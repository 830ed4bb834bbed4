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
from typing import TYPE_CHECKING

from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace
from hjertekom_widgets.internal_api import ServerUnavailable, get_json

if TYPE_CHECKING:
    from hjertekom_core.indicators.live_counts import LiveCounts

log = logging.getLogger(__name__)

#: One LiveCounts per store in this process: it remembers every course it has counted, so a save
#: recounts that one course (live_counts.py) instead of the whole municipality.
_COUNTS: dict[int, LiveCounts] = {}
_COUNTS_LOCK = threading.Lock()


def _live_counts(workspace: Workspace) -> LiveCounts:
    from hjertekom_core.indicators import settings_from_config
    from hjertekom_core.indicators.live_counts import LiveCounts

    with _COUNTS_LOCK:
        counts = _COUNTS.get(id(workspace.store))
        if counts is None:
            counts = _COUNTS[id(workspace.store)] = LiveCounts(workspace.store, workspace.contracts,
                                                             settings_from_config(workspace.config))
        return counts


def render_feedback(workspace: Workspace, user: User, course_id: int) -> dict[str, str]:
    """The citizen's and the municipality's feedback for one course, as HTML."""
    from hjertekom_core.indicators import settings_from_config
    from hjertekom_core.service import Service
    from hjertekom_widgets.feedback import course_feedback_html, municipality_feedback_html

    service = Service(workspace.store, workspace.contracts, user)
    course = service.get_course(course_id)  # authorised and audited as the kernel's user
    contract = workspace.contracts[course.programme]
    settings = settings_from_config(workspace.config)
    counts = _live_counts(workspace)
    return {"course": course_feedback_html(contract, course, settings=settings),
            "municipality": municipality_feedback_html(counts.indicators(course.municipality_code),
                                                       completion_limit_days=settings.completion_limit_days)}


def fetch_feedback(course_id: int, timeout: float = 15.0) -> dict[str, str] | None:
    """Kernel side: the feedback from the server, or None when no server answers (then the caller
    renders it itself)."""
    try:
        data = get_json(f"/feedback/{int(course_id)}", timeout=timeout)
        return {"course": str(data["course"]), "municipality": str(data["municipality"])}
    except (ServerUnavailable, KeyError, ValueError) as exc:
        log.warning("feedback service unavailable (%s); rendering in the kernel", type(exc).__name__)
        return None
