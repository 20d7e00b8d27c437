"""What format-3 cells and the corrections add to a study's analysis: equal-parameter cost ratios, intervals over
seeds and queries at once, adjusted p-values for each family of tests, geometry vs cost within one setting of the
study's factor, and per-query hardness.

Each is computed from the cells alone (:class:`~topobench.study.analysis.StudyAnalysis` holds them) and answers a
question the report states in words:

* **equal parameters** — at identical build and query arguments, how much more or less work does the variant's index
  do than the baseline's (the paired log ratio, averaged over the settings both cells ran, then over seeds), with the
  recall difference beside it (the same settings need not give the same recall);
* **hierarchical bootstrap** — the task metrics' paired difference with both noise sources at once (seeds, then the
  test queries, which every seed shares), beside the t over seeds, which sees seeds only;
* **multiplicity** — Holm (family-wise) and Benjamini–Hochberg (false discovery rate) adjusted p-values within each
  family: the seed-paired differences, the trends;
* **within-factor association** — the correlation of a geometry statistic with an index cost after removing each
  factor value's mean (cells of one w), beside the correlation over all cells, which mostly restates the factor;
* **hardness** — per query, the share of the corpus's distance computations the index needed to reach recall 0.9 for
  that query (Hephaestus, KDD 2025), its distribution per variant, and the paired difference over queries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topobench.study import stats
from topobench.study.analysis import Measure, StudyAnalysis, VariantCells, factor_value, finite_number, settings_of
from topobench.study.association import WithinGroupCorrelation, identical_rank_groups, within_group_correlation
from topobench.study.estimands import equal_parameter_ratios, query_hardness
from topobench.study.hierarchical import HierarchicalInterval, paired_hierarchical_bootstrap
from topobench.study.multiplicity import benjamini_hochberg, holm, interval_p

HARDNESS_RHO = 0.9  # a query's recall@10 at which its hardness is read: 9 of its 10 true neighbours
HARDNESS_COUNTER = "distcomps"


@dataclass(frozen=True)
class Adjusted:
    """One test's p-value and its Holm and Benjamini–Hochberg adjustments within its family."""

    p: float | None
    holm: float | None
    bh: float | None

    def resolved(self, which: str, alpha: float = 1.0 - stats.LEVEL) -> bool:
        value = self.holm if which == "holm" else self.bh
        return value is not None and value < alpha


@dataclass(frozen=True)
class EqualParameterComparison:
    """Per seed the mean log cost ratio variant / baseline over the settings both ran, and its t interval over
    seeds; ``recall_difference`` the mean over seeds of the settings' mean recall difference."""

    log_ratio: stats.Interval
    recall_difference: float | None
    settings: int  # shared settings (the fewest over seeds)
    seeds: tuple[int, ...]

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio.mean)


@dataclass
class Resolving:
    """Everything :func:`resolve` computes, keyed like the analysis (variant key, measure key)."""

    equal_parameters: dict[tuple[tuple, str], EqualParameterComparison | None] = field(default_factory=dict)
    hierarchical: dict[tuple[tuple, str], HierarchicalInterval | str] = field(default_factory=dict)
    paired_adjusted: dict[tuple[tuple, str], Adjusted] = field(default_factory=dict)
    trend_adjusted: dict[str, Adjusted] = field(default_factory=dict)
    within: dict[tuple[str, str], WithinGroupCorrelation | None] = field(default_factory=dict)
    within_factor: str | None = None
    geometry_groups: list[list[str]] = field(default_factory=list)  # statistics with identical ranks over cells
    hardness: dict[tuple[tuple, str], dict[int | None, np.ndarray]] = field(default_factory=dict)
    hardness_paired: dict[tuple[tuple, str], HierarchicalInterval | str] = field(default_factory=dict)

    @property
    def counted_tests(self) -> dict[str, int]:
        return {"paired": sum(a.p is not None for a in self.paired_adjusted.values()),
                "trend": sum(a.p is not None for a in self.trend_adjusted.values())}


def resolve(a: StudyAnalysis) -> Resolving:
    """Compute every statistic of :class:`Resolving` for the analysis ``a``."""
    out = Resolving()
    _equal_parameters(a, out)
    _hierarchical(a, out)
    corrections(a, out)
    _within(a, out)
    _hardness(a, out)
    return out


# --- equal parameters ------------------------------------------------------------------------------------------------

