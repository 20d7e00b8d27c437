"""Adjusted p-values (topobench.study.multiplicity) against hand-computed ones; the p-values of the study's tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from topobench.study.multiplicity import (
    benjamini_hochberg,
    bootstrap_p,
    expected_by_chance,
    holm,
    interval_p,
    resolved_after,
    t_test_p,
)
from topobench.study.stats import mean_interval, t_cdf

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_by_hand():
    # ascending 0.005, 0.01, 0.03, 0.04 × (4, 3, 2, 1) = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm(P), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1 (0.5 × 2, then the running max)
    np.testing.assert_allclose(holm([0.02]), [0.02])


def test_benjamini_hochberg_by_hand():
    # ascending 0.005, 0.01, 0.03, 0.04 × 4/(1, 2, 3, 4) = 0.02, 0.02, 0.04, 0.04 → running min from the top: same
    np.testing.assert_allclose(benjamini_hochberg(P), [0.02, 0.04, 0.04, 0.02])
    # 0.01·3/1 = 0.03, 0.04·3/2 = 0.06, 0.045·3/3 = 0.045 → min from the top: 0.03, 0.045, 0.045
    np.testing.assert_allclose(benjamini_hochberg([0.01, 0.04, 0.045]), [0.03, 0.045, 0.045])
    np.testing.assert_allclose(benjamini_hochberg([0.9, 0.95]), [0.95, 0.95])


@pytest.mark.parametrize("adjust", [holm, benjamini_hochberg])
def test_adjusted_are_monotone_capped_and_pass_nan(adjust):
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.2, size=40) ** 2
    adj = adjust(p)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)  # the order of the raw p-values is kept
    assert np.all(adj >= p) and np.all(adj <= 1.0)
    with_nan = adjust([0.01, float("nan"), 0.04, 0.03, 0.005])
    assert math.isnan(with_nan[1])
    np.testing.assert_allclose(np.delete(with_nan, 1), adjust(P))  # NaN not counted in m
    assert np.all(np.isnan(adjust([float("nan")])))
    assert len(adjust([])) == 0
    with pytest.raises(ValueError):
        adjust([0.5, 1.5])


def test_holm_is_stricter_than_bh_and_resolved_after():
    p = [0.001, 0.012, 0.014, 0.04, 0.3]
    assert np.all(holm(p) >= benjamini_hochberg(p))
    # Holm: 0.005, 0.048, 0.048, 0.08, 0.3 — BH: 0.005, 0.0233, 0.0233, 0.05, 0.3
    assert resolved_after(holm(p)).tolist() == [True, True, True, False, False]
    assert resolved_after(benjamini_hochberg(p)).tolist() == [True, True, True, True, False]
    assert resolved_after([float("nan"), 0.01]).tolist() == [False, True]
    assert expected_by_chance(60, 0.05) == pytest.approx(3.0)


def test_t_test_p_and_interval_p():
    assert t_test_p(0.0, 1.0, 5) == 1.0
    assert t_test_p(2.0, 1.0, 6) == pytest.approx(2 * (1 - t_cdf(2.0, 6)), abs=1e-14)
    assert t_test_p(-2.0, 1.0, 6) == t_test_p(2.0, 1.0, 6)
    assert t_test_p(1.96, 1.0, math.inf) == pytest.approx(0.05, abs=1e-4)
    assert t_test_p(3.0, 0.0, 2) == 0.0 and t_test_p(0.0, 0.0, 2) == 1.0
    assert 0 < t_test_p(60.0, 1.0, 2) < 1e-3  # the tail itself, not 1 − cdf
    # An interval's p-value is < 0.05 exactly when it excludes 0; at the edge it is 0.05.
    for values in ([1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.1, 0.2, 0.25, 0.4]):
        iv = mean_interval(values)
        assert (interval_p(iv) < 0.05) == iv.resolved
    edge = mean_interval([0.0, 1.0, 2.0])
    shifted = mean_interval([v - edge.low for v in (0.0, 1.0, 2.0)])  # low bound exactly 0
    assert interval_p(shifted) == pytest.approx(0.05, abs=1e-9)
    assert interval_p(mean_interval([1.0])) is None
    assert bootstrap_p(0.01) == pytest.approx(0.02) and bootstrap_p(0.995) == pytest.approx(0.01)
    assert bootstrap_p(0.5) == 1.0
