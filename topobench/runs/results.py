"""Result files: ann-benchmarks' layout and attrs, plus topobench's per-run extras.

One file per (dataset, count, algorithm, mode, build args, query args) point:
``results/<dataset>/<count>/<algorithm>[-batch|-threads<N>]/<params>.hdf5`` (``-threads<N>``: ``run.py --threads``,
with ``rounds`` and every call's ``latencies``), where ``<params>`` is a readable form of the
parameters (``16_200_80``) followed by a short hash of their exact JSON (``-3f9a…``), so two different parameter points
never share a file even when their readable forms agree (``[0.9, 0.4]`` and ``[0, 9, 0, 4]``). Files named by earlier
versions (the readable form alone) and files written by ann-benchmarks are still read (an ann-benchmarks file has no
``parameters``: its points are told apart by their ``name``). Attrs as in ann-benchmarks (``build_time``,
``index_size`` in kB, ``best_search_time`` in seconds per query, ``candidates``, ``name``, ``run_count``, ``distance``,
``count``, ``batch_mode``, ``algo``, ``dataset``) and datasets ``times``, ``neighbors``, ``distances``. Extras:
``index_size_bytes``, ``parameters`` (JSON of build and query args), ``threads``, ``stats`` (JSON: per-query means of
``distcomps``, ``hops``, ``lists_probed`` …), ``search_times`` (per-query search time of every run, for the spread),
``memory`` (JSON: peak resident memory of the build and of the point's search phase, :mod:`topobench.runs.memory`)
and ``machine`` (JSON: CPU, cores used, memory limit, GPU, library versions, Docker image;
:mod:`topobench.core.machine`).

A point that crashed or timed out gets ``<params>.failed.json`` instead, so a rerun knows it failed (and tries it
again). :func:`result_problem` tells a complete result from a damaged one. Files are written under a temporary name
and renamed, so a killed run never leaves a half-written result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from topobench.core.atomic import atomic_path
from topobench.core.names import check_name
from topobench.core.roots import env_folder

logger = logging.getLogger(__name__)

RESULTS_DIR_ENV = "TOPOBENCH_RESULTS"


def results_dir() -> Path:
    return env_folder(RESULTS_DIR_ENV, "results")


HASH_CHARS = 10  # hex digits of the parameters' hash in a file name (40 bits: no collision among a grid's points)
READABLE_CHARS = 100


def params_json(build_args: Any, query_args: Any) -> str:
    """The exact JSON of one parameter point (tuples as lists), which its file name hashes."""
    return json.dumps([list(build_args), list(query_args)], sort_keys=True)


def legacy_params_slug(build_args: Any, query_args: Any) -> str:
    """The name earlier versions (and ann-benchmarks) gave a point: every non-word character run replaced by ``_``.

    Not injective (``[0.9, 0.4]`` and ``[0, 9, 0, 4]`` both give ``0_9_0_4``): kept to find files written by them."""
    slug = re.sub(r"\W+", "_", params_json(build_args, query_args)).strip("_") or "default"
    return slug[:200]


def readable_params(build_args: Any, query_args: Any) -> str:
    """The readable part of a point's name (``16_200_80``; ``default`` without parameters)."""
    return legacy_params_slug(build_args, query_args)[:READABLE_CHARS]


def params_slug(build_args: Any, query_args: Any) -> str:
    """A file-name-safe name for one parameter point: its readable form and a short hash of its exact JSON."""
    digest = hashlib.sha256(params_json(build_args, query_args).encode()).hexdigest()[:HASH_CHARS]
    return f"{readable_params(build_args, query_args)}-{digest}"


THREADS_FOLDER = re.compile(r"-threads(\d+)$")  # <algorithm>-threads<N>: results of run.py --threads N


def mode_suffix(batch: bool, threads: int | None = None) -> str:
    """The folder suffix of a mode: ``-batch``, ``-threads<N>`` (N query threads, ``--threads``), or none (single)."""
    return "-batch" if batch else f"-threads{int(threads)}" if threads else ""


def folder_threads(folder_name: str) -> int | None:
    """N for a ``<algorithm>-threads<N>`` results folder, None for single-query and batch folders."""
    found = THREADS_FOLDER.search(folder_name)
    return int(found.group(1)) if found else None


