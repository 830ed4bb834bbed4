"""Feedback computed once per server instead of in every form kernel.

The feedback after a save needs pandas, SciPy and DuckDB (about 150 MB). Loading them into each
kernel would put every open form far above its memory budget, so the Voilà server, which is one
process, renders the feedback and the kernels fetch it over the server's private Unix socket
(internal_api.py). The kernel names its user by the identity token the server gave it; the server
then reads the course through the service layer (authorised and audited) as that user.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace
from hjertekom_widgets.internal_api import ServerUnavailable, get_json

log = logging.getLogger(__name__)

#: The municipality's half of the feedback, worked out beside the course's own half.
_HALVES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="feedback")


def render_feedback(workspace: Workspace, user: User, course_id: int) -> dict[str, str]:
    """The citizen's and the municipality's feedback for one course, as HTML."""
    from hjertekom_core.indicators import settings_from_config
    from hjertekom_core.indicators.live import live_indicators
    from hjertekom_core.service import Service
    from hjertekom_widgets.feedback import course_feedback_html, municipality_feedback_html

    service = Service(workspace.store, workspace.contracts, user)
    course = service.get_course(course_id)
    contract = workspace.contracts[course.programme]
    settings = settings_from_config(workspace.config)
    # The two halves each lay out tables in DuckDB (which works outside the GIL): side by side, the
    # clinician waits for the slower one instead of both.
    municipal = _HALVES.submit(live_indicators, workspace.store, workspace.contracts, settings,
                               [course.municipality_code])
    own = course_feedback_html(contract, course, settings=settings)
    return {"course": own,
            "municipality": municipality_feedback_html(municipal.result(),
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
