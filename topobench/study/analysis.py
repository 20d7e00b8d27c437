"""A study's cells grouped into variants and every statistic of its report computed once, from the cell files alone.

A *cell* is one (variant, seed) result dict in the ``format: 2`` schema of docs/STUDIES.md. A *variant* is the set of
cells that agree on the study's factors (e.g. ``weight``), one per seed. The *baseline* is the variant the spec names
(e.g. ``{"weight": 0}``); every other variant is compared with it seed by seed (paired differences) and query by query
(paired bootstrap of the task metrics). Index cost is read at k-NN recall :data:`KNN_LEVEL` (the cell's values
interpolated along its Pareto frontiers: QPS along recall–QPS, each counter along its own), and each geometry
statistic is rank-correlated with each index cost over all cells.

Why a separate analysis object: the tables, the words and the figures all read the same numbers, and the
bootstraps are the only costly part; :func:`analyse` computes them once, deterministically (cells sorted by
variant and seed, fixed bootstrap seed), so a report rebuilt from the same committed cells is the same on any machine.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topobench.core.errors import TopobenchError
from topobench.metrics.registry import all_metrics
from topobench.study import stats
from topobench.study.estimands import Setting, geometric_mean, hull_cost, per_build_costs
from topobench.study.measure import counters

logger = logging.getLogger(__name__)

KNN_LEVEL = "0.95"  # the k-NN recall level index costs are compared at (a key of a cell's ``at_knn``)
# How a counter is read at KNN_LEVEL (docs/STUDIES.md, "Three estimands"): along the pooled recall–counter Pareto
# frontier (format 2's measure), off its lower convex hull, or per build configuration (geometric mean over builds).
FRONTIER, HULL, PER_BUILD = "frontier", "hull", "per build"
ESTIMANDS = (FRONTIER, HULL, PER_BUILD)
TASK_METRICS = ("ndcg@10", "recall@100")  # exact-search metrics with per-query values in the cells
COST_STATS = ("distcomps", "lists_probed", "qps", "speedup")  # index costs at KNN_LEVEL, where an algorithm has them
# QPS depends on the machine's state when the cell was benchmarked (cells run hours apart, beside other work); the
# exhaustive reference does the same work in every cell, so QPS divided by the reference's QPS, measured in the same
# sweep, divides that state out: "speedup" over brute force.
REFERENCE = "flat"
# Names and directions come from the metric registry (plugins' counters too); the study's own ratio and the short
# column names of the counters are the only ones kept here.
SHORT_LABELS = {"qps": "QPS", "speedup": f"QPS÷{REFERENCE}", "lists_probed": "lists probed"}
DECIMALS = {"ndcg@10": 4, "recall@100": 4, "mrr@10": 4, "distcomps": 1, "lists_probed": 2, "qps": 1, "hops": 1,
            "speedup": 2}
TOP_LEVEL_FACTORS = ("recipe", "encoder", "corpus")  # cell fields a factor may name when ``factors`` lacks it


class StudyDataError(TopobenchError):
    """The cells cannot be analysed as asked (unknown baseline, two cells for one variant and seed, bad cell)."""


def metric_label(name: str) -> str:
    """A metric's short label: a task metric's name as the registry describes it (``nDCG@10``), QPS, QPS÷flat,
    ``lists probed``, and any other counter's registry name as is (a plugin's ``bytes_read``)."""
    if name in SHORT_LABELS:
        return SHORT_LABELS[name]
    metric = all_metrics().get(name)
    if metric is not None and metric.kind == "task":
        return metric.description.split(" (")[0]
    return name


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool); None otherwise (missing, null, NaN, text)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Measure:
    """A number every cell may have: an exact-search task metric (``algorithm`` None) or an index cost at
    :data:`KNN_LEVEL` of one algorithm, read by one of three estimands (:data:`ESTIMANDS`)."""

    metric: str
    algorithm: str | None = None
    estimand: str = FRONTIER

    @property
    def key(self) -> str:
        base = self.metric if self.algorithm is None else f"{self.algorithm} {self.metric}"
        return base if self.estimand == FRONTIER else f"{base} [{self.estimand}]"

    @property
    def label(self) -> str:
        name = metric_label(self.metric)
        if self.algorithm is None:
            return name
        return f"{self.algorithm} {name}@{KNN_LEVEL}" + ("" if self.estimand == FRONTIER else f" ({self.estimand})")

    @property
    def decimals(self) -> int:
        return DECIMALS.get(self.metric, 4)

    @property
    def lower_is_better(self) -> bool:
        """The registry's direction (``speedup``, the study's own QPS ratio, is higher-is-better like QPS)."""
        metric = all_metrics().get(self.metric)
        return metric is not None and metric.direction == "lower"

    def value(self, cell: Mapping[str, Any]) -> float | None:
        """This measure of ``cell``; None where the cell lacks it (or it is not a finite number)."""
        if self.algorithm is None:
            return finite_number((cell.get("exact") or {}).get(self.metric))
        algo = (cell.get("algorithms") or {}).get(self.algorithm) or {}
        if self.estimand != FRONTIER:
            return estimand_value(algo.get("settings"), self.metric, self.estimand, float(KNN_LEVEL))
        at_level = (algo.get("at_knn") or {}).get(KNN_LEVEL) or {}
        if self.metric == "speedup":
            qps, reference = finite_number(at_level.get("qps")), reference_qps(cell)
            return qps / reference if qps is not None and reference else None
        return finite_number(at_level.get(self.metric))


@dataclass(frozen=True)
class GeometryStat:
    """A geometry statistic of the cells' vectors (``geometry`` of docs/STUDIES.md, e.g. ``ivf_imbalance``), read as
    a per-variant quantity: compared between variants like a measure (mean and paired difference over seeds), where
    the correlations set it against the index costs over all cells."""

    stat: str

    @property
    def key(self) -> str:
        return f"geometry {self.stat}"

    @property
    def label(self) -> str:
        return self.stat

    @property
    def decimals(self) -> int:
        return 3

    def value(self, cell: Mapping[str, Any]) -> float | None:
        return finite_number((cell.get("geometry") or {}).get(self.stat))


def settings_of(points: Any, metric: str) -> list[Setting]:
    """A format-3 cell's points of one algorithm as estimand settings (recall, the counter's per-query mean)."""
    out = []
    for p in points or []:
        recall, cost = finite_number(p.get("k-nn")), finite_number((p.get("counters") or {}).get(metric))
        if recall is not None and cost is not None:
            out.append(Setting(tuple(map(str, p["build"])), tuple(map(str, p["query"])), recall, cost))
    return out


def estimand_value(points: Any, metric: str, estimand: str, level: float) -> float | None:
    """``metric`` at recall ``level`` by ``estimand`` from a format-3 cell's points (None for a format-2 cell, or
    where the level is not reached): the lower-convex-hull value, or the geometric mean over the builds that reach the
    level of each build's own hull value."""
    settings = settings_of(points, metric)
    if not settings:
        return None
    if estimand == HULL:
        hull = hull_cost(settings, level)
        return None if hull is None else hull.value
    mean = geometric_mean(list(per_build_costs(settings, level).values()))
    return mean.value


