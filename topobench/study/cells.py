"""Running one study cell and its file: train (or resume) → encode → benchmark → ``studies/<study>/cells/<cell>.json``.

A cell is resumable at every step: the training run resumes from its last checkpoint (it is keyed by the
configuration's fingerprint), the dataset file is written atomically, finished benchmark points are skipped, and the
cell file is written last and atomically — a killed study loses at most the cell in progress, which resumes. While a
cell runs, ``studies/<study>/running/<cell>.json`` says so (pid, start), for ``study.py status``.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path
from topobench.core.errors import ConfigError, DatasetError, NoResultsError
from topobench.core.registry import get_registry
from topobench.core.roots import env_folder
from topobench.datasets.store import Dataset, load_dataset
from topobench.report.export import load_points
from topobench.runs.runner import RunConfig, run_sweep
from topobench.study.cell_check import check_cell
from topobench.study.measure import (
    algorithm_summary,
    best_task,
    exact_metrics,
    index_geometry,
    positive_cosines,
)
from topobench.study.provenance import dataset_provenance
from topobench.study.settings import pack_per_query, point_settings, unpack_per_query
from topobench.study.spec import Cell, Study
from topobench.training.checkpoints import read_summary
from topobench.training.config import EXACT
from topobench.training.recipes import run_folder

logger = logging.getLogger(__name__)

FORMAT = 3  # 3: every point kept whole, per-query values included (topobench.study.settings)
# 2: index counters at a level along their own frontier (1: along QPS's, refused: `study.py remeasure`)
READABLE_FORMATS = (2, 3)
STUDIES_ENV = "TOPOBENCH_STUDIES"
IVF_NLIST = 256  # the largest nlist of algos.yaml's ivf grid: the geometry the IVF index pays for
PQ_BYTES_PER_DIM = 8  # one 8-bit sub-quantiser per 8 dimensions (PQ48 for 384-d MiniLM)
TASK_DEPTH = 100  # results per query that Recall@100 needs


def studies_dir() -> Path:
    """``$TOPOBENCH_STUDIES``, or studies/ when it is unset or empty (never the working directory itself)."""
    return env_folder(STUDIES_ENV, "studies")


def cell_path(study: str, cell: str) -> Path:
    return studies_dir() / study / "cells" / f"{cell}.json"


def running_path(study: str, cell: str) -> Path:
    return studies_dir() / study / "running" / f"{cell}.json"


def read_cell(path: Path, cell: Cell | None = None) -> dict[str, Any]:
    """A cell file, checked: readable JSON of this format, every value as the schema says and the study and cell its
    place and name say (:func:`topobench.study.cell_check.check_cell`), and, given ``cell``, of that cell's
    configuration. Any violation is a ``ConfigError`` naming the file and the field: never a silent drop."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable cell file ({exc}); delete it and run the cell again") from None
    if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
        found = data.get("format") if isinstance(data, dict) else None
        if isinstance(found, int) and 0 < found < min(READABLE_FORMATS):
            raise ConfigError(f"{path}: a format-{found} cell file, and this topobench reads format {FORMAT}; run "
                              f"`python study.py remeasure {data.get('study')}` on the machine that holds its "
                              "results, or delete it and run the cell again")
        raise ConfigError(f"{path}: not a format-{FORMAT} cell file; delete it and run the cell again")
    try:
        unpack_per_query(data.get("algorithms") or {}, str(path))
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{exc}; restore the file from git or delete it and run the cell again") from None
    check_cell(path, data)  # finite numbers where the schema says numbers; study and name those of its place
    if cell is not None:
        check_cell_identity(path, data, cell)
    return data


def check_cell_identity(path: Path, data: dict[str, Any], cell: Cell) -> None:
    """Raise unless the cell file at ``path`` was written for ``cell``: same dataset, same training fingerprint."""
    expected = cell.variant.config().fingerprint() if cell.variant.trains else None
    if data.get("fingerprint") != expected or data.get("dataset") != cell.dataset:
        raise ConfigError(f"{path}: its fingerprint {data.get('fingerprint')} is not that of {cell.dataset} "
                          f"({expected}); the recipe changed since it was run: delete the file to rerun the cell")


