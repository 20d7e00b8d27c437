"""Saved indexes: a built index kept on disk with what it was built from, so a service can load it without rebuilding.

Layout: ``indexes/<dataset>/<algorithm>/<build-args slug>/`` (``TOPOBENCH_INDEXES`` moves the root; the slug is
made as result files' names are, a readable form and a hash of the exact args: ``32_200-…`` for hnsw M=32,
efConstruction=200, ``default-…`` without args; folders named by earlier versions, ``32_200``, are still found). Each
folder holds
``data/``, the backend's own files (``index.faiss``, ``index.hnswlib`` + ``hnswlib.json``, ``lucene/``), and
``index.json``, the record:

* ``dataset``: name, file, sha256 of the file, distance, dimension, number of documents;
* ``encoder``: the registered encoder that made the vectors (``minilm`` for ``scifact-minilm``), its checkpoint for a
  trained variant, and the provenance the dataset recorded — or null for datasets without one (``random-*``);
* ``algorithm``, ``index_class``, ``build_args``, ``query_args`` (the algos.yaml groups that were swept over it),
  ``build_time``, ``index_size_bytes``, ``saved_at`` and library versions.

The folder is written under a temporary name and renamed (:func:`topobench.core.atomic.atomic_path`), so a killed save
never leaves a folder that looks complete. ``run.py --save-index`` writes them; ``serve.py`` reads them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path
from topobench.core.errors import ConfigError, TopobenchError, UnavailableError
from topobench.core.indexes import Index
from topobench.core.machine import installed_versions
from topobench.core.names import check_name
from topobench.core.registry import get_registry
from topobench.core.roots import env_folder
from topobench.corpus.download import file_sha256
from topobench.datasets.store import Dataset
from topobench.runs.results import legacy_params_slug, params_slug

logger = logging.getLogger(__name__)

INDEXES_DIR_ENV = "TOPOBENCH_INDEXES"
FORMAT = 1
RECORD = "index.json"
DATA = "data"
VERSIONED = ("topobench", "faiss-cpu", "hnswlib", "pyserini", "numpy")


class IndexStoreError(TopobenchError):
    """A saved index that cannot be found, read or used as asked."""


def indexes_dir() -> Path:
    return env_folder(INDEXES_DIR_ENV, "indexes")


def index_folder(dataset: str, algorithm: str, build_args: Sequence[Any]) -> Path:
    """Where the index of ``algorithm`` built with ``build_args`` on ``dataset`` is saved."""
    check_name(dataset, "dataset")
    check_name(algorithm, "algorithm")
    return indexes_dir() / dataset / algorithm / params_slug(list(build_args), [])


def saved_folder(dataset: str, algorithm: str, build_args: Sequence[Any]) -> Path:
    """The folder holding this build's saved index: :func:`index_folder`, or the folder an earlier version named
    without the hash when that one holds exactly these build args; :func:`index_folder` when neither is saved."""
    folder = index_folder(dataset, algorithm, build_args)
    legacy = folder.with_name(legacy_params_slug(list(build_args), []))
    if not (folder / RECORD).exists() and (legacy / RECORD).exists():
        try:
            if json.loads((legacy / RECORD).read_text()).get("build_args") == json.loads(json.dumps(list(build_args))):
                return legacy
        except (OSError, ValueError):
            pass
    return folder


def dataset_encoder(dataset: Dataset) -> dict[str, Any] | None:
    """The registered encoder that made ``dataset`` (its ``encoder_name`` attribute, written by every corpus-dataset
    build), with its checkpoint and provenance; None for vectors made elsewhere (random blobs, ann-benchmarks files)."""
    name = dataset.attrs.get("encoder_name")
    if not name:
        return None
    provenance = {k.removeprefix("encoder_"): v for k, v in dataset.attrs.items()
                  if k.startswith("encoder_") and k != "encoder_name"}
    return {"name": str(name), "checkpoint": provenance.get("checkpoint"), "provenance": provenance}


def save_index(index: Index, dataset: Dataset, algorithm: str, build_args: Sequence[Any],
               query_args: Sequence[Sequence[Any]], build_time: float) -> Path:
    """Write ``index`` (built on ``dataset``) and its record to :func:`index_folder`; replaces an older save."""
    folder = index_folder(dataset.name, algorithm, build_args)
    record = {
        "format": FORMAT,
        "dataset": {"name": dataset.name, "file": str(dataset.path), "sha256": file_sha256(dataset.path),
                    "distance": dataset.distance, "dimension": dataset.dimension, "n_docs": len(dataset.train)},
        "encoder": dataset_encoder(dataset),
        "algorithm": algorithm,
        "index_class": f"{type(index).__module__}.{type(index).__qualname__}",
        "build_args": list(build_args),
        "query_args": [list(q) for q in query_args],
        "build_time": build_time,
        "index_size_bytes": index.index_size(),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": installed_versions(VERSIONED),
    }
    start = time.perf_counter()
    with atomic_path(folder) as tmp:
        (tmp / DATA).mkdir(parents=True)
        index.save(tmp / DATA)
        (tmp / RECORD).write_text(json.dumps(record, indent=2, default=str) + "\n")
    logger.info("saved %s to %s in %.2f s", index, folder, time.perf_counter() - start)
    return folder


@dataclass(frozen=True)
class SavedIndex:
    """A saved index's folder and record (``index.json``)."""

    folder: Path
    record: dict[str, Any]

    @property
    def algorithm(self) -> str:
        return str(self.record["algorithm"])

    @property
    def build_args(self) -> list[Any]:
        return list(self.record["build_args"])

    @property
    def dataset(self) -> str:
        return str(self.record["dataset"]["name"])

    @property
    def slug(self) -> str:
        return self.folder.name

    def load(self) -> Index:
        """Construct the registered class with the saved metric and build args, then ``load`` the saved data."""
        try:
            index = get_registry().create("indexes", self.algorithm, self.record["dataset"]["distance"],
                                          *self.build_args)
        except UnavailableError as exc:
            raise IndexStoreError(f"cannot load {self.folder}: {exc}") from exc
        index.load(self.folder / DATA)
        return index