def reference_qps(cell: Mapping[str, Any]) -> float | None:
    """QPS of the exhaustive :data:`REFERENCE` in ``cell`` (its best frontier point), or None without it."""
    front = ((cell.get("algorithms") or {}).get(REFERENCE) or {}).get("frontier") or []
    values = [q for point in front if (q := finite_number(point[1] if len(point) > 1 else None))]
    return max(values) if values else None


def factor_value(cell: Mapping[str, Any], name: str) -> Any:
    """The value of factor ``name`` in ``cell``: its ``factors`` entry, else the top-level field (``recipe``,
    ``encoder``, ``corpus``), else its ``overrides`` entry, else None (the recipe's default)."""
    factors = cell.get("factors") or {}
    if name in factors:
        return factors[name]
    if name in TOP_LEVEL_FACTORS and name in cell:
        return cell[name]
    return (cell.get("overrides") or {}).get(name)


def seed_key(seed: int | None) -> int:
    """Sort key of a seed; None (a cell of a variant that trains nothing) sorts first."""
    return -1 if seed is None else int(seed)


def seed_text(seed: int | None) -> str:
    return "—" if seed is None else str(seed)


def format_value(value: Any) -> str:
    """A factor value as text: floats by ``repr`` (shortest round trip, so ``0.8`` stays ``0.8``), None ``default``."""
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _sort_key(values: tuple[Any, ...]) -> tuple:
    out = []
    for v in values:
        if v is None:
            out.append((0, 0.0, ""))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((1, float(v), ""))
        else:
            out.append((2, 0.0, format_value(v)))
    return tuple(out)


