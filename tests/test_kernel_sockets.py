"""Kernels on Unix sockets (hjertekom_core/kernel_sockets.py): the entry app's Voilà configuration
and the folders their sockets go in. The browser tests and the lab test check running kernels."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hjertekom_core import kernel_sockets
from hjertekom_core.config import Config
from hjertekom_core.errors import ConfigError
from hjertekom_core.reports.runner import KernelSession
from hjertekom_widgets.server import voila_config


def _bind(path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    path.unlink()


@pytest.fixture
def short_base() -> Iterator[Path]:
    """A fresh folder right below /tmp (pytest's own folders are too deep for these tests)."""
    base = Path(tempfile.mkdtemp(prefix="hk-", dir="/tmp"))
    yield base
    shutil.rmtree(base)


def _folder_of_length(base: Path, length: int) -> Path:
    folder = base / ("d" * (length - len(str(base)) - 1))
    assert len(str(folder)) == length
    folder.mkdir()
    return folder


def test_the_socket_limit_is_the_systems(short_base: Path) -> None:
    """``fits`` draws the line where binding starts to fail: the longest kernel socket name binds
    in the deepest folder that fits and fails one byte deeper."""
    limit = kernel_sockets.UNIX_PATH_MAX - len(kernel_sockets.KERNEL_SOCKET_NAME) - 1
    deepest = _folder_of_length(short_base, limit)
    assert kernel_sockets.fits(deepest)
    _bind(deepest / kernel_sockets.KERNEL_SOCKET_NAME)
    too_deep = _folder_of_length(short_base, limit + 1)
    assert not kernel_sockets.fits(too_deep)
    with pytest.raises(OSError):
        _bind(too_deep / kernel_sockets.KERNEL_SOCKET_NAME)


def test_the_entry_app_puts_kernels_on_unix_sockets(tmp_path: Path) -> None:
    config = voila_config(Config(data_dir=tmp_path / "var"), 8866)
    assert config.KernelManager.transport == "ipc"
    assert config.Voila.connection_dir_root == kernel_sockets.temp_root("voila_XXXXXXXX")


def test_a_temporary_folder_too_deep_for_kernel_sockets_gives_way_to_tmp(
        short_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Voilà adds "/voila_XXXXXXXX" below the root, then the socket names.
    limit = kernel_sockets.UNIX_PATH_MAX - len("/voila_XXXXXXXX/" + kernel_sockets.KERNEL_SOCKET_NAME)
    fitting = _folder_of_length(short_base, limit)
    monkeypatch.setattr(tempfile, "tempdir", str(fitting))
    assert kernel_sockets.temp_root("voila_XXXXXXXX") == str(fitting)
    too_deep = _folder_of_length(short_base, limit + 1)
    monkeypatch.setattr(tempfile, "tempdir", str(too_deep))
    assert kernel_sockets.temp_root("voila_XXXXXXXX") == "/tmp"


def test_a_report_kernel_starts_from_a_temporary_folder_too_deep_for_its_sockets(
        short_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    too_deep = _folder_of_length(short_base, kernel_sockets.UNIX_PATH_MAX - 20)
    monkeypatch.setattr(tempfile, "tempdir", str(too_deep))
    with KernelSession() as session:
        assert session.km.transport == "ipc"
        assert Path(session.km.ip).parent.parent == Path("/tmp")
        assert session.kc.execute_interactive("x = 1", timeout=60)["content"]["status"] == "ok"


def test_a_private_folder_is_made_for_this_account_alone(short_base: Path) -> None:
    folder = kernel_sockets.private_folder("lab", parent=short_base)
    assert folder == short_base / f"lab-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert kernel_sockets.private_folder("lab", parent=short_base) == folder  # found again, kept


def test_a_folder_others_can_enter_is_refused_and_left_alone(short_base: Path) -> None:
    open_folder = short_base / f"lab-{os.getuid()}"
    open_folder.mkdir()
    open_folder.chmod(0o755)
    with pytest.raises(ConfigError, match="only this account"):
        kernel_sockets.private_folder("lab", parent=short_base)
    assert stat.S_IMODE(open_folder.stat().st_mode) == 0o755
