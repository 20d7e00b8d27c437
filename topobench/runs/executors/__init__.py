"""Executors: where and how the runner's units of work (one definition's pending points each) run.

:mod:`topobench.runs.executors.base` holds the interface (:class:`~topobench.runs.executors.base.Executor`, ``Unit``,
``Outcome``); :mod:`topobench.runs.executors.local` runs each unit in a spawned process on this machine (the default);
:mod:`topobench.runs.executors.ray` runs units as tasks on a Ray cluster; :mod:`topobench.runs.executors.docker` runs
each unit in its own container (pinned CPUs, a memory limit, no network). :func:`make_executor` builds one by name
(``run.py --executor NAME``).
"""

from __future__ import annotations

from typing import Any

from topobench.core.errors import ConfigError
from topobench.runs.executors.base import Executor

EXECUTORS = ("local", "ray", "docker")
OPTION_OF = {"ray_address": "ray", "image": "docker", "memory": "docker"}  # command-line option → its executor


def make_executor(name: str, **options: Any) -> Executor:
    """The executor called ``name`` with its command-line options (``ray``: ``ray_address``; ``docker``: ``image``,
    ``memory`` in bytes; None when not given); an option of another executor is a ConfigError."""
    given = {k: v for k, v in options.items() if v is not None}
    if name == "local":
        from topobench.runs.executors.local import LocalExecutor

        if given:
            option = next(iter(given))
            executor = OPTION_OF.get(option, option)
            raise ConfigError(f"--{option.replace('_', '-')} needs --executor {executor}"
                              + (" (or --docker)" if executor == "docker" else ""))
        return LocalExecutor()
    if name == "ray":
        from topobench.runs.executors.ray import RayExecutor

        unknown = set(given) - {"ray_address"}
        if unknown:
            raise ConfigError(f"--{unknown.pop().replace('_', '-')} does not apply to the ray executor")
        return RayExecutor(address=given.get("ray_address"))
    if name == "docker":
        from topobench.runs.executors.docker import DEFAULT_IMAGE, DockerExecutor

        unknown = set(given) - {"image", "memory"}
        if unknown:
            raise ConfigError(f"--{unknown.pop().replace('_', '-')} does not apply to the docker executor")
        return DockerExecutor(image=given.get("image", DEFAULT_IMAGE), memory=given.get("memory"))
    raise ConfigError(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")
