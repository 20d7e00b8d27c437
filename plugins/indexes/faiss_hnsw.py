"""``hnsw``: faiss's IndexHNSWFlat, a hierarchical navigable small-world graph over full vectors.

Build args: ``(M[, efConstruction=40])`` - graph degree (2·M links on the bottom layer) and build-time beam width.
Query args: ``(efSearch,)``, the search beam width. faiss returns fewer than k results when efSearch < k; this
plugin searches with ``max(efSearch, k)``, as hnswlib and the HNSW paper do, so both HNSW backends read the same
grid the same way. Counters: ``distcomps`` and ``hops`` from ``faiss.cvar.hnsw_stats`` (ndis, nhops), global to the
process and summed over faiss's threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topobench.backends import faiss_index as common
from topobench.core.hookspecs import hookimpl


class FaissHNSW(common.FaissIndex):
    """HNSW graph over uncompressed vectors (faiss IndexHNSWFlat)."""

    stats_names = ("distcomps", "hops")

    def __init__(self, metric: str, M: int, efConstruction: int = 40) -> None:
        super().__init__(metric, M, efConstruction)
        self.M, self.ef_construction = int(M), int(efConstruction)
        self.ef_search = 16  # faiss's default until set_query_arguments
        self._ef = self.ef_search  # efSearch in force: max(ef_search, largest k seen)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        index = faiss.IndexHNSWFlat(X.shape[1], self.M, self.faiss_metric())
        index.hnsw.efConstruction = self.ef_construction
        index.add(X)
        index.hnsw.efSearch = self._ef
        return index

    def after_load(self) -> None:
        self.index.hnsw.efSearch = self._ef

    def set_query_arguments(self, efSearch: int = 16) -> None:
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

    def batch_query(self, Q: np.ndarray, k: int) -> None:
        if k > self._ef:
            self._set_ef(k)
        super().batch_query(Q, k)

    def reset_stats(self) -> None:
        common.import_faiss().cvar.hnsw_stats.reset()

    def stats(self) -> dict[str, float]:
        s = common.import_faiss().cvar.hnsw_stats
        return {"distcomps": float(s.ndis), "hops": float(s.nhops)}


@hookimpl
def register_indexes(register):
    register("hnsw", FaissHNSW)
