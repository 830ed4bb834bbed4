"""Kernels forked from a warm "zygote" process instead of started cold (issue 16: many logins at once).

A cold kernel start costs about 2.5 s of CPU: Python, ipykernel, ipywidgets and the app's imports,
before the notebook's first cell. With 20 logins at once on 2 cores that CPU is the wait. The
server starts one zygote (``python -m hjertekom_widgets.kernel_zygote SOCKET``) that imports all of
that once and then only waits on a Unix socket in Voilà's private (0700) folder. For each kernel
the server's provisioner (``ZygoteProvisioner``, entry point ``hjertekom-zygote``) sends the kernel's
command, environment and working folder, with its own stdout/stderr as file descriptors; the
zygote forks and the child becomes the kernel (``IPKernelApp`` with the connection file), with the
environment it was given, in a session (process group) of its own, titled like a normal kernel
(``python -m ipykernel_launcher -f .../kernel-<id>.json``) so that monitoring and the benchmark find it.

Rules that keep a fork safe: before forking the zygote has no zmq context, no event loop, no
thread and no open store connection (checked at start: it refuses to serve otherwise); it grows
no memory of its own after start (it only reads small requests), and ``gc.freeze`` keeps the
preloaded objects out of the children's garbage collection so their pages stay shared.

Children are reaped: the zygote ignores SIGCHLD (the kernel resets it), so the system reaps a
kernel as it exits; the server watches a kernel through a pidfd (``os.pidfd_open``), which also
works for a process that is not its child, and signals it through that pidfd or its process
group. If the zygote is gone (or never came up) the provisioner logs a warning and starts the
kernel the normal way (``LocalProvisioner``). The zygote exits when the server does, and ends
its kernels then (SIGTERM), as a normal kernel ends when its server has gone.
"""
from __future__ import annotations

import array
import asyncio
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

log = logging.getLogger(__name__)

ZYGOTE_SOCKET_NAME = "hjertekom-zygote.sock"
#: Set to "0" to start every kernel the normal way (a before/after measurement, or a fallback).
ZYGOTE_ENV = "HJERTEKOM_KERNEL_ZYGOTE"
#: What the zygote imports before it serves: what every kernel of the entry app imports anyway
#: (the notebook's first two cells), so that a child only has the notebook's work left.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "ipywidgets", "hjertekom_widgets.app",
           "hjertekom_widgets.session", "websockets.sync.client",
           # imported by every kernel as it starts or opens its store (py-spy of a wave of logins)
           "psutil", "pdb", "sqlite3", "IPython.core.oinspect", "IPython.core.completerlib",
           "IPython.extensions.storemagic", "tornado.platform.asyncio", "zmq.utils.garbage",
           "IPython.core.debugger")   # IPKernelApp.init_pdb, at every kernel's start
#: Modules a clinician's kernel never loads. debugpy: the browser may not send ``debug_request``
#: (server.ALLOWED_MESSAGE_TYPES), so a debugger would only be attack surface, and importing it
#: (ipykernel resolves its debugger class when the kernel is made) was a third of each forked
#: kernel's CPU in a wave of logins (py-spy, 2026-12-07). Blocked, ipykernel runs without one and
#: says so in its kernel_info (no "debugger" among its supported features).
BLOCKED = ("debugpy",)
#: Kernel options added to the kernel's command line. IPython's history would write every
#: executed cell to one SQLite file shared by all kernels (~/.ipython), locked by each in turn;
#: the entry notebook's cells are the same for everybody, so there is nothing worth keeping.
KERNEL_OPTIONS = ("--HistoryManager.enabled=False",)
#: How long a kernel start waits for a zygote that is still importing before it starts normally.
READY_WAIT_SECONDS = 30.0
_MAX_REQUEST = 1 << 20


# --- the zygote process ----------------------------------------------------------------------------