def run_cell(study: Study, cell: Cell) -> dict[str, Any]:
    """Train, encode and benchmark ``cell`` (whatever of it is missing), then write and return its cell file."""
    started, started_at = time.perf_counter(), _now()
    lock = mark_running(study.name, cell.name)
    try:
        dataset = load_dataset(cell.dataset)
        built = time.perf_counter()
        sweep = run_sweep(RunConfig(dataset=dataset.name, count=study.count, runs=study.runs,
                                    **({"definitions_file": study.definitions} if study.definitions else {})),
                          study.algorithms)
        deep = text_algorithms(study)
        if deep and not sweep.failed:
            sweep = run_sweep(RunConfig(dataset=dataset.name, count=TASK_DEPTH, runs=study.runs,
                                        **({"definitions_file": study.definitions} if study.definitions else {})), deep)
        if sweep.failed:
            raise ConfigError(f"cell {cell.name}: {len(sweep.failed)} benchmark points failed ({sweep.failed[0]}); "
                              "see the .failed.json beside the results, fix the cause and run the study again")
        benchmarked = time.perf_counter()
        load = os.getloadavg()[0]  # the last minute, the benchmark's own search process (≈ 1) included
        record = cell_record(study, cell, dataset)
        previous = previous_cell(study.name, cell.name)
        if previous is not None:
            record["previous"] = reproduction(previous, record)
        record["cost_seconds"] = _cost(cell, dataset, built - started, benchmarked - built, started_at)
        record["benchmark_load"] = {"load_1min": round(load, 2), "cores": os.cpu_count()}
        path = write_cell(study.name, cell.name, record)
        logger.info("cell %s written to %s (%.0f s)", cell.name, path, time.perf_counter() - started)
        return record
    finally:
        lock.unlink(missing_ok=True)


def previous_cell(study: str, cell: str) -> dict[str, Any] | None:
    """The cell's existing file (of an older format, when ``study.py run --upgrade`` runs it again), unchecked, or
    None."""
    try:
        data = json.loads(cell_path(study, cell).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def reproduction(previous: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """What a rerun of a finished cell says about reproducibility: the old file's format and creation, and whether
    every exact-search task metric and geometry statistic came out identical (training and encoding are meant to
    reproduce bit for bit; the index timings are not)."""
    same = {key: previous.get(key) == record.get(key) for key in ("exact", "per_query", "positive_cosines")}
    old_geometry, new_geometry = previous.get("geometry") or {}, record.get("geometry") or {}
    # Geometry statistics go through eigen-decompositions and k-means whose last digits vary with thread timing
    # (effective dimension 78.00940391 vs 78.00940395 for identical vectors): equal to a relative 1e-6.
    same["geometry"] = all(_close(old_geometry.get(k), v) for k, v in new_geometry.items() if k in old_geometry)
    if not all(same.values()):
        logger.warning("cell %s did not reproduce its earlier file: %s differ", record.get("cell"),
                       ", ".join(k for k, v in same.items() if not v))
    return {"format": previous.get("format"), "created": (previous.get("provenance") or {}).get("created"),
            "reproduced": same}


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def text_algorithms(study: Study) -> list[str]:
    """The study's algorithms that search the texts (BM25) when its count is below :data:`TASK_DEPTH`: their task
    metrics come from their own results, and Recall@100 needs 100 of them, so they also run at that depth (dense
    variants take their task metrics from exact search instead)."""
    if study.count >= TASK_DEPTH:
        return []
    registry = get_registry()
    return [a for a in study.algorithms if registry.get("indexes", a).cls.needs_texts]


def mark_running(study: str, cell: str) -> Path:
    """Say that this process runs ``cell`` (``running/<cell>.json``: pid, start), for ``study.py status``."""
    lock = running_path(study, cell)
    with atomic_path(lock) as tmp:
        tmp.write_text(json.dumps({"pid": os.getpid(), "started": _now()}), encoding="utf-8")
    return lock


def write_cell(study: str, cell: str, record: dict[str, Any]) -> Path:
    """Write a cell's file (atomically, last: its presence means the cell is done); return its path."""
    path = cell_path(study, cell)
    check_cell(path, record)  # what the readers would refuse is never written
    packed = {**record, "algorithms": pack_per_query(record.get("algorithms") or {})}
    with atomic_path(path) as tmp:
        tmp.write_text(cell_json(packed), encoding="utf-8")
    return path


_NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][-0-9.eE+]*(?:,\s*-?[0-9][-0-9.eE+]*)*)\s*\]")