def _same(a: Any, b: Any) -> bool:
    """Factor equality: numbers numerically (``0 == 0.0``), anything else exactly."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


@dataclass(frozen=True)
class VariantCells:
    """The cells of one combination of factor values, sorted by seed."""

    key: tuple[Any, ...]
    label: str
    cells: tuple[Mapping[str, Any], ...]

    @property
    def seeds(self) -> tuple[int | None, ...]:
        return tuple(c["seed"] for c in self.cells)

    @property
    def seedless(self) -> bool:
        """A variant that trains nothing (the stock model): one cell, seed None, the same for every seed."""
        return all(s is None for s in self.seeds)

    def values(self, measure: Measure | GeometryStat) -> dict[int | None, float]:
        """``{seed: value}`` of ``measure`` over the cells that have it."""
        out = {}
        for c in self.cells:
            v = measure.value(c)
            if v is not None:
                out[c["seed"]] = v
        return out


def shown_factors(cells: Sequence[Mapping[str, Any]], factors: Sequence[str]) -> tuple[str, ...]:
    """The factors that take more than one value over ``cells`` (all of them when none does): the ones a table or a
    label needs, since a constant factor (one encoder, one recipe) tells no variant apart."""
    varying = []
    for f in factors:
        values: list[Any] = []
        for c in cells:
            v = factor_value(c, f)
            if not any(_same(v, w) for w in values):
                values.append(v)
        if len(values) > 1:
            varying.append(f)
    return tuple(varying) if varying else tuple(factors)


def variant_label(key: Sequence[Any], factors: Sequence[str], shown: Sequence[str],
                  cells: Sequence[Mapping[str, Any]]) -> str:
    """``weight=0.8`` for the shown factors (the ``variant`` factor by its bare value, e.g. ``infonce``), prefixed by
    the recipe when neither ``recipe`` nor ``variant`` is shown and the cells share one: ``topo weight=0.8``."""
    label = ", ".join(format_value(v) if f == "variant" else f"{f}={format_value(v)}"
                      for f, v in zip(factors, key, strict=True) if f in shown)
    recipes = {c.get("recipe") for c in cells}
    if not {"recipe", "variant"} & set(shown) and len(recipes) == 1 and None not in recipes:
        label = f"{recipes.pop()} {label}".strip()
    return label


def group_variants(cells: Sequence[Mapping[str, Any]], factors: Sequence[str]) -> list[VariantCells]:
    """The variants of ``cells`` by the values of ``factors``, ordered by those values (None, then numbers, then text).

    Each is labelled by :func:`variant_label`. Two cells with the same factor values and seed raise
    :class:`StudyDataError`: the spec's factors do not tell them apart.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for cell in cells:
        for required in ("cell", "seed"):
            if required not in cell:
                raise StudyDataError(f"a cell has no {required!r} field (cell {cell.get('cell', '?')!r}): every cell "
                                     "file needs the docs/STUDIES.md schema")
        key = tuple(factor_value(cell, f) for f in factors)
        match = next((k for k in groups if all(map(_same, k, key))), None)
        groups.setdefault(key if match is None else match, []).append(cell)
    shown = shown_factors(cells, factors)
    variants = []
    for key, members in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
        members.sort(key=lambda c: (seed_key(c["seed"]), str(c["cell"])))
        for a, b in zip(members, members[1:], strict=False):
            if a["seed"] == b["seed"]:
                raise StudyDataError(f"cells {a['cell']!r} and {b['cell']!r} have the same factors "
                                     f"{dict(zip(factors, key, strict=True))} and seed {a['seed']}: add the factor "
                                     "that tells them apart to the study's factors")
        variants.append(VariantCells(key, variant_label(key, factors, shown, members) or "all cells", tuple(members)))
    return variants


