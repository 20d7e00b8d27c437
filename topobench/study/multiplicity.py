"""Many tests at once: adjusted p-values (Holm, Benjamini–Hochberg), the count expected by chance, and the two-sided
p-values of the study's existing tests (t intervals over seeds, trend slopes, bootstraps over queries).

Why: a report with 10 trend tests and 50 paired tests at 95 % resolves about 3 of them by chance alone. Holm's
step-down controls the family-wise error rate — the chance that *any* resolved test of the family is a false
positive — for any dependence between the tests; Benjamini–Hochberg controls the false discovery rate — the expected
share of false positives among those resolved — under independence or positive dependence, and is less strict. A
report gives both within each family, beside the raw count expected by chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from topobench.study import stats


def _as_pvalues(pvalues: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be a 1-d sequence, got shape {p.shape}")
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[finite]}")
    return p, finite


def _ascending(pvalues: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The p-values, an all-NaN output of their shape, and the positions of the non-NaN ones in ascending order."""
    p, finite = _as_pvalues(pvalues)
    idx = np.flatnonzero(finite)
    return p, np.full(p.shape, np.nan), idx[np.argsort(p[idx], kind="stable")]


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order: with the m p-values ascending
    ``p(1) ≤ … ≤ p(m)``, ``adj(i) = max_{j ≤ i} min(1, (m − j + 1) · p(j))``. A test is resolved at family-wise level
    α when its adjusted p-value is ≤ α. NaN entries (tests that could not be run) are passed through and not
    counted in m."""
    p, out, order = _ascending(pvalues)
    m = len(order)
    if m == 0:
        return out
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input's order: with the m p-values ascending,
    ``adj(i) = min_{j ≥ i} min(1, m · p(j) / j)``. Resolving the tests with adjusted p-value ≤ q keeps the expected
    share of false discoveries among them ≤ q. NaN entries are passed through and not counted in m."""
    p, out, order = _ascending(pvalues)
    m = len(order)
    if m == 0:
        return out
    scaled = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
    out[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return out


def resolved_after(adjusted: Sequence[float] | np.ndarray, alpha: float = 1.0 - stats.LEVEL) -> np.ndarray:
    """Which tests stay resolved after correction: adjusted p-value ≤ ``alpha`` (NaN: False)."""
    a = np.asarray(adjusted, dtype=np.float64)
    return np.where(np.isnan(a), False, a <= alpha)


def expected_by_chance(n: int, alpha: float = 1.0 - stats.LEVEL) -> float:
    """How many of ``n`` tests of true-null hypotheses come out resolved at level ``alpha`` by chance alone, on
    average (``n · α``)."""
    if n < 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"expected_by_chance needs n ≥ 0 and α in [0, 1], got {n}, {alpha}")
    return n * alpha


def t_test_p(mean: float, standard_error: float, df: float) -> float:
    """The two-sided p-value of "the true mean is 0" for an estimate ``mean`` with ``standard_error`` and a Student
    t reference with ``df`` degrees of freedom: ``2 · P(T ≤ −|mean / se|)``, the tail computed directly (no
    ``1 − cdf`` cancellation). A zero standard error gives 0 for a nonzero mean and 1 for a zero one."""
    if standard_error < 0 or math.isnan(standard_error):
        raise ValueError(f"standard_error must be ≥ 0, got {standard_error}")
    if standard_error == 0:
        return 1.0 if mean == 0 else 0.0
    return min(1.0, 2.0 * stats.t_cdf(-abs(mean / standard_error), df))


def interval_p(interval: stats.Interval, level: float = stats.LEVEL) -> float | None:
    """The two-sided t p-value behind a :class:`stats.Interval` from :func:`stats.mean_interval` at ``level`` — a
    mean over seeds, a paired difference's ``diff``, a trend's ``slope`` (``analysis.fit_trend``): the standard
    error is recovered from the half-width (``half / t_{(1+level)/2, n−1}``). None without an interval (one value).
    Its p < 1 − level exactly when the interval is resolved."""
    if interval.half_width is None or interval.n < 2:
        return None
    se = interval.half_width / stats.t_quantile((1.0 + level) / 2.0, interval.n - 1)
    return t_test_p(interval.mean, se, interval.n - 1)


def bootstrap_p(p_le_zero: float) -> float:
    """A two-sided p-value from a bootstrap's share of resampled means ≤ 0 (:class:`stats.Bootstrap`'s
    ``p_le_zero``): twice the smaller tail, capped at 1."""
    if not 0.0 <= p_le_zero <= 1.0:
        raise ValueError(f"p_le_zero must lie in [0, 1], got {p_le_zero}")
    return min(1.0, 2.0 * min(p_le_zero, 1.0 - p_le_zero))
