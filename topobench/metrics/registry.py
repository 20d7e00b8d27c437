"""The metric table (name → ``Metric``) that plot, export and report iterate over, and scoring with it.

The table is built explicitly from the built-in metrics and DPR's answer accuracy; nothing registers itself on
import. Metrics plugins declare (``register_metrics``: a ``MetricSpec``, most often naming an index counter) join it
through :func:`all_metrics`, so they are plotted, exported and reported like the built-ins. ``register_metric`` adds
one more at run time (a test's).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from topobench.core.errors import PluginError, UnknownNameError
from topobench.datasets.store import Dataset
from topobench.metrics.answer import ANSWER_METRICS
from topobench.metrics.builtin import BUILTIN_METRICS, counter
from topobench.metrics.scoring import SUMMARY_LEVELS, Metric, Scoring
from topobench.runs.results import Result, read_repeats

logger = logging.getLogger(__name__)

METRICS: dict[str, Metric] = {m.name: m for m in (*BUILTIN_METRICS, *ANSWER_METRICS)}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to the registry; a second metric with the same name is an error."""
    if metric.name in METRICS:
        raise PluginError(f"metric {metric.name!r} is already registered")
    METRICS[metric.name] = metric
    return metric


def plugin_metrics() -> dict[str, Metric]:
    """The metrics plugins declared, as full metrics (a counter's value is per query, like ``distcomps``); a name
    that a built-in metric already has is a ``PluginError`` naming the plugin."""
    from topobench.core.registry import get_registry

    out: dict[str, Metric] = {}
    for name, declared in get_registry().declared["metrics"].items():
        if name in METRICS:
            raise PluginError(f"plugin {declared.plugin!r} declares metric {name!r}, a built-in metric's name: rename "
                              "it")
        spec = declared.value
        if spec.counter is not None:
            out[name] = Metric(name, spec.description, spec.direction, counter(spec.counter), scale=spec.scale,
                               kind="cost", requires=f"an index that reports the counter {spec.counter!r}")
        else:
            out[name] = Metric(name, spec.description, spec.direction, spec.compute, scale=spec.scale,
                               kind="cost", needs_dataset=True, requires=f"what plugin {declared.plugin!r} needs")
    return out


def all_metrics() -> dict[str, Metric]:
    """Every metric: the built-ins (and any added with :func:`register_metric`), then the plugins' own."""
    return {**METRICS, **plugin_metrics()}


def get_metric(name: str) -> Metric:
    metrics = all_metrics()
    try:
        return metrics[name]
    except KeyError:
        raise UnknownNameError(f"unknown metric {name!r}; known metrics: {', '.join(metrics)}") from None


def evaluate(dataset: Dataset | None, result: Result, names: Sequence[str] | None = None) -> dict[str, float | None]:
    """Values of the named metrics (all by default) for one result, sharing the per-query work between them."""
    metrics = [get_metric(n) for n in names] if names is not None else list(all_metrics().values())
    scoring = Scoring(dataset, result)
    return {m.name: m.value(scoring) for m in metrics}


def exact_search_metrics(dataset: Dataset, names: Sequence[str]) -> dict[str, float | None]:
    """The named task metrics of exact search, scored from the dataset's own exact top-k (``neighbors`` and
    ``distances``) as if a flat index had returned them; None each when the dataset has no judgements."""
    if not dataset.has_qrels:
        return dict.fromkeys(names)
    return evaluate(dataset, exact_result(dataset), names)


def exact_result(dataset: Dataset) -> Result:
    """The dataset's own exact top-k (``neighbors`` and ``distances``) as the result of a flat index."""
    return Result(dataset=dataset.name, algorithm="exact", name="exact", count=dataset.neighbors.shape[1], batch=True,
                  distance=dataset.distance, build_args=[], query_args=[], build_time=0.0, index_size_bytes=None,
                  best_search_time=0.0, run_count=1, threads=1, times=np.zeros(len(dataset.test)),
                  neighbors=dataset.neighbors, distances=dataset.distances)


# --- scoring many results, and the summary table --------------------------------------------------------------------


@dataclass
class Point:
    """A scored result without its arrays: what plots, exports and summaries need.

    A point run several times (``run.py --repeat``) has ``repeats`` > 1, the values of each run in ``per_repeat``
    (first run first) and, in ``values``, the median of each metric over its runs."""

    dataset: str
    algorithm: str
    name: str
    parameters: str
    count: int
    batch: bool
    values: dict[str, float | None]
    repeats: int = 1
    per_repeat: list[dict[str, float | None]] = field(default_factory=list)

    def spread(self, metric: str) -> tuple[float, float] | None:
        """(min, max) of ``metric`` over the point's runs; None for a point run once or a metric without values."""
        found = [v[metric] for v in self.per_repeat if v.get(metric) is not None]
        return (min(found), max(found)) if len(found) > 1 else None


