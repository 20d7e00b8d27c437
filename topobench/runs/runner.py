"""Run every (index × parameters) point of ``algos.yaml`` on a dataset: isolated, timed, resumable.

Each definition (one index build) runs in its own process under a timeout: a crash or a hang is recorded as a
``.failed.json`` beside the result files it would have written, and the sweep goes on. Inside the child the index is
built once and every ``query-args`` group is swept over it; each point's result is written (temporary name, then rename)
as soon as it is measured, so a killed sweep keeps what it finished and a rerun skips it. Only a complete, readable
result counts as finished (:mod:`topobench.runs.points`): a rerun tries failed points again (``skip_failed`` leaves
them) and reruns points whose file is damaged. Everything a sweep needs (writable output folders, a valid dataset,
``count`` within its ground truth, a grid whose values fit the constructors) is checked before any build starts.

With ``save_index`` (``run.py --save-index [ARGS]``) each selected build (only those with build args ``ARGS`` when
given) is also written to ``indexes/`` right after it is built (:mod:`topobench.runs.index_store`); a build whose
points are
all done but whose index is not saved yet is built again just to save it.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from topobench.core.errors import ConfigError, TopobenchError, UnknownNameError
from topobench.core.paths import check_writable_dir
from topobench.core.registry import get_registry
from topobench.datasets.store import Dataset, load_dataset
from topobench.datasets.texts import has_texts
from topobench.runs import index_store, points, preflight
from topobench.runs import results as res
from topobench.runs.definitions import Definition, check_signatures, parse_definitions
from topobench.runs.executors.base import Executor, Unit
from topobench.runs.executors.local import LocalExecutor
from topobench.runs.point_locks import locked_points
from topobench.runs.unit_run import RunConfig, default_definitions, point_paths

__all__ = ["RunConfig", "SweepReport", "default_definitions", "run_sweep", "select_definitions"]

logger = logging.getLogger(__name__)



@dataclass
class SweepReport:
    """What a sweep did, for the CLI's closing lines."""

    ran: int = 0  # points measured by this sweep
    skipped: int = 0  # points that already had a complete result
    retried: int = 0  # points run again because they had failed or their result file was unusable
    failed: list[str] = field(default_factory=list)  # points left without a valid result, each with the reason
    unavailable: dict[str, str] = field(default_factory=dict)
    saved: list[Path] = field(default_factory=list)


def _label(definition: Definition, i: int) -> str:
    return f"{definition.algorithm} {list(definition.arguments)} {list(definition.query_argument_groups[i])}"


def _states(config: RunConfig, definition: Definition, n_queries: int) -> list[points.PointState]:
    """The state of each query group's point (adopting complete results written under an earlier version's name)."""
    out = []
    for qargs, path in zip(definition.query_argument_groups, point_paths(config, definition), strict=True):
        legacy = res.legacy_result_path(config.dataset, config.count, definition.algorithm, config.batch,
                                        list(definition.arguments), list(qargs), threads=config.threads)
        out.append(points.point_state(path, legacy, config.count, n_queries, list(definition.arguments), list(qargs)))
    return out


def _to_run(config: RunConfig, states: list[points.PointState]) -> list[int]:
    """Indexes of the query groups to run: every point without a complete result (all of them with --force), but
    not the failed ones with --skip-failed."""
    return [i for i, s in enumerate(states) if config.force or s.state in (points.MISSING, points.CORRUPT)
            or (s.state == points.FAILED and not config.skip_failed)]


def check_count(dataset: Dataset, count: int) -> None:
    """``--count`` must fit what the dataset's ground truth (and corpus) holds, else the results are padding."""
    holds = min(int(dataset.neighbors.shape[1]), len(dataset.train))
    if count > holds:
        raise ConfigError(f"--count {count} is more than the {holds} neighbours the ground truth of "
                          f"{dataset.name!r} holds: use --count {holds} or less")


def _plan(config: RunConfig, definitions: list[Definition], n_queries: int,
          report: SweepReport) -> list[tuple[Definition, list[int]]]:
    """Each definition with the query groups to run; says what failed before and which files are unusable."""
    plan, failed_before = [], []
    for definition in definitions:
        states = _states(config, definition, n_queries)
        pending = _to_run(config, states)
        for i, state in enumerate(states):
            if state.state == points.CORRUPT:
                logger.warning("%s; running the point again", state.reason)
                try:
                    state.path.unlink(missing_ok=True)
                except OSError as exc:  # a folder in the way, a file that may not be removed
                    raise TopobenchError(f"cannot remove the unusable result {state.path} ({exc.strerror or exc}): "
                                         "remove it yourself, then rerun") from exc
            elif state.state == points.FAILED:
                failed_before.append(f"{_label(definition, i)}: {state.reason}")
            if state.state == points.DONE and i not in pending:
                report.skipped += 1
            elif state.state in (points.FAILED, points.CORRUPT) and i in pending:
                report.retried += 1
        if config.skip_failed and not config.force:
            report.failed.extend(f"{_label(definition, i)}: failed before ({s.reason}); not retried (--skip-failed)"
                                 for i, s in enumerate(states) if s.state == points.FAILED)
        plan.append((definition, pending))
    if failed_before:
        retry = "not retried (--skip-failed)" if config.skip_failed and not config.force else (
            "retrying (--skip-failed skips them)")
        logger.warning("%d point%s failed before, %s: %s", len(failed_before), "s" * (len(failed_before) != 1), retry,
                       "; ".join(failed_before[:5]) + (" ..." if len(failed_before) > 5 else ""))
    return plan


