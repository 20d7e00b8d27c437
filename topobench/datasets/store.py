"""Dataset names, the HDF5 format (ann-benchmarks compatible, with extras) and building datasets on demand.

A dataset file ``datasets/<name>.hdf5`` holds, as in ann-benchmarks: attrs ``distance``, ``point_type``,
``dimension``; datasets ``train`` (corpus vectors), ``test`` (query vectors), ``neighbors`` and ``distances`` (exact
top-100). Extras: ``doc_ids`` / ``query_ids`` (strings), a ``qrels`` group (``query``, ``doc`` rows and ``grade``),
provenance attrs and a ``geometry`` group. ann-benchmarks files dropped into ``datasets/`` are read unchanged.

Builders are looked up by name pattern (``register_builder``); synthetic ``random-<xs|s|m>-<dim>-<distance>`` is built
in.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from topobench.core.atomic import atomic_path
from topobench.core.errors import DatasetError, UnknownNameError
from topobench.core.memory_budget import FLOAT32, FLOAT64, INT64, check_fits, exact_knn_bytes
from topobench.core.names import check_name
from topobench.core.paths import check_writable_dir
from topobench.core.roots import env_folder
from topobench.datasets.validate import check_arrays

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "TOPOBENCH_DATASETS"
GROUND_TRUTH_K = 100


def datasets_dir() -> Path:
    return env_folder(DATA_DIR_ENV, "datasets")


def dataset_path(name: str) -> Path:
    check_name(name, "dataset")  # one path component, at most names.MAX_CHARS characters (no "File name too long")
    return datasets_dir() / f"{name}.hdf5"


@dataclass
class Dataset:
    """A loaded dataset. Arrays are read fully into memory (the runner needs them all)."""

    name: str
    path: Path
    distance: str
    train: np.ndarray
    test: np.ndarray
    neighbors: np.ndarray
    distances: np.ndarray
    doc_ids: list[str] | None = None
    query_ids: list[str] | None = None
    qrels: np.ndarray | None = None  # (m × 3) int: query row, doc row, grade
    attrs: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, float] = field(default_factory=dict)  # topobench.datasets.geometry statistics, when computed

    @property
    def dimension(self) -> int:
        return int(self.train.shape[1])

    @property
    def has_qrels(self) -> bool:
        return self.qrels is not None and len(self.qrels) > 0


Builder = Callable[[str], dict[str, Any]]
_BUILDERS: list[tuple[Callable[[str], bool], Builder, str]] = []
# Modules that register builders, imported on first use so that reading a dataset never imports them.
BUILDER_MODULES = ("topobench.encoding.corpus_dataset",)


_CANONICAL: list[tuple[Callable[[str], bool], Callable[[str], str]]] = []


def register_builder(accepts: str | Callable[[str], bool], builder: Builder, description: str,
                     canonical: Callable[[str], str] | None = None) -> None:
    """Make names buildable: ``accepts`` (a regular expression the whole name must match, or a predicate) says which;
    ``builder(name)`` returns the keyword arguments of ``write_dataset``; ``canonical(name)``, when given, maps every
    spelling of one dataset to the one name its file is stored under."""
    if isinstance(accepts, str):
        pattern = re.compile(accepts)
        _BUILDERS.append((lambda name: pattern.fullmatch(name) is not None, builder, description))
    else:
        _BUILDERS.append((accepts, builder, description))
    if canonical is not None:
        _CANONICAL.append((_BUILDERS[-1][0], canonical))


def _builders() -> list[tuple[Callable[[str], bool], Builder, str]]:
    import importlib

    for module in BUILDER_MODULES:
        importlib.import_module(module)
    return _BUILDERS


def known_patterns() -> list[str]:
    return [description for _, _, description in _builders()]


def canonical_name(name: str) -> str:
    """The name a dataset's file is stored under: ``name`` itself when that file exists or no builder canonicalises
    it, else the builder's canonical spelling (``scifact-minilm-topo@weight=0.6`` → ``scifact-minilm-topo``)."""
    if dataset_path(name).exists():
        return name
    _builders()
    for accepts, canonical in _CANONICAL:
        if accepts(name):
            return canonical(name)
    return name


