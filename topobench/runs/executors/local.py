"""The local executor: each unit in its own spawned process on this machine, under ``--timeout``.

The child builds the index and measures its points (``unit_run.run_definition``), writing each result as soon as it is
measured; the parent waits at most ``config.timeout`` seconds, kills a child that is still running, and records a
timeout, a crash (a signal, a non-zero exit) or an exception as ``<point>.failed.json`` for the points that got no
result. Units run one after another, so a single-query measurement has the machine to itself.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
from collections.abc import Iterator, Sequence

from topobench.core.errors import TopobenchError
from topobench.runs.executors.base import Executor, Outcome, Unit, failure_status, now, record_failures
from topobench.runs.unit_run import run_definition

logger = logging.getLogger(__name__)


class LocalExecutor(Executor):
    """One spawned process per unit, one unit at a time (today's ``run.py``)."""

    name = "local"

    def run(self, units: Sequence[Unit]) -> Iterator[Outcome]:
        context = mp.get_context("spawn")
        for unit in units:
            logger.info("running %s (%d points%s)", unit, len(unit.pending), ", saving the index" if unit.save else "")
            yield run_isolated(context, unit)


def run_isolated(context, unit: Unit) -> Outcome:
    """Run one unit in a child process; record a timeout or a crash for the points it did not write."""
    started = now()
    child = context.Process(target=child_main, args=(unit, logging.getLogger().level, os.getpid()),
                            name=f"topobench-{unit.definition.algorithm}")
    child.start()
    child.join(unit.config.timeout)
    status = None
    if child.is_alive():
        status = f"timeout: no result after {unit.config.timeout:g} s (--timeout)"
        child.kill()
        child.join()
    elif child.exitcode != 0:
        code = child.exitcode
        status = f"crashed: killed by signal {-code}" if code < 0 else f"crashed: exit code {code}"
    if status is not None:
        logger.error("%s %s", unit, status)
        record_failures(unit, status, started, extra={"started": started})
    return Outcome(unit, started, status)


def die_with_parent(parent: int | None = None) -> None:
    """Linux: have the kernel kill this child if the parent dies (SIGKILL of run.py leaves no orphan running).

    The request only covers a parent alive when it is made; a parent killed while this child was still starting (the
    interpreter and the unit's modules load first) is gone already, and then this child exits at once: ``parent``,
    the pid the parent gave, is no longer its parent."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # orphaned before the request: nobody supervises this unit, so it must not run


def child_main(unit: Unit, log_level: int, parent: int | None = None) -> None:
    """The child's entry point: run the unit; an exception is recorded for each point not written. ``parent``: the
    supervising process's pid (see :func:`die_with_parent`)."""
    die_with_parent(parent)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    written: list[int] = []
    try:
        run_definition(unit.config, unit.definition, list(unit.pending), unit.save, written)
    except Exception as exc:  # noqa: BLE001 - recorded per point, the sweep goes on
        status, error = failure_status(exc)
        if (isinstance(exc, OSError) and exc.errno) or isinstance(exc, TopobenchError):
            # a full disk, a lost permission, a problem the user can fix: the cause, not the stack
            logger.error("%s failed: %s", unit, status)
        else:
            logger.error("%s failed:\n%s", unit, error)
        record_failures(unit, status, None, skip=written, extra={"error": error})
