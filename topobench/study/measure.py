"""What a cell file records about a dataset and its results: Pareto frontiers and values at recall levels, exact-search
task metrics per query, positive-pair cosines, and the IVF/PQ geometry statistics relative to the stock model.

Interpolation along a frontier: each measure has its own Pareto frontier, the points not beaten on both k-NN recall
and that measure (higher QPS; fewer distance computations, hops, lists probed), sorted by recall. A counter is read
along its own frontier, never along QPS's: which points are QPS-optimal depends on the machine's timing noise, so a
counter taken from them would inherit that noise (two benchmarks of the same vectors gave HNSW distcomps 437 and 393
at k-NN 0.95 that way, with every point's own counters identical). At a level r between two consecutive frontier
points (r₀ ≤ r ≤ r₁), a value v is interpolated linearly in recall on log(v) (QPS and cost counters span orders of
magnitude); a point exactly at r gives its own values; a level above the best recall gives None (the index never
reached it there); a level below the frontier's lowest recall gives that point's value, an upper bound on the cost
(a lower bound on QPS) at the level, flagged ``bound`` with the recall the QPS frontier ``reached``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from topobench.core.indexes import clamp_nlist
from topobench.core.indexes import normalize as normalize_rows
from topobench.datasets.store import Dataset
from topobench.metrics.registry import Point, exact_result, plugin_metrics
from topobench.metrics.scoring import Scoring

KNN_LEVELS = (0.9, 0.95, 0.99)
COUNTERS = ("distcomps", "hops", "lists_probed")  # work per query: fewer is better


def counters() -> tuple[str, ...]:
    """The built-in cost counters and every per-query counter a plugin declares as a metric (fewer is better), so a
    plugin's own counter is read at each recall level and compared across variants like ``distcomps``."""
    declared = tuple(name for name, m in plugin_metrics().items() if m.direction == "lower" and name not in COUNTERS)
    return (*COUNTERS, *declared)


def costs() -> tuple[str, ...]:
    return ("qps", *counters())
TASK_METRICS = {"ndcg@10": ("ndcg", 10), "recall@100": ("recall", 100), "recall@10": ("recall", 10),
                "mrr@10": ("mrr", 10)}
PER_QUERY = ("ndcg@10", "recall@100")


def frontier(points: Sequence[Point], quality: str = "k-nn", measure: str = "qps") -> list[Point]:
    """The points not beaten on both ``quality`` and ``measure`` (higher QPS; a lower cost counter), sorted by
    ascending quality (ties: the better measure first). Points without either value are left out."""
    sign = 1.0 if measure == "qps" else -1.0  # maximise sign × value
    usable = [p for p in points if p.values.get(quality) is not None and p.values.get(measure) is not None]
    ordered = sorted(usable, key=lambda p: (-p.values[quality], -sign * p.values[measure], p.parameters))
    out: list[Point] = []
    best = -math.inf
    for p in ordered:  # descending quality: keep a point only when it beats every better-quality one on the measure
        if sign * p.values[measure] > best:
            out.append(p)
            best = sign * p.values[measure]
    return out[::-1]


def at_level(front: Sequence[Point], level: float, quality: str = "k-nn") -> dict[str, float | None] | None:
    """Every measure's value at ``level`` of ``quality``, interpolated along ``front`` (see the module docstring)."""
    if not front or front[-1].values[quality] < level:
        return None
    above = next(i for i, p in enumerate(front) if p.values[quality] >= level)
    hi = front[above]
    if above == 0 or hi.values[quality] == level:
        # Below the frontier's lowest point the cheapest setting already exceeds the level: its cost is an upper
        # bound on the cost at the level (``reached`` says which recall it was measured at).
        return {**{k: _number(hi.values.get(k)) for k in costs()}, "reached": float(hi.values[quality]),
                "bound": above == 0 and hi.values[quality] > level}
    lo = front[above - 1]
    t = (level - lo.values[quality]) / (hi.values[quality] - lo.values[quality])
    return {**{k: _log_interpolate(lo.values.get(k), hi.values.get(k), t) for k in costs()}, "reached": level,
            "bound": False}


def costs_at_level(points: Sequence[Point], level: float, quality: str = "k-nn") -> dict[str, float | None] | None:
    """QPS and each cost counter at ``level`` of ``quality``, each along its own frontier (see the module docstring);
    ``reached`` and ``bound`` as the QPS frontier gives them, ``bound`` also set when a counter's value is a bound.
    None when no point reaches the level."""
    out = at_level(frontier(points, quality), level, quality)
    if out is None:
        return None
    for counter in counters():
        own = at_level(frontier(points, quality, counter), level, quality)
        out[counter] = None if own is None else own[counter]
        out["bound"] = bool(out["bound"] or (own is not None and own["bound"]))
    return out


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _log_interpolate(a: float | None, b: float | None, t: float) -> float | None:
    if a is None or b is None:
        return None
    if a <= 0 or b <= 0:
        return float(a + t * (b - a))
    return float(math.exp(math.log(a) + t * (math.log(b) - math.log(a))))


