"""The two-level bootstrap over seeds and queries (topobench.study.hierarchical): coverage on simulated two-level
data, where the single-level intervals fail, where 3 seeds are too few, and the paired version's bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from topobench.study import hierarchical
from topobench.study.hierarchical import hierarchical_bootstrap, paired_hierarchical_bootstrap
from topobench.study.stats import mean_interval, paired_bootstrap

SIMULATIONS = 200
RESAMPLES = 500


@dataclass
class Coverage:
    """Share of the simulations whose interval covered the true mean (0), and the intervals' mean width."""

    hierarchical: float
    queries_only: float  # bootstrap over queries of the seed-averaged values
    t_over_seeds: float  # t interval over the per-seed means
    widths: dict[str, float]


def _simulate(seeds: int, queries: int, seed_sd: float, query_sd: float, shared_sd: float, shared_queries: bool,
              rng_seed: int) -> Coverage:
    """y[s, q] = a_s + b_q + e_sq with a_s ~ N(0, seed_sd²) (training seed), b_q ~ N(0, shared_sd²) (a query's
    difficulty, the same in every seed: a crossed design) and e_sq ~ N(0, query_sd²); the true mean is 0."""
    rng = np.random.default_rng(rng_seed)
    hits = {"h": 0, "q": 0, "t": 0}
    widths: dict[str, list[float]] = {"h": [], "q": [], "t": []}
    for i in range(SIMULATIONS):
        y = (rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, shared_sd, (1, queries))
             + rng.normal(0, query_sd, (seeds, queries)))
        h = hierarchical_bootstrap({s: y[s] for s in range(seeds)}, RESAMPLES, i, shared_queries=shared_queries)
        q = paired_bootstrap(y.mean(axis=0), np.zeros(queries), RESAMPLES, i)
        t = mean_interval(y.mean(axis=1).tolist())
        for key, (low, high) in {"h": (h.low, h.high), "q": (q.low, q.high), "t": (t.low, t.high)}.items():
            hits[key] += low <= 0.0 <= high
            widths[key].append(high - low)
    return Coverage(hits["h"] / SIMULATIONS, hits["q"] / SIMULATIONS, hits["t"] / SIMULATIONS,
                    {k: float(np.mean(v)) for k, v in widths.items()})


def test_nested_two_level_data_covered_where_the_query_bootstrap_is_not():
    """Seed effects (sd 0.15) + independent query noise (sd 1), 8 seeds × 50 queries: the hierarchical interval
    covers ≥ 93 %; the bootstrap over queries of seed-averaged values ignores the seeds and under-covers."""
    c = _simulate(8, 50, 0.15, 1.0, 0.0, False, 20240917)
    assert c.hierarchical >= 0.93  # 98 % here, 95.9 % over 1,000 simulations
    assert c.queries_only <= 0.87  # 76.5 % here, 79.5 % over 1,000
    assert c.t_over_seeds >= 0.90  # in this nested model the per-seed means are i.i.d.: the t is exact
    assert c.widths["q"] < 0.7 * c.widths["h"]


def test_crossed_design_needs_shared_queries():
    """Every seed scored on the same queries (a query difficulty of sd 0.3 shared by the seeds; seed sd 0.15, noise
    sd 1), 10 seeds × 50 queries: the crossed (shared-query) bootstrap covers ≥ 93 % (95.5 % here; 97.4 % over 1,000
    simulations: Owen's bootstrap is mildly conservative), wider than the nested one that treats each seed's queries
    as independent (93.4 % over 1,000); the t over seeds (misses the shared query noise, 87 %) and the query
    bootstrap (misses the seeds, 86 %) cover less."""
    c = _simulate(10, 50, 0.15, 1.0, 0.3, True, 7)
    assert c.hierarchical >= 0.93
    assert c.t_over_seeds < c.hierarchical - 0.04 and c.queries_only < c.hierarchical - 0.04
    nested = _simulate(10, 50, 0.15, 1.0, 0.3, False, 7)
    assert c.widths["h"] > 1.15 * nested.widths["h"]