def _folder(dataset: str, count: int, algorithm: str, batch: bool, root: Path | None,
            threads: int | None = None) -> Path:
    check_name(dataset, "dataset")
    check_name(algorithm, "algorithm")
    return (root or results_dir()) / dataset / str(int(count)) / (algorithm + mode_suffix(batch, threads))


def result_path(dataset: str, count: int, algorithm: str, batch: bool, build_args: list[Any],
                query_args: list[Any], root: Path | None = None, threads: int | None = None) -> Path:
    """Where the result of one point is written (``threads``: the level of a ``--threads`` run)."""
    return _folder(dataset, count, algorithm, batch, root, threads) / f"{params_slug(build_args, query_args)}.hdf5"


def legacy_result_path(dataset: str, count: int, algorithm: str, batch: bool, build_args: list[Any],
                       query_args: list[Any], root: Path | None = None, threads: int | None = None) -> Path:
    """Where an earlier version wrote the result of this point (possibly a colliding point's: check ``parameters``)."""
    return (_folder(dataset, count, algorithm, batch, root, threads)
            / f"{legacy_params_slug(build_args, query_args)}.hdf5")


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
    # Peak resident memory of the build and of this point's search phase (topobench.runs.memory.record).
    memory: dict[str, Any] = field(default_factory=dict)
    # The machine and library versions it was measured with (topobench.core.machine; "versions" inside).
    machine: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    # How many runs of this point the file keeps (run.py --repeat): this one (the first) and ``repeats/<2..>``.
    repeats: int = 1
    # run.py --threads N: rounds over the queries answered by ``threads`` threads, and every call's latency (seconds,
    # rounds × queries); 0 and None in single-query and batch mode.
    rounds: int = 0
    latencies: np.ndarray | None = None
    # A file without topobench's ``parameters`` (written by ann-benchmarks): the point is told apart by its ``name``.
    parameters_from_name: bool = False
    # Single-query mode: each index counter for each query (one untimed pass), {} where the index counts nothing.
    query_stats: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def candidates(self) -> float:
        return float((self.neighbors >= 0).sum(axis=1).mean()) if self.neighbors.size else 0.0

    @property
    def parameters(self) -> str:
        """JSON of the build and query args (and, for ann-benchmarks files, the ``name`` that carries them)."""
        params = {"args": self.build_args, "query_args": self.query_args}
        if self.parameters_from_name:
            params = {"name": self.name, **params}
        return json.dumps(params)


