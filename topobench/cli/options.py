"""Checked command-line options: argparse types that refuse out-of-range and non-finite numbers, and a parser whose
errors are one line.

Every numeric option of the scripts goes through one of these types, so ``--count -3``, ``--timeout nan`` or
``--port 70000`` end with ``error: argument --count: …`` and exit status 2 before anything is loaded or written.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (``error: …; see PROG --help``), exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}; see {self.prog} --help", file=sys.stderr)
        sys.exit(2)


def _number(text: str, kind: type, what: str) -> int | float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r} (not a finite number)")
    return value


def _ranged(kind: type, what: str, accept: Callable[[Any], bool], doc: str) -> Callable[[str], Any]:
    """An argparse type: ``text`` read as ``kind`` (finite), refused with ``expected <what>`` unless ``accept``."""

    def check(text: str) -> Any:
        value = kind(_number(text, kind, what))
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    check.__doc__ = doc
    return check


MAX_SECONDS = 10_000_000.0  # ~115 days: beyond this a timeout overflows the process-wait clock

# Bounds of the counts that size a run's memory or its length: a typo (--repeat 1000000000) is refused at once
# instead of growing for minutes (each is far beyond any useful value on one machine).
MAX_THREADS = 1024  # --threads: query threads in one process (each holds a stack and its answers)
MAX_REPEAT = 1000  # --repeat: fresh builds per point
MAX_RUNS = 10_000  # --runs: timed passes per point
MAX_ROUNDS = 100_000  # --rounds: passes over the queries per --threads measurement (latencies kept: rounds × queries)

positive_int = _ranged(int, "a whole number >= 1", lambda v: v >= 1, "A whole number ≥ 1.")
nonnegative_int = _ranged(int, "a whole number >= 0", lambda v: v >= 0, "A whole number ≥ 0.")
port = _ranged(int, "a port number 0..65535", lambda v: 0 <= v <= 65535, "A TCP port, 0 (any free port) to 65535.")
positive_float = _ranged(float, "a finite number > 0", lambda v: v > 0, "A finite number > 0.")
seconds = _ranged(float, f"a number of seconds > 0 and <= {MAX_SECONDS:g}", lambda v: 0 < v <= MAX_SECONDS,
                  "A duration: a finite number of seconds > 0 and at most :data:`MAX_SECONDS`.")
fraction = _ranged(float, "a number between 0 and 1", lambda v: 0.0 <= v <= 1.0,
                   "A finite number in [0, 1] (a recall level, a share).")
finite_float = _ranged(float, "a finite number", lambda v: True,
                       "Any finite number (ranges are checked where the value is used).")
integer = _ranged(int, "a whole number", lambda v: True,
                  "Any whole number (ranges are checked where the value is used).")


def bounded_int(high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``high``."""
    return _ranged(int, f"a whole number from 1 to {high:,}", lambda v: 1 <= v <= high,
                   f"A whole number from 1 to {high:,}.")


def thread_levels(text: str) -> list[int]:
    """``1,2,4``: thread counts, each a whole number from 1 to :data:`MAX_THREADS`, no repeats (``--threads 0``
    names the fix)."""
    parts = [p.strip() for p in text.split(",")]
    levels = []
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected thread counts such as 1,2,4, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"thread counts are 1 or more, got {value} in {text!r}: use e.g. "
                                             "--threads 1,2 (leave --threads out for single-query mode)")
        if value > MAX_THREADS:
            raise argparse.ArgumentTypeError(f"thread counts are at most {MAX_THREADS}, got {value} in {text!r}")
        if value in levels:
            raise argparse.ArgumentTypeError(f"thread count {value} is given twice in {text!r}")
        levels.append(value)
    return levels