def cell_json(record: dict[str, Any]) -> str:
    """A cell as indented JSON whose lists of numbers (per-query values, frontier points) stay on one line each: one
    number per line would more than double a format-3 cell (≈ 1.3 MB for NFCorpus's 100 points × 323 queries)."""
    text = json.dumps(record, indent=1, sort_keys=True)
    return _NUMBER_LIST.sub(lambda m: "[" + ",".join(x.strip() for x in m.group(1).split(",")) + "]", text) + "\n"


def cell_record(study: Study, cell: Cell, dataset: Dataset) -> dict[str, Any]:
    """Everything a cell file holds except its cost (see docs/STUDIES.md for the schema)."""
    exact, per_query = exact_metrics(dataset)
    algorithms = index_summaries(study, dataset, exact.get("ndcg@10"))
    config = cell.variant.config() if cell.variant.trains else None
    return {
        "format": FORMAT, "study": study.name, "cell": cell.name, "dataset": cell.dataset,
        "corpus": cell.variant.corpus, "encoder": cell.variant.encoder, "recipe": cell.variant.recipe,
        "overrides": cell.variant.overrides, "factors": cell.factors, "seed": cell.seed, "count": study.count,
        "fingerprint": config.fingerprint() if config else None,
        "config": json.loads(json.dumps(config.to_dict(), default=str)) if config else None,
        **({"profile": config.profile} if config and config.profile != EXACT else {}),  # exact cells: as before
        "provenance": {**dataset_provenance(dataset), "created": _now()},
        "training": _training(cell), "exact": exact, "per_query": per_query,
        "positive_cosines": positive_cosines(dataset), "geometry": geometry(dataset, cell),
        "algorithms": algorithms,
    }


def index_summaries(study: Study, dataset: Dataset, exact_ndcg: float | None) -> dict[str, Any]:
    """Per algorithm of ``study``, what its results on ``dataset`` give (:func:`algorithm_summary`): None for an
    algorithm without results."""
    points = load_points(dataset.name, count=study.count, batch=False)
    settings = point_settings(dataset, study.count, study.algorithms)
    deep = text_algorithms(study)
    deep_points = load_points(dataset.name, count=TASK_DEPTH, batch=False) if deep else []
    algorithms = {}
    for algorithm in study.algorithms:
        mine = [p for p in points if p.algorithm == algorithm]
        algorithms[algorithm] = algorithm_summary(mine, exact_ndcg) if mine else None
        if algorithms[algorithm] is not None:
            algorithms[algorithm]["settings"] = settings[algorithm]
        task = best_task([p for p in deep_points if p.algorithm == algorithm]) if algorithm in deep else None
        if algorithms[algorithm] is not None and task is not None:
            algorithms[algorithm]["task"] = task  # from the run at TASK_DEPTH: Recall@100 included
    return algorithms


