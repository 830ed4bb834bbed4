"""Where Jupyter kernels put their Unix sockets (``KernelManager.transport = "ipc"``).

Kernels that hold personal data listen on Unix sockets in a folder only their owner can enter,
never on TCP ports: a kernel's iopub channel hands every message to any subscriber, and its key
only signs messages, so on 127.0.0.1 any local account could read along. A Unix socket's path
holds at most 107 bytes on Linux, and jupyter_client names a kernel's sockets after its
connection file, ``<folder>/kernel-<uuid>-ipc-<n>``: a folder with a long path makes every kernel
fail to start.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from hjertekom_core.errors import ConfigError

UNIX_PATH_MAX = 107
KERNEL_SOCKET_NAME = "kernel-00000000-0000-0000-0000-000000000000-ipc-0"


def fits(folder: str | os.PathLike[str]) -> bool:
    """Whether a kernel's sockets fit below ``folder``."""
    return len(os.fsencode(os.path.join(folder, KERNEL_SOCKET_NAME))) <= UNIX_PATH_MAX


def temp_root(below: str) -> str:
    """The system's temporary folder, or /tmp when kernel sockets would not fit in the folder
    ``below`` names there (a pattern such as ``voila_XXXXXXXX``, as long as the real name)."""
    root = tempfile.gettempdir()
    return root if fits(os.path.join(root, below)) else "/tmp"


def private_folder(name: str, parent: Path = Path("/tmp")) -> Path:
    """``<parent>/<name>-<uid>``, made with mode 0700 if missing; refused if it is not ours alone."""
    folder = parent / f"{name}-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigError(f"{folder} must be a folder that only this account owns and can enter (mode 0700); "
                          "remove it or set JUPYTER_RUNTIME_DIR to a short private folder")
    return folder
