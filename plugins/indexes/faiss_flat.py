"""``flat``: exact search with faiss's IndexFlat, the recall-1 reference every other index is measured against.

Build args: none. Query args: none. Angular searches unit vectors by inner product, euclidean by L2 (see
``topobench.backends.faiss_index``). Counter: ``distcomps`` = n per query, since every stored vector is compared with
the query.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topobench.backends import faiss_index as common
from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import ContractSettings


class FaissFlat(common.ExhaustiveFaissIndex):
    """Exact brute-force search (faiss IndexFlatIP / IndexFlatL2)."""

    contract = ContractSettings(floor=0.995)

    def __init__(self, metric: str) -> None:
        super().__init__(metric)

    def build(self, X: np.ndarray) -> Any:
        faiss = common.import_faiss()
        index = faiss.IndexFlat(X.shape[1], self.faiss_metric())
        index.add(X)
        return index


@hookimpl
def register_indexes(register):
    register("flat", FaissFlat)
