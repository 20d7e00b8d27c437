"""``hnswlib``: the reference HNSW implementation (nmslib/hnswlib), a second HNSW beside faiss's ``hnsw``.

Build args: ``(M[, efConstruction=200])``. Query args: ``(ef,)``; hnswlib searches with ``max(ef, k)``.
Spaces: ``cosine`` for angular (hnswlib normalises base and query vectors itself), ``l2`` for euclidean, ``ip`` for ip.
The index size is hnswlib's ``index_file_size()``: the exact byte count ``save_index`` writes (checked against a saved
file in tests/test_faiss_indexes.py), without the disk round trip. hnswlib exposes no distance-computation counter in
Python, so this plugin reports no counters. ``save`` writes hnswlib's ``save_index`` file plus ``hnswlib.json`` (the
dimension and element count ``load_index`` needs, which the file format does not expose before loading).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import ContractSettings, Index

SPACES = {"angular": "cosine", "euclidean": "l2", "ip": "ip"}


class HnswlibHNSW(Index):
    """HNSW graph from hnswlib (cosine / l2 / ip spaces)."""

    requires: ClassVar[tuple[str, ...]] = ("hnswlib",)
    install_hint: ClassVar[str] = "pip install -e '.[hnswlib]'"
    metrics: ClassVar[tuple[str, ...]] = ("angular", "euclidean", "ip")
    can_save: ClassVar[bool] = True
    contract = ContractSettings((16, 100), (200,), floor=0.97)
    arg_ranges: ClassVar[dict] = {"M": (2, 1024), "efConstruction": (1, 100_000)}
    query_arg_ranges: ClassVar[dict] = {"ef": (1, 100_000)}

    def __init__(self, metric: str, M: int, efConstruction: int = 200) -> None:
        super().__init__(metric, M, efConstruction)
        self.M, self.ef_construction = int(M), int(efConstruction)
        self.ef = 10  # hnswlib's default until set_query_arguments
        self.index: Any = None
        self.n = 0
        self._query_threads: int | None = None

    def fit(self, X: np.ndarray) -> None:
        import hnswlib

        X = np.ascontiguousarray(X, dtype=np.float32)
        self.n, d = X.shape
        index = hnswlib.Index(space=SPACES[self.metric], dim=d)
        index.init_index(max_elements=self.n, M=self.M, ef_construction=self.ef_construction, random_seed=100)
        # A fresh hnswlib index defaults to every core; say so explicitly rather than inherit a query setting.
        index.add_items(X, np.arange(self.n), num_threads=os.cpu_count() or 1)
        index.set_ef(self.ef)
        if self._query_threads is not None:
            index.set_num_threads(self._query_threads)
        self.index = index

    def set_query_arguments(self, ef: int = 10) -> None:
        super().set_query_arguments(ef)
        self.ef = int(ef)
        if self.index is not None:
            self.index.set_ef(self.ef)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        # hnswlib throws when asked for more results than it holds; labels are uint64, viewed (not copied) as int64.
        return self.index.knn_query(q, k=min(k, self.n))[0][0].view(np.int64)

    def searcher(self, k: int):
        """``knn_query`` of one vector with ``k`` clamped once; the 1 × k uint64 label matrix is returned as it comes
        (the runner stores the labels as int64 after the clock stops)."""
        knn_query, found = self.index.knn_query, min(k, self.n)

        def search_one(q: np.ndarray) -> np.ndarray:
            return knn_query(q, k=found)[0]

        return search_one

    def batch_query(self, Q: np.ndarray, k: int) -> None:
        found = min(k, self.n)
        ids = self.index.knn_query(np.ascontiguousarray(Q, dtype=np.float32), k=found)[0].view(np.int64)
        if found < k:
            ids = np.pad(ids, ((0, 0), (0, k - found)), constant_values=-1)
        self._batch_results = ids

    def set_threads(self, n: int) -> None:
        self._query_threads = max(1, int(n))
        if self.index is not None:
            self.index.set_num_threads(self._query_threads)

    def index_size(self) -> int | None:
        return None if self.index is None else int(self.index.index_file_size())

    def save(self, folder: Path) -> None:
        if self.index is None:
            raise RuntimeError("hnswlib: fit must run before save")
        folder = Path(folder)
        self.index.save_index(str(folder / "index.hnswlib"))
        (folder / "hnswlib.json").write_text(json.dumps({"dim": int(self.index.dim), "n": self.n}))

    def load(self, folder: Path) -> None:
        import hnswlib

        folder = Path(folder)
        shape = json.loads((folder / "hnswlib.json").read_text())
        index = hnswlib.Index(space=SPACES[self.metric], dim=int(shape["dim"]))
        index.load_index(str(folder / "index.hnswlib"), max_elements=int(shape["n"]))
        index.set_ef(self.ef)
        if self._query_threads is not None:
            index.set_num_threads(self._query_threads)
        self.n, self.index = int(shape["n"]), index

    def done(self) -> None:
        self.index = None


@hookimpl
def register_indexes(register):
    register("hnswlib", HnswlibHNSW)
