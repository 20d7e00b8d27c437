"""Checked command-line options: argparse types that refuse out-of-range and non-finite numbers, and a parser whose
errors are one line.

Every numeric option of the scripts goes through one of these types, so ``--count -3``, ``--timeout nan`` or
``--port 70000`` end with ``error: argument --count: …`` and exit status 2 before anything is loaded or written.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn


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


def positive_int(text: str) -> int:
    """A whole number ≥ 1."""
    value = int(_number(text, int, "a whole number >= 1"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """A whole number ≥ 0."""
    value = int(_number(text, int, "a whole number >= 0"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    value = int(_number(text, int, "a port number 0..65535"))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = float(_number(text, float, "a finite number > 0"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


MAX_SECONDS = 10_000_000.0  # ~115 days: beyond this a timeout overflows the process-wait clock


def seconds(text: str) -> float:
    """A duration: a finite number of seconds > 0 and at most :data:`MAX_SECONDS`."""
    value = float(_number(text, float, "a number of seconds > 0"))
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0 and <= {MAX_SECONDS:g}, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A finite number in [0, 1] (a recall level, a share)."""
    value = float(_number(text, float, "a number between 0 and 1"))
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (ranges are checked where the value is used)."""
    return float(_number(text, float, "a finite number"))


def integer(text: str) -> int:
    """Any whole number (ranges are checked where the value is used)."""
    return int(_number(text, int, "a whole number"))



def thread_levels(text: str) -> list[int]:
    """``1,2,4``: thread counts, each a whole number ≥ 1, no repeats (``--threads 0`` names the fix)."""
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
        if value in levels:
            raise argparse.ArgumentTypeError(f"thread count {value} is given twice in {text!r}")
        levels.append(value)
    return levels