def select_definitions(config: RunConfig, dataset: Dataset, algorithms: list[str] | None) -> tuple[
        list[Definition], dict[str, str]]:
    """The enabled definitions for the requested algorithms; unavailable ones are returned with their reasons."""
    registry = get_registry()
    point_type = str(dataset.attrs.get("point_type", "float"))
    definitions = parse_definitions(config.definitions_file, point_type, dataset.distance, config.count,
                                    dataset.dimension, preflight.grid_limit(config.force_large))
    for name in algorithms or []:
        registry.get("indexes", name)  # unknown name → clear error
    wanted = set(algorithms) if algorithms else None
    chosen, unavailable = [], {}
    for d in definitions:
        if (wanted is not None and d.algorithm not in wanted) or d.disabled:
            continue
        if d.algorithm not in registry.entries["indexes"]:
            logger.warning("%s: algorithm %r is not registered by any plugin; skipped", d.source, d.algorithm)
            continue
        reason = registry.unavailable_reason("indexes", d.algorithm)
        if not reason and registry.get("indexes", d.algorithm).cls.needs_texts and not has_texts(dataset):
            reason = f"it searches texts and {dataset.name!r} has none (use a corpus dataset such as scifact-minilm)"
        if not reason and registry.get("indexes", d.algorithm).cls.needs_texts and config.threads:
            reason = "--threads times concurrent vector searches and it searches texts"
        if reason:
            unavailable[d.algorithm] = reason
            continue
        chosen.append(d)
    missing = (wanted or set()) - {d.algorithm for d in chosen} - set(unavailable)
    if missing:
        raise UnknownNameError(
            f"no enabled definition for {', '.join(sorted(missing))} in {config.definitions_file} for "
            f"{point_type}/{dataset.distance}; add one or enable it"
        )
    classes = {d.algorithm: registry.get("indexes", d.algorithm).cls for d in chosen}
    check_signatures(chosen, classes, dataset.distance)
    return chosen, unavailable


def definitions_to_save(config: RunConfig, definitions: list[Definition]) -> list[Definition]:
    """The definitions ``--save-index`` keeps: those with ``save_args`` (when given) of indexes that can save."""
    registry = get_registry()
    if config.save_args is not None:
        chosen = [d for d in definitions if list(d.arguments) == list(config.save_args)]
        if not chosen:
            known = "; ".join(sorted({f"{d.algorithm} {','.join(map(str, d.arguments)) or '(none)'}"
                                      for d in definitions}))
            raise TopobenchError(f"--save-index {','.join(map(str, config.save_args))}: no selected build has these "
                                 f"args; builds: {known}")
        definitions = chosen
    unable = sorted({d.algorithm for d in definitions if not registry.get("indexes", d.algorithm).cls.can_save})
    if unable:
        raise TopobenchError(f"--save-index: {', '.join(unable)} cannot save an index (can_save is False); "
                             "leave them out with --algorithm")
    return definitions


