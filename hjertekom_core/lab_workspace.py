"""The researchers' workspace: the only folder `hjertekom lab` serves.

It holds the pseudonymised snapshots (``snapshots/``), copies of the research notebooks
(``notebooks/``), the researchers' own files and Jupyter's settings (``.jupyter/``, hidden): never
the data folder, the store, the keys or identified snapshots (``check_separation``).

Started by root, the lab hands the workspace to the research account, which may have files
there of its own. Root therefore never follows a path it does not trust below the workspace:
folders are opened with O_NOFOLLOW and everything below is made relative to their descriptors,
new files are created with O_EXCL, and only files root itself made are handed over (never a hard
link: a link to a root file elsewhere would hand that file over too).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from hjertekom_core.config import REPO_ROOT, Config
from hjertekom_core.lab_account import Account, LabRefused

SNAPSHOTS = "snapshots"
NOTEBOOKS = "notebooks"
JUPYTER = ".jupyter"
#: Marks a folder as a research workspace: only such a folder (or an empty one) is taken over.
MARKER = ".hjertekom-research"
OWN_ENTRIES = frozenset({SNAPSHOTS, NOTEBOOKS, JUPYTER, MARKER})
SOURCE_NOTEBOOKS = REPO_ROOT / "notebooks" / "research"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Owner:
    """Who the workspace belongs to: the research account (root start) or the user who starts it."""

    uid: int
    gid: int

    @classmethod
    def of(cls, account: Account) -> Owner:
        return cls(account.uid, account.gid)

    @classmethod
    def me(cls) -> Owner:
        return cls(os.geteuid(), os.getegid())


def workspace_root(config: Config) -> Path:
    """The workspace folder of ``config`` (``research_workspace``), absolute."""
    if config.research_workspace is None:  # pragma: no cover - Config derives it from data_dir
        raise LabRefused("research_workspace er ikke sat / is not set")
    return Path(os.path.abspath(config.research_workspace))


def snapshots_folder(config: Config) -> Path:
    """Where the lab's pseudonymised snapshots are: ``<workspace>/snapshots``."""
    return workspace_root(config) / SNAPSHOTS


def store_file(config: Config) -> Path | None:
    """The SQLite file of the store, or None for a server database."""
    if not config.is_sqlite:
        return None
    database = make_url(config.database_url).database
    return Path(os.path.abspath(database)) if database and database != ":memory:" else None


def protected_paths(config: Config) -> list[Path]:
    """Everything the researchers must not read: the data folder, the store, the keys and secrets,
    the log and the identified snapshots (absolute; whether or not they exist yet)."""
    data = Path(os.path.abspath(config.data_dir))
    paths = [data, data / "snapshots", data / "session.key", data / "cookie.secret"]
    store = store_file(config)
    if store is not None:
        paths += [store, store.with_name(store.name + "-wal")]
    for setting in (config.pseudonym_key_file, config.proxy_secret_file, config.log_file):
        if setting is not None:
            paths.append(Path(os.path.abspath(setting)))
    return list(dict.fromkeys(paths))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def check_separation(config: Config) -> None:
    """LabRefused unless the workspace and the data side are apart: the workspace not in the data
    folder, and none of the protected paths in the workspace (symbolic links resolved)."""
    workspace = workspace_root(config).resolve()
    data = Path(config.data_dir).resolve()
    if _inside(workspace, data):
        raise LabRefused(f"Forskningsarbejdsmappen {workspace} ligger i datamappen {data} / the research "
                         "workspace is inside the data folder: set research_workspace to a folder outside it")
    for path in protected_paths(config):
        if _inside(path.resolve(), workspace):
            raise LabRefused(f"{path} ligger i forskningsarbejdsmappen / is inside the research workspace "
                             f"{workspace}: keep the data folder, the store and the keys outside it")


def lock_data_folder(config: Config, account: Account) -> None:
    """The data folder: mode 0700 (its owner only), and not the research account's."""
    data = Path(config.data_dir)
    if not data.exists():
        return
    info = data.stat()
    if info.st_uid == account.uid:
        raise LabRefused(f"Datamappen {data} ejes af forskerkontoen / the data folder is owned by the research "
                         f"account {account.name}: it must belong to the service account")
    if stat.S_IMODE(info.st_mode) != 0o700:
        data.chmod(0o700)


