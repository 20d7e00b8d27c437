"""Does a geometry statistic track index cost *within* one training weight, or only because both move with it?

Why: across the cells of a w-sweep, k-means inertia and distance computations both fall as w grows, so their
correlation over cells mostly restates w. The question "do vectors with more compact clusters cost less to search,
other things equal?" is answered by the correlation that remains after removing what w explains:

- :func:`within_group_correlation` — subtract each group's (each w's) mean from x and from y, correlate the
  residuals: the pooled within-group correlation, which equals the partial correlation of x and y controlling for
  group membership (w as a categorical factor, no shape assumed). Its bootstrap resamples cells within each group,
  so every resample keeps the design.
- :func:`partial_correlation` — the same with a numeric control removed by a straight line (w as a number).
- :func:`identical_rank_groups` — statistics whose ranks over the cells are identical carry one ranking between
  them: a report shows one of each group instead of counting the same association several times.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from topobench.study import stats
from topobench.study.multiplicity import t_test_p

MIN_WITHIN_DF = 6  # cells minus groups below which no bootstrap interval is given (resamples collapse onto ±1)


def _vectors(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise ValueError(f"x and y must be equal-length 1-d arrays, got {xa.shape} and {ya.shape}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x and y must be finite (drop the cells without a value first)")
    return xa, ya


@dataclass(frozen=True)
class WithinGroupCorrelation:
    """The pooled within-group Pearson and Spearman correlations of x and y (residuals from each group's mean) over
    ``n`` points in ``groups`` groups (groups of one point carry no within-group information and are left out),
    with percentile bootstrap intervals that resample points within each group. Correlations are None when a
    residual is constant; intervals None below :data:`MIN_WITHIN_DF` within-group degrees of freedom or when under
    half the resamples define the correlation."""

    pearson: float | None
    spearman: float | None
    pearson_low: float | None
    pearson_high: float | None
    spearman_low: float | None
    spearman_high: float | None
    n: int
    groups: int
    resamples: int

    @property
    def df(self) -> int:
        """Residual degrees of freedom of the within-group correlation: points − groups − 1."""
        return self.n - self.groups - 1

    @property
    def resolved(self) -> bool:
        """The Pearson interval excludes 0."""
        return (self.pearson_low is not None and self.pearson_high is not None
                and (self.pearson_low > 0 or self.pearson_high < 0))

    @property
    def p_pearson(self) -> float | None:
        """Two-sided p of "no within-group linear association": ``t = r √df / √(1 − r²)`` on ``df`` degrees of
        freedom (normal residuals assumed; the bootstrap interval assumes less)."""
        r = self.pearson
        if r is None or self.df < 1:
            return None
        if abs(r) >= 1.0:
            return 0.0
        return t_test_p(r * math.sqrt(self.df), math.sqrt(1.0 - r * r), self.df)


def _demean_by_group(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64, copy=True)
    for g in np.unique(labels):
        mask = labels == g
        out[mask] -= out[mask].mean()
    return _snap(out, values)


def _snap(residuals: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Residuals at rounding level (a value constant within its group) set to exactly 0, so that they read as
    constant instead of correlating rounding noise."""
    tol = 1e-12 * float(np.max(np.abs(values))) if values.size else 0.0
    residuals[np.abs(residuals) <= tol] = 0.0
    return residuals


def within_group_correlation(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                             groups: Sequence[Hashable], resamples: int = stats.RESAMPLES,
                             seed: int = stats.BOOTSTRAP_SEED, level: float = stats.LEVEL) -> WithinGroupCorrelation:
    """Association of x and y *within* groups (e.g. cells of one w): Pearson and Spearman of ``x − mean_g(x)`` and
    ``y − mean_g(y)``, the pooled within-group correlation (= the partial correlation controlling for group
    membership), with a bootstrap that resamples points with replacement inside each group and recomputes the group
    means of each resample. See :class:`WithinGroupCorrelation`."""
    xa, ya = _vectors(x, y)
    labels_list = list(groups)
    if len(labels_list) != len(xa):
        raise ValueError(f"groups has {len(labels_list)} labels for {len(xa)} points")
    codes: dict[Hashable, int] = {}
    labels = np.array([codes.setdefault(g, len(codes)) for g in labels_list], dtype=np.int64)
    sizes = np.bincount(labels, minlength=len(codes))
    keep = sizes[labels] >= 2
    xa, ya, labels = xa[keep], ya[keep], labels[keep]
    n, n_groups = len(xa), int(np.count_nonzero(sizes >= 2))
    rx, ry = _demean_by_group(xa, labels), _demean_by_group(ya, labels)
    pearson = stats.pearson(rx, ry) if n else float("nan")
    spearman = stats.spearman(rx, ry) if n >= 3 else float("nan")
    none = WithinGroupCorrelation(_defined(pearson), _defined(spearman), None, None, None, None, n, n_groups, 0)
    if n - n_groups < MIN_WITHIN_DF or math.isnan(pearson):
        return none
    rng = np.random.Generator(np.random.PCG64(seed))
    blocks = [np.flatnonzero(labels == g) for g in np.unique(labels)]
    idx = np.concatenate([b[rng.integers(0, len(b), size=(resamples, len(b)))] for b in blocks], axis=1)
    starts = np.cumsum([0] + [len(b) for b in blocks])
    bx, by = xa[idx], ya[idx]
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):  # each group's block of columns, demeaned per resample
        bx[:, lo:hi] -= bx[:, lo:hi].mean(axis=1, keepdims=True)
        by[:, lo:hi] -= by[:, lo:hi].mean(axis=1, keepdims=True)
    bx, by = _snap(bx, xa), _snap(by, ya)
    pearsons = stats.row_pearson(bx, by)
    p_low, p_high = _percentiles(pearsons, resamples, level)
    s_low, s_high = _percentiles(stats.row_pearson(stats.row_ranks(bx), stats.row_ranks(by)), resamples, level)
    defined = int(np.count_nonzero(~np.isnan(pearsons)))
    return WithinGroupCorrelation(_defined(pearson), _defined(spearman), p_low, p_high, s_low, s_high, n, n_groups,
                                  defined)


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _percentiles(values: np.ndarray, resamples: int, level: float) -> tuple[float | None, float | None]:
    finite = values[~np.isnan(values)]
    if len(finite) < resamples / 2:
        return None, None
    alpha = 1.0 - level
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def partial_correlation(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                        control: Sequence[float] | np.ndarray, rank: bool = False) -> float | None:
    """The correlation of x and y with a numeric ``control`` removed linearly: Pearson's r of the residuals of x and
    of y after a least-squares line on ``control`` ("other things equal" when the control's effect is a straight
    line). ``rank``: the same on the ranks of x, y and control (a partial Spearman). None when a residual is
    constant (e.g. x is a linear function of the control)."""
    xa, ya = _vectors(x, y)
    ca, _ = _vectors(control, xa)
    if rank:
        xa, ya, ca = stats.rankdata(xa), stats.rankdata(ya), stats.rankdata(ca)
    cc = ca - ca.mean()
    ss = float((cc * cc).sum())

    def residual(v: np.ndarray) -> np.ndarray | None:
        """``v`` less its least-squares line on the control; None when nothing is left (up to rounding)."""
        vc = v - v.mean()
        out = vc if ss == 0 else vc - (float((cc * vc).sum()) / ss) * cc
        return None if float((out * out).sum()) <= 1e-24 * float((vc * vc).sum()) or not vc.any() else out

    rx, ry = residual(xa), residual(ya)
    return None if rx is None or ry is None else _defined(stats.pearson(rx, ry))


def identical_rank_groups(statistics: Mapping[str, Sequence[float] | np.ndarray]) -> list[list[str]]:
    """Names of the statistics grouped by their rank vector over the cells (average ranks, ties included): two
    statistics in one group order the cells identically, so any rank correlation with a cost is the same for both
    and a report shows one per group. Groups and names in order of first appearance; every vector must have one
    length. Reversed rankings are not merged (their correlations differ in sign)."""
    groups: dict[tuple[float, ...], list[str]] = {}
    length = None
    for name, values in statistics.items():
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 1 or (length is not None and len(v) != length):
            raise ValueError(f"statistic {name!r}: every statistic needs one value per cell, got shape {v.shape}")
        length = len(v)
        groups.setdefault(tuple(stats.rankdata(v).tolist()), []).append(name)
    return list(groups.values())
