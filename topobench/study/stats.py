"""The statistics of a study report, in plain Python and numpy (no scipy), deterministic on any machine.

Why these: a study trains every variant under a few seeds (typically 3), so a reviewer asks (a) how far a variant's
mean could move with other seeds — the Student t interval over seeds, (b) whether a variant differs from the baseline
beyond seed noise — the t interval of the per-seed *paired* differences (same seed, so shared data order and
initialisation cancel), (c) whether a task-metric difference is larger than the luck of which queries the test set
holds — a paired bootstrap over queries, and (d) whether a geometry statistic tracks index cost across cells — the
Spearman rank correlation with a bootstrap interval over cells (ranks, because cost and geometry need not be linear
in each other, and a few cells make Pearson fragile).

Determinism: sums over seeds use :func:`math.fsum` (exactly rounded); bootstraps draw from a
``numpy.random.Generator(PCG64(seed))`` with a fixed seed, in fixed-size chunks, and reduce with numpy's
order-fixed pairwise sums; no BLAS call is involved (its results can depend on the CPU and thread count). The t
quantiles are computed exactly (bisection on the regularised incomplete beta function), not looked up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 20240917
_CHUNK = 500  # bootstrap resamples drawn and reduced at a time (bounds memory; the draws do not depend on it)


# --- Student t ------------------------------------------------------------------------------------------------------


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """``I_x(a, b)``, the regularised incomplete beta function, for ``0 ≤ x ≤ 1`` and ``a, b > 0``.

    The continued fraction of Numerical Recipes (§6.4, modified Lentz), evaluated on the side of ``x`` where it
    converges fast (``I_x(a, b) = 1 − I_{1−x}(b, a)``); accurate to ~1e-15.
    """
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must lie in [0, 1], got {x}")
    if a <= 0 or b <= 0:
        raise ValueError(f"a and b must be positive, got a={a}, b={b}")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        even = m * (b - m) * x / ((qam + m2) * (a + m2))
        odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        for numerator in (even, odd):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            delta = c * d
            h *= delta
        if abs(delta - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (x={x}, a={a}, b={b})")


def t_cdf(t: float, df: float) -> float:
    """``P(T ≤ t)`` for Student's t with ``df`` degrees of freedom (``df = inf``: the standard normal)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if math.isinf(df):
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    tail = 0.5 * regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom: ``t_quantile(0.975, 2) ≈ 4.302653``.

    Bisection on :func:`t_cdf` to the last bits of a double (the function is monotone, so this cannot fail).
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie in (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --- intervals over seeds -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values and its two-sided t interval; ``low``/``high`` are None when ``n == 1``."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @property
    def has_interval(self) -> bool:
        return self.low is not None

    @property
    def resolved(self) -> bool:
        """The interval excludes 0 (a difference told apart from none at this level); False without an interval."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    @property
    def half_width(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2.0


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean of ``values`` and its Student t interval ``mean ± t_{(1+level)/2, n−1} · s/√n`` (``s`` with n − 1).

    One value has a mean but no interval (``low``/``high`` None); no value is an error.
    """
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        raise ValueError("mean_interval of no values")
    mean = math.fsum(xs) / n
    if n == 1:
        return Interval(mean, None, None, 1)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile((1.0 + level) / 2.0, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class PairedDifference:
    """``variant − baseline`` on the seeds both have: the t interval of the per-seed differences."""

    diff: Interval
    seeds: tuple[int, ...]
    baseline_mean: float  # the baseline's mean over the same seeds (for a relative change)

    @property
    def relative(self) -> float | None:
        """The mean difference as a fraction of the baseline's mean; None when that mean is 0."""
        return None if self.baseline_mean == 0 else self.diff.mean / self.baseline_mean


def paired_difference(variant: Mapping[int, float], baseline: Mapping[int, float],
                      level: float = LEVEL) -> PairedDifference | None:
    """The paired difference of two ``{seed: value}`` maps over their shared seeds (ascending); None if none shared."""
    seeds = tuple(sorted(set(variant) & set(baseline)))
    if not seeds:
        return None
    diffs = [float(variant[s]) - float(baseline[s]) for s in seeds]
    base = math.fsum(float(baseline[s]) for s in seeds) / len(seeds)
    return PairedDifference(mean_interval(diffs, level), seeds, base)


# --- paired bootstrap over queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bootstrap:
    """A paired bootstrap of the mean per-query difference ``variant − baseline``.

    ``mean`` is the observed mean difference, ``low``/``high`` the percentile interval of the resampled means, and
    ``p_le_zero`` the share of resamples whose mean difference is ≤ 0: a one-sided p-value for "the variant is better".
    """

    mean: float
    low: float
    high: float
    p_le_zero: float
    n: int
    resamples: int

    @property
    def resolved(self) -> bool:
        return self.low > 0 or self.high < 0


def _resample_indices(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    return rng.integers(0, n, size=(count, n))


def paired_bootstrap(variant: Sequence[float] | np.ndarray, baseline: Sequence[float] | np.ndarray,
                     resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = LEVEL) -> Bootstrap:
    """Resample queries (with replacement, the pair of a query together) ``resamples`` times; see :class:`Bootstrap`.

    ``variant[i]`` and ``baseline[i]`` are the same query's metric (e.g. nDCG@10, already averaged over seeds).
    """
    v = np.asarray(variant, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if v.shape != b.shape or v.ndim != 1 or len(v) == 0:
        raise ValueError(f"paired_bootstrap needs two equal-length, non-empty 1-d arrays, got {v.shape} and {b.shape}")
    d = v - b
    n = len(d)
    rng = np.random.Generator(np.random.PCG64(seed))
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, _CHUNK):
        count = min(_CHUNK, resamples - start)
        means[start:start + count] = d[_resample_indices(rng, n, count)].sum(axis=1) / n
    alpha = 1.0 - level
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Bootstrap(math.fsum(d.tolist()) / n, float(low), float(high),
                     int(np.count_nonzero(means <= 0.0)) / resamples, n, resamples)


# --- rank correlation -----------------------------------------------------------------------------------------------


def rankdata(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """1-based ranks, ties given the average of the ranks they span: ``[10, 20, 20, 30] → [1, 2.5, 2.5, 4]``."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    start = 0
    while start < len(x):
        stop = start + 1
        while stop < len(x) and sorted_x[stop] == sorted_x[start]:
            stop += 1
        ranks[order[start:stop]] = (start + 1 + stop) / 2.0  # mean of ranks start+1 .. stop
        start = stop
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's correlation of two 1-d arrays; NaN when either is constant."""
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float("nan") if denom == 0 else float((a * b).sum()) / denom


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman's ρ: Pearson's correlation of the average ranks (:func:`rankdata`); NaN when either is constant."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError(f"spearman needs two equal-length 1-d arrays, got {xa.shape} and {ya.shape}")
    return pearson(rankdata(xa), rankdata(ya))


def row_ranks(m: np.ndarray) -> np.ndarray:
    """Average ranks of each row of ``m``: ``less + (equal + 1) / 2`` for each value, ``less`` and ``equal`` the
    counts of the row's values below and equal to it, so ties in a resample are handled exactly.

    Rows are sorted once and each run of equal values gets its first and last position (O(n log n) a row, where
    counting pairs was O(n²)); the ranks are the same numbers. A row holding NaN is ranked by counting pairs, where
    NaN equals nothing and is below nothing (rank 0.5)."""
    if np.isnan(m).any():
        less = (m[:, None, :] < m[:, :, None]).sum(axis=2)
        equal = (m[:, None, :] == m[:, :, None]).sum(axis=2)
        return less + (equal + 1) / 2.0
    order = np.argsort(m, axis=1, kind="stable")
    ordered = np.take_along_axis(m, order, axis=1)
    n = m.shape[1]
    first = np.ones(m.shape, dtype=bool)  # does a run of equal values start here?
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    last = np.ones(m.shape, dtype=bool)
    last[:, :-1] = first[:, 1:]
    position = np.broadcast_to(np.arange(n), m.shape)
    start = np.maximum.accumulate(np.where(first, position, 0), axis=1)
    stop = np.minimum.accumulate(np.where(last, position, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(m.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, start + (stop - start + 2) / 2.0, axis=1)
    return ranks


def resample_ranks(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``row_ranks(values[idx])`` for resamples ``idx`` (rows of indices into ``values``, which holds no NaN), in
    O(n) a row: the values are replaced by the codes of their order once, and each row counts its codes."""
    distinct, codes = np.unique(values, return_inverse=True)
    k = len(distinct)
    c = codes.reshape(-1)[idx]
    counts = np.bincount((c + k * np.arange(len(c))[:, None]).ravel(), minlength=len(c) * k).reshape(len(c), k)
    below = np.cumsum(counts, axis=1) - counts
    return np.take_along_axis(below, c, axis=1) + (np.take_along_axis(counts, c, axis=1) + 1) / 2.0


def row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson's correlation of each row pair of ``a`` and ``b`` (e.g. bootstrap resamples); NaN for a constant row."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    out = np.full(len(a), np.nan)
    ok = denom > 0
    out[ok] = (a * b).sum(axis=1)[ok] / denom[ok]
    return out


@dataclass(frozen=True)
class Correlation:
    """Spearman's ρ over ``n`` points with a percentile bootstrap interval over the points.

    ``resamples`` counts the bootstrap resamples in which ρ was defined (a resample that repeats one point, or only
    tied ones, has a constant rank vector); ``rho``/``low``/``high`` are None when ρ is undefined (fewer than 3
    points, or a constant variable) and ``low``/``high`` when too few resamples were defined (under half) or there
    are fewer than ``MIN_BOOTSTRAP_PAIRS`` points.
    """

    rho: float | None
    low: float | None
    high: float | None
    n: int
    resamples: int

    @property
    def resolved(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


MIN_BOOTSTRAP_PAIRS = 8


def spearman_bootstrap(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                       resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = LEVEL) -> Correlation:
    """Spearman's ρ of the pairs ``(x[i], y[i])`` and its bootstrap interval (pairs resampled with replacement).

    Below ``MIN_BOOTSTRAP_PAIRS`` pairs ρ is given without an interval: resamples of a handful of pairs are mostly
    duplicates, and their percentile interval collapses onto ±1 — a false "resolved"."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(xa)
    rho = spearman(xa, ya)
    if n < 3 or math.isnan(rho):
        return Correlation(None, None, None, n, 0)
    if n < MIN_BOOTSTRAP_PAIRS:
        return Correlation(rho, None, None, n, 0)
    rng = np.random.Generator(np.random.PCG64(seed))
    ranks = resample_ranks if not (np.isnan(xa).any() or np.isnan(ya).any()) else lambda v, i: row_ranks(v[i])
    rhos = np.empty(resamples, dtype=np.float64)
    chunk = max(1, min(_CHUNK, 4_000_000 // (n * n)))  # the rank matrices are chunk × n × n
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        idx = _resample_indices(rng, n, count)
        rhos[start:start + count] = row_pearson(ranks(xa, idx), ranks(ya, idx))
    finite = rhos[~np.isnan(rhos)]
    if len(finite) < resamples / 2:
        return Correlation(rho, None, None, n, len(finite))
    alpha = 1.0 - level
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Correlation(rho, float(low), float(high), n, len(finite))
