"""Run every (index × parameters) point of ``algos.yaml`` on a dataset: isolated, timed, resumable.

Each definition (one index build) runs in its own process under a timeout: a crash or a hang is recorded as a
``.failed.json`` beside the result files it would have written, and the sweep goes on. Inside the child the index is
built once and every ``query-args`` group is swept over it; each point's result is written (temporary name, then rename)
as soon as it is measured, so a killed sweep keeps what it finished and a rerun skips it.

With ``save_index`` (``run.py --save-index [ARGS]``) each selected build (only those with build args ``ARGS`` when
given) is also written to ``indexes/`` right after it is built (:mod:`topobench.runs.index_store`); a build whose
points are
all done but whose index is not saved yet is built again just to save it.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

import numpy as np
from tqdm import tqdm

from topobench.core.distances import distances_to
from topobench.core.errors import TopobenchError, UnknownNameError
from topobench.core.registry import get_registry
from topobench.datasets.store import Dataset, load_dataset
from topobench.datasets.texts import dataset_texts, has_texts
from topobench.runs import index_store
from topobench.runs import results as res
from topobench.runs.definitions import Definition, check_signatures, parse_definitions
from topobench.runs.timing import Measurement, measure_batch, measure_single, measure_texts

logger = logging.getLogger(__name__)



def default_definitions() -> Path:
    """``algos.yaml`` in the working directory when there is one, else the repository's."""
    local = Path("algos.yaml")
    return local if local.exists() else Path(__file__).resolve().parents[2] / "algos.yaml"


@dataclass(frozen=True)
class RunConfig:
    """What one sweep was asked to do (the run.py flags)."""

    dataset: str
    count: int = 10
    runs: int = 5
    batch: bool = False
    force: bool = False
    timeout: float = 7200.0
    definitions_file: Path = field(default_factory=default_definitions)
    save_index: bool = False
    save_args: tuple | None = None  # with save_index: only the builds with these args (None: every build)


@dataclass
class SweepReport:
    """What a sweep did, for the CLI's closing lines."""

    ran: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    saved: list[Path] = field(default_factory=list)


def _point_paths(config: RunConfig, definition: Definition) -> list[Path]:
    return [
        res.result_path(config.dataset, config.count, definition.algorithm, config.batch, list(definition.arguments),
                        list(qargs))
        for qargs in definition.query_argument_groups
    ]


def _pending(config: RunConfig, definition: Definition) -> list[int]:
    """Indexes of the query groups still to run: no result and no recorded failure (unless --force)."""
    out = []
    for i, path in enumerate(_point_paths(config, definition)):
        if config.force or not (path.exists() or res.failure_path(path).exists()):
            out.append(i)
    return out


def select_definitions(config: RunConfig, dataset: Dataset, algorithms: list[str] | None) -> tuple[
        list[Definition], dict[str, str]]:
    """The enabled definitions for the requested algorithms; unavailable ones are returned with their reasons."""
    registry = get_registry()
    point_type = str(dataset.attrs.get("point_type", "float"))
    definitions = parse_definitions(config.definitions_file, point_type, dataset.distance, config.count,
                                    dataset.dimension)
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


def run_sweep(config: RunConfig, algorithms: list[str] | None = None) -> SweepReport:
    """Build the dataset if needed, then run every pending point of every selected definition."""
    dataset = load_dataset(config.dataset)
    definitions, unavailable = select_definitions(config, dataset, algorithms)
    if config.save_index:
        definitions = definitions_to_save(config, definitions)
    report = SweepReport(unavailable=unavailable)
    for name, reason in unavailable.items():
        logger.warning("skipping %s: unavailable: %s", name, reason)
    if algorithms and not definitions:
        raise TopobenchError("; ".join(f"{n} is unavailable: {r}" for n, r in unavailable.items()))
    context = mp.get_context("spawn")
    for definition in tqdm(definitions, desc=f"{config.dataset}", unit="build"):
        pending = _pending(config, definition)
        report.skipped += len(definition.query_argument_groups) - len(pending)
        saved = index_store.index_folder(config.dataset, definition.algorithm, definition.arguments)
        save = config.save_index and (config.force or not (saved / index_store.RECORD).exists())
        if not pending and not save:
            logger.debug("%s: all points done, skipped", definition)
            continue
        logger.info("running %s (%d points%s)", definition, len(pending), ", saving the index" if save else "")
        started = time.time()
        _run_isolated(context, config, definition, pending, save)
        if save:
            if (saved / index_store.RECORD).exists() and (saved / index_store.RECORD).stat().st_mtime >= started - 1:
                report.saved.append(saved)
            else:
                report.failed.append(f"{definition.algorithm} {list(definition.arguments)}: index not saved")
        paths = _point_paths(config, definition)
        for i in pending:
            if paths[i].exists():
                report.ran += 1
            else:
                report.failed.append(f"{definition.algorithm} {list(definition.arguments)} "
                                     f"{list(definition.query_argument_groups[i])}")
    return report