def counter_measures(a: StudyAnalysis) -> list[Measure]:
    """The (algorithm, counter) pairs the format-3 estimands read: those whose hull measure the analysis has."""
    return [Measure(m.metric, m.algorithm) for m in a.cost_measures if m.estimand == "hull"]


def _seed_cells(v: VariantCells) -> dict[int | None, Mapping[str, Any]]:
    return {c.get("seed"): c for c in v.cells}


def _equal_parameters(a: StudyAnalysis, out: Resolving) -> None:
    base = _seed_cells(a.baseline)
    for v in a.others:
        mine = _seed_cells(v)
        for m in counter_measures(a):
            logs, recalls, counts, seeds = [], [], [], []
            for seed, cell in sorted(mine.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
                other = base.get(seed) or (base.get(None) if a.baseline.seedless else None)
                if other is None:
                    continue
                pair = equal_parameter_ratios(_settings(other, m), _settings(cell, m))
                if pair.mean_log_ratio is None:
                    continue
                logs.append(pair.mean_log_ratio)
                recalls.append(pair.mean_recall_difference)
                counts.append(pair.n)
                seeds.append(seed)
            out.equal_parameters[(v.key, m.key)] = None if not logs else EqualParameterComparison(
                stats.mean_interval(logs), float(np.mean(recalls)), min(counts), tuple(seeds))


def _settings(cell: Mapping[str, Any], m: Measure):
    return settings_of(((cell.get("algorithms") or {}).get(m.algorithm) or {}).get("settings"), m.metric)


# --- two-level bootstrap of the task metrics -------------------------------------------------------------------------

def _per_query(v: VariantCells, metric: str) -> dict[int, np.ndarray] | str:
    """``{seed: the cell's per-query values in query-id order}`` for a seeded variant; a reason otherwise."""
    out = {}
    for c in v.cells:
        pq = c.get("per_query") or {}
        ids, values = pq.get("query_ids"), pq.get(metric)
        if c.get("seed") is None or not ids or values is None:
            return f"cell {c['cell']} has no seed or no per-query {metric}"
        order = np.argsort(np.asarray([str(q) for q in ids]))
        out[int(c["seed"])] = np.asarray(values, dtype=np.float64)[order]
    return out


def _hierarchical(a: StudyAnalysis, out: Resolving) -> None:
    base = {m.key: _per_query(a.baseline, m.metric) for m in a.task_measures}
    for v in a.others:
        for m in a.task_measures:
            mine, theirs = _per_query(v, m.metric), base[m.key]
            if isinstance(mine, str) or isinstance(theirs, str):
                out.hierarchical[(v.key, m.key)] = mine if isinstance(mine, str) else theirs
                continue
            if not set(mine) & set(theirs):
                out.hierarchical[(v.key, m.key)] = "no seed in common"
                continue
            out.hierarchical[(v.key, m.key)] = paired_hierarchical_bootstrap(
                mine, theirs, a.resamples, a.bootstrap_seed, shared_queries=True)


# --- multiplicity ----------------------------------------------------------------------------------------------------

def _adjust(pvalues: Mapping[Any, float | None]) -> dict[Any, Adjusted]:
    keys = list(pvalues)
    ps = np.array([np.nan if pvalues[k] is None else pvalues[k] for k in keys], dtype=np.float64)
    h, b = holm(ps), benjamini_hochberg(ps)
    return {k: Adjusted(pvalues[k], None if np.isnan(h[i]) else float(h[i]), None if np.isnan(b[i]) else float(b[i]))
            for i, k in enumerate(keys)}


def corrections(a: StudyAnalysis, out: Resolving | None = None) -> Resolving:
    """Holm and BH within each family: every seed-paired difference of the report is one family, every trend
    another (the families the report already counted for 'expected by chance'); set on ``out`` (a new
    :class:`Resolving` by default, for a caller that wants only these) and returned."""
    out = Resolving() if out is None else out
    paired = {key: (interval_p(p.diff) if p is not None and p.diff.has_interval else None)
              for key, p in a.paired.items()}
    out.paired_adjusted = _adjust(paired)
    trends = {key: (interval_p(t.slope) if t is not None and t.slope.has_interval else None)
              for key, t in a.trends.items()}
    out.trend_adjusted = _adjust(trends)
    return out


# --- geometry vs cost within one value of the factor -----------------------------------------------------------------

def _within(a: StudyAnalysis, out: Resolving) -> None:
    cells = a.cells
    factor = a.trend_factor or (a.shown[0] if len(a.shown) == 1 else None)
    out.within_factor = factor
    values = {stat: [a.geometry(c, stat) for c in cells] for stat in a.geometry_stats}
    complete = {s: v for s, v in values.items() if all(x is not None for x in v)}
    out.geometry_groups = [g for g in identical_rank_groups(complete) if len(g) > 1] if complete else []
    if factor is None:
        return
    groups = [repr(factor_value(c, factor)) for c in cells]
    for stat in a.geometry_stats:
        for m in a.correlation_costs:
            rows = [(g, y, grp) for c, grp in zip(cells, groups, strict=True)
                    if (g := a.geometry(c, stat)) is not None and (y := m.value(c)) is not None]
            try:
                out.within[(stat, m.key)] = within_group_correlation(
                    [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], a.resamples, a.bootstrap_seed)
            except ValueError:
                out.within[(stat, m.key)] = None


# --- per-query hardness ----------------------------------------------------------------------------------------------

def cell_hardness(cell: Mapping[str, Any], algorithm: str, rho: float = HARDNESS_RHO) -> np.ndarray | None:
    """Each query's hardness for ``algorithm`` in a format-3 cell (NaN where no setting reaches ``rho`` for it);
    None without per-query hits and distance computations."""
    points = ((cell.get("algorithms") or {}).get(algorithm) or {}).get("settings") or []
    usable = [p for p in points if "hits" in p["per_query"] and HARDNESS_COUNTER in p["per_query"]]
    n_docs = _n_docs(cell)
    if not usable or not n_docs:
        return None
    count = int(cell.get("count") or 10)
    recall = np.asarray([p["per_query"]["hits"] for p in usable], dtype=np.float64) / count
    cost = np.asarray([p["per_query"][HARDNESS_COUNTER] for p in usable], dtype=np.float64)
    return query_hardness(recall, cost, n_docs, rho)


def _n_docs(cell: Mapping[str, Any]) -> int | None:
    """The corpus size: the exhaustive reference's distance computations per query (every stored vector)."""
    flat = ((cell.get("algorithms") or {}).get("flat") or {}).get("settings") or []
    value = finite_number(((flat[0].get("counters") or {}).get(HARDNESS_COUNTER)) if flat else None)
    provenance = cell.get("provenance") or {}
    return int(value) if value else (int(provenance["n_docs"]) if provenance.get("n_docs") else None)


def _hardness(a: StudyAnalysis, out: Resolving) -> None:
    algorithms = [m.algorithm for m in counter_measures(a) if m.metric == HARDNESS_COUNTER and m.algorithm != "flat"]
    for algorithm in dict.fromkeys(algorithms):
        for v in a.variants:
            per_seed = {}
            for c in v.cells:
                h = cell_hardness(c, algorithm)
                if h is not None:
                    per_seed[c.get("seed")] = h
            if per_seed:
                out.hardness[(v.key, algorithm)] = per_seed
        base = out.hardness.get((a.baseline.key, algorithm))
        for v in a.others:
            mine = out.hardness.get((v.key, algorithm))
            if not base or not mine:
                continue
            out.hardness_paired[(v.key, algorithm)] = _paired_hardness(mine, base, a)


def _paired_hardness(mine: Mapping[int | None, np.ndarray], base: Mapping[int | None, np.ndarray],
                     a: StudyAnalysis) -> HierarchicalInterval | str:
    """The paired two-level bootstrap of hardness over the queries both variants' seeds reach ρ for."""
    seeds = [s for s in mine if s in base and s is not None]
    if not seeds:
        return "no seed in common"
    both = np.all([np.isfinite(mine[s]) & np.isfinite(base[s]) for s in seeds], axis=0)
    if not both.any():
        return f"no query reaches recall {HARDNESS_RHO} in every cell"
    return paired_hierarchical_bootstrap({s: mine[s][both] for s in seeds}, {s: base[s][both] for s in seeds},
                                         a.resamples, a.bootstrap_seed, shared_queries=True)


def hardness_summary(values: Mapping[int | None, np.ndarray]) -> dict[str, float]:
    """Median and 90th percentile of the hardness over every seed's queries (the ones reached), and the share of
    queries never reached."""
    stacked = np.concatenate([np.asarray(v, dtype=np.float64) for v in values.values()])
    reached = stacked[np.isfinite(stacked)]
    return {"median": float(np.median(reached)) if reached.size else math.nan,
            "p90": float(np.percentile(reached, 90)) if reached.size else math.nan,
            "unreached": float(1.0 - reached.size / stacked.size) if stacked.size else math.nan}
