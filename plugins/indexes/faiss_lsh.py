"""``lsh``: faiss's IndexLSH, random-hyperplane (sign) hashing into ``nbits``-bit codes, searched by Hamming distance.

Build args: ``(nbits,)``, e.g. 256 … 4096 for 384-d vectors; more bits approximate the angle better. Query args: none.
Faithful to faiss's defaults (``rotate_data=True``, ``train_thresholds=False``) and, like ann-benchmarks' faiss-lsh,
without exact re-ranking: the ranking is the Hamming ranking. The bits are signs of random projections, so the
ranking approximates the angle between vectors (for euclidean data too, where it is a weaker proxy).
Counter: ``distcomps`` = n Hamming distances per query (IndexLSH scans every code).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topobench.backends import faiss_index as common
from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import ContractSettings


class FaissLSH(common.ExhaustiveFaissIndex):
    """Sign-random-projection LSH codes ranked by Hamming distance (faiss IndexLSH)."""

    metrics = ("angular", "euclidean")
    contract = ContractSettings((512,), (), floor=0.4, exact_order=False)  # 16-d sign hashes: weak
    arg_ranges = {"nbits": (1, 65_536)}

    def __init__(self, metric: str, nbits: int) -> None:
        super().__init__(metric, nbits)
        self.nbits = int(nbits)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        index = faiss.IndexLSH(X.shape[1], self.nbits)
        index.train(X)
        index.add(X)
        return index


@hookimpl
def register_indexes(register):
    register("lsh", FaissLSH)
