"""Kernels forked by the zygote (widgets/kernel_zygote.py) behave as kernels started the normal way.

Each test drives real kernels through jupyter_client's AsyncKernelManager with the provisioner the
server configures (``hjertekom-zygote``), over ipc sockets in a private folder, as the server does.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.manager import AsyncKernelManager
from traitlets.config import Config

from hjertekom_widgets import kernel_zygote
from hjertekom_widgets.kernel_zygote import ZYGOTE_SOCKET_NAME, Zygote

IDENTITY = "HTTP_X_HJERTEKOM_IDENTITY"


def run(coro: Any) -> Any:
    """``asyncio.run`` in a thread of its own: an earlier test of the session may have left an event
    loop running in this thread, and ``asyncio.run`` refuses to start inside one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def folder() -> Iterator[Path]:
    # ipc socket paths must stay short (108 bytes); tmp_path under --basetemp may be long.
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="hkz_"))
    short.chmod(0o700)
    yield short
    import shutil

    shutil.rmtree(short, ignore_errors=True)


@pytest.fixture
def zygote(folder: Path) -> Iterator[Zygote]:
    assert kernel_zygote.use_provisioner(), "the provisioner's entry point is not installed"
    z = Zygote(folder / ZYGOTE_SOCKET_NAME)
    z.start()
    kernel_zygote.ZYGOTE = z
    try:
        assert run(z.ready(60)), "the zygote did not come up"
        yield z
    finally:
        kernel_zygote.ZYGOTE = None
        kernel_zygote.use_provisioner("local-provisioner")
        z.stop()


def _manager(folder: Path) -> AsyncKernelManager:
    c = Config()
    c.KernelManager.transport = "ipc"
    return AsyncKernelManager(kernel_name="python3", config=c,
                              connection_file=str(folder / f"kernel-{os.urandom(4).hex()}.json"))