def remeasured_record(study: Study, cell: Cell) -> dict[str, Any]:
    """``cell``'s file with its index measures (``algorithms``) recomputed from this machine's results, as this
    topobench measures them, at the current format; everything else in the file (training, cost, task metrics,
    geometry, provenance) is kept. For cell files of an older format, without training or benchmarking again: the
    results must be the ones the cell was benchmarked from (same points per algorithm). Writes nothing."""
    path = cell_path(study.name, cell.name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable cell file ({exc}); run the cell with `python study.py run "
                          f"{study.name} --cells {cell.name}`") from None
    if not isinstance(data, dict) or not isinstance(data.get("algorithms"), dict):
        raise ConfigError(f"{path}: not a cell file; delete it and run the cell again")
    check_cell_identity(path, data, cell)
    try:
        dataset = load_dataset(cell.dataset, build=False)
        algorithms = index_summaries(study, dataset, (data.get("exact") or {}).get("ndcg@10"))
    except (DatasetError, NoResultsError) as exc:
        raise ConfigError(f"cell {cell.name}: {exc}; remeasuring needs the dataset and the results the cell was "
                          "benchmarked from (on the machine that ran it), or delete the cell file and run it again"
                          ) from None
    before = {name: (summary or {}).get("points") for name, summary in data["algorithms"].items()}
    after = {name: (summary or {}).get("points") for name, summary in algorithms.items()}
    if before != after:
        raise ConfigError(f"cell {cell.name}: the results here have points per algorithm {after}, the cell file "
                          f"{before}: they are not the results it was measured from; run the cell again instead")
    data.update(format=FORMAT, algorithms=algorithms, remeasured=_now())
    return data


def _summary(cell: Cell) -> dict[str, Any] | None:
    """The cell's training summary (``training.json``); None for a variant that does not train."""
    return read_summary(run_folder(cell.variant.config())) or {} if cell.variant.trains else None


def _training(cell: Cell) -> dict[str, Any] | None:
    return _training_record(_summary(cell))


def _training_record(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """The cell file's ``training`` entry, from the training summary (None: the variant does not train)."""
    if summary is None:
        return None
    best = summary.get("kept", [{}])[0] if summary.get("kept") else {}
    evaluations = summary.get("evaluations", [])
    return {"steps": summary.get("total_steps"), "seconds": summary.get("train_seconds"),
            "eval_seconds": round(sum(e.get("seconds", 0.0) for e in evaluations), 1),
            "evaluations": len(evaluations), "best_step": summary.get("best_step"),
            "dev": {k: v for k, v in best.items() if k != "step"}}


def geometry(dataset: Dataset, cell: Cell) -> dict[str, float | None]:
    """The dataset's geometry statistics plus IVF/PQ costs, each of the latter also relative to the stock model's."""
    stats = {k: float(v) for k, v in sorted(dataset.geometry.items())}
    m = max(1, dataset.dimension // PQ_BYTES_PER_DIM)
    own = index_geometry(dataset.train, IVF_NLIST, m)
    stock = own if not cell.variant.trains else _stock_geometry(cell.variant.stock_name, m)
    stats.update(own)
    for key, value in own.items():
        base = stock[key]
        stats[f"{key.split('@')[0]}_rel"] = value / base if base > 0 else None  # undefined: null, never NaN
    return stats


_STOCK: dict[tuple[str, int], dict[str, float]] = {}


def _stock_geometry(name: str, m: int) -> dict[str, float]:
    if (name, m) not in _STOCK:
        stock = load_dataset(name)
        _STOCK[(name, m)] = index_geometry(stock.train, IVF_NLIST, m)
    return _STOCK[(name, m)]


def _cost(cell: Cell, dataset: Dataset, build_seconds: float, benchmark_seconds: float,
          started_at: str) -> dict[str, float]:
    """The cell's seconds: ``train`` the training's own record (optimiser steps + dev evaluations, every session of a
    resumed run), ``encode`` the rest of the dataset build this invocation timed (mining and dataset encodings),
    ``benchmark`` this invocation's, ``total`` their sum. A training that finished before the dataset's build began (a
    transfer cell, a rerun) was not paid by it: its encode is the whole build and its train is left out of the total."""
    summary = _summary(cell)
    training = _training_record(summary) or {}
    session = (summary or {}).get("last_session")
    recorded_build = float(dataset.attrs.get("build_seconds", 0.0))
    train = float(training.get("seconds") or 0.0) + float(training.get("eval_seconds") or 0.0)
    build = max(build_seconds, recorded_build) if build_seconds > 1.0 else recorded_build
    if session is not None:
        trained_here = session["finished_at"] >= _build_started(dataset, build_seconds, recorded_build, started_at)
        encode = build - session["train_seconds"] - session["eval_seconds"] if trained_here else build
    else:  # a summary written before sessions were recorded: a build shorter than the training reused a checkpoint
        trained_here = build >= train
        encode = build - train if trained_here else build
    total = (train if trained_here else 0.0) + max(encode, 0.0) + benchmark_seconds
    return {"train": round(train, 1), "encode": round(max(encode, 0.0), 1),
            "benchmark": round(benchmark_seconds, 1), "total": round(total, 1)}


def _build_started(dataset: Dataset, build_seconds: float, recorded_build: float, started_at: str) -> str:
    """When the build that made the dataset began: this invocation's start, or for a dataset built earlier its file's
    last write less its recorded build time (a training that finished inside that build was paid by it)."""
    if build_seconds > 1.0:
        return started_at
    began = dataset.path.stat().st_mtime - recorded_build
    return datetime.datetime.fromtimestamp(began, datetime.timezone.utc).isoformat(timespec="seconds")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
