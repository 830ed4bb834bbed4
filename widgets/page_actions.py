"""Clicks on buttons drawn as HTML, carried to the kernel over one hidden widget per page.

Every ipywidgets control is a model of its own: a message from the kernel through the server to
the page at every login, plus its layout and style. A list of courses drawn as controls (a button
to open each row, one to sort each column, a box per row) made the worklist about a hundred
models, most of the work of a login when twenty clinicians log in at once (issue 16). Drawn as
one HTML table per list instead, its rows open courses by plain links (``#/forloeb/<id>``, the
address handles them, routes.py) and its column headings are real ``<button>`` elements with a
``data-hk-action`` attribute. The page script (``static/hjertekom-actions.js``) hears a click on
such a button and writes ``{"seq": n, "action": "...", "args": [...]}`` into this channel's text
widget; the kernel calls the handler registered for the action.

What arrives here is typed by the browser and hostile like everything else: an action nobody
registered, arguments that are not a short list of short strings, a stale or repeated sequence
number, a report too long to be ours: all are dropped without a word (a handler decides itself
whether its arguments name something it knows).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from hjertekom_widgets.shared_looks import SharedLooks

log = logging.getLogger("hjertekom.entry")

#: The longest report read at all, the most arguments and the longest argument.
MAX_REPORT_CHARS = 500
MAX_ARGS = 4
MAX_ARG_CHARS = 60
#: The attribute of a button drawn as HTML that names its action (``"sort drafts name"``: the
#: action and its arguments, separated by spaces).
ACTION_ATTRIBUTE = "data-hk-action"

Handler = Callable[[Sequence[str]], None]


def action_attribute(action: str, *args: str) -> str:
    """``data-hk-action="<action> <arg> ..."`` for a button drawn as HTML (names and arguments
    must be plain words: letters, digits, ``_``, ``-`` and ``:``)."""
    words = (action, *args)
    for word in words:
        if not word or len(word) > MAX_ARG_CHARS or not all(ch.isalnum() or ch in "_-:" for ch in word):
            raise ValueError(f"not a plain word for an action: {word!r}")
    return f'{ACTION_ATTRIBUTE}="{" ".join(words)}"'


class ActionChannel:
    """The kernel's side: ``register`` a handler per action; the hidden ``widget`` goes on the page."""

    def __init__(self, looks: SharedLooks | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        self._seen = 0
        self.widget = (looks or SharedLooks()).text("hk-action-channel", value="", continuous_update=False,
                                                    layout={"display": "none"})
        self.widget.observe(self._reported, names="value")

    def register(self, action: str, handler: Handler) -> None:
        """``handler(args)`` is called for each click on a button of ``action`` (the view that drew
        the buttons registers again when it is drawn anew: the latest handler wins)."""
        self._handlers[action] = handler

    def _reported(self, change: dict[str, Any]) -> None:
        parsed = parse_report(change["new"])
        if parsed is None:
            return
        seq, action, args = parsed
        if seq <= self._seen:
            return
        self._seen = seq
        handler = self._handlers.get(action)
        if handler is None:
            log.debug("page action %r: no such action", action[:MAX_ARG_CHARS])
            return
        handler(args)


def parse_report(raw: object) -> tuple[int, str, tuple[str, ...]] | None:
    """(sequence number, action, arguments) of what the page script wrote, or None when it is not
    a report of the expected shape and size."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_REPORT_CHARS:
        return None
    try:
        report = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(report, dict):
        return None
    seq, action, args = report.get("seq"), report.get("action"), report.get("args", [])
    if (not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not isinstance(action, str)
            or not action or len(action) > MAX_ARG_CHARS or not isinstance(args, list) or len(args) > MAX_ARGS
            or not all(isinstance(a, str) and len(a) <= MAX_ARG_CHARS for a in args)):
        return None
    return seq, action, tuple(args)