def normalise_baseline(baseline: Mapping[str, Any] | str | None, factors: Sequence[str]) -> dict[str, Any]:
    """The baseline as ``{factor: value}``. A bare string is the value of the ``variant`` factor when there is one,
    else of the only factor, else the recipe; None is ``{}`` (no baseline named)."""
    if baseline is None:
        return {}
    if isinstance(baseline, str):
        name = "variant" if "variant" in factors else factors[0] if len(factors) == 1 else "recipe"
        return {name: baseline}
    return dict(baseline)


def find_baseline(variants: Sequence[VariantCells], baseline: Mapping[str, Any],
                  factors: Sequence[str]) -> VariantCells:
    """The one variant whose cells all match ``baseline`` (``{}``: the first variant in order);
    :class:`StudyDataError` when none or several match."""
    if not baseline:
        return variants[0]

    def matches(v: VariantCells) -> bool:
        for name, want in baseline.items():
            if name in factors:
                if not _same(v.key[list(factors).index(name)], want):
                    return False
            elif not all(_same(factor_value(c, name), want) for c in v.cells):
                return False
        return True

    found = [v for v in variants if matches(v)]
    if len(found) != 1:
        have = "; ".join(v.label for v in variants) or "none"
        what = ("matches no variant" if not found
                else f"matches {len(found)} variants ({'; '.join(v.label for v in found)})")
        raise StudyDataError(f"baseline {dict(baseline)} {what}: name one of the study's variants ({have}) by its "
                             f"factors {list(factors)}")
    return found[0]


def paired_values(variant: VariantCells, baseline: VariantCells,
                  measure: Measure | GeometryStat) -> tuple[dict[int, float], dict[int, float]]:
    """The two ``{seed: value}`` maps to pair. A seedless variant (the stock model) has one value for every seed, so it
    pairs with each of the other's seeds; two seedless variants make one pair (seed 0)."""
    v, b = variant.values(measure), baseline.values(measure)
    if variant.seedless and baseline.seedless:
        return ({0: v[None]} if None in v else {}), ({0: b[None]} if None in b else {})
    if variant.seedless:
        v = {s: v[None] for s in b} if None in v else {}
    if baseline.seedless:
        b = {s: b[None] for s in v} if None in b else {}
    return {k: x for k, x in v.items() if k is not None}, {k: x for k, x in b.items() if k is not None}


@dataclass(frozen=True)
class QueryComparison:
    """A paired bootstrap over queries of one task metric, variant vs baseline.

    Each side's per-query values are averaged over ``seeds`` when ``shared`` (the seeds both have), else over all of
    its own cells (no seed in common, or a seedless variant, whose one cell stands for every seed).
    """

    result: stats.Bootstrap
    seeds: tuple[int | None, ...]
    shared: bool


MIN_TREND_LEVELS = 3  # values of the factor a seed needs for its slope (two points always fit a line exactly)


@dataclass(frozen=True)
class Trend:
    """A measure's dose-response over a numeric factor (the w of a w-sweep): each seed's least-squares slope of the
    measure against the factor over the variants that seed has, and their mean with its t interval over seeds. One
    test per measure that uses every cell, where the paired differences test each variant apart."""

    slope: stats.Interval  # per unit of the factor
    seeds: tuple[int, ...]
    levels: int  # the fewest factor values in any seed's fit
    span: float  # the factor's range (max − min) over the fits: slope × span is the change across the sweep