def test_three_seeds_with_dominant_seed_noise_under_cover():
    """The limit a study report must respect: 3 seeds × 300 queries with the seed-to-seed spread (sd 0.2) above the
    query noise in a seed's mean (1/√300 ≈ 0.06). A percentile interval cannot reach beyond the seed means' range,
    so the hierarchical interval under-covers; the t over seeds (t_2 quantile 4.30) covers, at more than twice the
    width."""
    c = _simulate(3, 300, 0.2, 1.0, 0.0, False, 3)
    assert c.hierarchical <= 0.88  # 78 % here, 80 % over 1,000 simulations
    assert c.t_over_seeds >= 0.92  # 94 % here, 96.2 % over 1,000
    assert c.widths["t"] > 2.0 * c.widths["h"]


def test_observed_mean_ragged_seeds_and_reproducibility(monkeypatch):
    values = {13: np.array([1.0, 2.0, 3.0]), 14: np.array([10.0, 20.0])}  # seeds with different query counts
    h = hierarchical_bootstrap(values, 2000, 5)
    assert h.mean == pytest.approx((2.0 + 15.0) / 2)  # each seed weighted alike, not each query
    assert 1.0 <= h.low < h.mean < h.high <= 20.0 and h.n == 2 and h.queries == 3
    assert hierarchical_bootstrap(values, 2000, 5) == h  # a fixed seed gives the same interval
    monkeypatch.setattr(hierarchical, "_CELLS_PER_CHUNK", 7)  # the draws do not depend on the chunk size
    assert hierarchical_bootstrap(values, 2000, 5) == h
    with pytest.raises(ValueError):
        hierarchical_bootstrap(values, 100, 1, shared_queries=True)
    with pytest.raises(ValueError):
        hierarchical_bootstrap({1: np.array([1.0, np.nan])}, 100, 1)
    one = hierarchical_bootstrap({1: np.full(5, 4.0)}, 100, 1)
    assert (one.mean, one.low, one.high) == (4.0, 4.0, 4.0) and one.resolved and one.p_two_sided == 0.0


def test_paired_keeps_seed_and_query_pairs():
    """The variant is the baseline plus 0.1 ± 0.01 per query: large seed and query effects shared by the pair
    cancel, so the paired interval is tight around 0.1, while unpaired intervals of the two means overlap."""
    rng = np.random.default_rng(11)
    base = {s: rng.normal(0, 1, 1)[0] + rng.normal(0, 1, 300) for s in (13, 14, 15)}
    variant = {s: base[s] + 0.1 + rng.normal(0, 0.01, 300) for s in (13, 14, 15)}
    variant[99] = np.zeros(300)  # a seed the baseline lacks is left out
    d = paired_hierarchical_bootstrap(variant, base, 2000, 1)
    assert d.n == 3 and d.resolved and d.low > 0.09 and d.high < 0.11 and d.p_le_zero == 0.0
    assert d.mean == pytest.approx(np.mean([np.mean(variant[s] - base[s]) for s in base]))
    assert d.baseline_mean == pytest.approx(np.mean([np.mean(base[s]) for s in base]))
    assert d.relative == pytest.approx(d.mean / d.baseline_mean)
    unpaired = hierarchical_bootstrap({s: variant[s] for s in base}, 2000, 1)
    assert unpaired.half_width > 10 * d.half_width
    crossed = paired_hierarchical_bootstrap(variant, base, 2000, 1, shared_queries=True)
    assert crossed.shared_queries and crossed.mean == pytest.approx(d.mean) and crossed.resolved
    with pytest.raises(ValueError):
        paired_hierarchical_bootstrap({1: np.zeros(3)}, {2: np.zeros(3)})
    with pytest.raises(ValueError):
        paired_hierarchical_bootstrap({1: np.zeros(3)}, {1: np.zeros(4)})
