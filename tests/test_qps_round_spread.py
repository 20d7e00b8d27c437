"""How far a cell's QPS at a k-NN level moves between the rounds of a back-to-back run (topobench.study.qps_runs)."""

from __future__ import annotations

import pytest

from topobench.study.qps_runs import RoundSpread, round_spread_sentence, round_spreads


def _round(points: dict[str, dict[str, list[tuple[float, float]]]]) -> dict:
    """A round of ``bench/study_qps.py``: per cell and algorithm, (k-NN recall, QPS) at query arguments 1, 2, …"""
    return {"order": sorted(points), "load_1min": 1.0,
            "points": {cell: {algo: [[[8], [i + 1], knn, qps] for i, (knn, qps) in enumerate(pts)]
                              for algo, pts in algos.items()} for cell, algos in points.items()}}


def test_each_rounds_reading_is_compared_within_its_cell():
    record = {"rounds": [
        _round({"a": {"hnsw": [(0.9, 200.0), (0.95, 100.0)], "flat": [(1.0, 10.0)]},
                "b": {"hnsw": [(0.95, 50.0)], "ivf": [(0.9, 70.0)]}}),
        _round({"a": {"hnsw": [(0.9, 160.0), (0.95, 80.0)], "flat": [(1.0, 8.0)]},
                "b": {"hnsw": [(0.95, 50.0)], "ivf": [(0.9, 60.0)]}}),
        _round({"a": {"hnsw": [(0.9, 180.0), (0.95, 90.0)], "flat": [(1.0, 9.0)]},
                "b": {"hnsw": [(0.95, 45.0)], "ivf": [(0.9, 65.0)]},
                "c": {"hnsw": [(0.95, 1.0)]}}),  # measured in one round only: no spread to read
    ]}
    hnsw, flat = round_spreads(record)  # ivf never reaches 0.95: no entry
    # a: (100 − 80) / 100 = 0.2; b: (50 − 45) / 50 = 0.1; median over the two cells 0.15.
    assert hnsw == RoundSpread("hnsw", 2, pytest.approx(0.15), pytest.approx(0.2), "a")
    # flat's lone point at recall 1.0 is above 0.95: its QPS is the reading, (10 − 8) / 10.
    assert flat == RoundSpread("flat", 1, pytest.approx(0.2), pytest.approx(0.2), "a")
    assert round_spread_sentence([hnsw, flat]) == (
        "Timing noise, per cell: read off one round alone, QPS at k-NN 0.95 is lower in the slowest round than in the "
        "fastest by a median 15 % for hnsw (2 cells; largest 20 %, a), 20 % for flat (1 cell; largest 20 %, a); the "
        "medians over rounds below are steadier, but a QPS difference between variants of that size can be the "
        "machine's.")


def test_a_single_round_or_no_points_says_nothing():
    one = {"rounds": [_round({"a": {"hnsw": [(0.95, 100.0)]}})]}
    assert round_spreads(one) == [] and round_spread_sentence([]) == ""
    assert round_spreads({"rounds": []}) == []