def _run_isolated(context, config: RunConfig, definition: Definition, pending: list[int], save: bool = False) -> None:
    """Run one definition in a child process; record a timeout or a crash for the points it did not write."""
    started = time.time()
    child = context.Process(target=_child_main, args=(config, definition, pending, logging.getLogger().level, save),
                            name=f"topobench-{definition.algorithm}")
    child.start()
    child.join(config.timeout)
    status = None
    if child.is_alive():
        status = f"timeout: no result after {config.timeout:g} s (--timeout)"
        child.kill()
        child.join()
    elif child.exitcode != 0:
        code = child.exitcode
        status = f"crashed: killed by signal {-code}" if code < 0 else f"crashed: exit code {code}"
    if status is None:
        return
    logger.error("%s %s", definition, status)
    for i in pending:
        path = _point_paths(config, definition)[i]
        if not path.exists():
            res.write_failure(path, {"status": status, "definition": str(definition),
                                     "query_args": list(definition.query_argument_groups[i]), "started": started})


def _die_with_parent() -> None:
    """Linux: have the kernel kill this child if the parent dies (SIGKILL of run.py leaves no orphan running)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_main(config: RunConfig, definition: Definition, pending: list[int], log_level: int,
                save: bool = False) -> None:
    _die_with_parent()
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        run_definition(config, definition, pending, save)
    except Exception:  # noqa: BLE001 - recorded per point, the sweep goes on
        error = traceback.format_exc()
        logger.error("%s failed:\n%s", definition, error)
        for i in pending:
            path = _point_paths(config, definition)[i]
            if not path.exists():
                res.write_failure(path, {"status": "error", "definition": str(definition),
                                         "query_args": list(definition.query_argument_groups[i]), "error": error})


def run_definition(config: RunConfig, definition: Definition, pending: list[int], save: bool = False) -> None:
    """Build the index once (and save it when ``save``), then measure and write each pending query-argument point.

    Runs in the child."""
    dataset = load_dataset(config.dataset, build=False)
    # Availability and arguments were checked by the parent (select_definitions) before any child started.
    index = get_registry().create("indexes", definition.algorithm, dataset.distance, *definition.arguments,
                                  check_available=False)
    cls = type(index)
    doc_texts = query_texts = None
    start = perf_counter()
    if cls.needs_texts:
        doc_texts, query_texts = dataset_texts(dataset)
        build_start = perf_counter()
        index.fit_texts(doc_texts)
    else:
        build_start = perf_counter()
        index.fit(dataset.train)
    build_time = perf_counter() - build_start
    logger.info("built %s in %.2f s (setup %.2f s)", index, build_time, build_start - start)
    size = index.index_size()
    if save:
        index_store.save_index(index, dataset, definition.algorithm, definition.arguments,
                               definition.query_argument_groups, build_time)
    paths = _point_paths(config, definition)
    for i in pending:
        qargs = definition.query_argument_groups[i]
        index.set_query_arguments(*qargs)
        if cls.needs_texts:
            m = measure_texts(index, query_texts, config.count, config.runs, config.batch)
        elif config.batch:
            m = measure_batch(index, dataset.test, config.count, config.runs)
        else:
            m = measure_single(index, dataset.test, config.count, config.runs)
        result = _to_result(config, definition, dataset, index, qargs, m, build_time, size)
        res.write_result(paths[i], result)
        failure = res.failure_path(paths[i])
        if failure.exists():
            failure.unlink()
        logger.info("%s: %.1f QPS", result.name, 1.0 / max(m.best_search_time, 1e-12))
    index.done()


def _to_result(config: RunConfig, definition: Definition, dataset: Dataset, index, qargs, m: Measurement,
               build_time: float, size: int | None) -> res.Result:
    if m.scores is not None:
        distances = np.where(m.neighbors >= 0, -m.scores, np.inf).astype(np.float32)
        stats = {**m.stats, "text_index": 1.0}
    else:
        distances = np.stack([distances_to(dataset.distance, q, dataset.train, rows)
                              for q, rows in zip(dataset.test, m.neighbors, strict=True)])
        stats = m.stats
    return res.Result(
        dataset=config.dataset, algorithm=definition.algorithm, name=str(index), count=config.count,
        batch=config.batch, distance=dataset.distance, build_args=list(definition.arguments),
        query_args=list(qargs), build_time=build_time, index_size_bytes=size, best_search_time=m.best_search_time,
        run_count=config.runs, threads=m.threads, times=m.times, neighbors=m.neighbors, distances=distances,
        search_times=m.search_times, stats=stats,
    )
