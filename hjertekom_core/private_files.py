"""Files and folders only their owner can read: what every writer of personal data needs.

The workbench writes CPR numbers, names and health data to disk: the SQLite store, the log,
snapshots, transfers, extracts, citizen sheets. Each such file is created with mode 0600 and each
folder with 0700 *by the call that creates it*, so that neither the caller's umask (022 leaves
files world-readable, 000 world-writable) nor a crash half-way decides who can read it. A
chmod afterwards would leave a window in which the file is readable, and is no help at all when
the writer is killed before it runs.

Writers that work under a temporary name (``.<name>.<random>.tmp`` beside the target) hold a
lock on it while they live. A run killed half-way leaves its temporary behind, still private;
the next run of the same writer removes it (``remove_stale_temporaries``) once no process holds
its lock any more. Existing folders are tightened only when they are the workbench's own (the
data folder); a folder someone names for output (``--out``) keeps its mode, and what is written
into it is private by itself.
"""
from __future__ import annotations

import glob
import io
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import IO, Any

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # not on Windows, where modes are ACLs anyway; stale files are judged by age only
    fcntl = None

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
#: A temporary younger than this is never taken as stale: its writer may be between creating it
#: and locking it. (Older ones go only when no process holds their lock.)
STALE_AFTER_SECONDS = 60.0
#: Without file locks (Windows) a temporary is stale only when it is this old.
STALE_WITHOUT_LOCKS_SECONDS = 24 * 3600.0

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


# --- folders --------------------------------------------------------------------------------------------

def _may_tighten(path: Path, info: os.stat_result) -> bool:
    """Whether an existing folder may be made owner-only: ours, and not a folder others share by
    nature (/, a top-level system folder such as /var or /srv, a sticky folder such as /tmp, the
    home folder). A data folder configured as ``./var`` in / must not make /var 0700."""
    resolved = path.resolve()
    if resolved.parent == resolved or resolved.parent == Path(resolved.anchor):
        return False
    if info.st_mode & stat.S_ISVTX or info.st_uid != os.geteuid():
        return False
    try:
        return resolved != Path.home().resolve()
    except RuntimeError:  # no home folder known
        return True


def private_dir(path: str | os.PathLike[str], *, tighten: bool = True) -> Path:
    """``path`` as a folder: every missing folder on the way is made 0700 (umask or not).

    ``tighten``: an existing ``path`` that others can enter is made 0700 too, unless it is not
    ours or a shared system folder (see ``_may_tighten``; then it is left and a warning logged).
    Use it for the workbench's own folders (the data folder); use ``tighten=False`` for a folder
    the user named for output, whose mode is theirs to choose.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    made: set[Path] = set()
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:  # made meanwhile by another process: not ours to decide
            continue
        os.chmod(folder, DIR_MODE)  # the umask could have taken the owner's own bits
        made.add(folder)
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{path} is not a folder")
    if tighten and path not in made and stat.S_IMODE(info.st_mode) & 0o077:
        if _may_tighten(path, info):
            os.chmod(path, DIR_MODE)
            log.info("folder made owner-only (0700): %s", path.name)
        else:
            log.warning("folder %s is open to others and is not tightened (shared or not ours); "
                        "the files in it are owner-only", path)
    return path


def restrict(path: str | os.PathLike[str]) -> None:
    """Make one existing file 0600 (a folder 0700); a symbolic link is left alone."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return
    want = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
    if stat.S_IMODE(info.st_mode) != want:
        os.chmod(path, want)


def restrict_tree(path: str | os.PathLike[str]) -> None:
    """``restrict`` a file, or a folder and everything in it (for files made by others' code, e.g.
    DuckDB's COPY, which creates them as the umask says)."""
    root = Path(path)
    restrict(root)
    if root.is_dir() and not root.is_symlink():
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                restrict(os.path.join(folder, name))


# --- files ----------------------------------------------------------------------------------------------