def numeric_factor(variants: Sequence[VariantCells], shown: Sequence[str]) -> str | None:
    """The one varying factor when every variant's value of it is a number and it takes at least
    :data:`MIN_TREND_LEVELS` values; else None (no trend to fit)."""
    if len(shown) != 1:
        return None
    values = [factor_value(v.cells[0], shown[0]) for v in variants]
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
        return None
    return shown[0] if len({float(x) for x in values}) >= MIN_TREND_LEVELS else None


def fit_trend(variants: Sequence[VariantCells], factor: str, measure: Measure) -> Trend | None:
    """:class:`Trend` of ``measure`` over ``factor``; None when no seed has :data:`MIN_TREND_LEVELS` values."""
    by_seed: dict[int, list[tuple[float, float]]] = {}
    for v in variants:
        x = float(factor_value(v.cells[0], factor))
        for seed, y in v.values(measure).items():
            if seed is not None:
                by_seed.setdefault(seed, []).append((x, y))
    slopes, seeds, levels, span = [], [], [], 0.0
    for seed in sorted(by_seed):
        xs, ys = np.array([p[0] for p in by_seed[seed]]), np.array([p[1] for p in by_seed[seed]])
        if len(set(xs.tolist())) < MIN_TREND_LEVELS:
            continue
        slopes.append(float(np.sum((xs - xs.mean()) * (ys - ys.mean())) / np.sum((xs - xs.mean()) ** 2)))
        seeds.append(seed)
        levels.append(len(set(xs.tolist())))
        span = max(span, float(xs.max() - xs.min()))
    if not slopes:
        return None
    return Trend(stats.mean_interval(slopes), tuple(seeds), min(levels), span)


@dataclass
class StudyAnalysis:
    """Everything the report shows, computed from the cells (see :func:`analyse`)."""

    name: str
    factors: tuple[str, ...]
    shown: tuple[str, ...]  # the factors that vary over the cells (see shown_factors)
    variants: list[VariantCells]
    baseline: VariantCells
    baseline_named: bool  # False: the spec named none, the first variant was taken
    algorithms: tuple[str, ...]  # as the spec lists them (some may have no data: the figures say so)
    task_measures: tuple[Measure, ...]
    cost_measures: tuple[Measure, ...]  # (algorithm, stat) with a value in some cell, not the same in all
    geometry_stats: tuple[str, ...]
    intervals: dict[tuple[tuple, str], stats.Interval | None] = field(default_factory=dict)
    paired: dict[tuple[tuple, str], stats.PairedDifference | None] = field(default_factory=dict)
    bootstrap: dict[tuple[tuple, str], QueryComparison | str] = field(default_factory=dict)
    # Per variant and geometry statistic (key of GeometryStat): its mean over seeds, and its paired difference with the
    # baseline — what a loss did to the space (cell_balance and the IVF's list sizes), not a test of the question.
    geometry_intervals: dict[tuple[tuple, str], stats.Interval | None] = field(default_factory=dict)
    geometry_paired: dict[tuple[tuple, str], stats.PairedDifference | None] = field(default_factory=dict)
    trend_factor: str | None = None  # the numeric factor the trends are fitted over (see numeric_factor)
    trends: dict[str, Trend | None] = field(default_factory=dict)  # by measure key
    correlations: dict[tuple[str, str], stats.Correlation] = field(default_factory=dict)
    correlation_costs: tuple[Measure, ...] = ()  # the cost measures that vary over the cells
    dropped_costs: tuple[str, ...] = ()  # cost measures left out of the correlations, with the reason
    constant_costs: tuple[tuple[Measure, float], ...] = ()  # cost measures with one value in every cell (not compared)
    resamples: int = stats.RESAMPLES  # of every bootstrap
    bootstrap_seed: int = stats.BOOTSTRAP_SEED

    @property
    def cells(self) -> list[Mapping[str, Any]]:
        return [c for v in self.variants for c in v.cells]

    @property
    def others(self) -> list[VariantCells]:
        return [v for v in self.variants if v is not self.baseline]

    @property
    def measures(self) -> tuple[Measure, ...]:
        return self.task_measures + self.cost_measures

    @property
    def constant_factors(self) -> dict[str, Any]:
        """The factors with one value over all cells, and that value (the study's fixed setting)."""
        first = self.cells[0]
        return {f: factor_value(first, f) for f in self.factors if f not in self.shown}

    def geometry(self, cell: Mapping[str, Any], stat: str) -> float | None:
        return finite_number((cell.get("geometry") or {}).get(stat))


