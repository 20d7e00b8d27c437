"""Geometry vs cost within groups (topobench.study.association) on constructed data: a strong across-group
association with none within, one strong within too, a numeric control, and statistics with identical ranks."""

from __future__ import annotations

import numpy as np
import pytest

from topobench.study.association import identical_rank_groups, partial_correlation, within_group_correlation
from topobench.study.stats import spearman

W = np.repeat([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], 3)  # 6 training weights × 3 seeds: 18 cells
X_WITHIN = np.tile([-1.0, 0.0, 1.0], 6)  # each w's cells around its mean
Y_ORTHOGONAL = np.tile([1.0, -2.0, 1.0], 6)  # orthogonal to X_WITHIN inside every w: no within-w association


def test_strong_across_groups_zero_within():
    """x and y both fall with w (across cells r = +0.99), but inside each w they are unrelated: the within-w
    correlation is exactly 0, Pearson and Spearman, its interval includes 0, and so does the partial correlation
    on w as a number (the group means are linear in w)."""
    x, y = 10 * W + X_WITHIN, 8 * W + Y_ORTHOGONAL
    assert np.corrcoef(x, y)[0, 1] > 0.7 and spearman(x, y) > 0.7
    c = within_group_correlation(x, y, W.tolist(), resamples=2000, seed=1)
    assert c.pearson == pytest.approx(0.0, abs=1e-12) and c.spearman == pytest.approx(0.0, abs=1e-12)
    assert (c.n, c.groups, c.df) == (18, 6, 11)
    assert c.pearson_low < 0 < c.pearson_high and c.spearman_low < 0 < c.spearman_high and not c.resolved
    assert c.p_pearson == pytest.approx(1.0)
    assert partial_correlation(x, y, W) == pytest.approx(0.0, abs=1e-12)


def test_strong_across_and_within():
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 0.1, len(W))
    x, y = 10 * W + X_WITHIN, 8 * W + X_WITHIN + noise
    c = within_group_correlation(x, y, W.tolist(), resamples=2000, seed=1)
    assert c.pearson > 0.95 and c.spearman > 0.9 and c.resolved and c.pearson_low > 0.8
    assert c.p_pearson < 1e-6
    assert partial_correlation(x, y, W) > 0.95
    # Opposite signs: positive across w, negative within (Simpson's paradox) — the within value says so.
    c = within_group_correlation(10 * W + X_WITHIN, 8 * W - X_WITHIN + noise, W.tolist(), resamples=2000, seed=1)
    assert c.pearson < -0.95 and c.pearson_high < 0


def test_within_group_edge_cases():
    x, y = 10 * W + X_WITHIN, 8 * W + Y_ORTHOGONAL
    few = within_group_correlation(x[:6], y[:6], W[:6].tolist(), resamples=200)  # 2 groups: 4 within-group df
    assert few.pearson == pytest.approx(0.0, abs=1e-12) and few.pearson_low is None and few.resamples == 0
    labels = [*W.tolist(), "alone"]  # a group of one cell says nothing within groups: left out
    c = within_group_correlation([*x, 99.0], [*y, -99.0], labels, resamples=200)
    assert (c.n, c.groups) == (18, 6) and c.pearson == pytest.approx(0.0, abs=1e-12)
    constant = within_group_correlation(x, 8 * W, W.tolist(), resamples=200)  # y constant within each w
    assert constant.pearson is None and constant.spearman is None and constant.pearson_low is None
    with pytest.raises(ValueError):
        within_group_correlation(x, y, W[:5].tolist())
    assert partial_correlation(10 * W, y, W) is None  # x is a line in the control: nothing left to correlate
    assert partial_correlation(x, y, np.zeros_like(W)) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert partial_correlation(x, y, W, rank=True) is not None


def test_identical_rank_groups_on_a_hand_made_table():
    table = {
        "kmeans_inertia@256": [0.30, 0.28, 0.25, 0.24],
        "kmeans_inertia_rel": [1.10, 1.03, 0.92, 0.88],  # the same ranks: one group
        "pq_error@48": [0.40, 0.35, 0.36, 0.30],
        "pq_error_rel": [1.2, 1.05, 1.08, 0.9],  # same ranks as pq_error@48
        "mean_cos": [0.1, 0.2, 0.3, 0.4],  # reversed kmeans ranks: not merged (the correlation's sign differs)
        "ties": [1.0, 1.0, 2.0, 3.0],
        "ties_too": [5.0, 5.0, 6.0, 9.0],
        "other": [1.0, 2.0, 2.0, 3.0],
    }
    assert identical_rank_groups(table) == [["kmeans_inertia@256", "kmeans_inertia_rel"],
                                            ["pq_error@48", "pq_error_rel"], ["mean_cos"], ["ties", "ties_too"],
                                            ["other"]]
    assert identical_rank_groups({}) == []
    with pytest.raises(ValueError):
        identical_rank_groups({"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]})
