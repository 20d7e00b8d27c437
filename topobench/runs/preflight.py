"""Checks a sweep makes before any build starts, so that what would fail late (after an index is built, after a
child has grown for minutes) is one ``error:`` line up front and nothing is written.

* :func:`grid_limit`: how many points the grid file may expand to (``run.py --force-large`` raises it);
* :func:`check_result_folders`: every result folder a sweep will write can be created (a file where
  ``results/<dataset>/<count>/`` belongs is found now, not after the index is built);
* :func:`check_threads_memory`: ``--threads`` keeps every call's latency (``rounds × queries``): estimated from the
  dataset's query count and refused when it would not fit in the memory available;
* :func:`check_texts`: a text index (BM25) reads the corpus behind the dataset in its child; a corpus file that is
  missing, truncated or corrupt is reported here, as one line, instead of as a traceback per build.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from topobench.core.errors import ConfigError
from topobench.core.machine import memory_available_bytes
from topobench.core.paths import check_writable_dir
from topobench.core.registry import get_registry
from topobench.datasets.store import Dataset
from topobench.datasets.texts import dataset_texts
from topobench.runs.definitions import MAX_FORCED_GRID_POINTS, MAX_GRID_POINTS, Definition

# Bytes kept per timed call of a --threads measurement: its clock ticks (int64), its latency (float64) and the
# result file's copy, with room for the arrays numpy makes on the way.
BYTES_PER_THREADS_CALL = 32
MEMORY_SHARE = 0.5  # a measurement may plan on at most this share of the memory available when it starts


def grid_limit(force_large: bool) -> int:
    """The most points a grid file may expand to: :data:`MAX_GRID_POINTS`, or with ``--force-large``
    :data:`MAX_FORCED_GRID_POINTS`."""
    return MAX_FORCED_GRID_POINTS if force_large else MAX_GRID_POINTS


def check_result_folders(paths: Iterable[Path], fix: str) -> None:
    """Each distinct folder of ``paths`` can be created and written (see :func:`check_writable_dir`)."""
    for folder in sorted({path.parent for path in paths}):
        check_writable_dir(folder, "result folder", fix)


def check_texts(dataset: Dataset, definitions: Iterable[Definition]) -> None:
    """Load the corpus texts a text index of ``definitions`` will search (once, then dropped), so that a corpus that
    cannot be read is a ``DatasetError`` before any build."""
    registry = get_registry()
    if any(registry.get("indexes", d.algorithm).cls.needs_texts for d in definitions):
        dataset_texts(dataset)


def check_threads_memory(threads: int | None, rounds: int, n_queries: int) -> None:
    """Refuse ``--threads`` with ``--rounds`` whose per-call latencies would not fit in half the available memory."""
    if not threads:
        return
    need = rounds * n_queries * BYTES_PER_THREADS_CALL
    available = memory_available_bytes()
    if available is not None and need > available * MEMORY_SHARE:
        most = max(1, int(available * MEMORY_SHARE) // (n_queries * BYTES_PER_THREADS_CALL))
        raise ConfigError(f"--rounds {rounds} keeps {rounds:,} × {n_queries:,} latencies ({need / 1e9:.1f} GB), more "
                          f"than half the {available / 1e9:.1f} GB of memory available: use --rounds {most} or less")
