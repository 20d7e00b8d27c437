"""Intervals over both sources of noise at once: a two-level bootstrap over training seeds and test queries.

Why: a study's per-query value (nDCG@10, distance computations) varies with the training seed *and* with which
queries the test set holds. The t interval over seeds of per-seed means sees the seeds (and the query noise that
differs between seeds) but not the luck of the test set shared by every seed; the bootstrap over queries of
seed-averaged values sees the queries but not the seeds. This one resamples both: seeds with replacement, then the
queries of each drawn seed with replacement; the statistic is the mean over drawn seeds of the mean over their drawn
queries (each seed weighted alike), and the interval is the percentile interval of the resampled statistics.

Two designs:

- ``shared_queries=False`` (nested, the default): each drawn seed draws its own queries — right when the query noise
  of different seeds is independent (seeds × disjoint query samples).
- ``shared_queries=True`` (crossed): one query draw per resample, used by every drawn seed — right when every seed
  is scored on the *same* test queries (a study's case), so a query's difficulty is shared by the seeds. Resampling
  rows and columns independently is Owen's pigeonhole bootstrap (Owen 2007, Ann. Appl. Stat.), mildly conservative.

Caveat: a percentile interval over few seeds cannot be wider than the spread of the seed means (3 seeds: the
bootstrap over seeds of a 3-value mean puts 1/27 on each extreme), so when the seed-to-seed spread dominates, a
3-seed hierarchical interval under-covers and the t interval over seeds (with its t_{2} quantile) is the honest one;
tests/test_study_hierarchical.py shows both regimes. Draws come from ``numpy.random.Generator(PCG64(rng_seed))``:
the seed indices of every resample first, then the query indices chunk by chunk (the draws do not depend on the
chunk size).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from topobench.study import stats

_CELLS_PER_CHUNK = 4_000_000  # resamples × seeds × queries gathered at a time (bounds memory at ~100 MB)


@dataclass(frozen=True)
class HierarchicalInterval:
    """The mean over seeds of the per-seed mean over queries, with a percentile interval from resampling seeds and
    then queries. Reads like :class:`stats.Interval` (``mean``, ``low``, ``high``, ``n`` = seeds, ``resolved``,
    ``half_width``); ``p_le_zero`` is the share of resampled statistics ≤ 0, ``baseline_mean`` the baseline's mean on
    the same seeds and queries for a paired difference (None otherwise)."""

    mean: float
    low: float
    high: float
    n: int
    queries: int  # per seed (the largest, when seeds have different counts)
    resamples: int
    p_le_zero: float
    shared_queries: bool
    baseline_mean: float | None = None

    @property
    def has_interval(self) -> bool:
        return True

    @property
    def resolved(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    @property
    def p_two_sided(self) -> float:
        """Twice the smaller bootstrap tail at 0, capped at 1."""
        return min(1.0, 2.0 * min(self.p_le_zero, 1.0 - self.p_le_zero))

    @property
    def relative(self) -> float | None:
        """A paired difference's mean as a fraction of the baseline's mean; None when unpaired or that mean is 0."""
        return None if not self.baseline_mean else self.mean / self.baseline_mean


def _matrix(values: Mapping[Hashable, np.ndarray]) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """Seeds (sorted when sortable), the values padded into (seeds × most queries) with 0, and each seed's count."""
    if not values:
        raise ValueError("a hierarchical bootstrap needs at least one seed")
    try:
        seeds = sorted(values)
    except TypeError:
        seeds = list(values)
    rows = [np.asarray(values[s], dtype=np.float64) for s in seeds]
    for s, r in zip(seeds, rows, strict=True):
        if r.ndim != 1 or len(r) == 0:
            raise ValueError(f"seed {s}: per-query values must be a non-empty 1-d array, got shape {r.shape}")
        if not np.all(np.isfinite(r)):
            raise ValueError(f"seed {s}: per-query values must be finite (drop unjudged queries first)")
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    padded = np.zeros((len(rows), int(lengths.max())), dtype=np.float64)
    for i, r in enumerate(rows):
        padded[i, :len(r)] = r
    return seeds, padded, lengths


