"""Index cost at a recall level, as three named estimands, and per-query hardness: pure functions on benchmark points.

Why three: "how many distance computations does this index need at k-NN recall 0.95?" is three questions, and they
disagree (the stock model vs ``topo`` came out +3.5 % on one, −13 … −21 % per build, −8 % at equal parameters):

(a) :func:`hull_cost` — *the least mean work any operator of this index can spend to reach mean recall r*, given the
    settings benchmarked. Running a per-query randomisation between two settings reaches any convex combination of
    their (recall, cost), so the achievable frontier is the lower convex hull of the (recall, cost) points, and the
    value at r is read linearly off it. Unlike the pooled Pareto frontier interpolation
    (:mod:`topobench.study.measure`), a hull value moves by at most about (hull slope × recall change) when one
    point's recall moves, so one query's neighbour cannot flip which two points bracket the level: the saw-tooth of a
    high-M, low-ef point landing a hair above a cheaper low-M point cannot enter the hull.
(b) :func:`per_build_costs` — *what a user who has built this index configuration pays at r* (tuning only the
    query parameter): each build's own hull, and their :func:`geometric_mean` over the builds that reach r.
(c) :func:`equal_parameter_ratios` — *how much more work the same settings do on the other vectors*: at each
    setting both have, the log ratio of their costs, with the recall difference beside it (equal parameters need
    not give equal recall, so the ratio alone is not a cost at equal quality).

All functions are pure: numbers in, numbers out; a :class:`Setting` is one benchmark point already averaged over
queries (mean recall, mean counter per query).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

RECALL_TOLERANCE = 1e-12  # a per-query recall of 9/10 compared with ρ = 0.9 must count as reaching it


@dataclass(frozen=True)
class Setting:
    """One benchmark point: the index's build and query arguments, its mean k-NN recall over the queries and its
    mean cost counter per query (distance computations, hops, lists probed …)."""

    build: tuple
    query: tuple
    recall: float
    cost: float


@dataclass(frozen=True)
class HullValue:
    """The cost at a recall level read off the lower convex hull (estimand (a), or one build's in (b)).

    ``value = (1 − weight) · lower.cost + weight · upper.cost`` at recall ``reached``: mixing ``lower`` and ``upper``
    per query in proportion ``weight`` reaches the level at that mean cost (``lower is upper`` and ``weight`` 0 when
    the level falls on a hull vertex). ``bound``: the level lies below the recall of the cheapest setting, so the
    value is that setting's cost measured at its own, higher recall ``reached`` — an upper bound on the cost at the
    level, not an interpolation."""

    value: float
    lower: Setting
    upper: Setting
    weight: float
    bound: bool
    reached: float


def _usable(settings: Iterable[Setting]) -> list[Setting]:
    out = []
    for s in settings:
        if math.isfinite(s.recall) and math.isfinite(s.cost):
            out.append(s)
        else:
            logger.debug("setting %s %s left out of the hull: recall %s, cost %s", s.build, s.query, s.recall, s.cost)
    return out


def lower_hull(settings: Iterable[Setting]) -> list[Setting]:
    """The vertices of the lower convex hull of (recall, cost) from the cheapest setting to the highest-recall one,
    by ascending recall: the settings worth mixing. Cost never decreases along it (the cheapest setting starts it),
    so its value at a recall is also the least cost reaching *at least* that recall. Settings without a finite
    recall or cost are left out; empty when none is left."""
    usable = _usable(settings)
    if not usable:
        return []
    cheapest = min(usable, key=lambda s: (s.cost, -s.recall))
    best: dict[float, Setting] = {}
    for s in usable:  # at one recall only the cheapest setting can be on the hull; below the cheapest's recall none
        if s.recall >= cheapest.recall and (s.recall not in best or s.cost < best[s.recall].cost):
            best[s.recall] = s
    hull: list[Setting] = []
    for s in sorted(best.values(), key=lambda s: s.recall):  # Andrew's monotone chain, lower half
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], s) <= 0:
            hull.pop()
        hull.append(s)
    return hull


def _cross(a: Setting, b: Setting, c: Setting) -> float:
    """> 0 when a → b → c turns left (b below the chord a–c: b stays on the lower hull)."""
    return (b.recall - a.recall) * (c.cost - a.cost) - (b.cost - a.cost) * (c.recall - a.recall)


def hull_cost(settings: Iterable[Setting], level: float) -> HullValue | None:
    """Estimand (a): the least mean cost per query that reaches mean recall ``level`` by mixing at most two of the
    benchmarked settings (a per-query randomisation between two settings gives any convex combination of their
    recall and cost), read linearly off :func:`lower_hull`.

    None when no setting reaches the level; a :class:`HullValue` with ``bound`` set when even the cheapest setting is
    above it (its cost, an upper bound)."""
    hull = lower_hull(settings)
    if not hull or hull[-1].recall < level:
        return None
    first = hull[0]
    if level <= first.recall:
        return HullValue(first.cost, first, first, 0.0, level < first.recall, first.recall)
    upper_i = next(i for i, s in enumerate(hull) if s.recall >= level)
    upper = hull[upper_i]
    if upper.recall == level:
        return HullValue(upper.cost, upper, upper, 0.0, False, level)
    lower = hull[upper_i - 1]
    weight = (level - lower.recall) / (upper.recall - lower.recall)
    return HullValue(lower.cost + weight * (upper.cost - lower.cost), lower, upper, weight, False, level)


def per_build_hulls(settings: Iterable[Setting], level: float) -> dict[tuple, HullValue | None]:
    """Estimand (b), with its details: for each build configuration, :func:`hull_cost` over that build's own
    settings (its query parameter only) — what a user who built that configuration pays at ``level``. Builds in
    order of first appearance."""
    by_build: dict[tuple, list[Setting]] = {}
    for s in settings:
        by_build.setdefault(s.build, []).append(s)
    return {build: hull_cost(own, level) for build, own in by_build.items()}


def per_build_costs(settings: Iterable[Setting], level: float) -> dict[tuple, float | None]:
    """Estimand (b): each build configuration's cost at ``level`` along its own query parameter (its own lower
    hull, as :func:`hull_cost`); None for a build that never reaches the level. A value may be a bound (the build's
    cheapest query setting is already above the level): :func:`per_build_hulls` says which."""
    return {build: None if h is None else h.value for build, h in per_build_hulls(settings, level).items()}


@dataclass(frozen=True)
class GeometricMean:
    """The geometric mean of the values present (None when none is), over ``reached`` of ``total`` entries."""

    value: float | None
    reached: int
    total: int


def geometric_mean(values: Iterable[float | None]) -> GeometricMean:
    """The geometric mean of the per-build costs that exist (the builds that reach the level), and how many do: the
    typical build's cost, each build weighted alike whatever its scale. Values must be positive."""
    all_values = list(values)
    present = [float(v) for v in all_values if v is not None]
    if any(not v > 0 for v in present):
        raise ValueError(f"geometric_mean needs positive values, got {present}")
    value = math.exp(math.fsum(math.log(v) for v in present) / len(present)) if present else None
    return GeometricMean(value, len(present), len(all_values))


