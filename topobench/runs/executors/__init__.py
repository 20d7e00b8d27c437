"""Executors: where and how the runner's units of work (one definition's pending points each) run.

:mod:`topobench.runs.executors.base` holds the interface (:class:`~topobench.runs.executors.base.Executor`, ``Unit``,
``Outcome``); :mod:`topobench.runs.executors.local` runs each unit in a spawned process on this machine (the default);
:mod:`topobench.runs.executors.ray` runs units as tasks on a Ray cluster. :func:`make_executor` builds one by name
(``run.py --executor NAME``).
"""

from __future__ import annotations

from typing import Any

from topobench.core.errors import ConfigError
from topobench.runs.executors.base import Executor

EXECUTORS = ("local", "ray")


def make_executor(name: str, **options: Any) -> Executor:
    """The executor called ``name`` with its command-line options (``ray``: ``ray_address``, None when not given); an
    option of another executor is a ConfigError."""
    given = {k: v for k, v in options.items() if v is not None}
    if name == "local":
        from topobench.runs.executors.local import LocalExecutor

        if given:
            option = next(iter(given))
            raise ConfigError(f"--{option.replace('_', '-')} needs --executor {option.split('_')[0]}")
        return LocalExecutor()
    if name == "ray":
        from topobench.runs.executors.ray import RayExecutor

        unknown = set(given) - {"ray_address"}
        if unknown:
            raise ConfigError(f"--{unknown.pop().replace('_', '-')} does not apply to the ray executor")
        return RayExecutor(address=given.get("ray_address"))
    raise ConfigError(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")
