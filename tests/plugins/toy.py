"""The reference topobench plugin: one of everything a plugin can register, small enough to read in one sitting.

Copy this file to start a plugin. It registers, under the name ``toy`` in each kind:

* an **encoder** (:class:`ToyEncoder`): hashes character trigrams into a fixed-size unit vector, no model weights;
* an **index** (:class:`ToyIndex`): exact brute-force search in numpy, with a distance-computation counter;
* a **loss** (:class:`ToyLoss`): alignment plus a margin over negatives, in numpy;
* a **miner** (:class:`ToyMiner`): a random pool of negatives per query, never its positives, reproducible.

How a plugin is found. A plugin is a Python file (or an installed package, through the entry-point group
``topobench``) that defines one or more ``register_*`` functions decorated with ``@hookimpl``. topobench loads every
``*.py`` under the repository's ``plugins/`` folder by path (files starting with ``_`` are helpers, not plugins), plus
the folders listed in ``TOPOBENCH_PLUGIN_DIRS``. This file is loaded in the tests with::

    TOPOBENCH_PLUGIN_DIRS=tests/plugins python run.py --list      # the plugin is listed as "plugins.toy"

or in code with ``topobench.core.registry.build_registry(extra_dirs=[Path("tests/plugins")])``.

Rules every plugin follows (see ``topobench/core/hookspecs.py``):

1. Hooks only *register*: ``register(name, cls)``, never touching core structures. A misspelt hook name fails loudly.
2. Heavy libraries (faiss, torch, …) are imported inside methods, never at module level, and named in ``requires``
   with an ``install_hint``: a plugin whose library is missing is then listed as unavailable instead of breaking the
   others. This file only needs numpy, so ``requires`` stays empty.
3. Capabilities are class attributes (``metrics``, ``stats_names``, ``dimension``, …); optional methods have defaults
   in the base class, so implement only what your backend can do. topobench never probes with ``hasattr``.
4. Log with ``logging.getLogger(__name__)``; never print.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from topobench.core.encoders import Encoder, check_kind, l2_normalize
from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import Index, normalize, pickled_size
from topobench.core.losses import Loss
from topobench.core.miners import Miner, MiningData, rank_window

logger = logging.getLogger(__name__)


# --- encoder ---------------------------------------------------------------------------------------------------------


class ToyEncoder(Encoder):
    """Character-trigram hashing encoder: texts sharing many trigrams get close vectors (no weights, no training).

    Each lower-cased text, padded with one space on each side, is cut into overlapping character trigrams; each
    trigram adds ±1 to one of ``dimension`` buckets (the "hashing trick"; the sign halves collisions' bias). The bucket
    and sign come from CRC-32, which, unlike Python's ``hash``, is the same in every process, so a dataset built twice
    is identical. Vectors are L2-normalised, so angular and inner-product search rank them the same way.
    """

    dimension: ClassVar[int] = 64
    normalized: ClassVar[bool] = True
    distance: ClassVar[str] = "angular"

    def encode(self, texts: Sequence[str], kind: str = "doc") -> np.ndarray:
        check_kind(kind)  # "query" or "doc": encoded the same way here (it matters for encoders with instructions)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)  # (n_texts × dimension)
        for row, text in enumerate(texts):
            padded = f" {text.lower()} "
            for start in range(len(padded) - 2):
                code = zlib.crc32(padded[start : start + 3].encode("utf-8"))
                sign = 1.0 if code & 0x8000_0000 else -1.0  # top bit: the sign; the rest: the bucket
                out[row, (code & 0x7FFF_FFFF) % self.dimension] += sign
        return l2_normalize(out)  # empty texts stay all-zero

    def provenance(self) -> dict[str, str]:
        """Recorded in the dataset file, so a result can be traced back to how its vectors were made."""
        return {"encoder": "toy-trigram-hash", "dimension": str(self.dimension), "hash": "crc32"}


# --- index -----------------------------------------------------------------------------------------------------------


class ToyIndex(Index):
    """Exact brute-force k-NN with numpy: a matrix-vector product and a partial sort.

    Build args: none. Query args: none. ``distcomps`` counts one distance per stored vector per query, the cost an
    approximate index tries to avoid. ``set_threads`` keeps the default (nothing to limit: numpy's BLAS decides).
    ``save``/``load`` (``can_save``) keep the prepared matrix in one ``.npz`` file, so ``serve.py`` can serve it.
    """

    metrics: ClassVar[tuple[str, ...]] = ("angular", "euclidean", "ip")
    stats_names: ClassVar[tuple[str, ...]] = ("distcomps",)
    can_save: ClassVar[bool] = True

    def __init__(self, metric: str) -> None:
        super().__init__(metric)  # checks ``metric`` against ``metrics``
        self.X = np.zeros((0, 0), dtype=np.float32)
        self.half_sq_norms = np.zeros(0, dtype=np.float32)
        self.distcomps = 0

    def fit(self, X: np.ndarray) -> None:
        # Angular: unit rows, so the inner product is the cosine. Euclidean: ‖x − q‖² = ‖x‖² − 2⟨x, q⟩ + ‖q‖², and
        # ‖q‖² is the same for every row, so ranking by ⟨x, q⟩ − ‖x‖²/2 (largest first) is ranking by distance.
        self.X = normalize(X) if self.metric == "angular" else np.ascontiguousarray(X, dtype=np.float32)
        if self.metric == "euclidean":
            self.half_sq_norms = 0.5 * np.einsum("ij,ij->i", self.X, self.X)

    def _scores(self, Q: np.ndarray) -> np.ndarray:
        """Scores to maximise: (n_queries × n) for Q (n_queries × d). Query scale does not change the ranking."""
        scores = Q @ self.X.T
        if self.metric == "euclidean":
            scores -= self.half_sq_norms
        return scores

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        self.distcomps += len(self.X)
        return _top_k(self._scores(q[None])[0], k)  # q (d,) → (1 × d) → scores (n,)

    def batch_query(self, Q: np.ndarray, k: int) -> None:
        self.distcomps += len(Q) * len(self.X)
        out = np.full((len(Q), k), -1, dtype=np.int64)  # -1 where fewer than k rows exist
        for start in range(0, len(Q), 256):  # blocks of queries keep the score matrix small
            for i, scores in enumerate(self._scores(Q[start : start + 256]), start):
                rows = _top_k(scores, k)
                out[i, : len(rows)] = rows
        self._batch_results = out

    def reset_stats(self) -> None:
        self.distcomps = 0

    def stats(self) -> dict[str, float]:
        return {"distcomps": float(self.distcomps)}  # a total: the runner divides by the number of queries

    def index_size(self) -> int | None:
        return pickled_size((self.X, self.half_sq_norms))

    def save(self, folder: Path) -> None:
        np.savez(Path(folder) / "toy.npz", X=self.X, half_sq_norms=self.half_sq_norms)

    def load(self, folder: Path) -> None:
        with np.load(Path(folder) / "toy.npz") as saved:
            self.X, self.half_sq_norms = saved["X"], saved["half_sq_norms"]


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Row numbers of the ``k`` largest scores, best first (all rows when there are fewer than ``k``)."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]  # the k best, unordered: O(n) instead of a full sort
    return top[np.argsort(-scores[top], kind="stable")]


# --- loss ------------------------------------------------------------------------------------------------------------


class ToyLoss(Loss):
    """Alignment plus a margin ranking term, on numpy arrays (a real loss would use torch tensors the same way).

    Args:
        margin: how much closer (in cosine) the positive must be than each negative before the negative stops costing.

    Inputs: ``queries`` (B × d), ``positives`` (B × d), optional ``negatives`` (B × n × d); any scale (rows are
    normalised here).

    Returns ``{"loss", "alignment", "ranking"}``: ``alignment`` = mean(1 − cos(q, d⁺)), the topology term's shape;
    ``ranking`` = mean(max(0, margin − cos(q, d⁺) + cos(q, d⁻))), zero without negatives; ``loss`` = their sum.
    """

    def __init__(self, margin: float = 0.2) -> None:
        self.margin = float(margin)

    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        q = _unit(np.asarray(queries, dtype=np.float64))  # (B × d)
        p = _unit(np.asarray(positives, dtype=np.float64))  # (B × d)
        pos = np.einsum("bd,bd->b", q, p)  # (B,) cos(q, d⁺)
        alignment = float(np.mean(1.0 - pos))
        ranking = 0.0
        if negatives is not None:
            n = _unit(np.asarray(negatives, dtype=np.float64))  # (B × n × d)
            neg = np.einsum("bd,bnd->bn", q, n)  # (B × n) cos(q, d⁻)
            ranking = float(np.mean(np.maximum(0.0, self.margin - pos[:, None] + neg)))
        return {"loss": alignment + ranking, "alignment": alignment, "ranking": ranking}


def _unit(a: np.ndarray) -> np.ndarray:
    """L2-normalise along the last axis (zero vectors stay zero)."""
    norms = np.linalg.norm(a, axis=-1, keepdims=True)
    return a / np.where(norms == 0.0, 1.0, norms)


# --- miner -----------------------------------------------------------------------------------------------------------


class ToyMiner(Miner):
    """Random negatives: up to ``depth`` corpus documents drawn uniformly per query, never one of its positives.

    Args:
        depth: the pool size per query (smaller when the corpus has fewer non-positive documents).
        seed: with the query id, fixes each query's draw, so results do not depend on which queries are mined
            together or in what order.

    The draw is a seeded shuffle of ``data.doc_ids`` passed through :func:`~topobench.core.miners.rank_window`, the
    helper
    every miner applies to its ranking: it drops the positives, then keeps the first ``depth``.
    """

    refreshes: ClassVar[bool] = False  # the draw does not depend on the model being trained

    def __init__(self, depth: int = 10, seed: int = 0) -> None:
        self.depth = int(depth)
        self.seed = int(seed)

    def mine(self, data: MiningData, encoder: Any | None = None) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for qid in data.query_ids:
            rng = np.random.default_rng([self.seed, zlib.crc32(qid.encode("utf-8"))])
            shuffled = (data.doc_ids[i] for i in rng.permutation(len(data.doc_ids)))
            out[qid] = rank_window(shuffled, data.positives.get(qid, set()), skip=0, depth=self.depth)
        return out


# --- registration: the hooks, at the bottom of the file --------------------------------------------------------------


@hookimpl
def register_encoders(register):
    register("toy", ToyEncoder)


@hookimpl
def register_indexes(register):
    register("toy", ToyIndex)


@hookimpl
def register_losses(register):
    register("toy", ToyLoss)


@hookimpl
def register_miners(register):
    register("toy", ToyMiner)
