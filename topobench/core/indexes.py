"""The index interface every ANN backend implements, modelled on ann-benchmarks' ``BaseANN``.

Life cycle, driven by the runner: ``Index(metric, *args)`` → ``fit(X)`` once → for each query-argument group:
``set_query_arguments(*query_args)``, ``reset_stats()``, then the function ``searcher(k)`` returns called per vector
(single mode; by default it calls ``query``) or ``batch_query`` + ``get_batch_results`` (batch mode), then ``stats()``.
Indexes return *row numbers* into the training set; the runner computes the distances itself from the vectors, so
every backend is scored the same way.

Persistence (``can_save``): ``save(folder)`` after ``fit`` writes the built structure in the library's own format
(faiss ``write_index``, hnswlib ``save_index``, a Lucene directory); ``Index(metric, *args).load(folder)`` restores it
without rebuilding, for the retrieval service (:mod:`topobench.runs.index_store` records what was saved beside it).
"""

from __future__ import annotations

import io
import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from topobench.core.component import Component

METRICS = ("angular", "euclidean", "ip")


@dataclass(frozen=True)
class ContractSettings:
    """How the shared contract test drives an index (``Index.contract``), on 2,000 16-d blobs and 100 queries.

    Args:
        args: build args after the metric, small enough for 2,000 vectors (``(16, 100)`` for HNSW's M and
            efConstruction).
        query_args: one generous query setting (``(200,)`` for efSearch; nprobe equal to nlist for IVF).
        floor: recall@10 against exact search the index must reach with them.
        exact_order: results come sorted by the true distance (False for compressed-code distances: PQ, LSH).
    """

    args: tuple = ()
    query_args: tuple = ()
    floor: float = 0.99
    exact_order: bool = True


