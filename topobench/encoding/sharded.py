"""Sharded corpus encoding: a corpus too large for one encoding pass is encoded in shards, each with its share of
the exact ground truth, on the active executor's workers when it has them (``run.py --executor ray``), else here.

A shard is ``shard_docs`` consecutive documents (``TOPOBENCH_SHARD_DOCS``, default 200,000; a corpus of at most one
shard is encoded in one pass, as before). Its task receives the shard's texts, the encoder's registry name and
options, and the already encoded queries; it encodes the texts (on a GPU when the worker has one: the encoder picks
CUDA itself) and computes the shard's exact top-``k`` for every query, so the ground truth is computed by the workers
too, in blocks of the corpus. Each finished shard is written as a part (``<datasets>/.parts/<dataset>/<key>/
shard-<first>-<end>.npz``: vectors, neighbour rows, distances; written atomically), so a killed build resumes from
the shards it finished; the key hashes what the vectors depend on (the encoder's provenance and options, the corpus
files, the shard size, the queries), so a part of another configuration is never reused. The parts are then merged: the
vectors in corpus order, and for each query the best ``k`` of every shard's ``k`` candidates — the exact top-``k``
of the whole corpus, since every true neighbour is among its own shard's top ``k``. Distances are smaller-is-better
for every metric (1 − cosine, L2, −inner product), so candidates merge by distance, then row. Parts stay after the
dataset file is written (a rebuild reuses them): delete ``<datasets>/.parts/<dataset>`` to reclaim the space.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topobench.core.atomic import atomic_path
from topobench.core.distances import exact_knn
from topobench.core.errors import ConfigError, DatasetError
from topobench.core.registry import get_registry
from topobench.datasets.store import datasets_dir
from topobench.runs.executors.base import active_executor

logger = logging.getLogger(__name__)

SHARD_DOCS_ENV = "TOPOBENCH_SHARD_DOCS"
DEFAULT_SHARD_DOCS = 200_000
PARTS = ".parts"


def shard_docs() -> int:
    """Documents per shard (``TOPOBENCH_SHARD_DOCS``)."""
    raw = os.environ.get(SHARD_DOCS_ENV, "").strip() or str(DEFAULT_SHARD_DOCS)  # empty: the default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{SHARD_DOCS_ENV}={raw!r} is not a positive number of documents per shard")
    return value


def shard_ranges(n: int, size: int) -> list[tuple[int, int]]:
    """``[first, end)`` row ranges of ``size`` documents covering ``n``."""
    return [(start, min(start + size, n)) for start in range(0, n, size)]


@dataclass(frozen=True)
class Shard:
    """One shard's work: encode ``texts`` (rows ``first``…``end``) and find each query's nearest among them."""

    first: int
    end: int
    texts: list[str]
    encoder: str
    options: dict[str, Any]
    queries: np.ndarray
    metric: str
    k: int


def encode_shard(shard: Shard) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shard's vectors and, for every query, its ``k`` nearest rows of the shard (global row numbers, −1 when
    the shard holds fewer) with their distances. Runs on a worker or here."""
    encoder = get_registry().create("encoders", shard.encoder, **shard.options)
    vectors = encoder.encode(shard.texts, kind="doc")
    neighbors, distances = exact_knn(vectors, shard.queries, shard.metric, shard.k, progress=False)
    pad = shard.k - neighbors.shape[1]
    if pad > 0:  # a shard smaller than k
        neighbors = np.pad(neighbors, ((0, 0), (0, pad)), constant_values=-1)
        distances = np.pad(distances, ((0, 0), (0, pad)), constant_values=np.inf)
    rows = np.where(neighbors >= 0, neighbors.astype(np.int64) + shard.first, -1)
    return vectors, rows, distances


