"""``hnsw``: faiss's IndexHNSWFlat, a hierarchical navigable small-world graph over full vectors.

Build args: ``(M[, efConstruction=40])`` - graph degree (2·M links on the bottom layer) and build-time beam width.
Query args: ``(efSearch,)``, the search beam width, searched with ``max(efSearch, k)`` as hnswlib does. Counters:
``distcomps`` and ``hops`` (see :class:`topobench.backends.faiss_index.FaissHNSWIndex`, which does all but building).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topobench.backends import faiss_index as common
from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import ContractSettings


class FaissHNSW(common.FaissHNSWIndex):
    """HNSW graph over uncompressed vectors (faiss IndexHNSWFlat)."""
    contract = ContractSettings((16, 100), (200,), floor=0.97)
    arg_ranges = {"M": (2, 1024), "efConstruction": (1, 100_000)}
    query_arg_ranges = {"efSearch": (1, 100_000)}

    def __init__(self, metric: str, M: int, efConstruction: int = 40) -> None:
        super().__init__(metric, M, efConstruction)
        self.M, self.ef_construction = int(M), int(efConstruction)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        index = faiss.IndexHNSWFlat(X.shape[1], self.M, self.faiss_metric())
        index.hnsw.efConstruction = self.ef_construction
        index.add(X)
        return index


@hookimpl
def register_indexes(register):
    register("hnsw", FaissHNSW)
