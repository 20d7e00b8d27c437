"""Every benchmark point of a cell, kept whole (cell format 3), so that any measure can be recomputed from the committed
cell file alone: each point's build and query arguments, mean k-NN recall, every counter, QPS and latency
percentiles, and, per query, the k-NN hits and every counter the index reported for that query.

Why: a cell of format 2 kept only values already read at recall levels and the recall–QPS frontier, so a better
measure (the convex hull of the cost frontier, per-build costs, equal-parameter ratios, per-query hardness, intervals
over queries) could not be computed without the machine that ran it. Per-query values are stored as whole numbers
where they are counts (hits out of ``count``, distance computations, hops, lists probed), which keeps a SciFact cell's
32 HNSW and 30 IVF points × 300 queries well under the 1 MB budget of a committed file.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from topobench.datasets.store import Dataset
from topobench.metrics.scoring import Scoring, is_text_result
from topobench.runs.results import Result, iter_results

PACKED = "zi4:"  # a per-query list of whole numbers in a cell file: zlib-compressed little-endian int32, base64
LATENCY_PERCENTILES = (50, 95, 99)
TEXT_INDEX_STAT = "text_index"  # a marker the runner adds to text results, not a counter


def point_settings(dataset: Dataset, count: int, algorithms: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The single-query results of ``dataset`` at ``count`` for each of ``algorithms``, one record per point
    (:func:`setting_record`), sorted by build then query arguments; an algorithm without results gets []."""
    out: dict[str, list[dict[str, Any]]] = {a: [] for a in algorithms}
    for result in iter_results(dataset.name, count, batch=False):
        if result.algorithm in out:
            out[result.algorithm].append(setting_record(dataset, result))
    for records in out.values():
        records.sort(key=lambda r: (_order(r["build"]), _order(r["query"])))
    return out


def setting_record(dataset: Dataset, result: Result) -> dict[str, Any]:
    """One point: ``build`` and ``query`` args, ``k-nn`` (mean tie-aware recall; null for a text index), ``qps``,
    ``latency_ms`` percentiles, ``build_seconds``, ``counters`` (per-query means) and ``per_query``: ``hits`` (k-NN
    hits of each query out of ``count``) and each counter of each query where the result kept them."""
    counters = {k: float(v) for k, v in sorted(result.stats.items()) if k != TEXT_INDEX_STAT}
    latencies = np.asarray(result.times, dtype=np.float64) * 1000.0
    record: dict[str, Any] = {
        "build": list(result.build_args), "query": list(result.query_args),
        "k-nn": None, "qps": 1.0 / max(float(result.best_search_time), 1e-12),
        "latency_ms": {f"p{p}": round(float(np.percentile(latencies, p)), 4) for p in LATENCY_PERCENTILES},
        "build_seconds": round(float(result.build_time), 3), "counters": counters, "per_query": {},
    }
    if not is_text_result(result):
        scoring = Scoring(dataset, result)
        if scoring.has_vector_truth:
            recalls = scoring.knn_recalls
            record["k-nn"] = float(np.mean(recalls))
            record["per_query"]["hits"] = [int(h) for h in np.rint(recalls * result.count)]
    for key, values in sorted(result.query_stats.items()):
        record["per_query"][key] = _compact(values)
    return record


def _compact(values: np.ndarray) -> list[int] | list[float]:
    """Whole numbers as ints (counters are counts), anything else rounded to 6 significant digits."""
    values = np.asarray(values, dtype=np.float64)
    if np.all(values == np.rint(values)):
        return [int(v) for v in values]
    return [float(f"{v:.6g}") for v in values]


def _order(args: Sequence[Any]) -> tuple:
    """A sort key for argument lists that may mix numbers and text."""
    return tuple((0, float(a), "") if isinstance(a, (int, float)) and not isinstance(a, bool) else (1, 0.0, str(a))
                 for a in args)


def pack_per_query(algorithms: dict[str, Any]) -> dict[str, Any]:
    """A copy of a cell's ``algorithms`` whose per-query lists of whole numbers are packed (:data:`PACKED`) for the
    file: MedQuAD's 1,397 queries × 100 points × 3 counters are 1.5 MB as JSON digits, ≈ 0.3 MB packed. Lists of
    other numbers stay lists."""
    out = {}
    for name, summary in algorithms.items():
        if not summary or not summary.get("settings"):
            out[name] = summary
            continue
        settings = []
        for point in summary["settings"]:
            per_query = {k: _pack(v) for k, v in point.get("per_query", {}).items()}
            settings.append({**point, "per_query": per_query})
        out[name] = {**summary, "settings": settings}
    return out


def unpack_per_query(algorithms: dict[str, Any], where: str) -> dict[str, Any]:
    """The inverse of :func:`pack_per_query`, in place; a packed value that does not decode is a ValueError naming
    ``where`` and the field."""
    for name, summary in algorithms.items():
        for i, point in enumerate((summary or {}).get("settings") or []):
            per_query = point.get("per_query")
            if not isinstance(per_query, dict):
                continue
            for key, value in per_query.items():
                if isinstance(value, str):
                    try:
                        per_query[key] = _unpack(value)
                    except ValueError as exc:
                        raise ValueError(f"{where}: field algorithms.{name}.settings[{i}].per_query.{key} does not "
                                         f"decode ({exc})") from None
    return algorithms


def _pack(values: Any) -> Any:
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values
    array = np.asarray(values, dtype=np.int64)
    if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
        return values
    raw = array.astype("<i4").tobytes()
    return PACKED + base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def _unpack(text: str) -> list[int]:
    if not text.startswith(PACKED):
        raise ValueError(f"a string where a list belongs, not {PACKED}…")
    try:
        raw = zlib.decompress(base64.b64decode(text[len(PACKED):], validate=True))
    except (ValueError, zlib.error) as exc:
        raise ValueError(str(exc)) from None
    if len(raw) % 4:
        raise ValueError("not a whole number of int32 values")
    return [int(v) for v in np.frombuffer(raw, dtype="<i4")]