class Index(Component, ABC):
    """An approximate (or exact) nearest-neighbour index over a matrix of vectors.

    Capabilities (class attributes):
        metrics: the distance types the index supports.
        needs_texts: True when the index searches raw texts (BM25): it then gets ``fit_texts``/``query_texts``.
        stats_names: the per-query counters ``stats()`` reports, e.g. ``("distcomps", "hops")``.
        can_save: True when ``save`` and ``load`` are implemented (``run.py --save-index``, ``serve.py``).
        gpus: CUDA devices a build needs (faiss's GPU indexes: 1); the Ray executor asks the cluster for them.
        arg_ranges: the allowed range of each numeric build argument, by constructor parameter name, inclusive
            (``{"M": (2, 512)}``; ``None`` for an open end): ``algos.yaml`` values outside are refused before any
            build (a negative ``M`` otherwise grows a build until the OOM killer takes it). Default: none declared.
        query_arg_ranges: the same for the parameters of ``set_query_arguments`` (``{"efSearch": (1, 100_000)}``).
        contract: how the shared contract test (``tests/test_index_contract.py``) drives this index on small blob data
            (build args, a generous query setting, the recall it must reach): a :class:`ContractSettings`. It runs
            every registered index, out-of-tree plugins included, with the settings the plugin declares here.
    """

    metrics: ClassVar[tuple[str, ...]] = ("angular", "euclidean")
    needs_texts: ClassVar[bool] = False
    stats_names: ClassVar[tuple[str, ...]] = ()
    can_save: ClassVar[bool] = False
    gpus: ClassVar[int] = 0
    arg_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}
    query_arg_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}
    contract: ClassVar[ContractSettings] = ContractSettings()  # no build args, recall 0.99

    def __init__(self, metric: str, *args: Any) -> None:
        if metric not in self.metrics:
            raise ValueError(f"{type(self).__name__} does not support metric {metric!r} (supports {self.metrics})")
        self.metric = metric
        self.args = args
        self.query_args: tuple[Any, ...] = ()
        self._batch_results: np.ndarray | None = None

    @abstractmethod
    def fit(self, X: np.ndarray) -> None:
        """Build the index over ``X`` (n × d float32, C-contiguous). Angular data arrives unnormalised."""

    @abstractmethod
    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        """Return the row numbers of the (approximate) ``k`` nearest neighbours of ``q`` (d,), best first.

        May return fewer than ``k`` ids; never pads with -1 (the runner pads for storage)."""

    def set_query_arguments(self, *args: Any) -> None:
        """Apply one ``query_args`` group from algos.yaml (e.g. ``efSearch``). Default: nothing to set."""
        self.query_args = args

    def searcher(self, k: int) -> Callable[[np.ndarray], np.ndarray]:
        """A function of one query vector answering it as ``query(q, k)`` would with the current query arguments: what
        the runner times in single-query mode, called once per query between two clock reads (and made again after
        ``set_query_arguments``). It returns the ids as an array — a vector, or the library's 1 × m result matrix as
        it comes — best first, possibly -1 padded at the end instead of trimmed: the runner copies them out after the
        clock stops.

        Override it to do per-call work once (clamping ``k``, looking up attributes, choosing a code path), so the
        timed call is the library's search and little else. Default: calls ``query``."""
        query = self.query

        def search(q: np.ndarray) -> np.ndarray:
            return query(q, k)

        return search

    def batch_query(self, Q: np.ndarray, k: int) -> None:
        """Answer all queries at once (batch mode may use every core); results via ``get_batch_results``."""
        rows = [self.query(q, k) for q in Q]
        out = np.full((len(Q), k), -1, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r[:k]
        self._batch_results = out

    def get_batch_results(self) -> np.ndarray:
        """The (n_queries × k) row numbers of the last ``batch_query``, -1 where fewer than k were found."""
        if self._batch_results is None:
            raise RuntimeError("get_batch_results called before batch_query")
        return self._batch_results

    def fit_texts(self, texts: list[str]) -> None:
        """Build over document texts (row i is document i); only for ``needs_texts`` indexes such as BM25."""
        raise NotImplementedError(f"{type(self).__name__} does not index texts")

    def query_text(self, text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Search with a query text: (rows, scores) best first; only for ``needs_texts`` indexes."""
        raise NotImplementedError(f"{type(self).__name__} does not search texts")

    def batch_query_texts(self, texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """All query texts at once: (n × k rows, -1 padded; n × k scores, -inf padded). Default: a loop."""
        rows = np.full((len(texts), k), -1, dtype=np.int64)
        scores = np.full((len(texts), k), -np.inf, dtype=np.float32)
        for i, text in enumerate(texts):
            r, s = self.query_text(text, k)
            rows[i, : len(r)], scores[i, : len(s)] = r[:k], s[:k]
        return rows, scores

    def set_threads(self, n: int) -> None:
        """Limit the threads used for *queries* (1 in single-query mode). Default: nothing to limit."""

    def reset_stats(self) -> None:
        """Zero the counters behind ``stats()``; called right before a timed query loop."""

    def stats(self) -> dict[str, float]:
        """Counters accumulated since ``reset_stats`` (totals over all queries; the runner divides). Default: none."""
        return {}

    def index_size(self) -> int | None:
        """Size of the built index in bytes, measured (serialized size or allocated memory), or None if unknown."""
        return None

    def save(self, folder: Path) -> None:
        """Write the built index into ``folder`` (an existing, empty directory) in the library's own format.

        Only the structure is written: the metric and the build args are recorded by the caller, which constructs the
        index with them again before ``load``. Default: not supported (``can_save`` is False)."""
        raise NotImplementedError(f"{type(self).__name__} cannot save its index")

    def load(self, folder: Path) -> None:
        """Restore what ``save`` wrote into this instance, constructed with the same metric and build args, instead
        of ``fit``; query arguments already set (``set_query_arguments``) apply. ``folder`` must outlive the index
        when the backend reads from it lazily (Lucene). Default: not supported (``can_save`` is False)."""
        raise NotImplementedError(f"{type(self).__name__} cannot load a saved index")

    def done(self) -> None:
        """Release resources; called once after the last query group."""

    def __str__(self) -> str:
        args = ",".join(map(str, self.args))
        qargs = ",".join(map(str, self.query_args))
        return f"{type(self).__name__}({args})" + (f"[{qargs}]" if qargs else "")


def normalize(X: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation as float32; zero rows stay zero."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(X / norms)


def clamp_nlist(nlist: int, n: int) -> int:
    """The k-means lists of the cells' geometry (``index_geometry``) and of the dev sweep's IVF: at most a quarter of
    the ``n`` vectors, at least 1, so a small corpus still gets lists of several vectors."""
    return max(1, min(int(nlist), n // 4))


def pickled_size(obj: Any) -> int:
    """Bytes of ``obj`` pickled: an honest size for pure-Python/numpy indexes."""
    buf = io.BytesIO()
    pickle.dump(obj, buf, protocol=pickle.HIGHEST_PROTOCOL)
    return buf.tell()