def merge_top_k(parts: Sequence[tuple[np.ndarray, np.ndarray]], k: int, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's best ``k`` of all the shards' candidates ``(rows, distances)``: by distance, then row."""
    rows = np.concatenate([p[0] for p in parts], axis=1)
    dists = np.concatenate([p[1] for p in parts], axis=1).astype(np.float32)
    dists = np.where(rows >= 0, dists, np.inf)
    order = np.lexsort((np.where(rows >= 0, rows, np.iinfo(np.int64).max), dists), axis=1)[:, : min(k, n_docs)]
    return (np.take_along_axis(rows, order, axis=1).astype(np.int32),
            np.take_along_axis(dists, order, axis=1).astype(np.float32))


def parts_folder(dataset: str, key: str) -> Path:
    return datasets_dir() / PARTS / dataset / key


def parts_key(encoder: str, options: dict[str, Any], provenance: dict[str, Any], corpus: dict[str, Any],
              size: int, queries: np.ndarray, metric: str, k: int) -> str:
    """What a part's content depends on, hashed: a part of another configuration is never reused."""
    text = json.dumps({"encoder": encoder, "options": options, "provenance": provenance, "corpus": corpus,
                       "shard_docs": size, "metric": metric, "k": k}, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode())
    digest.update(np.ascontiguousarray(queries, np.float32).tobytes())
    return digest.hexdigest()[:16]


def write_part(path: Path, vectors: np.ndarray, rows: np.ndarray, distances: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, vectors=vectors, rows=rows, distances=distances)


def read_part(path: Path, first: int, end: int, n_queries: int, k: int) -> tuple | None:
    """A complete part's arrays, or None (missing, unreadable or of the wrong shape: encoded again)."""
    try:
        with np.load(path) as f:
            vectors, rows, distances = f["vectors"], f["rows"], f["distances"]
    except (OSError, ValueError, KeyError):
        return None
    if len(vectors) != end - first or rows.shape != (n_queries, k) or distances.shape != (n_queries, k):
        return None
    return vectors, rows, distances


@dataclass(frozen=True)
class ShardPlan:
    """How a corpus dataset's documents can be encoded in shards: the dataset (for its parts folder) and the
    encoder's registry name and options, to make it again on a worker."""

    dataset: str
    encoder: str
    options: dict[str, Any]


def encode_sharded(dataset: str, texts: list[str], encoder: str, options: dict[str, Any], provenance: dict[str, Any],
                   corpus: dict[str, Any], queries: np.ndarray, metric: str, k: int,
                   size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode ``texts`` in shards (on the active executor when it runs work elsewhere), each written as a part
    before the merge; return the corpus vectors and the exact top-``k`` rows and distances of every query."""
    size = size or shard_docs()
    ranges = shard_ranges(len(texts), size)
    k_shard = min(k, len(texts))
    folder = parts_folder(dataset, parts_key(encoder, options, provenance, corpus, size, queries, metric, k_shard))
    paths = {(a, b): folder / f"shard-{a:09d}-{b:09d}.npz" for a, b in ranges}
    done = {r: part for r in ranges if (part := read_part(paths[r], *r, len(queries), k_shard)) is not None}
    todo = [r for r in ranges if r not in done]
    logger.info("%s: %d documents in %d shards of %d (%d done before)", dataset, len(texts), len(ranges), size,
                len(done))
    shards = [Shard(a, b, texts[a:b], encoder, options, queries, metric, k_shard) for a, b in todo]
    executor = active_executor()
    if todo and executor is not None and executor.runs_calls:
        failures = []
        for i, value, error in executor.call_each(encode_shard, [(s,) for s in shards], whole_node=True, gpu=True):
            r = todo[i]
            if error is not None:
                failures.append(f"shard {r[0]}-{r[1]}: {type(error).__name__}: {str(error).splitlines()[0][:300]}")
                continue
            write_part(paths[r], *value)
            done[r] = value
        if failures:
            raise DatasetError(f"{dataset}: {len(failures)} of {len(ranges)} shards failed ({failures[0]}); the "
                               "others are kept, rerun to encode the missing ones")
    else:
        for r, shard in zip(todo, shards, strict=True):
            logger.info("%s: encoding shard %d-%d", dataset, *r)
            value = encode_shard(shard)
            write_part(paths[r], *value)
            done[r] = value
    vectors = np.concatenate([done[r][0] for r in ranges])
    neighbors, distances = merge_top_k([(done[r][1], done[r][2]) for r in ranges], k, len(texts))
    return vectors, neighbors, distances