async def _run(km: AsyncKernelManager, code: str, timeout: float = 30) -> tuple[str, dict[str, Any]]:
    """Run code in the kernel; (its stdout, the reply's content)."""
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        reply = await kc.execute_interactive(code, timeout=timeout, output_hook=(out := _Out()))
        return out.text, reply["content"]
    finally:
        kc.stop_channels()


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def __call__(self, msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            self.text += msg["content"]["text"]


def _gone(pid: int, timeout: float = 10) -> bool:
    """The process has exited and been reaped (no zombie left)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                time.sleep(0.1)
                continue
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_a_forked_kernel_runs_code_with_its_own_environment_and_title(zygote: Zygote, folder: Path) -> None:
    async def main() -> tuple[str, int, list[str]]:
        km = _manager(folder)
        await km.start_kernel(env={**os.environ, IDENTITY: "token-for-anne", "VOILA_KERNEL_ID": "k1"},
                              cwd=str(folder))
        try:
            pid = km.provisioner.pid
            text, reply = await _run(km, f"import os; print(os.environ['{IDENTITY}'], os.getcwd(), os.getppid())")
            assert reply["status"] == "ok"
            return text, pid, psutil.Process(pid).cmdline()
        finally:
            await km.shutdown_kernel(now=False)

    text, pid, cmdline = run(main())
    identity, cwd, parent = text.split()
    assert identity == "token-for-anne"
    assert Path(cwd) == folder
    assert int(parent) == zygote.process.pid  # forked by the zygote, not started by us
    assert any(arg.endswith(".json") and "kernel-" in arg for arg in cmdline)  # found like a normal kernel
    assert any("ipykernel" in arg for arg in cmdline)
    assert _gone(pid)


def test_a_forked_kernel_has_the_widget_comm_targets_a_page_opens(zygote: Zygote, folder: Path) -> None:
    """ipywidgets registers them at import in a kernel; the zygote imported it before any kernel."""
    async def main() -> str:
        km = _manager(folder)
        await km.start_kernel(env=dict(os.environ), cwd=str(folder))
        try:
            text, _ = await _run(km, "import comm, ipywidgets\n"
                                     "print(sorted(t for t in comm.get_comm_manager().targets if 'widget' in t))")
            return text
        finally:
            await km.shutdown_kernel(now=True)

    assert run(main()).strip() == "['jupyter.widget', 'jupyter.widget.control']"


def test_a_forked_kernel_has_no_debugger_and_keeps_no_history(zygote: Zygote, folder: Path) -> None:
    """A clinician's kernel offers no debugger (the browser may not send debug requests, and a
    debugger would only be attack surface) and writes no cell history to a shared file."""
    async def main() -> tuple[dict[str, Any], str]:
        km = _manager(folder)
        await km.start_kernel(env=dict(os.environ), cwd=str(folder))
        try:
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=60)
                kc.kernel_info()
                info = await kc.get_shell_msg(timeout=30)
            finally:
                kc.stop_channels()
            text, _ = await _run(km, "import sys; h = get_ipython().history_manager\n"
                                     "print(h.enabled, 'debugpy' in sys.modules and sys.modules['debugpy'] is not None)")
            return info["content"], text
        finally:
            await km.shutdown_kernel(now=True)

    info, text = run(main())
    assert info["status"] == "ok"
    assert "debugger" not in info.get("supported_features", [])
    assert not info.get("debugger", False)
    assert text.split() == ["False", "False"]


def test_two_kernels_do_not_share_their_environment_or_state(zygote: Zygote, folder: Path) -> None:
    async def main() -> list[str]:
        kms = [_manager(folder) for _ in range(2)]
        await asyncio.gather(*(km.start_kernel(env={**os.environ, IDENTITY: f"token-{i}"}, cwd=str(folder))
                               for i, km in enumerate(kms)))
        try:
            outs = []
            for km in kms:
                text, _ = await _run(km, f"import os, random; print(os.environ['{IDENTITY}'], random.random())")
                outs.append(text.strip())
            return outs
        finally:
            await asyncio.gather(*(km.shutdown_kernel(now=True) for km in kms))

    first, second = (line.split() for line in run(main()))
    assert (first[0], second[0]) == ("token-0", "token-1")
    assert first[1] != second[1]  # each kernel has its own random sequence, not the zygote's


def test_a_forked_kernel_has_the_signal_dispositions_of_a_fresh_python(zygote: Zygote, folder: Path) -> None:
    """A write to a closed socket must raise BrokenPipeError, not kill the kernel (SIGPIPE ignored,
    as Python sets it at start); SIGCHLD is the default again (the zygote ignores it)."""
    async def main() -> tuple[str, bool]:
        km = _manager(folder)
        await km.start_kernel(env=dict(os.environ), cwd=str(folder))
        try:
            text, _ = await _run(km, "import signal, socket\n"
                                     "a, b = socket.socketpair(); b.close()\n"
                                     "try:\n    a.send(b'x' * 100000); a.send(b'x')\n"
                                     "except BrokenPipeError:\n    print('broken-pipe')\n"
                                     "print(signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN,"
                                     " signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL)")
            return text, await km.is_alive()
        finally:
            await km.shutdown_kernel(now=True)

    text, alive = run(main())
    assert alive
    assert text.split() == ["broken-pipe", "True", "True"]


def test_a_forked_kernel_is_interrupted_then_shut_down_and_reaped(zygote: Zygote, folder: Path) -> None:
    async def main() -> tuple[str, int, bool]:
        km = _manager(folder)
        await km.start_kernel(env=dict(os.environ), cwd=str(folder))
        pid = km.provisioner.pid
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            msg_id = kc.execute("import time; time.sleep(120)")
            await asyncio.sleep(1.0)
            started = time.monotonic()
            await km.interrupt_kernel()
            while True:
                reply = await kc.get_shell_msg(timeout=20)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            assert time.monotonic() - started < 10
            ename = reply["content"].get("ename", "")
            alive_after_interrupt = await km.is_alive()
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=False)
        return ename, pid, alive_after_interrupt

    ename, pid, alive = run(main())
    assert ename == "KeyboardInterrupt"
    assert alive
    assert _gone(pid)


def test_a_kernel_that_ignores_sigterm_is_killed_and_reaped(zygote: Zygote, folder: Path) -> None:
    async def main() -> int:
        km = _manager(folder)
        km.shutdown_wait_time = 1.0
        await km.start_kernel(env=dict(os.environ), cwd=str(folder))
        pid = km.provisioner.pid
        await _run(km, "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)")
        os.kill(pid, signal.SIGSTOP)  # it cannot answer a shutdown request either: SIGTERM, then SIGKILL
        await km.shutdown_kernel(now=False)
        return pid

    assert _gone(run(main()))


def test_a_kernel_that_dies_is_seen_dead(zygote: Zygote, folder: Path) -> None:
    async def main() -> tuple[bool, bool, int]:
        km = _manager(folder)
        await km.start_kernel(env=dict(os.environ), cwd=str(folder))
        pid = km.provisioner.pid
        before = await km.is_alive()
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not await km.is_alive():
                break
            await asyncio.sleep(0.1)
        after = await km.is_alive()
        await km.shutdown_kernel(now=True)
        return before, after, pid

    before, after, pid = run(main())
    assert before and not after
    assert _gone(pid)


def test_without_the_zygote_a_kernel_starts_the_normal_way_with_a_warning(
        zygote: Zygote, folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    zygote.process.kill()
    zygote.process.wait()

    async def main() -> tuple[str, int]:
        km = _manager(folder)
        await km.start_kernel(env={**os.environ, IDENTITY: "token-after"}, cwd=str(folder))
        try:
            text, _ = await _run(km, f"import os; print(os.environ['{IDENTITY}'], os.getppid())")
            return text, km.provisioner.pid
        finally:
            await km.shutdown_kernel(now=False)

    with caplog.at_level(logging.WARNING, logger="hjertekom_widgets.kernel_zygote"):
        text, pid = run(main())
    identity, parent = text.split()
    assert identity == "token-after"
    assert int(parent) == os.getpid()  # started by us, as before the zygote
    assert any("zygote is gone" in r.getMessage() for r in caplog.records)
    assert _gone(pid)


def test_the_zygote_and_its_kernels_leave_when_their_server_is_gone(folder: Path) -> None:
    import subprocess
    import sys

    # A stand-in server: a Python process that starts a zygote, has it fork a kernel, and is killed.
    code = ("import asyncio, os, sys, time; from hjertekom_widgets.kernel_zygote import Zygote; "
            f"z = Zygote({str(folder / ZYGOTE_SOCKET_NAME)!r}); z.start(); asyncio.run(z.ready(60)); "
            f"pid = asyncio.run(z.fork([sys.executable, '-m', 'ipykernel_launcher', '-f', "
            f"{str(folder / 'kernel-orphan.json')!r}], dict(os.environ), {str(folder)!r})); "
            "print(z.process.pid, pid, flush=True); time.sleep(600)")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        zygote_pid, kernel_pid = (int(x) for x in server.stdout.readline().split())
        assert psutil.Process(kernel_pid).ppid() == zygote_pid
        server.kill()
        server.wait()
        assert not _alive_zygote(zygote_pid)
        assert _gone(kernel_pid, timeout=30)  # no kernel left behind to serve nobody
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


def _alive_zygote(pid: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.2)
    return True
