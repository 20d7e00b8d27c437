"""Checking output locations before any work starts, so that a read-only, full or misnamed destination is one clear
error up front instead of a traceback after minutes of work (and nothing is written when the check fails).

A location is checked without creating it: its nearest existing ancestor must be a folder (not a file) on which a
probe file can be created and deleted, with some free space left. ``~`` is expanded, so ``-o ~/x.csv`` never creates a
folder named ``~`` in the working directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from topobench.core.atomic import check_replaceable, kind_of
from topobench.core.errors import ConfigError, TopobenchError

MIN_FREE_BYTES = 1 << 20  # less than this left on the file system is "full" for our purposes


class OutputError(TopobenchError):
    """An output that could not be written (a full disk, a folder that became read-only); nothing was left behind."""


def expand(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` expanded."""
    return Path(os.path.expanduser(os.fspath(path)))


def _existing_ancestor(path: Path, what: str, shown: Path) -> Path:
    """The nearest existing folder at or above ``path``; a file on the way is an error about ``shown``."""
    current = path.absolute()
    while not current.exists():
        if current.parent == current:
            break
        current = current.parent
    if not current.is_dir():
        raise ConfigError(f"{what} {shown} cannot be created: {current} is a file, not a folder; pick another path")
    return current


def _probe(folder: Path, what: str, path: Path, fix: str, min_free: int) -> None:
    """Create and delete a small file in ``folder``; check the free space."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".topobench-write-check-", dir=folder)
        try:
            os.write(fd, b"topobench")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{what} {path} is not writable ({exc.strerror or exc}): {fix}") from exc
    free = shutil.disk_usage(folder).free
    if free < min_free:
        raise ConfigError(f"{what} {path} is on a full file system ({free} bytes free): free some space or {fix}")


def check_writable_dir(folder: str | os.PathLike[str], what: str, fix: str, min_free: int = MIN_FREE_BYTES) -> Path:
    """``folder`` (``~`` expanded) when it is, or can be created as, a writable folder; else a ``ConfigError``
    naming the folder, the problem and ``fix``. Nothing is created."""
    folder = expand(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{what} {folder} is a file, not a folder: {fix}")
    _probe(_existing_ancestor(folder, what, folder), what, folder, fix, min_free)
    return folder


def check_output_file(path: str | os.PathLike[str], what: str, fix: str = "pick another path",
                      min_free: int = MIN_FREE_BYTES) -> Path:
    """``path`` (``~`` expanded) when a file can be written there: nothing there or a regular file (not a folder, a
    device, a FIFO or a symbolic link, which the write would replace), its folder writable (or creatable). Nothing is
    created."""
    path = expand(path)
    if kind_of(path) == "folder":
        raise ConfigError(f"{what} {path} is a folder: name a file inside it, e.g. {path / 'out'}")
    check_replaceable(path, what, folder=False)
    _probe(_existing_ancestor(path.parent, what, path), what, path, fix, min_free)
    return path


def check_output_dir(path: str | os.PathLike[str], what: str, fix: str = "pick another path",
                     min_free: int = MIN_FREE_BYTES) -> Path:
    """``path`` (``~`` expanded) when a folder can be written there as a whole (built beside it, then renamed): not
    an existing file (nor a symbolic link, a device or a FIFO, which the rename would replace), its parent writable
    (or creatable). Nothing is created."""
    path = expand(path)
    if kind_of(path) == "file":
        raise ConfigError(f"{what} {path} is a file, not a folder: {fix}")
    check_replaceable(path, what, folder=True)
    _probe(_existing_ancestor(path.absolute().parent, what, path), what, path, fix, min_free)
    return path


@contextmanager
def writing(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` (no space left, permission lost) into an ``OutputError``."""
    try:
        yield
    except BrokenPipeError:
        raise  # the reader of standard output is gone (`export.py -o - | head`): the CLI ends quietly
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path} ({exc.strerror or exc}): free some space or pick another "
                          "path; nothing was written") from exc