def write_result(path: Path, result: Result) -> None:
    """Write ``result`` as the (first and only) run of its point, replacing whatever ``path`` held."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        a = f.attrs
        a["index_size"] = (result.index_size_bytes or 0) / 1024.0
        a["candidates"] = result.candidates
        a["name"] = result.name
        a["distance"] = result.distance
        a["count"] = result.count
        a["batch_mode"] = result.batch
        a["algo"] = result.algorithm
        a["dataset"] = result.dataset
        a["expect_extra"] = False
        a["parameters"] = result.parameters
        _write_run(f, result)


def _write_run(group: h5py.Group, result: Result) -> None:
    """What differs from one run of a point to the next: times, answers, build, memory, machine."""
    a = group.attrs
    a["build_time"] = result.build_time
    a["index_size_bytes"] = -1 if result.index_size_bytes is None else int(result.index_size_bytes)
    a["best_search_time"] = result.best_search_time
    a["run_count"] = result.run_count
    a["threads"] = result.threads
    a["stats"] = json.dumps(result.stats)
    a["memory"] = json.dumps(result.memory)
    a["machine"] = json.dumps(result.machine)
    group.create_dataset("times", data=np.asarray(result.times, np.float64))
    group.create_dataset("neighbors", data=np.asarray(result.neighbors, np.int64))
    group.create_dataset("distances", data=np.asarray(result.distances, np.float32))
    group.create_dataset("search_times", data=np.asarray(result.search_times, np.float64))
    if result.rounds:
        a["rounds"] = result.rounds
        group.create_dataset("latencies", data=np.asarray(result.latencies, np.float64))
    if result.query_stats:
        per_query = group.create_group(QUERY_STATS)
        for key, values in result.query_stats.items():
            per_query.create_dataset(key, data=np.asarray(values, np.float64))


QUERY_STATS = "query_stats"  # the group holding each counter per query (one dataset per counter)
REPEATS = "repeats"  # the group holding runs 2, 3, … of a point (run.py --repeat), one subgroup each, named "2", "3", …


def repeat_count(path: Path) -> int:
    """How many runs of its point the result file at ``path`` keeps (0 when it does not open)."""
    try:
        with h5py.File(path, "r") as f:
            return 1 + (len(f[REPEATS]) if REPEATS in f else 0)
    except (OSError, ValueError, KeyError):
        return 0


def append_repeat(path: Path, result: Result) -> int:
    """Add ``result`` as one more run of the point whose result file is ``path`` (``repeats/<n>``); return n.

    The file is copied, extended and renamed into place, so a killed run leaves the previous runs intact."""
    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as f:
            group = f.require_group(REPEATS)
            number = len(group) + 2
            _write_run(group.create_group(str(number)), result)
    return number


REQUIRED_ATTRS = ("build_time", "best_search_time", "name", "run_count", "distance", "count", "batch_mode")
REQUIRED_DATA = ("times", "neighbors", "distances")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _json_attr(attrs: Any, key: str) -> dict[str, Any]:
    """A JSON-object attr (``memory``, ``machine``), {} when absent (files of earlier versions, ann-benchmarks')."""
    if key not in attrs:
        return {}
    try:
        value = json.loads(_text(attrs[key]))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _args_attr(attrs: Any, key: str) -> list[Any]:
    """An ``args`` / ``query_args`` attr as a list (JSON text or an array), [] when absent or unreadable."""
    if key not in attrs:
        return []
    value = attrs[key]
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(_text(value))
        except ValueError:
            return [_text(value)]
    value = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _parameters(attrs: Any) -> tuple[list[Any], list[Any], bool]:
    """(build args, query args, told apart by name): topobench's ``parameters`` attr, else ann-benchmarks' way."""
    if "parameters" in attrs:
        params = json.loads(_text(attrs["parameters"]))
        return list(params["args"]), list(params["query_args"]), False
    return _args_attr(attrs, "args"), _args_attr(attrs, "query_args"), True


def read_result(path: Path) -> Result:
    """The point's first run (what every plot and table reads); ``repeats`` says how many runs the file keeps."""
    with h5py.File(path, "r") as f:
        result = _read_run(f, f, path)
        result.repeats = 1 + (len(f[REPEATS]) if REPEATS in f else 0)
        return result


def read_repeats(path: Path) -> list[Result]:
    """Every run of the point kept in ``path``, the first first (one element for a file without repeats)."""
    with h5py.File(path, "r") as f:
        runs = [_read_run(f, f, path)]
        if REPEATS in f:
            for name in sorted(f[REPEATS], key=int):
                runs.append(_read_run(f, f[REPEATS][name], path))
    for run in runs:
        run.repeats = len(runs)
    return runs


def place_result(path: Path, data: bytes, append: bool = False) -> None:
    """Put a result file made elsewhere (a Ray worker's, as bytes) at ``path``, atomically: replacing what is there,
    or, with ``append`` (a unit making a later run of ``--repeat``) and a result already there, as one more run."""
    if append and repeat_count(path) > 0:
        with atomic_path(path.with_name(path.name + ".incoming")) as incoming:
            incoming.write_bytes(data)
            append_repeat(path, read_result(incoming))
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _read_run(f: h5py.File, group: h5py.Group, path: Path) -> Result:
    """One run: the point's identity from the file's attrs, the run's own figures and arrays from ``group``."""
    a, r = f.attrs, group.attrs
    build_args, query_args, from_name = _parameters(a)
    size = int(r.get("index_size_bytes", -1))
    return Result(
        dataset=_text(a.get("dataset", path.parents[2].name)),
        algorithm=_text(a.get("algo", THREADS_FOLDER.sub("", path.parent.name.removesuffix("-batch")))),
        name=_text(a["name"]),
        count=int(a["count"]),
        batch=bool(a["batch_mode"]),
        distance=_text(a["distance"]),
        build_args=build_args,
        query_args=query_args,
        parameters_from_name=from_name,
        build_time=float(r["build_time"]),
        index_size_bytes=None if size < 0 else size,
        best_search_time=float(r["best_search_time"]),
        run_count=int(r["run_count"]),
        threads=int(r.get("threads", 1)),
        times=group["times"][:],
        neighbors=group["neighbors"][:],
        distances=group["distances"][:],
        search_times=list(group["search_times"][:]) if "search_times" in group else [],
        stats=json.loads(r.get("stats", "{}")),
        memory=_json_attr(r, "memory"),
        machine=_json_attr(r, "machine"),
        path=path,
        rounds=int(r.get("rounds", 0)),
        latencies=group["latencies"][:] if "latencies" in group else None,
        query_stats={key: data[:] for key, data in group[QUERY_STATS].items()} if QUERY_STATS in group else {},
    )


def result_problem(path: Path, count: int, n_queries: int, build_args: Any, query_args: Any) -> str | None:
    """None when ``path`` holds a complete, readable result of this point; otherwise what is wrong with it.

    Complete: it opens, has every attr and array a result needs, its arrays read back, their shapes fit ``count``
    neighbours of ``n_queries`` queries, and its ``parameters`` are exactly this point's."""
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in REQUIRED_ATTRS + ("parameters",) if k not in f.attrs]
            missing += [k for k in REQUIRED_DATA if k not in f]
            if missing:
                return f"it lacks {', '.join(missing)}"
            if int(f.attrs["count"]) != count:
                return f"it holds count {int(f.attrs['count'])}, not {count}"
            params = json.loads(_text(f.attrs["parameters"]))
            if [params.get("args"), params.get("query_args")] != json.loads(params_json(build_args, query_args)):
                return f"it holds the parameters {params}, not those of this point"
            shapes = {k: f[k][...].shape for k in REQUIRED_DATA}  # reads the data: a damaged chunk fails here
            expected = {"times": (n_queries,), "neighbors": (n_queries, count), "distances": (n_queries, count)}
            wrong = [f"{k} {shapes[k]} (expected {expected[k]})" for k in REQUIRED_DATA if shapes[k] != expected[k]]
            if wrong:
                return f"its arrays have the wrong shape: {', '.join(wrong)}"
            if not np.isfinite(float(f.attrs["best_search_time"])):
                return "its best_search_time is not a finite number"
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        return f"it does not open as a result file ({type(exc).__name__}: {exc})"
    return None


