"""One row per dataset, to compare how trained variants of an encoder behave: task quality under exact search, the
speed and the work an index needs to reach a recall level, and the embeddings' geometry.

The question this answers is the project's: *does the way I train my retriever make my index faster or slower?* For
``scifact-minilm``, ``scifact-minilm-infonce`` and ``scifact-minilm-topo`` it lines up nDCG@10 of exact search (from
the dataset's own ground truth, no run needed), the best QPS of ``hnsw`` among points with k-NN recall ≥ 0.95, the
fewest distance computations per query among those points ("at equal recall"), the training run's facts and every
geometry statistic.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from topobench.core.errors import DatasetError, NoResultsError
from topobench.datasets.store import load_dataset
from topobench.metrics.registry import exact_search_metrics
from topobench.report.export import load_points, open_csv

logger = logging.getLogger(__name__)

EXACT_METRICS = ("ndcg@10", "recall@100", "mrr@10")
TRAINING_ATTRS = ("recipe", "training_best_step", "training_steps", "training_seconds", "training_dev_ndcg@10")


def _at_level(dataset: str, algorithm: str, level: float, count: int) -> dict[str, Any]:
    """Best QPS and fewest distance computations among ``algorithm``'s points with k-nn ≥ ``level``."""
    try:
        points = [p for p in load_points(dataset, ["k-nn", "qps", "distcomps"], count, False)
                  if p.algorithm == algorithm]
    except NoResultsError:
        points = []
    reached = [p for p in points if (p.values["k-nn"] or 0.0) >= level]
    row: dict[str, Any] = {f"{algorithm}_points": len(points), f"{algorithm}_points_at_level": len(reached)}
    if not reached:
        return row
    fastest = max(reached, key=lambda p: p.values["qps"] or 0.0)
    row.update({f"{algorithm}_qps": fastest.values["qps"], f"{algorithm}_qps_k-nn": fastest.values["k-nn"],
                f"{algorithm}_qps_parameters": fastest.parameters})
    counted = [p for p in reached if p.values["distcomps"] is not None]
    if counted:
        cheapest = min(counted, key=lambda p: p.values["distcomps"])
        row.update({f"{algorithm}_distcomps": cheapest.values["distcomps"],
                    f"{algorithm}_distcomps_k-nn": cheapest.values["k-nn"],
                    f"{algorithm}_distcomps_parameters": cheapest.parameters})
    return row


def comparison_rows(datasets: Sequence[str], algorithm: str = "hnsw", level: float = 0.95,
                    count: int = 10) -> list[dict[str, Any]]:
    """One dict per dataset (see the module docstring); a dataset whose file is missing is skipped with a warning."""
    rows = []
    for name in datasets:
        try:
            dataset = load_dataset(name, build=False)
        except DatasetError as exc:
            logger.warning("skipping dataset %s: %s", name, exc)
            continue
        row: dict[str, Any] = {"dataset": name, "level": level}
        row.update({f"exact_{k}": v for k, v in exact_search_metrics(dataset, EXACT_METRICS).items()})
        row.update(_at_level(name, algorithm, level, count))
        row.update({k: dataset.attrs.get(k) for k in TRAINING_ATTRS})
        row.update({f"geometry_{k}": v for k, v in sorted(dataset.geometry.items())})
        rows.append(row)
    if not rows:
        raise NoResultsError("none of the datasets could be loaded; build them with `python run.py --dataset NAME`")
    return rows


def export_comparison(out: str | Path, datasets: Sequence[str], algorithm: str = "hnsw", level: float = 0.95,
                      count: int = 10) -> list[str]:
    """Write the comparison as CSV (one row per dataset) and return it as text, transposed (a column per dataset)."""
    rows = comparison_rows(datasets, algorithm, level, count)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open_csv(out) as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    width = max(len(k) for k in keys)
    lines = []
    for key in keys:
        cells = [_text(row.get(key)) for row in rows]
        lines.append(f"{key:{width}s}  " + "  ".join(f"{c:>24s}" for c in cells))
    return lines


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"
