"""A study's cells, done / running / missing, and running the missing ones in order."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from topobench.core.errors import ConfigError
from topobench.runs.executors.base import Executor
from topobench.study.cells import FORMAT, cell_path, read_cell, run_cell, running_path
from topobench.study.spec import Cell, Study
from topobench.training.checkpoints import LOG_FILE, read_summary
from topobench.training.recipes import run_folder

logger = logging.getLogger(__name__)

OLD_FORMAT = "old"  # a finished cell whose file is of an older format (study.py run --upgrade runs it again)


@dataclass
class CellStatus:
    cell: Cell
    state: str  # done | running | missing
    cost_seconds: float  # the cell's recorded total when done; training seconds so far otherwise
    detail: str = ""


def select_cells(study: Study, names: list[str] | None) -> list[Cell]:
    """The study's cells, or those named (a misspelt name is one error listing the study's cells)."""
    if not names:
        return list(study.cells)
    by_name = {c.name: c for c in study.cells}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigError(f"study {study.name!r} has no cell {unknown[0]!r}; its cells: {', '.join(by_name)} "
                          "(see `python study.py status NAME`)")
    return [by_name[n] for n in names]


def cell_status(study: Study, cell: Cell) -> CellStatus:
    path = cell_path(study.name, cell.name)
    if path.exists():
        record = read_cell(path, cell)
        state = "done" if record["format"] == FORMAT else OLD_FORMAT
        return CellStatus(cell, state, float(record.get("cost_seconds", {}).get("total", 0.0)),
                          "" if state == "done" else f"format {record['format']}: `run --upgrade` reruns it")
    progress = _training_progress(cell)
    lock = running_path(study.name, cell.name)
    if lock.exists() and _alive(lock):
        return CellStatus(cell, "running", progress[0], progress[1])
    return CellStatus(cell, "missing", progress[0], progress[1])


def _alive(lock) -> bool:
    try:
        pid = int(json.loads(lock.read_text(encoding="utf-8"))["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def _training_progress(cell: Cell) -> tuple[float, str]:
    """(seconds spent training so far, a short description) from the cell's training folder."""
    if not cell.variant.trains:
        return 0.0, ""
    folder = run_folder(cell.variant.config())
    summary = read_summary(folder)
    if summary is not None:
        return float(summary.get("train_seconds", 0.0)), "trained"
    log = folder / LOG_FILE
    if not log.exists():
        return 0.0, ""
    steps, seconds = 0, 0.0
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        if "step" in entry and "event" not in entry:
            steps = max(steps, int(entry["step"]))
        seconds += float(entry.get("seconds", 0.0)) if entry.get("event") else 0.0
    return seconds, f"trained to step {steps}"


def study_status(study: Study, names: list[str] | None = None) -> list[CellStatus]:
    return [cell_status(study, c) for c in select_cells(study, names)]


def run_study(study: Study, names: list[str] | None = None, executor: Executor | None = None,
              upgrade: bool = False) -> list[str]:
    """Run every missing cell (of ``names``, else of the study) in order; return the names of the cells run. With
    ``upgrade``, cells whose file is of an older format run again too: the training is reused (or reproduced), the
    dataset benchmarked again, and the new file records whether the task metrics reproduced the old file's.

    With an ``executor`` that runs other work than sweeps (Ray: ``runs_calls``), the cells are its tasks, run at
    once as far as it allows (:mod:`topobench.study.remote`); with any other, the cells run here and their sweeps
    are the local executor's."""
    todo = [s.cell for s in study_status(study, names) if s.state in ("missing", "running")
            or (upgrade and s.state == OLD_FORMAT)]
    logger.info("study %s: %d cells to run", study.name, len(todo))
    if executor is not None and executor.runs_calls and todo:
        from topobench.study.remote import run_cells

        return run_cells(study, todo, executor)
    ran = []
    for cell in tqdm(todo, desc=f"study {study.name}", unit="cell"):
        logger.info("cell %s (%s)", cell.name, cell.dataset)
        run_cell(study, cell)
        ran.append(cell.name)
    return ran


def load_cells(study_name: str) -> list[dict[str, Any]]:
    """Every cell file of a study (sorted by cell name), each checked for format: the report's only input."""
    from topobench.study.cells import studies_dir

    folder = studies_dir() / study_name / "cells"
    if not folder.is_dir():
        return []
    return [read_cell(p) for p in sorted(folder.glob("*.json"))]