def write_failure(path: Path, info: dict[str, Any]) -> bool:
    """Record that the point of ``path`` failed (``<params>.failed.json``); False (logged) when even that cannot be
    written, e.g. on a full disk: the point then simply has no result, which the runner reports."""
    try:
        with atomic_path(failure_path(path)) as tmp:
            tmp.write_text(json.dumps(info, indent=2, default=str))
    except OSError as exc:
        logger.error("cannot record the failure of %s (%s)", path.name, exc)
        return False
    return True


def read_failure(path: Path) -> dict[str, Any]:
    """The failure recorded for the point of ``path`` ({} when none or unreadable)."""
    try:
        info = json.loads(failure_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


ANY_THREADS = "any"


def iter_results(dataset: str | None = None, count: int | None = None, batch: bool | None = None,
                 root: Path | None = None, threads: int | str | None = None) -> Iterator[Result]:
    """Every readable result file, optionally filtered. Unreadable files are skipped with a warning.

    ``threads`` None: single-query and batch results only (``batch`` chooses between them); N: the ``--threads N``
    results; :data:`ANY_THREADS`: the results of every ``--threads`` level."""
    base = root or results_dir()
    if dataset is not None:
        check_name(dataset, "dataset")
    pattern = f"{dataset or '*'}/{int(count) if count is not None else '*'}/*/*.hdf5"
    for path in sorted(base.glob(pattern)):
        if path.name.startswith("."):
            continue
        level = folder_threads(path.parent.name)
        if (level is None) != (threads is None) or (threads not in (None, ANY_THREADS) and level != threads):
            continue
        is_batch = path.parent.name.endswith("-batch")
        if batch is not None and is_batch != batch:
            continue
        try:
            yield read_result(path)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            logger.warning("skipping unreadable result %s: %s; rerun its point with run.py to replace it", path, exc)