def _recv_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One request: 4-byte length, then JSON; the kernel's stdout/stderr come along as fds."""
    fds = array.array("i")
    head, ancdata, _flags, _addr = conn.recvmsg(4, socket.CMSG_SPACE(2 * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if len(head) != 4:
        raise ValueError("short request")
    (size,) = struct.unpack("!I", head)
    if size > _MAX_REQUEST:
        raise ValueError("request too large")
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    return json.loads(body), list(fds)


def _become_kernel(request: dict[str, Any], fds: list[int], conn: socket.socket) -> None:
    """In the forked child: become the kernel the request describes. Never returns."""
    code = 1
    try:
        os.setsid()  # a process group of its own, as LocalProvisioner's kernels (killpg reaches its children)
        # The dispositions a fresh Python has: SIGCHLD back to the default (the zygote ignores it);
        # SIGPIPE stays ignored as Python sets it at start (a write to a closed socket raises
        # BrokenPipeError instead of killing the kernel), and so does SIGXFSZ.
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        out, err = (fds + [-1, -1])[:2]
        for fd, target in ((out, 1), (err, 2)):
            if fd >= 0:
                os.dup2(fd, target)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        import random

        random.seed()  # not the zygote's sequence in every kernel
        argv = [str(a) for a in request["argv"]]
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        cwd = request.get("cwd") or os.getcwd()
        os.chdir(cwd)
        sys.path[0] = str(cwd)  # as `python -m ipykernel_launcher` started in that folder
        sys.argv = [argv[0], *argv[3:]]
        _set_title(" ".join(argv))
        # Tell the server only now: its process group exists, so a signal to it cannot hit ours.
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        conn.close()
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()  # what IPKernelApp.launch_instance does, with one step between
        app.initialize([*argv[3:], *KERNEL_OPTIONS])
        _register_at_import_hooks()
        app.start()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must never return into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _register_at_import_hooks() -> None:
    """What preloaded modules do at import only when a kernel runs: ipywidgets registers its comm
    targets then (``jupyter.widget.control``, through which the page fetches all widget models
    at once); in the zygote there was no kernel yet, and a second ``import`` does nothing."""
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None:
        widgets.register_comm_target()


def _set_title(title: str) -> None:
    """Show the kernel's own command line (ps, monitoring.kernel_processes, the benchmark)."""
    try:
        import setproctitle
    except ImportError:  # the kernel works the same; only its title says "kernel_zygote"
        return
    setproctitle.setproctitle(title)


def _fork_safe() -> str | None:
    """Why forking would be unsafe now, or None."""
    if threading.active_count() != 1:
        return f"{threading.active_count()} threads"
    with contextlib.suppress(ImportError):
        import zmq

        if zmq.Context._instance is not None:
            return "a zmq context"
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop()
        return "a running event loop"
    return None


def serve(socket_path: str, parent_pid: int) -> int:
    """The zygote's main loop: preload, then fork a kernel per request until the server is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the server's to handle
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the system reaps the kernels as they exit
    import importlib

    for name in BLOCKED:
        sys.modules.setdefault(name, None)  # type: ignore[assignment] - None makes `import` fail
    for name in PRELOAD:
        importlib.import_module(name)
    try:
        from hjertekom_widgets.app import warm

        warm()
    except Exception as exc:  # noqa: BLE001 - each kernel then loads the contracts itself, and reports a fault
        print(f"kernel zygote: contracts not preloaded: {exc}", file=sys.stderr, flush=True)
    with contextlib.suppress(ImportError):
        import setproctitle

        setproctitle.getproctitle()  # sets up the title's memory while argv and environ are the process's own
    unsafe = _fork_safe()
    if unsafe:
        print(f"kernel zygote: not serving, preloading left {unsafe}", file=sys.stderr, flush=True)
        return 2
    import gc

    gc.collect()
    gc.freeze()  # preloaded objects stay out of the children's collections: their pages stay shared
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    old_umask = os.umask(0o177)
    try:
        listener.bind(socket_path + ".new")
    finally:
        os.umask(old_umask)
    listener.listen(64)
    os.replace(socket_path + ".new", socket_path)  # appears only once it accepts
    uid = os.getuid()
    children: dict[int, int] = {}  # pid -> pidfd of each kernel forked, while it runs
    while os.getppid() == parent_pid:
        _forget_exited(children)
        ready, _, _ = select.select([listener], [], [], 1.0)
        if not ready:
            continue
        conn, _ = listener.accept()
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, peer_uid, _gid = struct.unpack("3i", creds)
            if peer_uid != uid:
                continue
            conn.settimeout(10)
            request, fds = _recv_request(conn)
            pid = os.fork()
            if pid == 0:
                listener.close()
                for pidfd in children.values():
                    os.close(pidfd)
                _become_kernel(request, fds, conn)
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                children[pid] = os.pidfd_open(pid)
        except (OSError, ValueError) as exc:
            print(f"kernel zygote: request failed: {exc}", file=sys.stderr, flush=True)
        finally:
            conn.close()
    # The server is gone: its kernels go too, as a normal kernel does when its parent has gone
    # (ipykernel's parent poller); they would serve nobody.
    for pidfd in children.values():
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
    with contextlib.suppress(OSError):
        os.unlink(socket_path)
    return 0


def _forget_exited(children: dict[int, int]) -> None:
    """Close the pidfds of kernels that have exited (the system reaped them)."""
    for pid, pidfd in list(children.items()):
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if poller.poll(0):
            os.close(pidfd)
            del children[pid]


# --- the server side -------------------------------------------------------------------------------

class Zygote:
    """The server's handle on its zygote process."""

    def __init__(self, socket_path: str | Path) -> None:
        self.socket_path = str(socket_path)
        self.process: subprocess.Popen[bytes] | None = None
        self.warned = False

    def start(self) -> None:
        """Start the zygote (it imports for a few seconds; kernels asked for meanwhile wait for it)."""
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "hjertekom_widgets.kernel_zygote", self.socket_path, str(os.getpid())],
            stdin=subprocess.DEVNULL)
        log.info("kernel zygote started (pid %d)", self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def ready(self, timeout: float = READY_WAIT_SECONDS) -> bool:
        """Whether the zygote accepts requests, waiting while it is still importing."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if os.path.exists(self.socket_path):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return False

    async def fork(self, argv: list[str], env: dict[str, str], cwd: str) -> int:
        """Have the zygote fork a kernel; its pid, once it is in a process group of its own."""
        # A blocking socket in a worker thread: asyncio's sockets cannot pass file descriptors,
        # and the zygote answers within milliseconds.
        return await asyncio.to_thread(self._fork, argv, env, cwd)

    def _fork(self, argv: list[str], env: dict[str, str], cwd: str) -> int:
        body = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(15)
            sock.connect(self.socket_path)
            # Our stdout/stderr become the kernel's, as with a normal start (tracebacks in the server log).
            fds = [1, 2]  # (descriptors, not sys.stdout: what a Popen child would inherit)
            sock.sendmsg([struct.pack("!I", len(body))],
                         [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            sock.sendall(body)
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = sock.recv(256)
                if not chunk:
                    raise OSError("the kernel zygote did not fork")
                answer += chunk
        return int(json.loads(answer)["pid"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)


#: The running server's zygote (set by server.py); None: every kernel starts the normal way.
ZYGOTE: Zygote | None = None
#: The provisioner's entry point (pyproject.toml).
PROVISIONER_NAME = "hjertekom-zygote"
_PROVISIONER_GROUP = "jupyter_client.kernel_provisioners"


def use_provisioner(name: str = PROVISIONER_NAME) -> bool:
    """Make ``name`` the provisioner of every kernel this process starts, if it is registered.

    Set on jupyter_client's provisioner factory (a process-wide singleton) rather than through
    configuration: a name that is not registered (an install without this entry point) would make
    every kernel start fail, so it is checked here first.
    """
    from importlib.metadata import entry_points

    from jupyter_client.provisioning.factory import KernelProvisionerFactory

    if not list(entry_points(group=_PROVISIONER_GROUP, name=name)):
        log.warning("kernel provisioner %r is not installed (pip install -e .): kernels start the normal way",
                    name)
        return False
    KernelProvisionerFactory.instance().default_provisioner_name = name
    return True


def is_ipykernel(cmd: list[str]) -> bool:
    """Whether a kernel command is this interpreter's ipykernel (what the zygote can become)."""
    if len(cmd) != 5 or cmd[1:4] != ["-m", "ipykernel_launcher", "-f"]:
        return False
    exe = shutil.which(cmd[0]) or cmd[0]
    return os.path.realpath(exe) == os.path.realpath(sys.executable)


class ForkedKernel:
    """A forked kernel as ``subprocess.Popen`` is used by ``LocalProvisioner`` (not our child: pidfd)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self._pidfd = None
            self.returncode = 0  # gone already (its exit status went to the reaper)

    def _exited(self, timeout_ms: int) -> bool:
        """Whether the pidfd turned readable (its process exited); poll(), not select(): a busy
        server's descriptors go past select's limit of 1024."""
        if self._pidfd is None:
            return True
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        return bool(poller.poll(timeout_ms))

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd is not None:
            if self._exited(0):
                self.returncode = 0  # the exit status is the reaper's (the zygote's system), not ours
                self._close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            self._exited(100)
        return self.returncode or 0

    def send_signal(self, sig: int) -> None:
        if self.poll() is None and self._pidfd is not None:
            signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _close(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        self._close()


class ZygoteProvisioner(LocalProvisioner):  # type: ignore[misc]
    """LocalProvisioner whose ipykernel is forked by the server's zygote when there is one."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        zygote = ZYGOTE
        if zygote is None or not is_ipykernel(cmd):
            return await super().launch_kernel(cmd, **kwargs)
        if not await zygote.ready():
            if not zygote.warned:
                log.warning("the kernel zygote is gone (or not ready): kernels start the normal way (slower)")
                zygote.warned = True
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            pid = await zygote.fork(cmd, env, cwd)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the login gets its kernel
            log.warning("the kernel zygote did not fork (%s): this kernel starts the normal way", exc)
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ForkedKernel(pid)
        self.pid = pid
        self.pgid = pid  # the child called setsid() before it answered
        self.cwd = cwd
        return self.connection_info


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2])))
