"""Code shared by the faiss index plugins (flat, lsh, pq, ivf, ivf_pq, hnsw): each imports it as
``from topobench.backends import faiss_index as common`` and is then construction only — its constructor and
``build`` (create, train and fill the faiss index); fitting, searching, threads, size, persistence, query arguments and
counters live in the bases here (:class:`FaissIndex`, and :class:`ExhaustiveFaissIndex`, :class:`FaissIVFIndex`,
:class:`FaissHNSWIndex` by search structure).

What lives here, so that every faiss backend behaves the same way:

* metrics: ``angular`` normalises the base vectors and searches by inner product; ``euclidean`` uses L2; ``ip`` uses
  the inner product on the raw vectors. Queries are *not* normalised for angular: an inner-product ranking does not
  change when the query is scaled by a positive factor, so normalising would only add an allocation to the timed path.
  Exception: indexes that compare the query with *compressed codes* (``pq``, ``ivf_pq``) rank unit vectors by L2 and
  normalise the query, since their inner-product estimate ⟨q, x̂⟩ favours codes whose reconstruction x̂ is long, while
  ‖q − x̂‖² = 1 + ‖x̂‖² − 2⟨q, x̂⟩ corrects for it: recall@10 0.36 (IP) vs 0.78 (L2) for PQ8 on 16-d unit blobs.
* threads: ``fit`` builds with every core, then restores the query thread count chosen with ``set_threads``. faiss's
  OpenMP thread count is process-global, so once ``set_threads(1)`` ran for one index, later builds would be
  single-threaded without this.
* search: one query is a 1 × d view passed straight to faiss; ``k`` is clamped to the number of vectors; the -1 ids
  faiss pads with when it finds fewer than ``k`` results (IVF with a small ``nprobe``, HNSW with ``efSearch < k``) are
  removed by ``query`` and kept (as the runner expects) by ``searcher`` and in batch mode. ``searcher(k)`` — what the
  runner times per query — is the plain ``index.search(q[None], k)`` call with everything else decided beforehand.
  Every search goes through ``search_function(k)``: ``index.search`` itself, or, for an index whose query arguments
  are faiss ``SearchParameters`` (CAGRA), ``index.search`` with them bound.
* size: the serialized size (``faiss.serialize_index``), the honest figure (an RSS delta is not).
* persistence: ``save`` writes ``index.faiss`` with ``faiss.write_index``; ``load`` reads it back with
  ``faiss.read_index`` and re-applies the query arguments (``after_load``), so a loaded index answers as the built one.
* counters: exhaustive indexes report ``distcomps`` = n per query; IVF indexes read ``faiss.cvar.indexIVF_stats``,
  HNSW indexes ``faiss.cvar.hnsw_stats``.
"""

from __future__ import annotations

import functools
import logging
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from topobench.core.indexes import Index, normalize

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install -e '.[faiss]'"


@functools.lru_cache(maxsize=1)
def import_faiss() -> ModuleType:
    """Import faiss on first use (registering a plugin must stay cheap and must not need faiss)."""
    import faiss

    build_threads()  # record the machine's thread count before anything lowers it
    return faiss


@functools.lru_cache(maxsize=1)
def build_threads() -> int:
    """OpenMP's thread count when faiss was first imported (OMP_NUM_THREADS or all cores): the count to build with."""
    import faiss

    return max(1, int(faiss.omp_get_max_threads()))


def clamp_lists(name: str, nlist: int, n: int) -> int:
    """faiss's k-means throws when asked for more centroids than training points: clamp, and say so."""
    if nlist > n:
        logger.warning("%s: nlist=%d is larger than the %d vectors; using nlist=%d", name, nlist, n, n)
        return n
    return nlist


def clamp_bits(name: str, nbits: int, n: int) -> int:
    """A PQ sub-quantizer has 2**nbits centroids and faiss's k-means needs at least that many points: clamp."""
    fitting = max(1, int(np.log2(max(n, 2))))
    if 2**nbits > n:
        logger.warning("%s: nbits=%d needs %d training vectors, only %d given; using nbits=%d",
                       name, nbits, 2**nbits, n, fitting)
        return fitting
    return nbits


