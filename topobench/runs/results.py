"""Result files: ann-benchmarks' layout and attrs, plus topobench's per-run extras.

One file per (dataset, count, algorithm, mode, build args, query args) point:
``results/<dataset>/<count>/<algorithm>[-batch]/<params>.hdf5``. Attrs as in ann-benchmarks (``build_time``,
``index_size`` in kB, ``best_search_time`` in seconds per query, ``candidates``, ``name``, ``run_count``, ``distance``,
``count``, ``batch_mode``, ``algo``, ``dataset``) and datasets ``times``, ``neighbors``, ``distances``. Extras:
``index_size_bytes``, ``parameters`` (JSON of build and query args), ``threads``, ``stats`` (JSON: per-query means of
``distcomps``, ``hops``, ``lists_probed`` …), ``search_times`` (per-query search time of every run, for the spread).

A point that crashed or timed out gets ``<params>.failed.json`` instead, so a rerun knows it was tried.
Files are written under a temporary name and renamed, so a killed run never leaves a half-written result.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from topobench.core.atomic import atomic_path

RESULTS_DIR_ENV = "TOPOBENCH_RESULTS"


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_DIR_ENV, "results"))


def params_slug(build_args: list[Any], query_args: list[Any]) -> str:
    """A file-name-safe, deterministic name for one parameter point (as ann-benchmarks does)."""
    text = json.dumps([build_args, query_args], sort_keys=True)
    slug = re.sub(r"\W+", "_", text).strip("_") or "default"
    return slug[:200]


def result_path(dataset: str, count: int, algorithm: str, batch: bool, build_args: list[Any],
                query_args: list[Any], root: Path | None = None) -> Path:
    folder = (root or results_dir()) / dataset / str(count) / (algorithm + ("-batch" if batch else ""))
    return folder / f"{params_slug(build_args, query_args)}.hdf5"


def failure_path(path: Path) -> Path:
    return path.with_suffix(".failed.json")


@dataclass
class Result:
    """One measured point. ``times`` are the per-query latencies of the best run."""

    dataset: str
    algorithm: str
    name: str
    count: int
    batch: bool
    distance: str
    build_args: list[Any]
    query_args: list[Any]
    build_time: float
    index_size_bytes: int | None
    best_search_time: float
    run_count: int
    threads: int
    times: np.ndarray
    neighbors: np.ndarray
    distances: np.ndarray
    search_times: list[float] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    path: Path | None = None

    @property
    def candidates(self) -> float:
        return float((self.neighbors >= 0).sum(axis=1).mean()) if self.neighbors.size else 0.0

    @property
    def parameters(self) -> str:
        return json.dumps({"args": self.build_args, "query_args": self.query_args})


def write_result(path: Path, result: Result) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        a = f.attrs
        a["build_time"] = result.build_time
        a["index_size"] = (result.index_size_bytes or 0) / 1024.0
        a["index_size_bytes"] = -1 if result.index_size_bytes is None else int(result.index_size_bytes)
        a["best_search_time"] = result.best_search_time
        a["candidates"] = result.candidates
        a["name"] = result.name
        a["run_count"] = result.run_count
        a["distance"] = result.distance
        a["count"] = result.count
        a["batch_mode"] = result.batch
        a["algo"] = result.algorithm
        a["dataset"] = result.dataset
        a["expect_extra"] = False
        a["parameters"] = result.parameters
        a["threads"] = result.threads
        a["stats"] = json.dumps(result.stats)
        f.create_dataset("times", data=np.asarray(result.times, np.float64))
        f.create_dataset("neighbors", data=np.asarray(result.neighbors, np.int64))
        f.create_dataset("distances", data=np.asarray(result.distances, np.float32))
        f.create_dataset("search_times", data=np.asarray(result.search_times, np.float64))


def read_result(path: Path) -> Result:
    with h5py.File(path, "r") as f:
        a = f.attrs
        params = json.loads(a.get("parameters", '{"args": [], "query_args": []}'))
        size = int(a.get("index_size_bytes", -1))
        return Result(
            dataset=str(a.get("dataset", path.parents[2].name)),
            algorithm=str(a.get("algo", path.parent.name.removesuffix("-batch"))),
            name=str(a["name"]),
            count=int(a["count"]),
            batch=bool(a["batch_mode"]),
            distance=str(a["distance"]),
            build_args=params["args"],
            query_args=params["query_args"],
            build_time=float(a["build_time"]),
            index_size_bytes=None if size < 0 else size,
            best_search_time=float(a["best_search_time"]),
            run_count=int(a["run_count"]),
            threads=int(a.get("threads", 1)),
            times=f["times"][:],
            neighbors=f["neighbors"][:],
            distances=f["distances"][:],
            search_times=list(f["search_times"][:]) if "search_times" in f else [],
            stats=json.loads(a.get("stats", "{}")),
            path=path,
        )


def write_failure(path: Path, info: dict[str, Any]) -> None:
    with atomic_path(failure_path(path)) as tmp:
        tmp.write_text(json.dumps(info, indent=2, default=str))


def iter_results(dataset: str | None = None, count: int | None = None, batch: bool | None = None,
                 root: Path | None = None) -> Iterator[Result]:
    """Every readable result file, optionally filtered. Unreadable files are skipped with a warning."""
    import logging

    base = root or results_dir()
    pattern = f"{dataset or '*'}/{count if count is not None else '*'}/*/*.hdf5"
    for path in sorted(base.glob(pattern)):
        if path.name.startswith("."):
            continue
        is_batch = path.parent.name.endswith("-batch")
        if batch is not None and is_batch != batch:
            continue
        try:
            yield read_result(path)
        except (OSError, KeyError, ValueError) as exc:
            logging.getLogger(__name__).warning("skipping unreadable result %s: %s", path, exc)
