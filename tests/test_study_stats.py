"""The study statistics (topobench.study.stats) against values computed by hand or taken from t tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from topobench.study.stats import (
    mean_interval,
    paired_bootstrap,
    paired_difference,
    rankdata,
    regularized_incomplete_beta,
    resample_ranks,
    row_ranks,
    spearman,
    spearman_bootstrap,
    t_cdf,
    t_quantile,
)


@pytest.mark.parametrize(("p", "df", "expected"), [
    (0.975, 1, 12.706205), (0.975, 2, 4.302653), (0.975, 3, 3.182446), (0.975, 4, 2.776445),
    (0.975, 10, 2.228139), (0.975, 30, 2.042272), (0.975, 100, 1.983972), (0.975, math.inf, 1.959964),
    (0.995, 5, 4.032143), (0.95, 7, 1.894579), (0.05, 7, -1.894579), (0.5, 3, 0.0),
])
def test_t_quantile_matches_t_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-6)


def test_t_cdf_known_values_and_inverse():
    assert t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-12)  # Cauchy: 1/2 + atan(1)/π
    assert t_cdf(0.0, 5) == 0.5
    assert t_cdf(-2.0, 6) == pytest.approx(1 - t_cdf(2.0, 6), abs=1e-14)
    assert t_cdf(2.0, 2) == pytest.approx(0.5 + 2.0 / (2 * math.sqrt(6.0)), abs=1e-12)  # df 2 closed form
    for df in (1, 2, 3, 9):
        assert t_cdf(t_quantile(0.9, df), df) == pytest.approx(0.9, abs=1e-12)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


def test_regularized_incomplete_beta_closed_forms():
    for x in (0.0, 0.1, 0.37, 0.9, 1.0):
        assert regularized_incomplete_beta(x, 1, 1) == pytest.approx(x, abs=1e-14)
        assert regularized_incomplete_beta(x, 3, 1) == pytest.approx(x ** 3, abs=1e-14)
        assert regularized_incomplete_beta(x, 1, 2) == pytest.approx(1 - (1 - x) ** 2, abs=1e-14)
    assert regularized_incomplete_beta(0.5, 4.5, 4.5) == pytest.approx(0.5, abs=1e-14)


def test_mean_interval_by_hand():
    # [1, 2, 3, 4]: mean 2.5, s = √(5/3), s/√4 = 0.645497, t(0.975, 3) = 3.182446 → half-width 2.054260
    iv = mean_interval([1.0, 2.0, 3.0, 4.0])
    assert iv.mean == 2.5 and iv.n == 4
    assert iv.low == pytest.approx(0.445740, abs=1e-6)
    assert iv.high == pytest.approx(4.554260, abs=1e-6)
    assert iv.resolved  # 0 is outside [0.45, 4.55]
    assert not mean_interval([-1.0, 2.0, 3.0]).resolved


def test_mean_interval_of_one_value_has_no_interval():
    iv = mean_interval([0.7])
    assert (iv.mean, iv.low, iv.high, iv.n) == (0.7, None, None, 1)
    assert not iv.has_interval and not iv.resolved and iv.half_width is None
    with pytest.raises(ValueError):
        mean_interval([])


def test_paired_difference_by_hand():
    # shared seeds 13-15 (16 only in the variant): diffs 0.02, 0.03, 0.01 → mean 0.02, s 0.01,
    # half-width 4.302653 · 0.01/√3 = 0.024841
    variant = {13: 0.70, 14: 0.72, 15: 0.69, 16: 0.50}
    baseline = {15: 0.68, 13: 0.68, 14: 0.69}
    p = paired_difference(variant, baseline)
    assert p.seeds == (13, 14, 15)
    assert p.diff.mean == pytest.approx(0.02, abs=1e-12)
    assert p.diff.low == pytest.approx(-0.004841, abs=1e-6)
    assert p.diff.high == pytest.approx(0.044841, abs=1e-6)
    assert not p.diff.resolved
    assert p.baseline_mean == pytest.approx(0.6833333, abs=1e-6)
    assert p.relative == pytest.approx(0.02 / 0.6833333, abs=1e-6)


def test_paired_difference_one_shared_seed_and_none():
    one = paired_difference({13: 0.5, 14: 0.6}, {14: 0.4})
    assert one.diff.n == 1 and not one.diff.has_interval and one.diff.mean == pytest.approx(0.2)
    assert paired_difference({13: 0.5}, {14: 0.4}) is None


def test_rankdata_averages_ties():
    assert rankdata([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert rankdata([3, 1, 3, 3]).tolist() == [3.0, 1.0, 3.0, 3.0]
    assert rankdata([5.0]).tolist() == [1.0]


def _counted_ranks(m: np.ndarray) -> np.ndarray:
    """The definition: values below, plus half of (values equal, itself included, + 1)."""
    return (m[:, None, :] < m[:, :, None]).sum(axis=2) + ((m[:, None, :] == m[:, :, None]).sum(axis=2) + 1) / 2.0


def test_row_ranks_by_hand_and_as_counted_with_ties_zeros_infinities_and_nan():
    assert row_ranks(np.array([[10.0, 20.0, 20.0, 30.0], [3.0, 1.0, 3.0, 3.0]])).tolist() == [
        [1.0, 2.5, 2.5, 4.0], [3.0, 1.0, 3.0, 3.0]]
    assert row_ranks(np.array([[1.0, np.nan, 0.0]])).tolist() == [[2.0, 0.5, 1.0]]  # NaN: below and equal to nothing
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 18, 40):
        values = np.round(rng.normal(size=n), 1)  # rounded: ties
        values[rng.random(n) < 0.2] = rng.choice([0.0, -0.0, np.inf, -np.inf])
        idx = rng.integers(0, n, size=(200, n))
        counted = _counted_ranks(values[idx])
        assert np.array_equal(row_ranks(values[idx]), counted)  # the same numbers, bit for bit
        assert np.array_equal(resample_ranks(values, idx), counted)


def test_spearman_with_ties_by_hand():
    # ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]; centred: [-1.5, 0, 0, 1.5] and [-1.5, .5, -.5, 1.5];
    # Σdx·dy = 4.5, Σdx² = 4.5, Σdy² = 5 → ρ = 4.5 / √22.5 = √0.9
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(math.sqrt(0.9), abs=1e-12)
    assert spearman([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)  # monotone, not linear
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def _queries(n: int = 200, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.9, n)


def test_paired_bootstrap_is_deterministic():
    base = _queries()
    var = base + np.random.default_rng(4).normal(0.01, 0.05, len(base))
    first, second = paired_bootstrap(var, base), paired_bootstrap(var, base)
    assert first == second
    other = paired_bootstrap(var, base, seed=99)
    assert (other.low, other.high) != (first.low, first.high)
    assert other.mean == first.mean  # the observed difference does not depend on the resampling


def test_paired_bootstrap_clear_effect_excludes_zero():
    base = _queries()
    var = base + 0.1 + np.random.default_rng(5).normal(0, 0.02, len(base))
    r = paired_bootstrap(var, base)
    assert r.low > 0.09 and r.high < 0.11 and r.resolved
    assert r.p_le_zero == 0.0 and r.n == 200 and r.resamples == 10_000
    worse = paired_bootstrap(base, var)
    assert worse.high < 0 and worse.p_le_zero == 1.0


def test_paired_bootstrap_null_effect_includes_zero():
    base = _queries()
    var = base + np.where(np.arange(len(base)) % 2 == 0, 0.05, -0.05)  # mean difference exactly 0
    r = paired_bootstrap(var, base)
    assert r.mean == pytest.approx(0.0, abs=1e-15)
    assert r.low < 0 < r.high and not r.resolved
    assert 0.3 < r.p_le_zero < 0.7


def test_paired_bootstrap_interval_matches_normal_theory():
    # for a mean of 400 independent differences the percentile interval ≈ mean ± 1.96·sd/√n
    d = np.random.default_rng(6).normal(0.0, 1.0, 400)
    r = paired_bootstrap(d, np.zeros_like(d))
    half = 1.959964 * d.std() / math.sqrt(len(d))
    assert r.low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert r.high == pytest.approx(d.mean() + half, abs=0.1 * half)


def test_paired_bootstrap_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        paired_bootstrap([0.1, 0.2], [0.1])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


def test_spearman_bootstrap_resolves_a_strong_relation_and_not_noise():
    rng = np.random.default_rng(8)
    x = np.arange(15, dtype=float)
    strong = spearman_bootstrap(x, x + rng.normal(0, 1.0, 15))
    assert strong.rho > 0.9 and strong.resolved and strong.low > 0.5 and strong.n == 15
    assert spearman_bootstrap(x, x + rng.normal(0, 1.0, 15)) != strong  # other data, other result
    noise = spearman_bootstrap(x, np.random.default_rng(9).permutation(15).astype(float))
    assert noise.low < 0 < noise.high and not noise.resolved
    assert spearman_bootstrap(x, np.arange(15.0)[::-1] ** 2) == spearman_bootstrap(x, np.arange(15.0)[::-1] ** 2)


def test_spearman_bootstrap_undefined_cases():
    assert spearman_bootstrap([1.0, 2.0], [2.0, 1.0]).rho is None  # too few points
    const = spearman_bootstrap([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0])
    assert const.rho is None and not const.resolved


def test_spearman_bootstrap_gives_no_interval_for_a_handful_of_cells():
    from topobench.study.stats import MIN_BOOTSTRAP_PAIRS, spearman_bootstrap

    few = spearman_bootstrap([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], resamples=500)
    assert few.rho == -1.0 and few.low is None and few.high is None
    x = np.arange(MIN_BOOTSTRAP_PAIRS + 4, dtype=float)
    enough = spearman_bootstrap(x, x + np.sin(x), resamples=500)
    assert enough.low is not None and enough.low <= enough.rho <= enough.high