def algorithm_summary(points: Sequence[Point], exact_ndcg: float | None) -> dict[str, Any]:
    """One algorithm's entry in a cell: values at k-NN 0.90/0.95/0.99, at 99 % of exact nDCG@10, and its frontier."""
    knn_front = frontier(points, "k-nn")
    out: dict[str, Any] = {
        "at_knn": {f"{level:g}": costs_at_level(points, level) for level in KNN_LEVELS},
        "frontier": [[p.values["k-nn"], p.values["qps"], _number(p.values.get("distcomps"))] for p in knn_front],
        "points": len(points),
    }
    task = best_task(points)
    if task:
        out["task"] = task
    if exact_ndcg is not None:
        level = 0.99 * exact_ndcg
        out["at_ndcg"] = {"level": level,
                          **(costs_at_level(points, level, "ndcg@10") or dict.fromkeys([*costs(), "reached", "bound"]))}
    return out


def best_task(points: Sequence[Point]) -> dict[str, float | None] | None:
    """The task quality an algorithm reaches at its best point (highest nDCG@10, then QPS): BM25's row beside the
    dense variants. None when no point was judged."""
    judged = [p for p in points if p.values.get("ndcg@10") is not None]
    if not judged:
        return None
    best = max(judged, key=lambda p: (p.values["ndcg@10"], p.values.get("qps") or 0.0, p.parameters))
    return {k: _number(best.values.get(k)) for k in ("ndcg@10", "recall@100", "mrr@10", "qps")}


def exact_metrics(dataset: Dataset) -> tuple[dict[str, float], dict[str, Any]]:
    """Exact-search task metrics (means) and, per judged query, nDCG@10 and Recall@100 (for paired statistics)."""
    scoring = Scoring(dataset, exact_result(dataset))
    means = {name: scoring.task_mean(kind, k) for name, (kind, k) in TASK_METRICS.items()}
    per_query: dict[str, Any] = {}
    for name in PER_QUERY:
        rows, values = scoring.judged_values(*TASK_METRICS[name])
        per_query.setdefault("query_ids", [str(dataset.query_ids[r]) if dataset.query_ids is not None else str(r)
                                           for r in rows])
        per_query[name] = [round(float(v), 6) for v in values]
    return means, per_query


def positive_cosines(dataset: Dataset) -> list[float]:
    """cos(q, d⁺) of every judged (test query, relevant document) pair: the seed's central quantity."""
    qrels = np.asarray(dataset.qrels, dtype=np.int64).reshape(-1, 3)
    pairs = qrels[qrels[:, 2] >= 1]
    q = normalize_rows(np.asarray(dataset.test[pairs[:, 0]], dtype=np.float32))
    d = normalize_rows(np.asarray(dataset.train[pairs[:, 1]], dtype=np.float32))
    return [round(float(c), 5) for c in np.einsum("ij,ij->i", q, d)]


def index_geometry(train: np.ndarray, nlist: int, pq_m: int, seed: int = 1234) -> dict[str, float]:
    """k-means inertia at ``nlist`` (mean squared distance to the nearest centroid, unit vectors) and PQ
    reconstruction error (``pq_m`` sub-quantisers of 8 bits; mean squared error over mean squared norm): what an IVF
    and a PQ index pay for the geometry — the seed's "K-means clusters become more compact" claim."""
    import faiss

    x = np.ascontiguousarray(normalize_rows(np.asarray(train, dtype=np.float32)))
    n, d = x.shape
    k = clamp_nlist(nlist, n)
    kmeans = faiss.Kmeans(d, k, niter=20, seed=seed, verbose=False)
    kmeans.train(x)
    distances, _ = kmeans.index.search(x, 1)
    m = pq_m if d % pq_m == 0 else next(m for m in range(min(pq_m, d), 0, -1) if d % m == 0)
    bits = min(8, max(1, int(math.log2(n))))  # 8 bits need 256 training vectors; a tiny corpus gets fewer
    pq = faiss.ProductQuantizer(d, m, bits)
    pq.verbose = False
    pq.train(x)
    decoded = pq.decode(pq.compute_codes(x))
    error = float(np.mean(np.sum((x - decoded) ** 2, axis=1)) / np.mean(np.sum(x ** 2, axis=1)))
    return {f"kmeans_inertia@{nlist}": float(np.mean(distances[:, 0])), f"pq_error@{m}": error}