@dataclass(frozen=True)
class BuildRatios:
    """Per build, ``cost_b / cost_a`` at one level over the builds both reach, and their geometric mean."""

    ratios: dict[tuple, float]
    geometric_mean: float | None
    builds_a: int  # builds of a that reach the level
    builds_b: int


def per_build_ratios(a_settings: Iterable[Setting], b_settings: Iterable[Setting], level: float) -> BuildRatios:
    """Estimand (b) as a comparison: for each build configuration both sets reach ``level`` with, how many times
    ``b``'s cost is ``a``'s (each along its own query parameter), and the geometric mean of those ratios — "for a
    user who has built this configuration, how much more work do the ``b`` vectors cost?". Matched builds only, so a
    build that reaches the level in one set but not the other does not tilt the mean."""
    a = per_build_costs(a_settings, level)
    b = per_build_costs(b_settings, level)
    ratios = {build: b[build] / a[build] for build in a
              if build in b and a[build] is not None and b[build] is not None and a[build] > 0}
    gm = geometric_mean(ratios.values()).value if ratios else None
    return BuildRatios(ratios, gm, sum(v is not None for v in a.values()), sum(v is not None for v in b.values()))


@dataclass(frozen=True)
class PairedSetting:
    """One setting present in both sets: the costs and recalls of each, and ``log(cost_b / cost_a)``."""

    build: tuple
    query: tuple
    cost_a: float
    cost_b: float
    recall_a: float
    recall_b: float

    @property
    def log_ratio(self) -> float:
        return math.log(self.cost_b / self.cost_a)

    @property
    def recall_difference(self) -> float:
        return self.recall_b - self.recall_a