def _median_values(runs: list[dict[str, float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in runs[0]:
        found = [run[name] for run in runs if run[name] is not None]
        out[name] = float(np.median(found)) if found else None
    return out


def score(results: Iterable[Result], dataset: Dataset | None, names: Sequence[str] | None = None) -> list[Point]:
    """Score each result (results are read one at a time, so only the small ``Point``s stay in memory); a result
    whose file keeps several runs has each run scored (``Point.per_repeat``)."""
    points = []
    for r in results:
        if r.repeats > 1 and r.path is not None:
            runs = [evaluate(dataset, run, names) for run in read_repeats(r.path)]
            points.append(Point(r.dataset, r.algorithm, r.name, r.parameters, r.count, r.batch, _median_values(runs),
                                len(runs), runs))
        else:
            points.append(Point(r.dataset, r.algorithm, r.name, r.parameters, r.count, r.batch,
                                evaluate(dataset, r, names)))
    logger.debug("scored %d results", len(points))
    return points


def summary(results: Iterable[Result], dataset: Dataset | None, levels: Sequence[float] = SUMMARY_LEVELS,
            quality: str = "k-nn", speed: str = "qps") -> list[dict[str, Any]]:
    """For each algorithm, the best ``speed`` among points whose ``quality`` reaches each level.

    One row per (algorithm, count, batch, level): ``algorithm``, ``count``, ``batch``, ``level``, ``<quality>``,
    ``<speed>``, ``name``, ``parameters`` — the last four None when no point reaches the level. Algorithms for which
    ``quality`` never applies (e.g. k-nn for BM25) get no rows.
    """
    return summarize(score(results, dataset, [quality, speed]), levels, quality, speed)


def summarize(points: Iterable[Point], levels: Sequence[float] = SUMMARY_LEVELS, quality: str = "k-nn",
              speed: str = "qps") -> list[dict[str, Any]]:
    """``summary`` over already scored points (which must hold ``quality`` and ``speed`` values)."""
    qm, sm = get_metric(quality), get_metric(speed)
    groups: dict[tuple[str, int, bool], list[Point]] = {}
    for p in sorted(points, key=lambda p: (p.algorithm, p.name, p.parameters)):
        if p.values.get(quality) is not None and p.values.get(speed) is not None:
            groups.setdefault((p.algorithm, p.count, p.batch), []).append(p)
    rows = []
    for (algorithm, count, batch), group in sorted(groups.items()):
        for level in levels:
            best: Point | None = None
            for p in group:
                reaches = not qm.better(level, p.values[quality])
                if reaches and (best is None or sm.better(p.values[speed], best.values[speed])):
                    best = p
            rows.append({
                "algorithm": algorithm, "count": count, "batch": batch, "level": level,
                quality: best.values[quality] if best else None, speed: best.values[speed] if best else None,
                "name": best.name if best else None, "parameters": best.parameters if best else None,
            })
    return rows


def summarize_spread(points: Iterable[Point], levels: Sequence[float] = SUMMARY_LEVELS, quality: str = "k-nn",
                     speed: str = "qps") -> list[dict[str, Any]]:
    """The summary per run: for run r (the r-th run of every point that has one), the best ``speed`` at each level as
    :func:`summarize` finds it; then per (algorithm, count, batch, level) the ``runs`` that reach it and the min,
    median and max of their best ``speed`` (``<speed>_min``, ``<speed>_median``, ``<speed>_max``; None when no run
    reaches the level). Points run once take part in the first run only."""
    points = list(points)
    most = max((p.repeats for p in points), default=1)
    found: dict[tuple[str, int, bool, float], list[float]] = {}
    for r in range(most):
        run = [p if not p.per_repeat else replace(p, values=p.per_repeat[r]) for p in points
               if r < len(p.per_repeat) or (r == 0 and not p.per_repeat)]
        for row in summarize(run, levels, quality, speed):
            values = found.setdefault((row["algorithm"], row["count"], row["batch"], row["level"]), [])
            if row[speed] is not None:
                values.append(row[speed])
    rows = []
    for (algorithm, count, batch, level), values in sorted(found.items()):
        rows.append({"algorithm": algorithm, "count": count, "batch": batch, "level": level, "runs": len(values),
                     f"{speed}_min": min(values) if values else None,
                     f"{speed}_median": float(np.median(values)) if values else None,
                     f"{speed}_max": max(values) if values else None})
    return rows
