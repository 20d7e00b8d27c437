"""A study's cells on an executor that runs work elsewhere (``study.py run --executor ray``).

Each missing cell is one task — train (or resume) → encode → benchmark, :func:`topobench.study.cells.run_cell` run
on a worker — asking for a whole node's CPUs, or one GPU where the cluster has GPUs. The worker builds the cell's
dataset, checkpoints and results in the driver's folders (the absolute paths of ``TOPOBENCH_DATASETS``,
``TOPOBENCH_RESULTS`` and ``TOPOBENCH_CHECKPOINTS``, created on the node when missing: on a cluster without a shared
file system each node keeps its own, and a rerun on another node builds them again), and sends back the cell's record
and its result files; the driver writes the result files it lacks and the cell file, atomically, so the study's
report (which reads only cell files) and ``plot.py`` need nothing from the workers. While a cell is in flight the
driver holds its ``running/`` marker. Cells run concurrently; a failed cell is reported after the others finish.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path
from topobench.core.environment import temporary_environ
from topobench.core.errors import ConfigError, TopobenchError
from topobench.datasets.store import DATA_DIR_ENV, canonical_name, datasets_dir
from topobench.runs import results as res
from topobench.runs.executors.base import Executor
from topobench.study.cells import (
    STUDIES_ENV,
    TASK_DEPTH,
    mark_running,
    run_cell,
    running_path,
    text_algorithms,
    write_cell,
)
from topobench.study.spec import Cell, Study
from topobench.training.recipes import CHECKPOINTS_ENV, checkpoints_dir

logger = logging.getLogger(__name__)


def shared_dirs() -> dict[str, str]:
    """The folders a cell writes besides its cell file, as absolute paths for the workers."""
    return {DATA_DIR_ENV: str(datasets_dir().resolve()), res.RESULTS_DIR_ENV: str(res.results_dir().resolve()),
            CHECKPOINTS_ENV: str(checkpoints_dir().resolve())}


def run_cells(study: Study, cells: list[Cell], executor: Executor) -> list[str]:
    """Run ``cells`` through ``executor`` (all submitted at once); write each cell's results and file as it comes
    back; return the names of the cells written. Raises the first failure after the others finished."""
    dirs = shared_dirs()
    for cell in cells:
        mark_running(study.name, cell.name)
    ran, failures = [], []
    try:
        for i, value, error in executor.call_each(cell_task, [(study, cell, dirs) for cell in cells],
                                                  whole_node=True, gpu=True):
            cell = cells[i]
            running_path(study.name, cell.name).unlink(missing_ok=True)
            if error is not None:
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                logger.error("cell %s failed: %s", cell.name, message)
                failures.append((cell, error, message))
                continue
            record, files = value
            write_results(files)
            path = write_cell(study.name, cell.name, record)
            logger.info("cell %s written to %s", cell.name, path)
            ran.append(cell.name)
    finally:
        for cell in cells:
            running_path(study.name, cell.name).unlink(missing_ok=True)
    if failures:
        cell, error, message = failures[0]
        more = f" ({len(failures)} of {len(cells)} cells failed; the others are written)" if len(cells) > 1 else ""
        if isinstance(error, TopobenchError):
            raise type(error)(f"{message}{more}") from None
        raise ConfigError(f"cell {cell.name}: {type(error).__name__}: {message}{more}") from None
    return ran


def write_results(files: dict[str, bytes]) -> None:
    """Write result files sent back by a worker (paths relative to the results folder) that are not here yet."""
    root = res.results_dir()
    for relative, data in files.items():
        path = root / relative
        if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
            continue  # the worker shares this folder (one machine, or a shared file system)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)


def cell_task(study: Study, cell: Cell, dirs: dict[str, str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """In the worker: run the cell with the driver's folders and a scratch studies folder (the driver writes the
    cell file); return its record and the result files of its dataset, relative to the results folder."""
    with tempfile.TemporaryDirectory(prefix="topobench-cell-") as scratch, \
            temporary_environ({**dirs, STUDIES_ENV: scratch}):
        for folder in dirs.values():
            Path(folder).mkdir(parents=True, exist_ok=True)
        record = run_cell(study, cell)
        root = res.results_dir()
        counts = [study.count, *([TASK_DEPTH] if text_algorithms(study) else [])]
        files = {str(p.relative_to(root)): p.read_bytes() for count in counts
                 for p in sorted((root / canonical_name(cell.dataset) / str(count)).glob("*/*.hdf5"))}
        return record, files
