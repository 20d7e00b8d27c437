"""One unit of a sweep, as a child runs it: build an index once, then measure and write each pending point.

Kept below the runner (which plans the sweep) and below the executors (which start children that call
:func:`run_definition`), so neither imports the other: the runner imports the executors, and the executors import
this module. :class:`RunConfig` (the run.py flags) lives here because both sides read it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

import numpy as np

from topobench.core.distances import distances_to
from topobench.core.machine import machine_facts, versions
from topobench.core.registry import get_registry
from topobench.datasets.store import Dataset, load_dataset
from topobench.datasets.texts import dataset_texts
from topobench.runs import index_store, memory
from topobench.runs import results as res
from topobench.runs.definitions import Definition
from topobench.runs.timing import Measurement, measure_batch, measure_single, measure_texts, measure_threads

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
    skip_failed: bool = False  # leave points whose last attempt failed alone (they still count as failed)
    repeat: int = 1  # runs of every point, each in a fresh process (run.py --repeat); every run is kept
    repeat_index: int = 1  # which of those runs a unit's child makes (set per unit by run_sweep)
    threads: int | None = None  # run.py --threads N: N threads answer the queries concurrently (None: single/batch)
    rounds: int = 10  # with threads: rounds over the queries per timed pass
    force_large: bool = False  # allow a grid beyond definitions.MAX_GRID_POINTS points (run.py --force-large)


def point_paths(config: RunConfig, definition: Definition) -> list[Path]:
    return [
        res.result_path(config.dataset, config.count, definition.algorithm, config.batch, list(definition.arguments),
                        list(qargs), threads=config.threads)
        for qargs in definition.query_argument_groups
    ]


def run_definition(config: RunConfig, definition: Definition, pending: list[int], save: bool = False,
                   written: list[int] | None = None) -> None:
    """Build the index once (and save it when ``save``), then measure and write each pending query-argument point,
    appending its position to ``written`` once its file is in place.

    With ``config.repeat_index`` > 1 (``--repeat``) each result is added to the point's file as one more run
    (:func:`topobench.runs.results.append_repeat`), unless the file holds no complete result yet.

    Runs in the child."""
    dataset = load_dataset(config.dataset, build=False)
    # Availability and arguments were checked by the parent (select_definitions) before any child started.
    index = get_registry().create("indexes", definition.algorithm, dataset.distance, *definition.arguments,
                                  check_available=False)
    cls = type(index)
    facts = {**machine_facts(), "versions": versions()}
    doc_texts = query_texts = None
    start = perf_counter()
    if cls.needs_texts:
        doc_texts, query_texts = dataset_texts(dataset)
    loaded_rss = memory.rss_bytes()
    with memory.Phase() as build_memory:
        build_start = perf_counter()
        if cls.needs_texts:
            index.fit_texts(doc_texts)
        else:
            index.fit(dataset.train)
        build_time = perf_counter() - build_start
    logger.info("built %s in %.2f s (setup %.2f s)", index, build_time, build_start - start)
    size = index.index_size()
    if save:
        index_store.save_index(index, dataset, definition.algorithm, definition.arguments,
                               definition.query_argument_groups, build_time)
    paths = point_paths(config, definition)
    for i in pending:
        qargs = definition.query_argument_groups[i]
        with memory.Phase() as search_memory:
            index.set_query_arguments(*qargs)
            if cls.needs_texts:
                m = measure_texts(index, query_texts, config.count, config.runs, config.batch)
            elif config.batch:
                m = measure_batch(index, dataset.test, config.count, config.runs)
            elif config.threads:
                m = measure_threads(index, dataset.test, config.count, config.runs, config.threads, config.rounds)
            else:
                m = measure_single(index, dataset.test, config.count, config.runs)
        result = to_result(config, definition, dataset, index, qargs, m, build_time, size)
        result.memory = memory.record(build_memory, search_memory, loaded_rss)
        result.machine = facts
        if config.repeat_index > 1 and res.result_problem(paths[i], config.count, len(dataset.test),
                                                          list(definition.arguments), list(qargs)) is None:
            number = res.append_repeat(paths[i], result)
            logger.info("%s: run %d of %d kept beside the earlier ones", result.name, number, config.repeat)
        else:
            res.write_result(paths[i], result)
        if written is not None:
            written.append(i)
        res.failure_path(paths[i]).unlink(missing_ok=True)
        logger.info("%s: %.1f QPS", result.name, 1.0 / max(m.best_search_time, 1e-12))
    index.done()


def to_result(config: RunConfig, definition: Definition, dataset: Dataset, index, qargs, m: Measurement,
              build_time: float, size: int | None) -> res.Result:
    """The result file's content for one measured point (distances of the found neighbours computed here); also used
    by :mod:`topobench.study.qps_interleaved`, which times points outside a sweep."""
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
        search_times=m.search_times, stats=stats, rounds=m.rounds, latencies=m.latencies, query_stats=m.query_stats,
    )