def _query_values(cells: Sequence[Mapping[str, Any]], metric: str) -> list[dict[str, float]] | str:
    """Each cell's ``{query id: metric}`` from its ``per_query``; or why not (a cell without per-query values)."""
    tables = []
    for c in cells:
        pq = c.get("per_query") or {}
        ids, vals = pq.get("query_ids"), pq.get(metric)
        if not ids or vals is None or len(ids) != len(vals):
            return f"cell {c['cell']} has no per-query {metric}"
        tables.append({str(q): float(x) for q, x in zip(ids, vals, strict=True)})
    return tables


def _seed_mean(tables: Sequence[dict[str, float]], order: Sequence[str]) -> np.ndarray:
    stacked = np.array([[t[q] for q in order] for t in tables], dtype=np.float64)
    return stacked.sum(axis=0) / len(tables)


def compare_queries(variant: VariantCells, baseline: VariantCells, metric: str, resamples: int = stats.RESAMPLES,
                    seed: int = stats.BOOTSTRAP_SEED) -> QueryComparison | str:
    """The paired bootstrap over queries of ``metric`` (see :class:`QueryComparison` for the seeds averaged), on the
    queries every cell judges, in the order of the baseline's first cell; a reason (str) where a cell lacks
    per-query values."""
    shared = sorted((set(variant.seeds) & set(baseline.seeds)) - {None})
    v_cells = [c for c in variant.cells if not shared or c["seed"] in shared]
    b_cells = [c for c in baseline.cells if not shared or c["seed"] in shared]
    v_tables, b_tables = _query_values(v_cells, metric), _query_values(b_cells, metric)
    if isinstance(b_tables, str):
        return b_tables
    if isinstance(v_tables, str):
        return v_tables
    common = set(b_tables[0]).intersection(*b_tables[1:], *v_tables)
    order = [str(q) for q in b_cells[0]["per_query"]["query_ids"] if str(q) in common]
    if not order:
        return "the cells share no judged query"
    if any(len(t) != len(order) for t in [*b_tables, *v_tables]):
        logger.warning("per-query %s of %s vs %s: the cells judge different queries; using the %d all of them judge",
                       metric, variant.label, baseline.label, len(order))
    result = stats.paired_bootstrap(_seed_mean(v_tables, order), _seed_mean(b_tables, order), resamples, seed)
    seeds = tuple(shared) if shared else tuple(sorted(set(variant.seeds) | set(baseline.seeds), key=seed_key))
    return QueryComparison(result, seeds, bool(shared))


def _seed_interval(variant: VariantCells, measure: Measure | GeometryStat) -> stats.Interval | None:
    """The t interval over seeds of ``measure`` in ``variant`` (values in seed order); None where no cell has it."""
    vals = variant.values(measure)
    return stats.mean_interval([vals[s] for s in sorted(vals, key=seed_key)]) if vals else None