def _resampled_means(padded: np.ndarray, lengths: np.ndarray, resamples: int, rng_seed: int,
                     shared_queries: bool) -> np.ndarray:
    n_seeds, width = padded.shape
    rng = np.random.Generator(np.random.PCG64(rng_seed))
    seed_idx = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    out = np.empty(resamples, dtype=np.float64)
    chunk = max(1, _CELLS_PER_CHUNK // max(1, n_seeds * width))
    columns = np.arange(width)
    equal = bool(np.all(lengths == width))  # every seed has every query: no padding to mask
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        drawn = seed_idx[start:start + count]  # (count, seeds)
        if shared_queries or equal:
            q_idx = rng.integers(0, width, size=(count, 1 if shared_queries else n_seeds, width))
            per_seed = padded[drawn[:, :, None], q_idx].sum(axis=2) / width
        else:
            own = lengths[drawn]  # (count, seeds): each drawn seed's query count
            q_idx = rng.integers(0, own[:, :, None], size=(count, n_seeds, width))
            kept = columns[None, None, :] < own[:, :, None]  # a seed with fewer queries draws only that many
            per_seed = np.where(kept, padded[drawn[:, :, None], q_idx], 0.0).sum(axis=2) / own
        out[start:start + count] = per_seed.sum(axis=1) / n_seeds
    return out


def hierarchical_bootstrap(values: Mapping[Hashable, np.ndarray], resamples: int = stats.RESAMPLES,
                           rng_seed: int = stats.BOOTSTRAP_SEED, level: float = stats.LEVEL,
                           shared_queries: bool = False) -> HierarchicalInterval:
    """The mean of a per-query measure over seeds and queries, with a two-level percentile bootstrap interval:
    resample the seeds with replacement, then the queries within each drawn seed (``shared_queries``: one query
    draw for all seeds of a resample, for seeds scored on the same test set); see the module docstring for which
    design fits and when 3 seeds are too few.

    ``values`` maps a seed to its per-query values. With ``shared_queries`` every seed must have the same queries,
    in the same order."""
    seeds, padded, lengths = _matrix(values)
    if shared_queries and np.any(lengths != lengths[0]):
        raise ValueError(f"shared_queries needs every seed to have the same queries, got counts {lengths.tolist()}")
    observed = math.fsum(math.fsum(padded[i, :n].tolist()) / n for i, n in enumerate(lengths.tolist())) / len(seeds)
    means = _resampled_means(padded, lengths, resamples, rng_seed, shared_queries)
    alpha = 1.0 - level
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return HierarchicalInterval(observed, float(low), float(high), len(seeds), int(lengths.max()), resamples,
                                int(np.count_nonzero(means <= 0.0)) / resamples, shared_queries)


def paired_hierarchical_bootstrap(variant: Mapping[Hashable, np.ndarray], baseline: Mapping[Hashable, np.ndarray],
                                  resamples: int = stats.RESAMPLES, rng_seed: int = stats.BOOTSTRAP_SEED,
                                  level: float = stats.LEVEL, shared_queries: bool = False) -> HierarchicalInterval:
    """The mean difference ``variant − baseline`` with the two-level bootstrap, pairs kept: seed s of the variant is
    compared with seed s of the baseline (shared data order and initialisation cancel), query row i with query row
    i (shared query difficulty cancels). Over the seeds both have; each such seed's two arrays must have one length.
    ``baseline_mean`` is the baseline's mean on those seeds (for a relative change)."""
    shared = [s for s in variant if s in baseline]
    if not shared:
        raise ValueError("paired_hierarchical_bootstrap: the variant and the baseline share no seed")
    diffs = {}
    for s in shared:
        v, b = np.asarray(variant[s], dtype=np.float64), np.asarray(baseline[s], dtype=np.float64)
        if v.shape != b.shape:
            raise ValueError(f"seed {s}: variant and baseline have {v.shape} and {b.shape} query values")
        diffs[s] = v - b
    result = hierarchical_bootstrap(diffs, resamples, rng_seed, level, shared_queries)
    base = math.fsum(float(np.mean(np.asarray(baseline[s], dtype=np.float64))) for s in shared) / len(shared)
    return HierarchicalInterval(result.mean, result.low, result.high, result.n, result.queries, result.resamples,
                                result.p_le_zero, shared_queries, base)