@contextlib.contextmanager
def _opened(path: str | Path, dir_fd: int | None = None) -> Iterator[int]:
    try:
        fd = os.open(path, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:  # a symbolic link (ELOOP) or a file (ENOTDIR) where a folder belongs
        raise LabRefused(f"{path} skal være en mappe, ikke et link / must be a folder, not a link: "
                         f"{exc.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _adopt(fd: int, owner: Owner, mode: int) -> None:
    """Give the open file or folder to ``owner`` with ``mode``, if root made it (or it is theirs)."""
    info = os.fstat(fd)
    if info.st_uid != owner.uid:
        if info.st_uid != os.geteuid() or os.geteuid() != 0:
            raise LabRefused(f"en fil i forskningsarbejdsmappen ejes af en anden konto (uid {info.st_uid}) / "
                             "a file in the research workspace belongs to another account")
        if stat.S_ISREG(info.st_mode) and info.st_nlink != 1:
            return  # a hard link: handing it over would hand over the other name's file too
        os.fchown(fd, owner.uid, owner.gid)
    if stat.S_IMODE(info.st_mode) != mode:
        os.fchmod(fd, mode)


def _subfolder(parent_fd: int, name: str, owner: Owner) -> int:
    """``name`` below ``parent_fd`` (made if missing), handed to ``owner``, mode 0700; an open fd."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise LabRefused(f"{name} i forskningsarbejdsmappen skal være en mappe / in the research workspace "
                         f"must be a folder: {exc.strerror}") from None
    try:
        _adopt(fd, owner, 0o700)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_new(dir_fd: int, name: str, data: bytes | Path, owner: Owner) -> bool:
    """Write ``name`` below ``dir_fd`` (``data``, or a copy of the file ``data``) if no such name
    exists, never through a link; whether it was made."""
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        _adopt(out.fileno(), owner, 0o600)
        if isinstance(data, Path):
            with data.open("rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
        else:
            out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return True


def _hand_over(top_fd: int, owner: Owner) -> None:
    """Hand what root made below ``top_fd`` (e.g. a snapshot of `hjertekom snapshot --pseudonymise`)
    to ``owner``: root's own folders and files, never a link or another account's file."""
    if os.geteuid() != 0 or owner.uid == 0:
        return
    for _, dirs, files, dir_fd in os.fwalk(".", dir_fd=top_fd, follow_symlinks=False):
        for name in [*dirs, *files]:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if info.st_uid != 0 or not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                continue
            flags = (_DIR_FLAGS if stat.S_ISDIR(info.st_mode)
                     else os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            try:
                fd = os.open(name, flags, dir_fd=dir_fd)
            except OSError:  # replaced meanwhile by a link or something else: leave it
                continue
            try:
                _adopt(fd, owner, 0o700 if stat.S_ISDIR(info.st_mode) else 0o600)
            finally:
                os.close(fd)


def prepare_workspace(config: Config, owner: Owner) -> Path:
    """Make the workspace (mode 0700, ``owner``'s) with its folders, copy the research notebooks
    that are missing there (a researcher's edited copy stays), and hand root's files to ``owner``."""
    check_separation(config)
    root = workspace_root(config)
    root.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    with _opened(root) as root_fd:
        entries = set(os.listdir(root_fd))
        # Taking over a folder (or serving it as its user) is for an empty one or a workspace, not
        # for /tmp or a home folder; one the research account owns already is its own business.
        already_the_accounts = os.geteuid() == 0 and owner.uid != 0 and os.fstat(root_fd).st_uid == owner.uid
        if MARKER not in entries and entries - OWN_ENTRIES and not already_the_accounts:
            raise LabRefused(f"{root} er ikke en forskningsarbejdsmappe og er ikke tom / is not a research "
                             "workspace and not empty: set research_workspace to a new or empty folder")
        _adopt(root_fd, owner, 0o700)
        _write_new(root_fd, MARKER, b"HjerteKom research workspace (hjertekom lab)\n", owner)
        for name in (SNAPSHOTS, NOTEBOOKS, JUPYTER):
            os.close(_subfolder(root_fd, name, owner))
        with _opened(NOTEBOOKS, root_fd) as notebooks_fd:
            for source in sorted(SOURCE_NOTEBOOKS.iterdir()):
                if source.is_file() and not source.name.startswith("."):
                    _write_new(notebooks_fd, source.name, source.read_bytes(), owner)
        _hand_over(root_fd, owner)
    return root


def install_snapshot(staged: Path, folder: Path, owner: Owner) -> Path:
    """Move the finished snapshot ``staged`` (in a private folder) into ``folder`` of the workspace
    under a name not yet taken, as ``owner``'s file (mode 0600); the path it got."""
    os.chmod(staged, 0o600)
    os.chown(staged, owner.uid, owner.gid)
    with _opened(folder) as folder_fd:
        stem = staged.stem
        for n in range(1, 1000):
            name = f"{stem}.duckdb" if n == 1 else f"{stem}-{n}.duckdb"
            try:
                os.link(staged, name, dst_dir_fd=folder_fd)  # refuses an existing name, link or not
            except FileExistsError:
                continue
            except OSError:  # another file system: copy into a new file instead
                if not _write_new(folder_fd, name, staged, owner):
                    continue
            staged.unlink()
            return folder / name
    raise LabRefused(f"intet ledigt filnavn til / no free file name for {staged.name} in {folder}")


@contextlib.contextmanager
def staging_folder(config: Config) -> Iterator[Path]:
    """A private folder (mode 0700) in the data folder, for a snapshot before it is installed."""
    data = Path(config.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".lab-snapshot-", dir=data))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def runtime_folder(owner: Owner, parent: Path = Path("/tmp")) -> Path:  # noqa: S108 - checked: 0700 and ours
    """``<parent>/hjertekom-lab-<uid>``: a short private folder for the kernels' sockets when the
    workspace's own is too deep; made for ``owner`` (mode 0700), refused if someone else's."""
    folder = parent / f"hjertekom-lab-{owner.uid}"
    made = False
    try:
        folder.mkdir(mode=0o700)
        made = True
    except FileExistsError:
        pass
    with _opened(folder) as fd:
        info = os.fstat(fd)
        if made and info.st_uid != owner.uid:
            os.fchown(fd, owner.uid, owner.gid)
            info = os.fstat(fd)
        if info.st_uid != owner.uid or stat.S_IMODE(info.st_mode) & 0o077:
            raise LabRefused(f"{folder} skal være en mappe, kun kontoen uid {owner.uid} ejer og kan åbne "
                             "(mode 0700) / must be a folder only that account owns and can enter: remove it")
    return folder
