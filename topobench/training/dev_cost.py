"""Dev lists probed: what an IVF pays for a checkpoint's geometry, measured on the dev queries; and the dev-sweep rule.

An index-aware loss (``cell_assign``, ``cell_balance``, ``adaptive``) enters the ``index-aware`` study at one weight,
chosen on the dev split before any test-split number is seen (docs/STUDIES.md, "The index-aware losses"). Quality on
the dev split is the run's own dev nDCG@10; cost is :func:`dev_lists_probed`: the corpus and the dev queries encoded
with the checkpoint, an IVF-Flat of ``nlist`` k-means lists (faiss, seed 1234, nlist clamped as the cells' geometry
clamps it), and the smallest ``nprobe`` whose mean k-NN recall@10 against exact search reaches 0.95 — the study's
own cost measure (IVF lists probed at k-NN 0.95), on queries the study never reports, so choosing a weight by it
leaks nothing of the test split into the study. k-NN recall is counted as the cells count it (ann-benchmarks'
tie-aware rule, :mod:`topobench.metrics.scoring`): a returned vector within the exact k-th distance + 1e-3 is a hit.

:func:`choose` is the rule that turns the candidates' two numbers into the chosen weight; :func:`dev_scores` gives a
training configuration's two numbers (training it first when it has not been trained). ``scripts/dev_sweep.py``
runs the sweep.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topobench.backends.embedding_cache import EmbeddingCache
from topobench.core.distances import exact_knn
from topobench.core.errors import DatasetError
from topobench.core.indexes import clamp_nlist, normalize
from topobench.metrics.scoring import KNN_EPSILON, recall_within
from topobench.training.config import TrainConfig
from topobench.training.data import TrainingSet

logger = logging.getLogger(__name__)

DEV_NLIST = 256  # the cells' IVF_NLIST: the largest nlist of algos.yaml's ivf grid
DEV_LEVEL = 0.95  # the k-NN recall the study reads lists probed at
DEV_K = 10
IVF_SEED = 1234  # the cells' k-means seed (index_geometry) and faiss's own ClusteringParameters default
TOLERANCE = 0.01  # equal dev quality: within the seed-to-seed spread of the groups study's dev nDCG@10
RULE = ("keep the candidates whose dev nDCG@10 is at least the reference's (topo, same seed) minus the tolerance; "
        "among them take the fewest dev lists probed, the smaller weight on a tie; if none is kept, the smallest "
        "weight")


class DevIVF:
    """An IVF-Flat over ``docs`` and the exact top-``k`` of ``queries``: k-NN recall at any ``nprobe``.

    Built as the ``ivf`` index plugin builds it (faiss ``IndexIVFFlat`` behind an exact coarse quantizer, its k-means
    seeded with ``seed``): ``angular`` vectors are normalised and ranked by inner product (spherical k-means),
    ``euclidean`` by L2, ``ip`` by the raw inner product. ``nlist`` is clamped by :func:`clamp_nlist`, ``k`` to the
    corpus size. Recalls are cached per ``nprobe``.
    """

    def __init__(self, docs: np.ndarray, queries: np.ndarray, distance: str, nlist: int = DEV_NLIST,
                 k: int = DEV_K, seed: int = IVF_SEED) -> None:
        from topobench.backends import faiss_index as common

        faiss = common.import_faiss()
        if len(docs) == 0 or len(queries) == 0:
            raise DatasetError(f"dev lists probed needs documents and dev queries, got {len(docs)} documents and "
                               f"{len(queries)} queries")
        self.distance = distance
        self.k = min(int(k), len(docs))
        self.nlist = clamp_nlist(nlist, len(docs))
        self.truth, truth_distances = exact_knn(docs, queries, distance, self.k, progress=False)
        self.threshold = truth_distances[:, self.k - 1].astype(np.float64) + KNN_EPSILON
        if distance == "angular":
            base, self.queries = normalize(docs), normalize(queries)
        else:
            base = np.ascontiguousarray(docs, dtype=np.float32)
            self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        metric = faiss.METRIC_L2 if distance == "euclidean" else faiss.METRIC_INNER_PRODUCT
        d = base.shape[1]
        self.index = faiss.IndexIVFFlat(faiss.IndexFlat(d, metric), d, self.nlist, metric)
        self.index.cp.seed = int(seed)
        common.quiet_kmeans(self.index.cp, "dev ivf", len(base), self.nlist)
        self.index.train(base)
        self.index.add(base)
        self._recalls: dict[int, float] = {}

    def recall(self, nprobe: int) -> float:
        """Mean k-NN recall@k (tie-aware) of the dev queries when each scans its ``nprobe`` nearest lists."""
        nprobe = max(1, min(int(nprobe), self.nlist))
        if nprobe not in self._recalls:
            self.index.nprobe = nprobe
            scores, ids = self.index.search(self.queries, self.k)
            scores = scores.astype(np.float64)
            if self.distance == "angular":
                found = 1.0 - scores
            elif self.distance == "euclidean":
                found = np.sqrt(np.maximum(scores, 0.0))
            else:
                found = -scores
            self._recalls[nprobe] = float(np.mean(recall_within(found, ids, self.threshold)))
        return self._recalls[nprobe]

    def lists_probed(self, level: float = DEV_LEVEL) -> tuple[int, float]:
        """The smallest ``nprobe`` (1..nlist) whose recall reaches ``level``, and that recall, by binary search.

        Binary search is exact because recall never falls as ``nprobe`` grows: the ``nprobe`` nearest lists are a
        prefix of the ``nprobe + 1`` nearest (the coarse quantizer ranks every centroid exactly), so the vectors
        scanned only grow, and a query's hits are min(k, scanned vectors within the threshold). When even ``nlist``
        (every list: exact search) falls short — only ties at the threshold could do that — ``nlist`` is returned
        with its recall, and a warning says so."""
        if self.recall(self.nlist) < level:
            logger.warning("dev ivf: recall %.4f at nprobe = nlist = %d stays below %.3f", self.recall(self.nlist),
                           self.nlist, level)
            return self.nlist, self.recall(self.nlist)
        lo, hi = 1, self.nlist  # recall(hi) >= level; the answer is in [lo, hi]
        while lo < hi:
            mid = (lo + hi) // 2
            if self.recall(mid) >= level:
                hi = mid
            else:
                lo = mid + 1
        return lo, self.recall(lo)


def dev_lists_probed(encoder: Any, data: TrainingSet, nlist: int = DEV_NLIST, level: float = DEV_LEVEL,
                     k: int = DEV_K, seed: int = IVF_SEED, cache: EmbeddingCache | None = None) -> dict[str, Any]:
    """Dev lists probed of ``encoder``: the smallest IVF ``nprobe`` reaching k-NN recall@``k`` ``level`` on the dev
    queries of ``data`` over its whole corpus (the module docstring says what and why).

    The corpus (``data.mining.doc_texts``) and the dev queries are encoded through ``cache`` (as the trainer's dev
    evaluation does: pass its cache and the corpus is encoded once for both), in the encoder's ``distance``.
    Returns ``{"lists_probed", "recall" (at that nprobe), "nlist" (after clamping), "queries", "docs"}``."""
    if not data.dev_query_ids:
        raise DatasetError("no dev queries to measure dev lists probed on (dev_queries is 0, or the corpus has none)")
    cache = cache if cache is not None else EmbeddingCache()
    docs = cache.encode(encoder, data.mining.doc_texts, "doc")
    queries = cache.encode(encoder, data.dev_query_texts, "query")
    ivf = DevIVF(docs, queries, encoder.distance, nlist, k, seed)
    probed, recall = ivf.lists_probed(level)
    logger.info("dev lists probed: %d of %d lists reach k-NN recall@%d %.4f (target %.2f) on %d dev queries over "
                "%d documents", probed, ivf.nlist, ivf.k, recall, level, len(queries), len(docs))
    return {"lists_probed": int(probed), "recall": float(recall), "nlist": int(ivf.nlist), "queries": len(queries),
            "docs": len(docs)}


def checkpoint_encoder(config: TrainConfig, checkpoint: str | Path) -> Any:
    """The encoder of ``config`` loaded from ``checkpoint`` as the trainer's dev evaluation ran it: at the training
    ``max_length`` (a saved checkpoint records the encoder's own, longer limit), batch size, device and precision."""
    from topobench.core.registry import get_registry

    return get_registry().create("encoders", config.encoder, check_available=False,
                                 **{**config.encoder_options(), "checkpoint": str(checkpoint)})


def dev_scores(config: TrainConfig, nlist: int = DEV_NLIST, level: float = DEV_LEVEL, k: int = DEV_K,
               seed: int = IVF_SEED) -> dict[str, Any]:
    """The two dev numbers of a training configuration: dev nDCG@10 of its best checkpoint (the run summary's
    ``kept[0]``) and :func:`dev_lists_probed` of that checkpoint. The run is trained (or resumed) first when it has
    not finished. ``ndcg@10_recomputed`` is the loaded checkpoint's dev nDCG@10 recomputed here: equal to the
    summary's unless the checkpoint was not loaded as it was evaluated (a warning says so)."""
    from topobench.corpus.corpora import load_corpus
    from topobench.training.data import config_training_set
    from topobench.training.dev_eval import dev_metrics
    from topobench.training.recipes import trained_checkpoint

    checkpoint, summary = trained_checkpoint(config)
    if not summary.get("kept") or "ndcg@10" not in summary["kept"][0]:
        raise DatasetError(f"run {config.fingerprint()} has no dev evaluation (dev_queries={config.dev_queries}): "
                           "it cannot be scored on the dev split")
    best = summary["kept"][0]
    data = config_training_set(load_corpus(config.corpus), config)
    encoder = checkpoint_encoder(config, checkpoint)
    cache = EmbeddingCache()
    recomputed = dev_metrics(encoder, data, cache).get("ndcg@10")
    if recomputed is None or abs(recomputed - best["ndcg@10"]) > 1e-4:
        logger.warning("%s: dev nDCG@10 recomputed from the checkpoint is %s, the run recorded %.4f",
                       checkpoint, recomputed, best["ndcg@10"])
    cost = dev_lists_probed(encoder, data, nlist, level, k, seed, cache)
    return {"ndcg@10": float(best["ndcg@10"]), "ndcg@10_recomputed": recomputed, **cost,
            "best_step": best["step"], "checkpoint": str(checkpoint), "fingerprint": summary["fingerprint"]}


def _weight_key(weight: Any) -> tuple[float, ...]:
    """A candidate's weight as a sort key: a number, or a sequence of numbers compared in order (``adaptive``'s
    (w_min, w_max): w_min first)."""
    if isinstance(weight, Sequence) and not isinstance(weight, str):
        return tuple(float(w) for w in weight)
    return (float(weight),)


def kept(candidates: Sequence[dict[str, Any]], reference_ndcg: float,
         tolerance: float = TOLERANCE) -> list[dict[str, Any]]:
    """The candidates of equal dev quality: ``ndcg@10`` at least ``reference_ndcg − tolerance`` (a hair of float
    slack, so a value exactly on the line is kept whatever its rounding)."""
    floor = reference_ndcg - tolerance - 1e-12
    return [c for c in candidates if c.get("ndcg@10") is not None and not math.isnan(c["ndcg@10"])
            and c["ndcg@10"] >= floor]


def choose(candidates: Sequence[dict[str, Any]], reference_ndcg: float, tolerance: float = TOLERANCE) -> dict[str, Any]:
    """The dev sweep's rule (:data:`RULE`): among the candidates :func:`kept` at ``reference_ndcg`` − ``tolerance``,
    the fewest ``lists_probed``, the smaller ``weight`` on a tie; if none is kept, the smallest ``weight``.

    Each candidate is a dict with ``weight`` (a number, or a sequence compared in order), ``ndcg@10`` and
    ``lists_probed``; the chosen dict itself is returned."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    equal = kept(candidates, reference_ndcg, tolerance)
    if not equal:
        return min(candidates, key=lambda c: _weight_key(c["weight"]))
    return min(equal, key=lambda c: (c["lists_probed"], _weight_key(c["weight"])))
