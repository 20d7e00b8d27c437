"""The executor interface: the runner hands an executor units of work and gets back one outcome per unit.

A :class:`Unit` is one definition of ``algos.yaml`` (one index build) with the query-argument points still to run.
Running it means building the index once and measuring each pending point (``unit_run.run_definition``). Where that
happens is the executor's business: a spawned process on this machine (``local``), a task on a cluster, a container.
Whatever runs it, the contract is the same:

- every pending point ends with either a complete result file or ``<point>.failed.json`` at its path (the paths are in
  ``Unit.paths``, computed by the runner on the machine that writes results);
- a unit that runs past ``config.timeout`` seconds is stopped and its unwritten points recorded as ``timeout: …``; a
  worker that dies (a crash, the kernel's OOM killer) as ``crashed: …``; an exception in the build or the sweep as
  ``error: …`` (:func:`failure_status`); :func:`record_failures` writes those records;
- one unit's failure never stops the others, and :meth:`Executor.run` yields an :class:`Outcome` for every unit it
  was given, in any order (a distributed executor may run several units at once);
- the executor must not change what is measured: single-query timing still runs on one thread in the worker.

Problems an executor can see before any work starts (its runtime missing, a cluster without the resources a unit
asks for) are raised from :meth:`Executor.start` or :meth:`Executor.check` as
:class:`~topobench.core.errors.ConfigError` (one line with the fix), before anything is written.
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from topobench.core.errors import ConfigError
from topobench.runs import points
from topobench.runs import results as res
from topobench.runs.definitions import Definition
from topobench.runs.unit_run import RunConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """One definition to build once, with the positions of its query-argument groups still to measure."""

    config: RunConfig  # the sweep's flags, with this unit's repeat_index
    definition: Definition
    pending: tuple[int, ...]  # positions in definition.query_argument_groups
    n_queries: int  # queries of the dataset, to tell a complete result from a damaged one
    paths: tuple[Path, ...]  # the result path of every query-argument group (not only the pending ones)
    save: bool = False  # also save the built index (run.py --save-index)

    def __str__(self) -> str:
        return str(self.definition)

    def fresh(self, i: int, since: float) -> bool:
        """Whether point ``i`` got a complete result at or after ``since`` (a ``time.time()``)."""
        return points.written_since(self.paths[i], self.config.count, self.n_queries,
                                    list(self.definition.arguments), list(self.definition.query_argument_groups[i]),
                                    since)


@dataclass(frozen=True)
class Outcome:
    """How one unit ended.

    ``status`` is None when the worker ran the unit to its end (points it could not measure were recorded by it, as
    ``error: …``); otherwise the timeout or crash that stopped it, already recorded for its unwritten points."""

    unit: Unit
    started: float  # time.time() when the unit started: results written since are this unit's
    status: str | None = None


def failure_status(exc: BaseException) -> tuple[str, str]:
    """The one-line status (``error: …``) and the full error text recorded for a unit that raised ``exc``.

    An ``OSError`` with an errno (a full disk, a lost permission) is recorded by its cause, not its stack."""
    import traceback

    error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, OSError) and exc.errno:
        return f"error: {os.strerror(exc.errno)} ({type(exc).__name__} errno {exc.errno})", error
    return f"error: {type(exc).__name__}: {exc}".splitlines()[0][:500], error


def record_failures(unit: Unit, status: str, since: float | None, skip: Sequence[int] = (),
                    extra: dict[str, Any] | None = None) -> None:
    """Write ``<point>.failed.json`` with ``status`` and ``extra`` (``started``, or the ``error`` traceback) for every
    pending point of ``unit`` not in ``skip`` and, when ``since`` is given, without a complete result written since."""
    for i in unit.pending:
        if i in skip or (since is not None and unit.fresh(i, since)):
            continue
        res.write_failure(unit.paths[i], {"status": status, "definition": str(unit.definition),
                                          "query_args": list(unit.definition.query_argument_groups[i]),
                                          **(extra or {})})


class Executor(ABC):
    """Runs units of work and reports how each ended. Used as a context manager: ``start`` on entry (bring up a
    runtime, connect to a cluster), ``stop`` on exit (even after an error); nested ``with`` blocks start and stop it
    once."""

    name: ClassVar[str]
    runs_calls: ClassVar[bool] = False  # whether ``call_each`` runs other work (study cells, encoding shards) there

    def start(self) -> None:
        """Make the executor ready; raise ConfigError (one line, the fix) when it cannot be."""
        return None

    def stop(self) -> None:
        """Release what ``start`` took. Called once, also after a failure."""
        return None

    def check(self, units: Sequence[Unit]) -> None:
        """Refuse, before any work, units this executor can never run here (ConfigError naming the fix)."""
        return None

    @abstractmethod
    def run(self, units: Sequence[Unit]) -> Iterator[Outcome]:
        """Run every unit; yield one Outcome per unit as it ends (in any order)."""

    def call_each(self, fn: Callable[..., Any], calls: Sequence[tuple], whole_node: bool = False,
                  gpu: bool = False) -> Iterator[tuple[int, Any, BaseException | None]]:
        """Run ``fn(*args)`` for each ``args`` of ``calls`` where this executor runs work (a study's cells):
        yield ``(position, value, None)`` or ``(position, None, error)`` as each ends, in any order. ``whole_node``
        asks for every CPU of a node, ``gpu`` for a GPU where there is one. ``fn`` must be importable by name.

        An executor that runs only sweeps leaves this out (``runs_calls`` False): callers check ``runs_calls`` and
        then run the work themselves, here."""
        raise ConfigError(f"the {self.name} executor runs sweeps only; leave --executor out")

    _entered: int = 0  # nesting depth of ``with``: the CLI enters first (to fail before any work), run_sweep again

    def __enter__(self) -> Executor:
        if self._entered == 0:
            self.start()
            _ACTIVE.append(self)
        self._entered += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._entered -= 1
        if self._entered == 0:
            _ACTIVE.remove(self)
            self.stop()


_ACTIVE: list[Executor] = []  # executors inside a ``with`` block, innermost last


def active_executor() -> Executor | None:
    """The executor of the innermost ``with`` block, if any: work found on the way (a dataset to build in shards)
    can go where the sweep's units go."""
    return _ACTIVE[-1] if _ACTIVE else None


def now() -> float:
    """Wall-clock time as result files' modification times see it (what ``Outcome.started`` holds)."""
    return time.time()