@dataclass(frozen=True)
class EqualParameters:
    """Estimand (c): the mean paired log cost ratio over the shared settings, its ratio, and the mean recall
    difference beside it (``b − a``). ``mean_log_ratio``/``ratio``/``mean_recall_difference`` are None without a
    shared setting. The settings are not independent samples (they index the same vectors), so no interval is
    given here: intervals come from repeating the estimand over seeds."""

    pairs: tuple[PairedSetting, ...]
    mean_log_ratio: float | None
    mean_recall_difference: float | None

    @property
    def n(self) -> int:
        return len(self.pairs)

    @property
    def ratio(self) -> float | None:
        """``exp(mean log ratio)``: the geometric mean of ``cost_b / cost_a`` over the shared settings."""
        return None if self.mean_log_ratio is None else math.exp(self.mean_log_ratio)


def _by_key(settings: Iterable[Setting], name: str) -> dict[tuple, Setting]:
    out: dict[tuple, Setting] = {}
    for s in settings:
        key = (s.build, s.query)
        if key in out:
            raise ValueError(f"setting {key} appears twice in {name}")
        out[key] = s
    return out


def equal_parameter_ratios(a_settings: Iterable[Setting], b_settings: Iterable[Setting],
                           recall_window: tuple[float, float] | None = None) -> EqualParameters:
    """Estimand (c): "run with the very same build and query arguments, how much more work do the ``b`` vectors
    cost than the ``a`` vectors?" — at each setting present in both (identical build and query arguments), the
    paired ``log(cost_b / cost_a)``, their mean, and the mean recall difference ``recall_b − recall_a`` beside it
    (the same arguments may buy a different recall, which the ratio alone hides).

    ``recall_window=(low, high)`` keeps only the settings where both recalls lie in ``[low, high]`` (the region of
    the levels a report reads). Costs must be positive; a setting twice in one set is an error. Pairs are in
    ``a``'s order."""
    a = _by_key(a_settings, "a_settings")
    b = _by_key(b_settings, "b_settings")
    pairs = []
    for key, sa in a.items():
        sb = b.get(key)
        if sb is None:
            continue
        if recall_window is not None:
            low, high = recall_window
            if not (low <= sa.recall <= high and low <= sb.recall <= high):
                continue
        if not (sa.cost > 0 and sb.cost > 0):
            raise ValueError(f"setting {key}: costs must be positive for a log ratio, got {sa.cost}, {sb.cost}")
        pairs.append(PairedSetting(key[0], key[1], sa.cost, sb.cost, sa.recall, sb.recall))
    if not pairs:
        return EqualParameters((), None, None)
    return EqualParameters(tuple(pairs), math.fsum(p.log_ratio for p in pairs) / len(pairs),
                           math.fsum(p.recall_difference for p in pairs) / len(pairs))


def query_hardness(recall: np.ndarray | Sequence[Sequence[float]], cost: np.ndarray | Sequence[Sequence[float]],
                   n_docs: int, rho: float) -> np.ndarray:
    """Per-query empirical hardness as Hephaestus defines it (Ceccarello, Levchenko, Ileana, Palpanas, "Evaluating
    and Generating Query Workloads for High Dimensional Vector Similarity Search", KDD 2025): the share of the
    corpus's distance computations an index needs to answer that query at recall ``rho`` — for each query, the
    fewest distance computations among the settings at which *that query's* recall is ≥ ``rho``, divided by
    ``n_docs`` (what an exhaustive scan computes). 1 % means the index found the query's neighbours computing 1 % of
    the distances a flat scan does.

    ``recall`` and ``cost`` are (settings × queries): each setting's per-query k-NN recall and distance
    computations. Pass one index's settings (one build, or every build of one algorithm: the least effort over them).
    Returns (queries,), NaN where no setting reaches ``rho`` for that query."""
    r = np.asarray(recall, dtype=np.float64)
    c = np.asarray(cost, dtype=np.float64)
    if r.ndim != 2 or r.shape != c.shape:
        raise ValueError(f"query_hardness needs two (settings × queries) arrays of one shape, got {r.shape}, {c.shape}")
    if n_docs <= 0:
        raise ValueError(f"n_docs must be positive, got {n_docs}")
    reaches = r >= rho - RECALL_TOLERANCE  # NaN recall never reaches
    least = np.where(reaches, c, np.inf).min(axis=0, initial=np.inf)
    return np.where(np.isfinite(least), least / n_docs, np.nan)