_FLAGS = {"w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
          "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


def _open_fd(path: str | os.PathLike[str], mode: str) -> int:
    """A descriptor of ``path`` opened for ``mode`` ('w', 'a' or 'x', with 'b' or 't'), mode 0600."""
    kind = mode.replace("b", "").replace("t", "")
    if kind not in _FLAGS:
        raise ValueError(f"open_private writes only: mode 'w', 'a' or 'x', not {mode!r}")
    fd = os.open(path, _FLAGS[kind] | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:  # a file that was there before
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = None,
                 newline: str | None = None) -> IO[Any]:
    """Like ``open`` for writing ('w', 'a', 'x', with 'b' for bytes), but the file is 0600.

    A new file is created 0600 (umask or not); an existing one is made 0600 before anything is
    written. A symbolic link is refused rather than followed.
    """
    fd = _open_fd(path, mode)
    if "b" in mode:
        return os.fdopen(fd, mode.replace("t", ""))
    return os.fdopen(fd, mode.replace("t", ""), encoding=encoding or "utf-8", newline=newline)


def create_private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty and 0600, or make an existing file 0600 (for files others' code then
    opens and writes, e.g. a SQLite store or a log). Its content is never touched."""
    # A configured path may be a symbolic link on purpose (the store on another disk): followed.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | _O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return Path(path)


def _lock(fd: int, *, wait: bool) -> bool:
    """An exclusive flock on ``fd``; without ``wait`` False if another process holds one."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def temporary_name(target: Path) -> Path:
    """``<folder>/.<name>.<random>.tmp`` for ``target``: hidden, unique, in the same folder (so the
    final rename or link stays on one file system)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


@contextmanager
def _locked_temp_file(target: Path) -> Iterator[tuple[Path, int]]:
    """(path, descriptor) of a new 0600 temporary for ``target``, locked; removed at the end."""
    tmp = temporary_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # exactly 0600, even under a umask that took the owner's bits
        _lock(fd, wait=True)
        yield tmp, fd
    finally:
        try:
            tmp.unlink(missing_ok=True)  # still locked: a clean-up cannot take it meanwhile
        finally:
            os.close(fd)


@contextmanager
def private_temp_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A new, empty 0600 file named ``temporary_name(target)``, locked while the block runs and
    removed afterwards unless it was renamed or linked away (the caller publishes it). For code
    that writes the file by its name (openpyxl, DuckDB): truncating keeps the mode."""
    with _locked_temp_file(Path(target)) as (tmp, _fd):
        yield tmp


@contextmanager
def private_temp_dir(parent: str | os.PathLike[str], name: str) -> Iterator[Path]:
    """A new 0700 folder ``<parent>/.<name>.<random>.tmp`` (``parent`` made if missing), locked
    while the block runs and removed afterwards with everything in it, unless it was renamed away."""
    folder = private_dir(parent, tighten=False)
    tmp = temporary_name(folder / name)
    os.mkdir(tmp, DIR_MODE)
    fd = -1
    try:
        os.chmod(tmp, DIR_MODE)
        fd = os.open(tmp, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        _lock(fd, wait=True)
        yield tmp
    finally:
        try:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            if fd >= 0:
                os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_private_write(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None,
                         newline: str | None = None) -> Iterator[IO[Any]]:
    """Write ``path`` all at once, private: a 0600 temporary beside it (O_EXCL, locked) is written,
    synced and renamed over ``path``; on an error it is removed and ``path`` is left as it was.

    ``mode`` is 'wb' (bytes) or 'w' (text, UTF-8 unless ``encoding``). Missing folders are made
    0700; an existing folder keeps its mode. Temporaries of ``path`` left by a killed writer are
    removed first.
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_private_write writes 'w' or 'wb', not {mode!r}")
    target = Path(path)
    private_dir(target.parent, tighten=False)
    remove_stale_temporaries(target.parent, f".{glob.escape(target.name)}.*.tmp")
    with _locked_temp_file(target) as (tmp, fd):
        # A second descriptor of the same open file: closing it keeps the lock, held by ``fd``.
        raw = os.fdopen(os.dup(fd), "wb")
        fh: IO[Any] = raw if mode == "wb" else io.TextIOWrapper(raw, encoding=encoding or "utf-8", newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, target)
    _fsync_dir(target.parent)


def write_private_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """``data`` into ``path`` (0600), atomically: see ``atomic_private_write``."""
    with atomic_private_write(path, "wb") as fh:
        fh.write(data)


def write_private_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """``text`` into ``path`` (0600), atomically: see ``atomic_private_write``."""
    with atomic_private_write(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


# --- what interrupted runs left behind ------------------------------------------------------------------

def _abandoned(path: Path) -> int | None:
    """A locked descriptor of ``path`` if no process holds it any more, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError:
        return None
    if _lock(fd, wait=False):
        return fd
    os.close(fd)
    return None


def remove_stale_temporaries(folder: str | os.PathLike[str], pattern: str, *,
                             min_age: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove the temporaries matching ``pattern`` (a glob, e.g. ``.snapshot-*.tmp``) in ``folder``
    that a killed or crashed writer left: ours, at least ``min_age`` seconds old, and locked by no
    process (a writer holds its temporary's lock while it lives). Returns what was removed."""
    root = Path(folder)
    if not root.is_dir():
        return []
    removed: list[Path] = []
    now = time.time()
    age = min_age if fcntl is not None else max(min_age, STALE_WITHOUT_LOCKS_SECONDS)
    for path in sorted(root.glob(pattern)):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid() or now - info.st_mtime < age:
            continue
        fd = _abandoned(path)
        if fd is None:
            continue
        try:
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)
        removed.append(path)
        log.info("removed an unfinished temporary file of an interrupted run: %s", path.name)
    return removed
