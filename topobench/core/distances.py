"""Distance functions shared by ground truth, the runner and the metrics, so every index is scored the same way.

Conventions follow ann-benchmarks: ``angular`` is ``1 − cos``, ``euclidean`` is the L2 distance (not squared), and
``ip`` (maximum inner product) is ``−⟨q, x⟩`` so that smaller is always better.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from topobench.core.indexes import normalize
from topobench.core.memory_budget import check_fits, exact_knn_bytes


def distances_to(metric: str, q: np.ndarray, X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Distances from one query ``q`` (d,) to ``X[rows]``; rows of -1 give ``inf``."""
    out = np.full(len(rows), np.inf, dtype=np.float32)
    valid = rows >= 0
    if not valid.any():
        return out
    V = X[rows[valid]].astype(np.float32, copy=False)
    q = q.astype(np.float32, copy=False)
    if metric == "angular":
        qn = q / max(float(np.linalg.norm(q)), 1e-30)
        vn = np.linalg.norm(V, axis=1)
        vn[vn == 0] = 1.0
        out[valid] = 1.0 - (V @ qn) / vn
    elif metric == "euclidean":
        out[valid] = np.sqrt(np.maximum(((V - q) ** 2).sum(axis=1), 0.0))
    elif metric == "ip":
        out[valid] = -(V @ q)
    else:
        raise ValueError(f"unknown distance {metric!r}")
    return out


GPU_ENV = "TOPOBENCH_GPU"  # "0": exact search stays on the CPU even where faiss sees a CUDA device


def gpu_available(faiss: Any) -> bool:
    """True when the installed faiss has GPU support and sees a CUDA device (and ``TOPOBENCH_GPU`` is not ``0``)."""
    if os.environ.get(GPU_ENV, "1") == "0":
        return False
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def flat_index(dimension: int, inner_product: bool) -> Any:
    """A faiss exact (flat) index by inner product or L2: on every GPU where :func:`gpu_available`, else on the CPU.

    Exact ground truth and model-mined negatives both search through it, so both move to the GPU together; a flat
    index gives the same neighbours on either device (up to ties within float rounding)."""
    import faiss

    cpu = faiss.IndexFlatIP(dimension) if inner_product else faiss.IndexFlatL2(dimension)
    return faiss.index_cpu_to_all_gpus(cpu) if gpu_available(faiss) else cpu


def exact_knn(train: np.ndarray, test: np.ndarray, metric: str, k: int = 100, block: int = 1024,
              progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` neighbours and distances of every test vector, computed with faiss in blocks of queries (on
    the GPU where :func:`gpu_available`). Refused, before any copy is made, when its arrays would not fit in the
    memory available (:mod:`topobench.core.memory_budget`)."""
    from tqdm import tqdm

    k = min(k, len(train))
    check_fits(exact_knn_bytes(len(train), len(test), train.shape[1], k),
               f"the exact top-{k} of {len(test):,} queries over {len(train):,} vectors of dimension {train.shape[1]}",
               "use a subset of the corpus, a lower TOPOBENCH_SHARD_DOCS (the ground truth is then computed per "
               "shard), or a machine with more memory")
    if metric == "angular":
        base, queries = normalize(train), normalize(test)
    elif metric in ("euclidean", "ip"):
        base, queries = np.ascontiguousarray(train, np.float32), np.ascontiguousarray(test, np.float32)
    else:
        raise ValueError(f"unknown distance {metric!r}")
    index = flat_index(base.shape[1], inner_product=metric != "euclidean")
    index.add(base)
    neighbors = np.empty((len(queries), k), dtype=np.int32)
    dists = np.empty((len(queries), k), dtype=np.float32)
    for start in tqdm(range(0, len(queries), block), desc="exact ground truth", unit="block", disable=not progress):
        scores, ids = index.search(queries[start : start + block], k)
        neighbors[start : start + block] = ids
        if metric == "angular":
            dists[start : start + block] = 1.0 - scores
        elif metric == "euclidean":
            dists[start : start + block] = np.sqrt(np.maximum(scores, 0.0))
        else:
            dists[start : start + block] = -scores
    return neighbors, dists
