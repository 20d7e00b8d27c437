"""``ivf_pq``: faiss's IndexIVFPQ, inverted lists of PQ-coded residuals; a query scans its ``nprobe`` nearest lists.

Build args: ``(nlist, m[, nbits=8])``: ``nlist`` k-means cells (clamped to the corpus size); residuals encoded by ``m``
sub-quantizers of ``2**nbits`` centroids (nbits clamped on tiny corpora; vectors zero-padded when ``m`` does not
divide the dimension). Query args: ``(nprobe,)``, clamped to nlist. No polysemous training and no exact re-ranking,
so recall saturates below 1 at the PQ's accuracy. Angular data is ranked by L2 between unit vectors (see
``topobench.backends.faiss_index``). Counters: ``distcomps`` (codes scanned + nlist centroid distances per query),
``lists_probed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topobench.backends import faiss_index as common
from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import ContractSettings


class FaissIVFPQ(common.FaissIVFIndex):
    """Inverted file with product-quantized residuals (faiss IndexIVFPQ, ADC search)."""

    # unit vectors by L2: the inner-product estimate on codes is biased (see topobench.backends.faiss_index)
    angular_by_l2 = True
    contract = ContractSettings((16, 8), (16,), floor=0.7, exact_order=False)
    arg_ranges = {"nlist": (1, 1 << 20), "m": (1, 4096), "nbits": (1, 16)}
    query_arg_ranges = {"nprobe": (1, 1 << 20)}

    def __init__(self, metric: str, nlist: int, m: int, nbits: int = 8) -> None:
        super().__init__(metric, nlist, m, nbits)
        self.m, self.nbits = int(m), int(nbits)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        n, d = X.shape
        m, padded, transform = common.pad_for_subquantizers("ivf_pq", d, self.m)
        nbits = common.clamp_bits("ivf_pq", self.nbits, n)
        ivf = faiss.IndexIVFPQ(self.quantizer(padded), padded, self.nlist, m, nbits, self.faiss_metric())
        ivf.do_polysemous_training = False
        common.quiet_kmeans(ivf.cp, "ivf_pq", n, self.nlist)
        common.quiet_kmeans(ivf.pq.cp, "ivf_pq", n, 2**nbits)
        index = common.with_transform(transform, ivf)
        index.train(X)
        index.add(X)
        return index


@hookimpl
def register_indexes(register):
    register("ivf_pq", FaissIVFPQ)
