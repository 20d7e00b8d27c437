"""The reference topobench plugin: one of everything a plugin can register, small enough to read in one sitting.

Copy this file to start a plugin. It registers, under the name ``toy`` in each kind of component:

* an **encoder** (:class:`ToyEncoder`): hashes character trigrams into a fixed-size unit vector, no model weights;
* an **index** (:class:`ToyIndex`): exact brute-force search in numpy, with a distance-computation counter;
* a **loss** (:class:`ToyLoss`): alignment plus a margin over negatives, in torch;
* a **miner** (:class:`ToyMiner`): a random pool of negatives per query, never its positives, reproducible;

and declares two values:

* a **recipe** ``toy``: the common curriculum trained with the toy loss, so ``scifact-minilm-toy@margin=0.3`` (or
  ``tinyqa-tinybert-toy``, a minute's training) names a dataset, and a study can list ``toy`` among its variants;
* a **metric** ``bytes_scanned``: the toy index's own counter, plotted (``plot.py -y bytes_scanned``), exported and
  studied like the built-in ``distcomps``.

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
   others. The loss needs torch (``requires = ("torch",)``); the rest only numpy.
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
from topobench.core.indexes import ContractSettings, Index, normalize, pickled_size
from topobench.core.losses import TORCH_INSTALL_HINT, Loss
from topobench.core.metric_spec import MetricSpec
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
    approximate index tries to avoid; ``bytes_scanned`` the vector bytes read for them (a counter of this plugin's
    own, declared as a metric below). ``set_threads`` keeps the default (nothing to limit: numpy's BLAS decides).
    ``save``/``load`` (``can_save``) keep the prepared matrix in one ``.npz`` file, so ``serve.py`` can serve it.
    """

    metrics: ClassVar[tuple[str, ...]] = ("angular", "euclidean", "ip")
    stats_names: ClassVar[tuple[str, ...]] = ("distcomps", "bytes_scanned")
    contract: ClassVar[ContractSettings] = ContractSettings(floor=0.995)  # how the shared contract test drives it
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
        # Totals over the queries since reset_stats: the runner divides them by the number of queries.
        return {"distcomps": float(self.distcomps), "bytes_scanned": float(self.distcomps * self.X.shape[1] * 4)}

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
    """Alignment plus a margin ranking term, in torch: a complete loss plugin in a dozen lines.

    Args:
        margin: how much closer (in cosine) the positive must be than each negative before the negative stops costing.

    Inputs: ``queries`` (B × d), ``positives`` (B × d), optional ``negatives`` (B × n × d): torch tensors carrying the
    encoder's autograd graph, any scale (rows are normalised here).

    Returns ``{"loss", "alignment", "ranking"}``: ``alignment`` = mean(1 − cos(q, d⁺)), the topology term's shape;
    ``ranking`` = mean(max(0, margin − cos(q, d⁺) + cos(q, d⁻))), zero without negatives; ``loss`` = their sum, the
    scalar the trainer minimises (the other two are detached, for its log).
    """

    requires: ClassVar[tuple[str, ...]] = ("torch",)  # imported inside __call__, so registering stays cheap
    install_hint: ClassVar[str] = TORCH_INSTALL_HINT

    def __init__(self, margin: float = 0.2) -> None:
        self.margin = float(margin)

    def __call__(self, queries: Any, positives: Any, negatives: Any | None = None) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        q = F.normalize(queries, dim=-1)  # (B × d)
        pos = (q * F.normalize(positives, dim=-1)).sum(dim=-1)  # (B,) cos(q, d⁺)
        alignment = (1.0 - pos).mean()
        ranking = torch.zeros((), dtype=q.dtype, device=q.device)
        if negatives is not None:
            neg = torch.einsum("bd,bnd->bn", q, F.normalize(negatives, dim=-1))  # (B × n) cos(q, d⁻)
            ranking = torch.clamp(self.margin - pos[:, None] + neg, min=0.0).mean()
        return {"loss": alignment + ranking, "alignment": alignment.detach(), "ranking": ranking.detach()}


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


@hookimpl
def register_recipes(register):
    # TrainConfig fields over the common curriculum (topobench/training/recipes.py COMMON).
    register("toy", {"loss": "toy", "loss_args": {"margin": 0.2}})


@hookimpl
def register_metrics(register):
    register("bytes_scanned", MetricSpec("Vector bytes scanned per query", counter="bytes_scanned", scale="log"))
