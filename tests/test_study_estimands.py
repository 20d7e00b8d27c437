"""The cost-at-a-recall-level estimands (topobench.study.estimands) on hand-made grids with hand-computed values, and
the saw-tooth that makes today's pooled-Pareto interpolation (topobench.study.measure) jump where the hull does not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from topobench.metrics.registry import Point
from topobench.study.estimands import (
    Setting,
    equal_parameter_ratios,
    geometric_mean,
    hull_cost,
    lower_hull,
    per_build_costs,
    per_build_hulls,
    per_build_ratios,
    query_hardness,
)
from topobench.study.measure import costs_at_level

K, QUERIES = 10, 300
NEIGHBOUR = 1.0 / (K * QUERIES)  # one neighbour of one query moves a mean recall by this much

# An HNSW grid with a saw-tooth: M 32 at ef 10 lands a hair above M 8 at ef 20 in recall (2851 vs 2849 of 3000
# neighbours found) yet costs a third more. Recalls are whole neighbour counts over K · QUERIES.
SAW_TOOTH = [
    Setting(("M", 8), ("ef", 10), 2760 / 3000, 260.0),
    Setting(("M", 8), ("ef", 20), 2849 / 3000, 300.0),
    Setting(("M", 32), ("ef", 10), 2851 / 3000, 400.0),
    Setting(("M", 8), ("ef", 40), 2970 / 3000, 410.0),
    Setting(("M", 32), ("ef", 20), 2985 / 3000, 600.0),
]


def _points(settings: list[Setting]) -> list[Point]:
    return [Point("d", "hnsw", "hnsw", f"{s.build}{s.query}", K, False,
                  {"k-nn": s.recall, "qps": 1e6 / s.cost, "distcomps": s.cost}) for s in settings]


def _moved(settings: list[Setting], i: int, delta: float) -> list[Setting]:
    out = list(settings)
    s = out[i]
    out[i] = Setting(s.build, s.query, s.recall + delta, s.cost)
    return out


def test_hull_drops_the_tooth_and_reads_linearly():
    assert [s.query for s in lower_hull(SAW_TOOTH)] == [("ef", 10), ("ef", 20), ("ef", 40), ("ef", 20)]
    assert ("M", 32) not in {s.build for s in lower_hull(SAW_TOOTH)[:3]}  # the tooth (M 32, ef 10) is above the hull
    h = hull_cost(SAW_TOOTH, 0.95)
    # Between (2849/3000, 300) and (2970/3000, 410): 300 + 110 · (1/3000) / (121/3000) = 300 + 110/121.
    assert h.value == pytest.approx(300 + 110 / 121, abs=1e-9)
    assert h.lower.query == ("ef", 20) and h.upper.query == ("ef", 40) and h.weight == pytest.approx(1 / 121)
    assert not h.bound and h.reached == 0.95
    assert (1 - h.weight) * h.lower.cost + h.weight * h.upper.cost == pytest.approx(h.value)


def test_hull_value_moves_by_at_most_one_counter_unit_where_the_pareto_interpolation_jumps():
    """Move every setting's mean recall by ± one neighbour of one query: the hull value at 0.95 moves < 1
    distance computation each time; the pooled Pareto-frontier interpolation of measure.costs_at_level moves by
    +53.6 / −46.4 (the tooth either brackets the level or not)."""
    hull0 = hull_cost(SAW_TOOTH, 0.95).value
    pareto0 = costs_at_level(_points(SAW_TOOTH), 0.95)["distcomps"]
    assert pareto0 == pytest.approx(math.sqrt(300 * 400), rel=1e-9)  # log-midway between the tooth's two points
    hull_moves, pareto_moves = [], []
    for i in range(len(SAW_TOOTH)):
        for delta in (NEIGHBOUR, -NEIGHBOUR):
            moved = _moved(SAW_TOOTH, i, delta)
            hull_moves.append(hull_cost(moved, 0.95).value - hull0)
            pareto_moves.append(costs_at_level(_points(moved), 0.95)["distcomps"] - pareto0)
    assert max(abs(m) for m in hull_moves) <= 1.0
    assert max(abs(m) for m in hull_moves) == pytest.approx(110 / 121, abs=1e-6)  # M 8 ef 20 up to exactly 0.95
    assert max(pareto_moves) == pytest.approx(400 - pareto0, rel=1e-6)  # M 32 ef 10 down to 0.95: its own 400
    assert min(pareto_moves) == pytest.approx(300 - pareto0, rel=1e-6)  # M 8 ef 20 up to 0.95: its own 300
    assert max(abs(m) for m in pareto_moves) > 40 * max(abs(m) for m in hull_moves)


def test_hull_bound_above_best_and_vertex():
    assert hull_cost(SAW_TOOTH, 0.999) is None  # no setting reaches it
    low = hull_cost(SAW_TOOTH, 0.5)  # below the cheapest setting's recall: its cost, an upper bound
    assert low.bound and low.value == 260.0 and low.reached == pytest.approx(0.92)
    at = hull_cost(SAW_TOOTH, 2970 / 3000)
    assert at.value == 410.0 and at.lower is at.upper and not at.bound
    assert hull_cost([], 0.9) is None
    # A costlier low-recall setting is never mixed in: the cheapest setting starts the hull.
    odd = [Setting((), ("a",), 0.5, 500.0), Setting((), ("b",), 0.8, 100.0), Setting((), ("c",), 0.9, 200.0)]
    assert [s.query for s in lower_hull(odd)] == [("b",), ("c",)]
    assert hull_cost(odd, 0.6).value == 100.0 and hull_cost(odd, 0.6).bound
    assert hull_cost(odd, 0.85).value == pytest.approx(150.0)
    nan = [*odd, Setting((), ("d",), float("nan"), 1.0)]
    assert hull_cost(nan, 0.85).value == pytest.approx(150.0)  # a setting without a recall is left out


# A hand-made grid of two builds × three ef for two variants, a and b.
A = [
    Setting(("M", 8), ("ef", 10), 0.90, 100.0), Setting(("M", 8), ("ef", 20), 0.94, 150.0),
    Setting(("M", 8), ("ef", 40), 0.97, 250.0),
    Setting(("M", 16), ("ef", 10), 0.93, 160.0), Setting(("M", 16), ("ef", 20), 0.96, 220.0),
    Setting(("M", 16), ("ef", 40), 0.98, 320.0),
]
B = [
    Setting(("M", 8), ("ef", 10), 0.92, 90.0), Setting(("M", 8), ("ef", 20), 0.96, 120.0),
    Setting(("M", 8), ("ef", 40), 0.98, 200.0),
    Setting(("M", 16), ("ef", 10), 0.95, 200.0), Setting(("M", 16), ("ef", 20), 0.97, 240.0),
    Setting(("M", 32), ("ef", 10), 0.96, 300.0),
]


def test_per_build_costs_on_a_hand_made_grid():
    a = per_build_costs(A, 0.95)
    # M 8: between (0.94, 150) and (0.97, 250): 150 + 100/3 · … = 183.33; M 16: (0.93, 160)–(0.96, 220): 200.
    assert a == pytest.approx({("M", 8): 150 + 100 / 3, ("M", 16): 200.0})
    b = per_build_costs(B, 0.95)
    # M 8: (0.92, 90)–(0.96, 120): 90 + 30 · 3/4 = 112.5; M 16: exactly its ef 10 point, 200; M 32: bound, 300.
    assert b == pytest.approx({("M", 8): 112.5, ("M", 16): 200.0, ("M", 32): 300.0})
    assert per_build_hulls(B, 0.95)[("M", 32)].bound
    assert per_build_costs(A, 0.975) == {("M", 8): None, ("M", 16): pytest.approx(220 + 100 * 0.75)}
    gm = geometric_mean(per_build_costs(A, 0.975).values())
    assert gm.value == pytest.approx(295.0) and (gm.reached, gm.total) == (1, 2)
    gm = geometric_mean(a.values())
    assert gm.value == pytest.approx(math.sqrt((150 + 100 / 3) * 200)) and (gm.reached, gm.total) == (2, 2)
    assert geometric_mean([None]).value is None
    with pytest.raises(ValueError):
        geometric_mean([1.0, 0.0])
    r = per_build_ratios(A, B, 0.95)  # matched builds only: M 32 has no a
    assert r.ratios == pytest.approx({("M", 8): 112.5 / (150 + 100 / 3), ("M", 16): 1.0})
    assert r.geometric_mean == pytest.approx(math.sqrt(112.5 / (150 + 100 / 3))) and (r.builds_a, r.builds_b) == (2, 3)


def test_equal_parameter_ratios_on_a_hand_made_grid():
    e = equal_parameter_ratios(A, B)
    assert e.n == 5  # (M 16, ef 40) has no b, (M 32, ef 10) no a
    logs = [math.log(90 / 100), math.log(120 / 150), math.log(200 / 250), math.log(200 / 160), math.log(240 / 220)]
    assert [p.log_ratio for p in e.pairs] == pytest.approx(logs)
    assert e.mean_log_ratio == pytest.approx(sum(logs) / 5)
    assert e.ratio == pytest.approx(math.exp(sum(logs) / 5))
    assert e.mean_recall_difference == pytest.approx((0.02 + 0.02 + 0.01 + 0.02 + 0.01) / 5)
    w = equal_parameter_ratios(A, B, recall_window=(0.94, 0.97))  # both recalls in it: (8, 20) and (16, 20) only
    assert [(p.build, p.query) for p in w.pairs] == [(("M", 8), ("ef", 20)), (("M", 16), ("ef", 20))]
    assert w.mean_log_ratio == pytest.approx((math.log(0.8) + math.log(240 / 220)) / 2)
    none = equal_parameter_ratios(A, B, recall_window=(0.999, 1.0))
    assert none.n == 0 and none.ratio is None and none.mean_recall_difference is None
    with pytest.raises(ValueError):
        equal_parameter_ratios([*A, A[0]], B)


def test_query_hardness_on_a_hand_made_grid():
    """3 settings (ef 10, 20, 40) × 4 queries over a 1,000-document corpus, ρ = 0.9."""
    recall = np.array([[1.0, 0.8, 0.9, 0.5],
                       [1.0, 0.9, 1.0, 0.6],
                       [1.0, 1.0, 1.0, 0.8]])
    cost = np.array([[50, 60, 55, 70],
                     [90, 100, 95, 110],
                     [170, 180, 175, 190]])
    # q0: ef 10 (50); q1: ef 20 (100); q2: ef 10 at exactly 0.9 (55); q3: never reaches 0.9.
    got = query_hardness(recall, cost, 1000, 0.9)
    np.testing.assert_allclose(got[:3], [0.05, 0.10, 0.055])
    assert np.isnan(got[3])
    # A cheaper setting that reaches ρ wins whatever its order; 9/10 as a float counts as 0.9.
    got = query_hardness(np.array([[9 / 10], [1.0]]), np.array([[40.0], [20.0]]), 100, 0.9)
    np.testing.assert_allclose(got, [0.2])
    with pytest.raises(ValueError):
        query_hardness(recall, cost[:2], 1000, 0.9)
