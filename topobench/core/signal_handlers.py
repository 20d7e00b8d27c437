"""Keep this process's C-level handlers of the fault signals across a call that would replace them (``ray.init``).

Why this exists: ``ray.init`` installs Ray's crash reporter on SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP and
SIGTERM, and ``ray.shutdown`` resets the first six to their defaults (measured with Ray 2.60 on this project's stack).
A process that also hosts the JVM (the ``bm25`` plugins run Anserini in-process through pyjnius) depends on the JVM's
own SIGSEGV handler: HotSpot turns safepoint polls and implicit null checks into SIGSEGVs and catches them, so once
the handler is reset to the default, the next garbage collection that meets compiled Java code kills the whole
process with "Segmentation fault" — at a random later moment, far from the Ray call that caused it. Python's own
handlers (``faulthandler``, a ``signal.signal`` SIGTERM handler) are lost the same way.

:func:`kept_fault_handlers` saves the kernel-level action of each of those signals before the call and puts it back
after, so Ray's calls leave the process's handlers as they found them. Ray's driver-side crash reporter is therefore
not kept (a fault in the driver still ends the process, with the JVM's or Python's report instead of Ray's).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

FAULT_SIGNALS = tuple(getattr(signal, name) for name in
                      ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGTRAP", "SIGTERM")
                      if hasattr(signal, name))
_ACTION_BYTES = 512  # larger than any platform's struct sigaction (glibc x86-64: 152): kept opaque, never parsed


def _libc() -> ctypes.CDLL | None:
    """The C library with ``sigaction``, or None where there is none (Windows)."""
    if os.name != "posix":
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "sigaction") else None


def handler_actions(signals: tuple[int, ...] = FAULT_SIGNALS) -> dict[int, bytes]:
    """Each signal's current kernel-level action, as opaque bytes (empty where ``sigaction`` is unavailable)."""
    libc = _libc()
    if libc is None:
        return {}
    actions = {}
    for signum in signals:
        action = ctypes.create_string_buffer(_ACTION_BYTES)
        if libc.sigaction(signum, None, action) == 0:
            actions[signum] = action.raw
    return actions


def handler_addresses(signals: tuple[int, ...] = FAULT_SIGNALS) -> dict[int, int]:
    """Each signal's handler as an address (0: the default action, 1: ignored), to compare states.

    The saved actions themselves are not comparable byte for byte: the C library leaves its own garbage in the part
    of the signal mask the kernel does not use. The handler is the first member of ``struct sigaction`` everywhere.
    """
    size = ctypes.sizeof(ctypes.c_void_p)
    return {signum: int.from_bytes(raw[:size], sys.byteorder) for signum, raw in handler_actions(signals).items()}


def restore_actions(actions: dict[int, bytes]) -> None:
    """Put back actions saved by :func:`handler_actions`."""
    libc = _libc()
    if libc is None:
        return
    for signum, raw in actions.items():
        if libc.sigaction(signum, ctypes.create_string_buffer(raw, _ACTION_BYTES), None) != 0:
            logger.warning("could not restore the handler of %s (errno %d)", signal.Signals(signum).name,
                           ctypes.get_errno())


@contextmanager
def kept_fault_handlers(signals: tuple[int, ...] = FAULT_SIGNALS) -> Iterator[None]:
    """Run the block, then restore the handlers of ``signals`` it replaced (also when it raises)."""
    saved = handler_actions(signals)
    try:
        yield
    finally:
        restore_actions(saved)
