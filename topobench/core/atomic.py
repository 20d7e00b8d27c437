"""Writing files (and folders) so that a killed process never leaves one that looks complete, and so that a write only
ever replaces a regular file (or, for a folder written as a whole, a real folder).

Every writer of topobench (results, datasets, indexes, cells, reports, checkpoints, TREC runs, CSV exports, plots)
goes through :func:`atomic_path` or :func:`replace`: the data is written under a temporary name beside the target and
renamed over it. A rename replaces whatever the path names, so the target is looked at first (without following a
symbolic link): a device, a FIFO, a socket or a symbolic link (to anything) is refused with a ``ConfigError`` and
nothing is written. ``-o /dev/stdout`` therefore never replaces the machine's ``/dev/stdout`` link with a file.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from topobench.core.errors import ConfigError


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def kind_of(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` itself is (a symbolic link is not followed): ``"file"`` (regular), ``"folder"``, ``"symbolic
    link to …"``, ``"character device"``, ``"block device"``, ``"FIFO (named pipe)"``, ``"socket"``; None when
    nothing is there (or a part of the way is not a folder: the caller's folder check says so)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"symbolic link to {target}"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def check_replaceable(path: str | os.PathLike[str], what: str = "output", folder: bool | None = False) -> None:
    """Raise a ``ConfigError`` unless writing ``path`` by rename replaces nothing but what topobench may replace:
    nothing there, or a regular file (``folder`` False), a real folder (``folder`` True), either (``folder`` None).

    A symbolic link is refused whatever it points to: the rename would replace the link, not what it names."""
    found = kind_of(path)
    if found is None or (found == "file" and folder is not True) or (found == "folder" and folder is not False):
        return
    wanted = "a folder" if folder is True else "a regular file" if folder is False else "a regular file or folder"
    hint = "; for standard output use -o -" if str(path) in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1") else ""
    raise ConfigError(f"{what} {path} exists and is a {found}, not {wanted}: topobench only ever replaces "
                      f"{wanted} it writes; name a new path{hint}")


def replace(tmp: str | os.PathLike[str], path: str | os.PathLike[str], what: str = "output") -> None:
    """``os.replace(tmp, path)`` after :func:`check_replaceable` (a folder ``tmp`` may only replace a folder)."""
    check_replaceable(path, what, folder=Path(tmp).is_dir() and not Path(tmp).is_symlink())
    os.replace(tmp, path)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place when the block succeeds, delete it otherwise.

    The block may write a file or a folder there. A folder replaces an existing folder ``path`` (removed first; a kill
    in that instant leaves no folder rather than a partial one). An existing ``path`` that is not a regular file or a
    real folder (a device, a FIFO, a symbolic link) is refused before the block runs, and again before the rename,
    with a ``ConfigError``: nothing is written.
    """
    path = Path(path)
    check_replaceable(path, folder=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        is_folder = tmp.is_dir() and not tmp.is_symlink()
        check_replaceable(path, folder=is_folder)
        if is_folder and kind_of(path) == "folder":
            _remove(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)
