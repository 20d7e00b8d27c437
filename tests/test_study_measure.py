"""What a cell records from results: the Pareto frontier and values at recall levels, checked by hand."""

from __future__ import annotations

import math

import pytest

from topobench.metrics.registry import Point
from topobench.study.measure import algorithm_summary, at_level, costs_at_level, frontier


def point(knn: float, qps: float, distcomps: float, ndcg: float | None = None, name: str = "") -> Point:
    values = {"k-nn": knn, "qps": qps, "distcomps": distcomps, "hops": None, "lists_probed": None, "ndcg@10": ndcg,
              "recall@100": None, "mrr@10": None}
    return Point("d", "hnsw", name or f"{knn}-{qps}", name or f"{knn}-{qps}", 10, False, values)


def test_frontier_keeps_points_not_beaten_on_recall_and_qps():
    points = [point(0.80, 1000, 50), point(0.90, 800, 80), point(0.85, 700, 90), point(0.99, 200, 400),
              point(0.99, 100, 500)]
    front = frontier(points)
    assert [(p.values["k-nn"], p.values["qps"]) for p in front] == [(0.80, 1000), (0.90, 800), (0.99, 200)]


def test_a_counter_has_its_own_frontier_of_fewest_computations():
    points = [point(0.80, 1000, 50), point(0.90, 800, 80), point(0.85, 700, 40), point(0.99, 200, 400),
              point(0.99, 100, 300)]
    front = frontier(points, measure="distcomps")
    assert [(p.values["k-nn"], p.values["distcomps"]) for p in front] == [(0.85, 40), (0.90, 80), (0.99, 300)]


def test_counters_at_a_level_do_not_depend_on_which_points_were_fastest():
    # Two benchmarks of one index: the same points with the same counters, one point's QPS lowered by the
    # machine's noise (the 0.94 point slowed down). QPS at the level follows the timing; the counters must not.
    counters = [(0.90, 100), (0.94, 160), (0.96, 200), (0.99, 400)]
    calm = [point(knn, qps, dc) for (knn, dc), qps in zip(counters, (1000, 700, 500, 200), strict=True)]
    noisy = [point(knn, qps, dc) for (knn, dc), qps in zip(counters, (1000, 450, 500, 200), strict=True)]
    assert len(frontier(noisy)) < len(frontier(calm))
    a, b = costs_at_level(calm, 0.95), costs_at_level(noisy, 0.95)
    assert a["qps"] != pytest.approx(b["qps"])
    expected = math.exp(math.log(160) + 0.5 * (math.log(200) - math.log(160)))
    assert a["distcomps"] == pytest.approx(expected) and b["distcomps"] == pytest.approx(expected)
    assert at_level(frontier(noisy), 0.95)["distcomps"] != pytest.approx(expected)  # what the QPS frontier would say
    assert costs_at_level(calm, 0.995) is None


def test_values_between_frontier_points_are_interpolated_on_log_scale():
    front = frontier([point(0.90, 1000, 100), point(1.00, 10, 10_000)])
    mid = at_level(front, 0.95)
    assert mid["qps"] == pytest.approx(100.0) and mid["distcomps"] == pytest.approx(1000.0)  # geometric midpoints
    assert mid["bound"] is False and mid["reached"] == 0.95
    exact = at_level(front, 0.90)
    assert exact["qps"] == 1000 and exact["bound"] is False
    assert at_level(front, 1.01) is None


def test_a_level_below_the_cheapest_point_is_an_upper_bound():
    front = frontier([point(0.97, 500, 300), point(0.99, 200, 600)])
    low = at_level(front, 0.90)
    assert low["qps"] == 500 and low["distcomps"] == 300 and low["bound"] is True and low["reached"] == 0.97


def test_algorithm_summary_reads_the_task_level_and_the_best_task_point():
    points = [point(0.90, 1000, 100, ndcg=0.60), point(0.99, 100, 1000, ndcg=0.70)]
    summary = algorithm_summary(points, exact_ndcg=0.70)
    assert summary["at_ndcg"]["level"] == pytest.approx(0.693)
    # 0.693 sits 93 % of the way from nDCG 0.60 to 0.70: log-interpolated QPS
    expected = math.exp(math.log(1000) + 0.93 * (math.log(100) - math.log(1000)))
    assert summary["at_ndcg"]["qps"] == pytest.approx(expected)
    assert summary["task"]["ndcg@10"] == 0.70 and summary["frontier"][0][:2] == [0.90, 1000]
    assert summary["at_knn"]["0.99"]["qps"] == 100
