"""``ivf``: faiss's IndexIVFFlat, k-means inverted lists of full vectors; a query scans its ``nprobe`` nearest lists.

Build args: ``(nlist,)``, clamped to the corpus size (faiss's k-means throws when nlist > n). Query args:
``(nprobe,)``, clamped to nlist; ``nprobe == nlist`` is exact search. With few probes a query can find fewer than k
vectors: the faiss -1 padding never reaches the runner as an id. Counters: ``distcomps`` (vectors scanned + nlist
centroid distances per query) and ``lists_probed``, from ``faiss.cvar.indexIVF_stats``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topobench.backends import faiss_index as common
from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import ContractSettings


class FaissIVF(common.FaissIVFIndex):
    """Inverted file over k-means cells with uncompressed vectors (faiss IndexIVFFlat)."""
    contract = ContractSettings((16,), (16,), floor=0.995)  # nprobe == nlist: exact
    arg_ranges = {"nlist": (1, 1 << 20)}
    query_arg_ranges = {"nprobe": (1, 1 << 20)}

    def __init__(self, metric: str, nlist: int) -> None:
        super().__init__(metric, nlist)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        n, d = X.shape
        index = faiss.IndexIVFFlat(self.quantizer(d), d, self.nlist, self.faiss_metric())
        common.quiet_kmeans(index.cp, "ivf", n, self.nlist)
        index.train(X)
        index.add(X)
        return index


@hookimpl
def register_indexes(register):
    register("ivf", FaissIVF)
