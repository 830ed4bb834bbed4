"""The entry app's Voilà configuration (widgets/server.py) without a browser."""
from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest

from hjertekom_core.config import Config
from hjertekom_widgets.server import KERNEL_SOCKET_TAIL, SOCKET_ROOT_MAX, connection_dir_root, voila_config


def _bind(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    path.unlink()


def test_kernels_use_unix_sockets_below_a_root_short_enough_for_them(tmp_path: Path) -> None:
    config = voila_config(Config(data_dir=tmp_path / "var"), 8866)
    assert config.KernelManager.transport == "ipc"
    assert config.Voila.connection_dir_root == connection_dir_root()


@pytest.mark.parametrize("extra", [0, 1, 40])
def test_a_temporary_folder_too_long_for_kernel_sockets_falls_back_to_tmp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: int) -> None:
    # A root of exactly SOCKET_ROOT_MAX bytes: the longest kernel socket below it can be bound.
    base = Path("/tmp") / f"hk-{tmp_path.name[-8:]}"
    root = base / ("r" * (SOCKET_ROOT_MAX - len(str(base)) - 1 + extra))
    assert len(str(root)) == SOCKET_ROOT_MAX + extra
    try:
        root.mkdir(parents=True)
        monkeypatch.setattr(tempfile, "tempdir", str(root))
        if extra == 0:
            assert connection_dir_root() == str(root)
            _bind(Path(str(root) + KERNEL_SOCKET_TAIL))
        else:
            assert connection_dir_root() == "/tmp"
            with pytest.raises(OSError):  # what a kernel would have met there
                _bind(Path(str(root) + KERNEL_SOCKET_TAIL))
    finally:
        for path in sorted(base.rglob("*"), reverse=True):
            path.rmdir()
        base.rmdir()