def run_sweep(config: RunConfig, algorithms: list[str] | None = None, executor: Executor | None = None) -> SweepReport:
    """Check what the sweep needs (output folders, the dataset, ``--count``, the grid), build the dataset if needed,
    then run every point that has no complete result: failed points again (unless ``skip_failed``), corrupt result
    files again (reported), finished points never (unless ``force``).

    ``executor`` runs the units of work (one definition's pending points each; default :class:`LocalExecutor`: a
    spawned process per definition on this machine); it is started before the first unit and stopped after the last,
    and only when there is work for it."""
    check_writable_dir(res.results_dir(), "results folder", f"set {res.RESULTS_DIR_ENV} to a writable folder")
    if config.save_index:
        check_writable_dir(index_store.indexes_dir(), "indexes folder",
                           f"set {index_store.INDEXES_DIR_ENV} to a writable folder")
    # The grid file's syntax and entries, and the algorithm names, before a dataset is built (which can take long).
    parse_definitions(config.definitions_file, "float", "angular", config.count, 1,
                      preflight.grid_limit(config.force_large))
    if algorithms is not None and not algorithms:
        raise ConfigError("no algorithm named: give names such as hnsw,ivf, or none to run every enabled one")
    for name in algorithms or []:
        get_registry().get("indexes", name)
    dataset = load_dataset(config.dataset)
    config = dataclasses.replace(config, dataset=dataset.name)  # the canonical name: one results folder per dataset
    check_count(dataset, config.count)
    definitions, unavailable = select_definitions(config, dataset, algorithms)
    if config.save_index:
        definitions = definitions_to_save(config, definitions)
    report = SweepReport(unavailable=unavailable)
    for name, reason in unavailable.items():
        logger.warning("skipping %s: unavailable: %s", name, reason)
        if algorithms and name in algorithms:
            report.failed.append(f"{name}: unavailable: {reason}")
    if algorithms and not definitions:
        raise TopobenchError("; ".join(f"{n} is unavailable: {r}" for n, r in unavailable.items()))
    n_queries = len(dataset.test)
    preflight.check_threads_memory(config.threads, config.rounds, n_queries)
    preflight.check_result_folders((p for d in definitions for p in point_paths(config, d)),
                                   "move it away (results are written there) or set " + res.RESULTS_DIR_ENV)
    unavailable_failed = list(report.failed)
    plan = _plan(config, definitions, n_queries, report)
    waves = _waves(config, plan, n_queries, report)
    units = [unit for wave in waves for unit in wave]
    if not units:
        return report
    preflight.check_texts(dataset, [unit.definition for unit in units])  # a corpus that cannot be read: one line
    executor = executor or LocalExecutor()
    counted: set[tuple[int, int]] = set()
    with executor, ExitStack() as held:
        executor.check(units)  # before the progress bar: a refusal is one line
        if held.enter_context(locked_points(res.results_dir(), [u.paths[i] for u in units for i in u.pending])):
            # Another run held some of these points until now: plan again from what it left on disk.
            report = SweepReport(unavailable=unavailable, failed=list(unavailable_failed))
            waves = _waves(config, _plan(config, definitions, n_queries, report), n_queries, report)
            units = [unit for wave in waves for unit in wave]
        bar = tqdm(desc=f"{config.dataset}", unit="build", total=len(units))
        for wave in waves:  # one wave at a time: a point's runs are appended in order, whatever runs at once
            for outcome in executor.run(wave):
                _account(outcome.unit, outcome.started, report, counted)
                bar.update()
        bar.close()
    return report


def _waves(config: RunConfig, plan: list[tuple[Definition, list[int]]], n_queries: int,
           report: SweepReport) -> list[list[Unit]]:
    """The units to run, in ``config.repeat`` waves: wave r holds, per definition, the points that still need their
    r-th run — every run for a pending point (missing, failed, damaged, or all with --force), the missing ones for a
    point whose file keeps fewer runs than ``repeat``. Each unit is a fresh build in a fresh process."""
    waves: list[list[Unit]] = [[] for _ in range(config.repeat)]
    for definition, pending in plan:
        paths = tuple(point_paths(config, definition))
        saved = index_store.saved_folder(config.dataset, definition.algorithm, definition.arguments)
        save = config.save_index and (config.force or not (saved / index_store.RECORD).exists())
        first = dict.fromkeys(pending, 1)  # point → the first run it needs
        if config.repeat > 1:
            for i, path in enumerate(paths):
                have = 0 if i in first else res.repeat_count(path)  # 0: no result (failed, left by --skip-failed)
                if 0 < have < config.repeat:
                    first[i] = have + 1
                    report.skipped -= 1  # _plan counted it as done: it still needs runs
        for r in range(1, config.repeat + 1):
            todo = tuple(sorted(i for i, f in first.items() if f <= r))
            if todo or (save and r == 1):
                waves[r - 1].append(Unit(dataclasses.replace(config, repeat_index=r), definition, todo, n_queries,
                                         paths, save and r == 1))
        if not first and not save:
            logger.debug("%s: all points done, skipped", definition)
    return waves


def _account(unit: Unit, started: float, report: SweepReport, counted: set[tuple[int, int]]) -> None:
    """Count what one finished unit left: its points run or failed (with the recorded reason), its index saved.

    A point counts as run once, however many of its runs (``--repeat``) this sweep made; each failed run is listed."""
    config, definition = unit.config, unit.definition
    if unit.save:
        record = index_store.index_folder(config.dataset, definition.algorithm, definition.arguments)
        if (record / index_store.RECORD).exists() and (record / index_store.RECORD).stat().st_mtime >= started - 1:
            report.saved.append(record)
        else:
            report.failed.append(f"{definition.algorithm} {list(definition.arguments)}: index not saved")
    run = f" (run {config.repeat_index} of {config.repeat})" if config.repeat > 1 else ""
    for i in unit.pending:
        if unit.fresh(i, started):
            if (id(definition), i) not in counted:
                counted.add((id(definition), i))
                report.ran += 1
        else:
            why = res.read_failure(unit.paths[i]).get("status") or "no result written (see the errors logged above)"
            report.failed.append(f"{_label(definition, i)}{run}: {why}")
