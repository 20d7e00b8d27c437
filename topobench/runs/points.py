"""The state of each point of a sweep, so that only a complete, readable result counts as done.

A point is ``done`` when its result file passes :func:`topobench.runs.results.result_problem` (it opens, holds every
attr and array, the shapes fit the dataset and ``--count``, the parameters are the point's); ``corrupt`` when a file is
there but fails that check (a truncated or damaged file, a file of another point); ``failed`` when the last attempt
recorded a failure (timeout, crash, error) and left no result; ``missing`` when it was never run. Only ``done`` points
are skipped by a rerun: a failed point is retried unless ``--skip-failed``, a corrupt file is reported and rerun.

A complete result that an earlier version wrote under its old, hash-less name is adopted (renamed to the current name)
instead of being measured again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topobench.core.atomic import replace
from topobench.runs import results as res

logger = logging.getLogger(__name__)

DONE, CORRUPT, FAILED, MISSING = "done", "corrupt", "failed", "missing"


@dataclass(frozen=True)
class PointState:
    """Where a point stands: ``state`` is done | corrupt | failed | missing; ``reason`` says why (not done)."""

    path: Path
    state: str
    reason: str = ""


def adopt_legacy(path: Path, legacy: Path, count: int, n_queries: int, build_args: Any, query_args: Any) -> bool:
    """Rename a complete result of this very point from its old name ``legacy`` to ``path``; True when adopted."""
    if legacy == path or path.exists() or not legacy.exists():
        return False
    if res.result_problem(legacy, count, n_queries, build_args, query_args) is not None:
        return False  # damaged, or another point's (old names collide): leave it alone
    try:
        replace(legacy, path, "result file")
    except OSError as exc:
        logger.warning("cannot rename %s to %s (%s): measuring the point again", legacy, path.name, exc)
        return False
    failure = res.failure_path(legacy)
    if failure.exists():
        failure.unlink(missing_ok=True)
    logger.info("adopted %s (named by an earlier version) as %s", legacy.name, path.name)
    return True


def point_state(path: Path, legacy: Path, count: int, n_queries: int, build_args: Any, query_args: Any) -> PointState:
    """The state of the point whose result belongs at ``path`` (``legacy``: its name in earlier versions)."""
    adopt_legacy(path, legacy, count, n_queries, build_args, query_args)
    if path.exists():
        problem = res.result_problem(path, count, n_queries, build_args, query_args)
        if problem is None:
            return PointState(path, DONE)
        return PointState(path, CORRUPT, f"result file {path} is unusable: {problem}")
    if res.failure_path(path).exists():
        info = res.read_failure(path)
        status = str(info.get("status") or "failed")
        error = str(info.get("error") or "").strip().splitlines()
        detail = f" ({error[-1]})" if error and error[-1] not in status else ""
        return PointState(path, FAILED, status + detail)
    return PointState(path, MISSING)


def written_since(path: Path, count: int, n_queries: int, build_args: Any, query_args: Any, started: float) -> bool:
    """True when ``path`` holds a complete result of this point written at or after ``started`` (a Unix time)."""
    try:
        fresh = path.stat().st_mtime >= started - 1.0
    except OSError:
        return False
    return fresh and res.result_problem(path, count, n_queries, build_args, query_args) is None