def load_dataset(name: str, build: bool = True) -> Dataset:
    """Open ``datasets/<name>.hdf5`` (under its canonical name), building it first when it is missing and a builder
    knows the name."""
    name = canonical_name(name)
    path = dataset_path(name)
    if not path.exists():
        if not build:
            raise DatasetError(f"dataset {name!r} not found at {path}")
        build_dataset(name)
    return read_dataset(path, name)


def read_dataset(path: Path, name: str | None = None) -> Dataset:
    name = name or path.stem
    try:
        with h5py.File(path, "r") as f:
            missing = [key for key in ("train", "test") if key not in f]
            if missing:
                raise DatasetError(f"{path} is not a dataset file: missing {', '.join(missing)}; delete it and rebuild")
            distance = _text(f.attrs.get("distance", ""))
            if distance not in ("angular", "euclidean", "ip", "cosine"):
                raise DatasetError(f"{path} has unknown distance attribute {distance!r}")
            distance = "angular" if distance == "cosine" else distance
            ds = Dataset(
                name=name,
                path=path,
                distance=distance,
                train=np.ascontiguousarray(f["train"][:], dtype=np.float32),
                test=np.ascontiguousarray(f["test"][:], dtype=np.float32),
                neighbors=f["neighbors"][:] if "neighbors" in f else np.zeros((0, 0), np.int32),
                distances=f["distances"][:] if "distances" in f else np.zeros((0, 0), np.float32),
                doc_ids=_strings(f, "doc_ids"),
                query_ids=_strings(f, "query_ids"),
                attrs={k: _text(v) for k, v in f.attrs.items()},
            )
            if "geometry" in f:
                ds.geometry = {k: float(v) for k, v in f["geometry"].attrs.items()}
            if "qrels" in f:
                g = f["qrels"]
                ds.qrels = np.stack([g["query"][:], g["doc"][:], g["grade"][:]], axis=1).astype(np.int64)
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc}; delete the file and rebuild it") from exc
    if ds.neighbors.size == 0:
        raise DatasetError(f"{path} has no ground truth ('neighbors'); delete it and rebuild")
    check_arrays(str(path), ds.train, ds.test, ds.neighbors, ds.distances, ds.doc_ids, ds.query_ids, ds.qrels,
                 ds.attrs.get("dimension"))
    return ds


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _strings(f: h5py.File, key: str) -> list[str] | None:
    if key not in f:
        return None
    return [s.decode() if isinstance(s, bytes) else str(s) for s in f[key][:]]