def read_saved(folder: Path) -> SavedIndex:
    """The record in ``folder``; a missing or unreadable one is an ``IndexStoreError`` naming the fix."""
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"{folder} is not a readable saved index ({exc}); delete it and save it again with "
                              "`python run.py ... --save-index`") from exc
    if record.get("format") != FORMAT:
        raise IndexStoreError(f"{folder} has index format {record.get('format')!r}, this topobench reads {FORMAT}; "
                              "save it again with `python run.py ... --save-index --force`")
    return SavedIndex(folder, record)


def list_saved(dataset: str | None = None, algorithm: str | None = None) -> list[SavedIndex]:
    """Every saved index, optionally of one dataset and algorithm, sorted by path."""
    for name, what in ((dataset, "dataset"), (algorithm, "algorithm")):
        if name is not None:
            check_name(name, what)
    pattern = f"{dataset or '*'}/{algorithm or '*'}/*/{RECORD}"
    return [read_saved(p.parent) for p in sorted(indexes_dir().glob(pattern)) if not p.parent.name.startswith(".")]


def find_saved(dataset: str, algorithm: str, build_args: Sequence[Any] | None = None) -> SavedIndex:
    """The saved index of ``algorithm`` on ``dataset`` (with ``build_args``, required when several are saved)."""
    hint = f"`python run.py --dataset {dataset} --algorithm {algorithm} --save-index [ARGS]`"
    if build_args is not None:
        folder = saved_folder(dataset, algorithm, build_args)
        if not (folder / RECORD).exists():
            others = "; ".join(",".join(map(str, s.build_args)) or "(none)" for s in list_saved(dataset, algorithm))
            others = others or "none"
            raise IndexStoreError(f"no saved {algorithm} index with args {list(build_args)} for {dataset!r} in "
                                  f"{indexes_dir()} (saved: {others}); save it with {hint}")
        return read_saved(folder)
    saved = list_saved(dataset, algorithm)
    if not saved:
        raise IndexStoreError(f"no saved {algorithm} index for {dataset!r} in {indexes_dir()}; save one with {hint}")
    if len(saved) > 1:
        choices = "; ".join(",".join(map(str, s.build_args)) or "(none)" for s in saved)
        raise IndexStoreError(f"{len(saved)} saved {algorithm} indexes for {dataset!r}: pick one with "
                              f"--params ARGS (one of: {choices})")
    return saved[0]


def parse_args_list(text: str, option: str = "--params") -> list[Any]:
    """``"32,200"`` → ``[32, 200]``: comma-separated values read as YAML scalars (numbers stay numbers). Anything
    else (``[[[``, a list, a mapping, an alias) is one ``ConfigError`` naming ``option``."""
    import yaml

    values = []
    for part in (p for p in text.split(",") if p.strip()):
        try:
            value = yaml.safe_load(part)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ConfigError(f"{option} {text!r}: {part.strip()!r} is not a value ({problem}); give plain "
                              "comma-separated values, e.g. 32,200") from None
        if value is not None and not isinstance(value, (int, float, str, bool)):
            raise ConfigError(f"{option} {text!r}: {part.strip()!r} is not a plain value but a "
                              f"{type(value).__name__}; give plain comma-separated values, e.g. 32,200")
        values.append(value)
    return values
