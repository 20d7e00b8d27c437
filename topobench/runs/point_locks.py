"""One run at a time per point: two ``run.py`` on the same dataset and algorithm must not build and measure the same
points twice, nor race on their result files (the last writer winning).

A sweep holds an exclusive POSIX record lock (``fcntl.lockf``) on one byte per point of a single lock file at the
results root (``results/.topobench-points.lock``, a hidden file no reader of results lists), the byte chosen by a hash
of the point's path. The locks are taken in ascending order (so two sweeps never deadlock), held while the sweep's
units run, and released by the kernel when the process ends however it ends (kill -9 included): no stale lock is ever
left. A sweep that finds a point locked says so in one line and waits; the caller then reads again which points are
done, so the waiting run skips what the other one finished instead of running it again.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_NAME = ".topobench-points.lock"
_OFFSETS = 1 << 60  # bytes of the lock file's (sparse, never written) range the points are spread over


def lock_offset(root: Path, path: Path) -> int:
    """The byte of the lock file that stands for the point ``path`` (a hash of its path under ``root``)."""
    try:
        key = str(path.relative_to(root))
    except ValueError:
        key = str(path.resolve())
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % _OFFSETS


@contextmanager
def locked_points(root: Path, paths: Iterable[Path]) -> Iterator[bool]:
    """Hold the lock of every point in ``paths`` for the block; yield whether another process held any of them (the
    block was entered only after it let go, so what is done must be read again)."""
    paths = list(paths)
    by_offset = {lock_offset(root, p): p for p in paths}
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    waited = False
    try:
        for offset in sorted(by_offset):
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if not waited:
                    logger.warning("another run is measuring points of this sweep (e.g. %s): waiting for it to "
                                   "finish, then running only what it left", by_offset[offset])
                waited = True
                fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
        yield waited
    finally:
        os.close(fd)  # closing the descriptor releases every lock this process holds on the file