def analyse(cells: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | str | None, factors: Sequence[str],
            algorithms: Sequence[str] | None = None, name: str | None = None, resamples: int = stats.RESAMPLES,
            seed: int = stats.BOOTSTRAP_SEED) -> StudyAnalysis:
    """Group ``cells`` into variants by ``factors``, pick ``baseline`` and compute every statistic of the report.

    ``baseline`` is ``{factor: value}`` (see :func:`normalise_baseline`; ``{}``/None takes the first variant);
    ``algorithms`` defaults to every algorithm found in the cells (sorted); ``name`` to the cells' ``study`` field.
    Raises :class:`StudyDataError` for no cells, an unknown baseline, or two cells of one variant and seed.
    """
    if not cells:
        raise StudyDataError("no cells to report on: run `python study.py run NAME` first")
    profiles = sorted({str(c.get("profile", "exact")) for c in cells})
    if len(profiles) > 1:
        raise StudyDataError(f"the cells mix the arithmetic profiles {' and '.join(profiles)}: a study compares cells "
                             "of one profile only; report the fast cells as a study of their own (fidelity_of)")
    factors = tuple(factors)
    variants = group_variants(cells, factors)
    wanted = normalise_baseline(baseline, factors)
    base = find_baseline(variants, wanted, factors)
    all_cells = [c for v in variants for c in v.cells]
    found_algos = sorted({a for c in all_cells for a, entry in (c.get("algorithms") or {}).items() if entry})
    algos = tuple(algorithms) if algorithms is not None else tuple(found_algos)
    task = tuple(Measure(m) for m in TASK_METRICS if any(Measure(m).value(c) is not None for c in all_cells))
    cost_list, constant = [], []
    cost_stats = (*COST_STATS, *(c for c in counters() if c not in COST_STATS and c != "hops"))  # plugins' too
    kept_points = any((entry or {}).get("settings") for c in all_cells
                      for entry in (c.get("algorithms") or {}).values())
    work = [c for c in cost_stats if c not in ("qps", "speedup")]  # counters: the ones the other estimands read
    estimated = [Measure(s, a, e) for a in algos for s in work for e in (HULL, PER_BUILD)] if kept_points else []
    for m in [*(Measure(s, a) for a in algos for s in cost_stats if not (s == "speedup" and a == REFERENCE)),
              *estimated]:
        present = [x for c in all_cells if (x := m.value(c)) is not None]
        if len(present) > 1 and len(set(present)) == 1:
            constant.append((m, present[0]))  # e.g. flat's distance computations: n for every query
        elif present:
            cost_list.append(m)
    cost = tuple(cost_list)
    geometry = tuple(sorted({k for c in all_cells for k, v in (c.get("geometry") or {}).items()
                             if finite_number(v) is not None}))
    names = sorted({str(c.get("study")) for c in all_cells if c.get("study")})
    result = StudyAnalysis(name or (names[0] if len(names) == 1 else "study"), factors,
                           shown_factors(all_cells, factors), variants, base, bool(wanted), algos, task, cost,
                           geometry, resamples=resamples, bootstrap_seed=seed, constant_costs=tuple(constant))

    geometry_measures = [GeometryStat(s) for s in geometry]
    for v in variants:
        for m in result.measures:
            result.intervals[(v.key, m.key)] = _seed_interval(v, m)
        for g in geometry_measures:
            result.geometry_intervals[(v.key, g.key)] = _seed_interval(v, g)
    for v in result.others:
        for m in result.measures:
            result.paired[(v.key, m.key)] = stats.paired_difference(*paired_values(v, base, m))
        for g in geometry_measures:
            result.geometry_paired[(v.key, g.key)] = stats.paired_difference(*paired_values(v, base, g))
        for m in task:
            result.bootstrap[(v.key, m.key)] = compare_queries(v, base, m.metric, resamples, seed)

    result.trend_factor = numeric_factor(variants, result.shown)
    if result.trend_factor is not None:
        for m in result.measures:
            result.trends[m.key] = fit_trend(variants, result.trend_factor, m)

    kept, dropped = [], []
    for m in cost:
        present = [x for c in all_cells if (x := m.value(c)) is not None]
        if len(present) < 3:
            dropped.append(f"{m.label}: {len(present)} cell(s) have it, a rank correlation needs 3")
        elif len(set(present)) == 1:
            dropped.append(f"{m.label}: the same value in every cell that has it")
        else:
            kept.append(m)
    result.correlation_costs, result.dropped_costs = tuple(kept), tuple(dropped)
    for stat in geometry:
        for m in kept:
            pairs = [(g, y) for c in all_cells
                     if (g := result.geometry(c, stat)) is not None and (y := m.value(c)) is not None]
            result.correlations[(stat, m.key)] = stats.spearman_bootstrap(
                [p[0] for p in pairs], [p[1] for p in pairs], resamples, seed)
    return result
