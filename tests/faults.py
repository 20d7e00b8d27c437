"""Helpers of the fault tests: calling an entry point in-process as a user would, and reading what it said."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


def call(main: Callable[[Sequence[str]], int], argv: Sequence[str],
         capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """Run a script's ``main(argv)``; return its exit status and its non-empty stderr lines."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def assert_one_error(code: int, lines: list[str], needle: str, status: int = 2) -> None:
    """Exit ``status``, the last line ``error: …`` containing ``needle``, no traceback."""
    assert code == status, lines
    assert lines and lines[-1].startswith("error: ") and needle in lines[-1], lines
    assert not any("Traceback" in line for line in lines), lines


def files_under(folder: Path) -> list[Path]:
    """Every file under ``folder`` (none when it does not exist)."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