def write_dataset(path: Path, *, train: np.ndarray, test: np.ndarray, distance: str, neighbors: np.ndarray,
                  distances: np.ndarray, doc_ids: list[str] | None = None, query_ids: list[str] | None = None,
                  qrels: np.ndarray | None = None, attrs: dict[str, Any] | None = None,
                  geometry: dict[str, float] | None = None) -> None:
    """Write a dataset atomically: to a temporary name in the same folder, renamed into place only when complete."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["type"] = "dense"
        f.attrs["distance"] = distance
        f.attrs["point_type"] = "float"
        f.attrs["dimension"] = int(train.shape[1])
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        f.create_dataset("train", data=np.asarray(train, np.float32))
        f.create_dataset("test", data=np.asarray(test, np.float32))
        f.create_dataset("neighbors", data=np.asarray(neighbors, np.int32))
        f.create_dataset("distances", data=np.asarray(distances, np.float32))
        strings = h5py.string_dtype("utf-8")
        if doc_ids is not None:
            f.create_dataset("doc_ids", data=np.array(doc_ids, dtype=object), dtype=strings)
        if query_ids is not None:
            f.create_dataset("query_ids", data=np.array(query_ids, dtype=object), dtype=strings)
        if qrels is not None:
            g = f.create_group("qrels")
            qrels = np.asarray(qrels, dtype=np.int64).reshape(-1, 3)
            g.create_dataset("query", data=qrels[:, 0].astype(np.int32))
            g.create_dataset("doc", data=qrels[:, 1].astype(np.int32))
            g.create_dataset("grade", data=qrels[:, 2].astype(np.int32))
        if geometry:
            g = f.create_group("geometry")
            for key, value in geometry.items():
                g.attrs[key] = value


def build_dataset(name: str) -> Path:
    """Build ``datasets/<name>.hdf5`` with the first builder whose pattern matches the name."""
    path = dataset_path(name)
    for accepts, builder, _ in _builders():
        if accepts(name):
            check_writable_dir(datasets_dir(), "datasets folder", f"set {DATA_DIR_ENV} to a writable folder")
            logger.info("building dataset %s", name)
            start = time.perf_counter()
            arrays = builder(name)
            check_arrays(f"the dataset {name!r} just built", arrays["train"], arrays["test"], arrays["neighbors"],
                         arrays["distances"], arrays.get("doc_ids"), arrays.get("query_ids"), arrays.get("qrels"),
                         fix="nothing was written; report this as a bug of its builder")
            arrays.setdefault("attrs", {})["build_seconds"] = round(time.perf_counter() - start, 3)
            if "geometry" not in arrays:
                from topobench.datasets.geometry import geometry_stats

                arrays["geometry"] = geometry_stats(arrays["train"], arrays["test"], arrays["neighbors"],
                                                    arrays["distances"], arrays["distance"], arrays.get("qrels"))
            try:
                write_dataset(path, **arrays)
            except OSError as exc:
                raise DatasetError(f"cannot write dataset {path} ({exc.strerror or exc}): free some space or set "
                                   f"{DATA_DIR_ENV} to another folder; nothing was written") from exc
            logger.info("wrote %s in %.1f s", path, time.perf_counter() - start)
            return path
    raise UnknownNameError(
        f"unknown dataset {name!r}: no file {path} and no builder for that name; known patterns: "
        + "; ".join(known_patterns())
    )


# --- synthetic datasets -------------------------------------------------------------------------------------------

SYNTHETIC_SIZES = {"xs": (10_000, 1_000), "s": (100_000, 1_000), "m": (1_000_000, 10_000)}


def make_blobs(n: int, dim: int, centers: int, seed: int) -> np.ndarray:
    """Gaussian blobs like scikit-learn's ``make_blobs`` (centres uniform in [-10, 10]^d, unit std), float32."""
    rng = np.random.default_rng(seed)
    middles = rng.uniform(-10.0, 10.0, size=(centers, dim)).astype(np.float32)
    labels = rng.integers(0, centers, size=n)
    X = rng.standard_normal((n, dim), dtype=np.float32)
    X += middles[labels]
    return X


RANDOM_NAME = r"random-(?P<size>xs|s|m)-(?P<dim>[1-9][0-9]*)-(?P<distance>angular|euclidean)"


def random_dataset_bytes(size: str, dim: int) -> int:
    """Memory building ``random-<size>-<dim>-…`` takes at least: the blobs and the temporary of adding their centres,
    the centres and labels, then the exact ground truth beside the blobs."""
    n_train, n_test = SYNTHETIC_SIZES[size]
    n, centers = n_train + n_test, max(10, n_train // 100)
    blobs = 2 * n * dim * FLOAT32 + centers * dim * (FLOAT64 + FLOAT32) + n * INT64
    return max(blobs, n * dim * FLOAT32 + exact_knn_bytes(n_train, n_test, dim, GROUND_TRUTH_K))


def build_random(name: str) -> dict[str, Any]:
    """Deterministic blobs split into train/test, with exact top-100 ground truth; refused in one line, before
    anything is allocated, when the estimate of its arrays exceeds the memory available."""
    from topobench.core.distances import exact_knn

    match = re.fullmatch(RANDOM_NAME, name)
    size, dim, distance = match["size"], int(match["dim"]), match["distance"]
    n_train, n_test = SYNTHETIC_SIZES[size]
    check_fits(random_dataset_bytes(size, dim), f"building dataset {name} ({n_train + n_test:,} × {dim:,} floats and "
               "its exact ground truth)", "choose a smaller size (xs, s, m) or dimension")
    X = make_blobs(n_train + n_test, dim, centers=max(10, n_train // 100), seed=1)
    train, test = X[:n_train], X[n_train:]
    neighbors, distances = exact_knn(train, test, distance, GROUND_TRUTH_K)
    return {
        "train": train, "test": test, "distance": distance, "neighbors": neighbors, "distances": distances,
        "attrs": {"generator": "gaussian blobs", "seed": 1},
    }


register_builder(RANDOM_NAME, build_random, "random-<xs|s|m>-<dim>-<angular|euclidean>")
