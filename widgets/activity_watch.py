"""The server's watch on each kernel's activity, reading only what it records.

jupyter_server listens to every kernel's IOPub messages to know when a kernel was last active (for
the idle culler) and whether it is busy. For each message it deserialises the header and the
parent header, parsing every date in them with dateutil, and for a status message everything
again with the content: about a sixth of the server's main thread at a login (py-spy of
sequential logins, 2026-12-07; every widget of the page is such a message), on the event loop that
relays every page's kernel messages. What it records needs two message types and a status: this
watch reads the header and parent header as plain JSON (no dates) and the content of status
messages only, after the same signature check, and records exactly what jupyter_server records.
"""
from __future__ import annotations

import hmac
import json
import logging
import types
from typing import Any

from jupyter_client.session import Session
from jupyter_server._tz import utcnow

log = logging.getLogger("hjertekom.server")


def _record(manager: Any, kernel_id: str, kernel: Any, session: Session, msg_list: list[bytes]) -> None:
    """One IOPub message of ``kernel``: jupyter_server's record_activity, without parsing dates."""
    _idents, parts = session.feed_identities(msg_list)
    if len(parts) < 5:
        return
    if session.auth is not None and not hmac.compare_digest(parts[0], session.sign(parts[1:5])):
        log.warning("kernel %s: an IOPub message with a wrong signature was not counted as activity", kernel_id)
        return
    header = json.loads(parts[1])
    parent = json.loads(parts[2])
    msg_type = header.get("msg_type")
    parent_type = parent.get("msg_type") if isinstance(parent, dict) else None
    if (manager.track_message_type(msg_type) or manager.track_message_type(parent_type)
            or kernel.execution_state == "busy"):
        manager.last_kernel_activity = kernel.last_activity = utcnow()
    if msg_type == "status":
        state = json.loads(parts[4]).get("execution_state")
        if manager.track_message_type(parent_type):
            kernel.execution_state = state
        elif kernel.execution_state == "starting" and state != "starting":
            kernel.execution_state = "idle"   # as jupyter_server: after starting, idle unless tracked


def start_watching_activity(manager: Any, kernel_id: str) -> None:
    """The kernel manager's ``start_watching_activity``, with the cheaper record (see the module)."""
    kernel = manager._kernels[kernel_id]
    kernel.reason = ""
    kernel.last_activity = utcnow()
    kernel._activity_stream = kernel.connect_iopub()
    session = Session(config=kernel.session.config, key=kernel.session.key)
    kernel._activity_stream.on_recv(lambda msg_list: _record(manager, kernel_id, kernel, session, msg_list))


def install(manager: Any) -> None:
    """Let ``manager`` (the server's kernel manager) watch its kernels this way."""
    manager.start_watching_activity = types.MethodType(start_watching_activity, manager)
