"""The server's cheaper watch on kernel activity records exactly what jupyter_server's own does."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from jupyter_client.session import Session
from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

from hjertekom_widgets import activity_watch

KEY = b"a-kernels-connection-key"


class FakeStream:
    def __init__(self) -> None:
        self.callback: Any = None

    def on_recv(self, callback: Any) -> None:
        self.callback = callback


class FakeKernel:
    """What the watch uses of a kernel: its session (for the key), its IOPub stream and its marks."""

    def __init__(self) -> None:
        self.session = Session(key=KEY)
        self.execution_state = "starting"
        self.last_activity: dt.datetime | None = None
        self.stream = FakeStream()

    def connect_iopub(self) -> FakeStream:
        return self.stream


def _watched(watch: Any) -> tuple[MappingKernelManager, FakeKernel]:
    manager = MappingKernelManager()
    kernel = FakeKernel()
    manager._kernels["k"] = kernel
    watch(manager, "k")
    return manager, kernel


def _frames(msg_type: str, content: dict[str, Any], parent_type: str | None, key: bytes = KEY) -> list[bytes]:
    session = Session(key=key)
    parent = session.msg_header(parent_type) if parent_type else {}
    msg = session.msg(msg_type, content, parent=parent)
    return session.serialize(msg)


SEQUENCE = [
    ("status", {"execution_state": "starting"}, None),
    ("status", {"execution_state": "idle"}, None),
    ("status", {"execution_state": "busy"}, "kernel_info_request"),   # untracked parent: state stays idle
    ("status", {"execution_state": "busy"}, "execute_request"),
    ("comm_open", {"comm_id": "c", "target_name": "jupyter.widget", "data": {}}, "execute_request"),
    ("stream", {"name": "stdout", "text": "x"}, "execute_request"),
    ("status", {"execution_state": "idle"}, "execute_request"),
    ("status", {"execution_state": "busy"}, "comm_info_request"),
]


def test_the_same_states_and_activity_as_jupyter_servers_own_watch() -> None:
    ours, our_kernel = _watched(activity_watch.start_watching_activity)
    theirs, their_kernel = _watched(MappingKernelManager.start_watching_activity)
    for msg_type, content, parent in SEQUENCE:
        frames = _frames(msg_type, content, parent)
        our_kernel.last_activity = their_kernel.last_activity = None
        our_kernel.stream.callback(list(frames))
        their_kernel.stream.callback(list(frames))
        assert our_kernel.execution_state == their_kernel.execution_state, (msg_type, parent)
        assert (our_kernel.last_activity is None) == (their_kernel.last_activity is None), (msg_type, parent)
        if our_kernel.last_activity is not None:
            assert abs(our_kernel.last_activity - their_kernel.last_activity) < dt.timedelta(seconds=5)
    assert our_kernel.execution_state == "idle"


def test_a_message_with_a_wrong_signature_is_not_counted(caplog: pytest.LogCaptureFixture) -> None:
    ours, kernel = _watched(activity_watch.start_watching_activity)
    kernel.stream.callback(_frames("status", {"execution_state": "idle"}, None))
    kernel.last_activity = None
    kernel.stream.callback(_frames("status", {"execution_state": "busy"}, "execute_request", key=b"another-key"))
    assert kernel.execution_state == "idle" and kernel.last_activity is None
    assert "wrong signature" in caplog.text


def test_installed_the_manager_watches_its_kernels_this_way() -> None:
    manager = MappingKernelManager()
    activity_watch.install(manager)
    assert manager.start_watching_activity.__func__ is activity_watch.start_watching_activity
    kernel = FakeKernel()
    manager._kernels["k"] = kernel
    manager.start_watching_activity("k")
    kernel.stream.callback(_frames("status", {"execution_state": "idle"}, None))
    assert kernel.execution_state == "idle" and kernel.last_activity is not None