def pad_for_subquantizers(name: str, d: int, m: int) -> tuple[int, int, Any]:
    """Make the dimension a multiple of ``m``, as faiss's PQ requires: (m, working dimension, transform or None).

    ``m`` larger than ``d`` is lowered to ``d`` (a sub-quantizer of less than one dimension would code only padding,
    and faiss's k-means on all-zero sub-vectors takes minutes splitting empty clusters). When ``m`` does not divide
    ``d``, vectors are padded with zero dimensions spread evenly among the real ones (faiss
    ``RemapDimensionsTransform``, uniform), which changes no L2 distance or inner product. So ``m`` keeps meaning "m
    codes per vector": m=48 on 4096-d vectors, m=16 on 20-d test data. Wrap the PQ index with :func:`with_transform`.
    """
    if m < 1:
        raise ValueError(f"{name}: m must be a positive number of sub-quantizers, got {m}")
    if m > d:
        logger.warning("%s: m=%d sub-quantizers exceed the dimension %d; using m=%d", name, m, d, d)
        m = d
    if d % m == 0:
        return m, d, None
    padded = -(-d // m) * m
    logger.info("%s: m=%d does not divide the dimension %d; padding vectors with zeros to %d", name, m, d, padded)
    return m, padded, import_faiss().RemapDimensionsTransform(d, padded, True)


def with_transform(transform: Any, index: Any) -> Any:
    """``index`` behind ``transform`` (faiss IndexPreTransform, applied to base and query vectors), or as is."""
    return index if transform is None else import_faiss().IndexPreTransform(transform, index)


def quiet_kmeans(cp: Any, name: str, n: int, k: int) -> None:
    """Route faiss's "please provide at least … training points" stderr warning through logging instead.

    ``min_points_per_centroid`` only decides whether faiss prints that warning; the clustering itself is unchanged.
    """
    if n < k * cp.min_points_per_centroid:
        logger.info("%s: %d training vectors for %d centroids (faiss advises at least %d)",
                    name, n, k, k * cp.min_points_per_centroid)
    cp.min_points_per_centroid = 1


class FaissIndex(Index):
    """Base of the faiss plugins: subclasses only say how to create, train and fill the faiss index (``build``).

    ``angular_by_l2`` (class attribute): rank angular data by L2 between unit vectors (queries normalised per call)
    instead of by inner product; True for compressed-code indexes (see the module docstring).
    """

    requires: ClassVar[tuple[str, ...]] = ("faiss",)
    install_hint: ClassVar[str] = INSTALL_HINT
    metrics: ClassVar[tuple[str, ...]] = ("angular", "euclidean", "ip")
    angular_by_l2: ClassVar[bool] = False
    can_save: ClassVar[bool] = True
    FILE: ClassVar[str] = "index.faiss"

    def __init__(self, metric: str, *args: Any) -> None:
        super().__init__(metric, *args)
        self.unit_queries = metric == "angular" and self.angular_by_l2
        self.index: Any = None  # the faiss index, once built
        self.n = 0  # vectors indexed
        self._queries = 0  # queries answered since reset_stats (exhaustive indexes derive distcomps from it)
        self._query_threads: int | None = None

    def faiss_metric(self) -> int:
        """The faiss metric type this index searches with (see ``angular_by_l2``)."""
        faiss = import_faiss()
        by_l2 = self.metric == "euclidean" or self.unit_queries
        return faiss.METRIC_L2 if by_l2 else faiss.METRIC_INNER_PRODUCT

    @abstractmethod
    def build(self, X: np.ndarray) -> Any:
        """Create, train and fill the faiss index over ``X`` (already normalised for angular, float32, contiguous)."""

    def search_function(self, k: int) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
        """faiss's ``search`` as this index calls it for ``k`` results. Default: ``index.search`` itself; an index
        whose query arguments travel as faiss ``SearchParameters`` (CAGRA) binds them here."""
        return self.index.search

    def fit(self, X: np.ndarray) -> None:
        faiss = import_faiss()
        faiss.omp_set_num_threads(build_threads())
        X = normalize(X) if self.metric == "angular" else np.ascontiguousarray(X, dtype=np.float32)
        self.n = len(X)
        self.index = self.build(X)
        if self._query_threads is not None:
            faiss.omp_set_num_threads(self._query_threads)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        self._queries += 1
        if self.unit_queries:
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        ids = self.search_function(k)(q[None], min(k, self.n))[1][0]
        # faiss sorts results best first and puts its -1 padding last, so checking the last id is enough.
        return ids if ids[-1] >= 0 else ids[ids >= 0]

    def searcher(self, k: int) -> Callable[[np.ndarray], np.ndarray]:
        """One query as the plain ``index.search(q[None], k)`` call a user would write, with ``k`` clamped and the
        metric's code path chosen once, not per call; it returns faiss's 1 × k id matrix as it comes (-1 padding
        included: the runner copies the ids out after the clock stops)."""
        search, found = self.search_function(k), min(k, self.n)
        if self.unit_queries:
            norm = np.linalg.norm

            def search_unit(q: np.ndarray) -> np.ndarray:
                return search((q / max(float(norm(q)), 1e-30))[None], found)[1]

            return search_unit

        def search_one(q: np.ndarray) -> np.ndarray:
            return search(q[None], found)[1]

        return search_one

    def batch_query(self, Q: np.ndarray, k: int) -> None:
        self._queries += len(Q)
        found = min(k, self.n)
        Q = normalize(Q) if self.unit_queries else np.ascontiguousarray(Q, dtype=np.float32)
        ids = self.search_function(k)(Q, found)[1]
        if found < k:
            ids = np.pad(ids, ((0, 0), (0, k - found)), constant_values=-1)
        self._batch_results = ids

    def set_threads(self, n: int) -> None:
        self._query_threads = max(1, int(n))
        import_faiss().omp_set_num_threads(self._query_threads)

    def index_size(self) -> int | None:
        if self.index is None:
            return None
        return int(import_faiss().serialize_index(self.index).nbytes)

    def save(self, folder: Path) -> None:
        if self.index is None:
            raise RuntimeError(f"{type(self).__name__}: fit must run before save")
        import_faiss().write_index(self.index, str(Path(folder) / self.FILE))

    def load(self, folder: Path) -> None:
        faiss = import_faiss()
        self.index = faiss.read_index(str(Path(folder) / self.FILE))
        self.n = int(self.index.ntotal)
        self.after_load()
        if self._query_threads is not None:
            faiss.omp_set_num_threads(self._query_threads)

    def after_load(self) -> None:
        """Re-apply settings that live outside the serialized index (query arguments). Default: none."""

    def done(self) -> None:
        self.index = None


class ExhaustiveFaissIndex(FaissIndex):
    """A faiss index that compares every query with all ``n`` stored vectors or codes: ``distcomps`` = n per query."""

    stats_names: ClassVar[tuple[str, ...]] = ("distcomps",)

    def searcher(self, k: int) -> Callable[[np.ndarray], np.ndarray]:
        """The base's searcher, counting the queries answered (``distcomps`` = n per query)."""
        search = super().searcher(k)

        def search_counted(q: np.ndarray) -> np.ndarray:
            self._queries += 1
            return search(q)

        return search_counted

    def reset_stats(self) -> None:
        self._queries = 0

    def stats(self) -> dict[str, float]:
        return {"distcomps": float(self.n * self._queries)}


class FaissIVFIndex(FaissIndex):
    """Base of the IVF indexes (``ivf``, ``ivf_pq``): build args start with ``nlist``, query args ``(nprobe,)``.

    Counters come from ``faiss.cvar.indexIVF_stats``, global to the process and summed over faiss's threads:
    ``distcomps`` = vectors (or codes) scanned in the probed lists + ``nlist`` coarse-quantizer distances per query (as
    ann-benchmarks counts them); ``lists_probed`` = inverted lists visited.
    """

    stats_names: ClassVar[tuple[str, ...]] = ("distcomps", "lists_probed")

    def __init__(self, metric: str, nlist: int, *args: Any) -> None:
        super().__init__(metric, nlist, *args)
        self.nlist = int(nlist)  # may be clamped by fit when the corpus is smaller
        self.nprobe = 1
        self.ivf: Any = None  # the IndexIVF inside self.index (which may be wrapped in a transform)

    def quantizer(self, d: int) -> Any:
        """The coarse quantizer: exact search over the centroids with the index's metric.

        With inner product, faiss's IVF trains it with spherical k-means (unit-norm centroids)."""
        return import_faiss().IndexFlat(d, self.faiss_metric())

    def fit(self, X: np.ndarray) -> None:
        self.nlist = clamp_lists(type(self).__name__, self.nlist, len(X))
        super().fit(X)
        self.after_load()

    def after_load(self) -> None:
        """Find the IndexIVF (behind any transform), take its (possibly clamped) nlist and apply nprobe."""
        self.ivf = import_faiss().extract_index_ivf(self.index)
        self.nlist = int(self.ivf.nlist)
        self.ivf.nprobe = min(self.nprobe, self.nlist)

    def set_query_arguments(self, nprobe: int = 1) -> None:
        super().set_query_arguments(nprobe)
        self.nprobe = max(1, int(nprobe))
        if self.ivf is not None:
            self.ivf.nprobe = min(self.nprobe, self.nlist)

    def reset_stats(self) -> None:
        import_faiss().cvar.indexIVF_stats.reset()

    def stats(self) -> dict[str, float]:
        s = import_faiss().cvar.indexIVF_stats
        return {"distcomps": float(s.ndis + s.nq * self.nlist), "lists_probed": float(s.nlist)}


class FaissHNSWIndex(FaissIndex):
    """Base of the HNSW graph indexes: query args ``(efSearch,)``, searched with ``max(efSearch, k)``.

    faiss returns fewer than k results when efSearch < k; searching with ``max(efSearch, k)`` as hnswlib and the HNSW
    paper do makes both HNSW backends read the same grid the same way. Counters: ``distcomps`` and ``hops`` from
    ``faiss.cvar.hnsw_stats`` (ndis, nhops), global to the process and summed over faiss's threads. ``build`` returns
    an index with an ``hnsw`` member (``IndexHNSWFlat``, ``IndexHNSWSQ``, …); its efSearch is set here.
    """

    stats_names: ClassVar[tuple[str, ...]] = ("distcomps", "hops")
    DEFAULT_EF_SEARCH: ClassVar[int] = 16  # faiss's default until set_query_arguments

    def __init__(self, metric: str, *args: Any) -> None:
        super().__init__(metric, *args)
        self.ef_search = self.DEFAULT_EF_SEARCH
        self._ef = self.ef_search  # efSearch in force: max(ef_search, largest k seen)

    def fit(self, X: np.ndarray) -> None:
        super().fit(X)
        self.after_load()

    def after_load(self) -> None:
        self.index.hnsw.efSearch = self._ef

    def set_query_arguments(self, efSearch: int = DEFAULT_EF_SEARCH) -> None:
        super().set_query_arguments(efSearch)
        self.ef_search = int(efSearch)
        self._set_ef(self.ef_search)

    def _set_ef(self, ef: int) -> None:
        self._ef = ef
        if self.index is not None:
            self.index.hnsw.efSearch = ef

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        if k > self._ef:
            self._set_ef(k)
        return super().query(q, k)

    def searcher(self, k: int) -> Callable[[np.ndarray], np.ndarray]:
        if k > self._ef:
            self._set_ef(k)
        return super().searcher(k)

    def batch_query(self, Q: np.ndarray, k: int) -> None:
        if k > self._ef:
            self._set_ef(k)
        super().batch_query(Q, k)

    def reset_stats(self) -> None:
        import_faiss().cvar.hnsw_stats.reset()

    def stats(self) -> dict[str, float]:
        s = import_faiss().cvar.hnsw_stats
        return {"distcomps": float(s.ndis), "hops": float(s.nhops)}
