"""``pq``: faiss's IndexPQ, product quantization with exhaustive asymmetric-distance (ADC) search.

Build args: ``(m[, nbits=8])``: ``m`` sub-quantizers of ``2**nbits`` centroids each, i.e. ``m * nbits / 8`` bytes per
vector (vectors are zero-padded when ``m`` does not divide the dimension; ``nbits`` is clamped when the corpus has
fewer than ``2**nbits`` vectors, since faiss's k-means throws). Query args: none. This is ``index_factory("PQ{m}np")``:
polysemous training is off (it cost 80 s on SciFact and does not change ADC search). Angular data is ranked by L2
between unit vectors (see ``topobench.backends.faiss_index``). Counter: ``distcomps`` = n code distances per query.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topobench.backends import faiss_index as common
from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import ContractSettings


class FaissPQ(common.ExhaustiveFaissIndex):
    """Product quantization, exhaustive ADC search (faiss IndexPQ, no polysemous codes)."""

    # unit vectors by L2: the inner-product estimate on codes is biased (see topobench.backends.faiss_index)
    angular_by_l2 = True
    contract = ContractSettings((8,), (), floor=0.65, exact_order=False)
    arg_ranges = {"m": (1, 4096), "nbits": (1, 16)}

    def __init__(self, metric: str, m: int, nbits: int = 8) -> None:
        super().__init__(metric, m, nbits)
        self.m, self.nbits = int(m), int(nbits)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        n, d = X.shape
        m, padded, transform = common.pad_for_subquantizers("pq", d, self.m)
        nbits = common.clamp_bits("pq", self.nbits, n)
        pq = faiss.IndexPQ(padded, m, nbits, self.faiss_metric())
        pq.do_polysemous_training = False
        common.quiet_kmeans(pq.pq.cp, "pq", n, 2**nbits)
        index = common.with_transform(transform, pq)
        index.train(X)
        index.add(X)
        return index


@hookimpl
def register_indexes(register):
    register("pq", FaissPQ)
