"""Metric registry: hand-computed k-NN cases (ann-benchmarks semantics), None where a metric does not apply, task
metrics against ir_measures (pytrec_eval) on a run with score ties and graded qrels, and the summary table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from topobench.core.errors import UnknownNameError
from topobench.datasets.store import Dataset
from topobench.metrics import scoring as metrics
from topobench.metrics.registry import METRICS, Point, evaluate, get_metric, summarize, summary
from topobench.runs.results import Result


def make_result(neighbors, distances, *, count=None, stats=None, times=None, best=0.01, algorithm="toy", name="toy",
                size=2048, dataset="d") -> Result:
    neighbors = np.asarray(neighbors, dtype=np.int64)
    return Result(dataset=dataset, algorithm=algorithm, name=name, count=count or neighbors.shape[1], batch=False,
                  distance="euclidean", build_args=[name], query_args=[], build_time=1.5, index_size_bytes=size,
                  best_search_time=best, run_count=1, threads=1,
                  times=np.asarray(times if times is not None else [0.001] * len(neighbors)),
                  neighbors=neighbors, distances=np.asarray(distances, dtype=np.float32), stats=stats or {})


def make_dataset(true_distances, *, n_docs=10, qrels=None, doc_ids=None) -> Dataset:
    true_distances = np.asarray(true_distances, dtype=np.float32)
    nq, k = true_distances.shape
    return Dataset(name="d", path=Path("d.hdf5"), distance="euclidean", train=np.zeros((n_docs, 2), np.float32),
                   test=np.zeros((nq, 2), np.float32), neighbors=np.tile(np.arange(k), (nq, 1)),
                   distances=true_distances, doc_ids=doc_ids, qrels=None if qrels is None else np.asarray(qrels))


# --- k-NN ---------------------------------------------------------------------------------------------------------

TRUE = [[1.0, 2.0, 2.0, 3.0],   # q0: threshold (count 2) 2.001, epsilon 2.02
        [0.5, 1.0, 1.0, 1.0],   # q1: threshold 1.001
        [0.2, 1.2, 1.3, 1.4],   # q2: threshold 1.201, epsilon 1.212
        [0.1, 0.3, 0.4, 0.5]]   # q3: threshold 0.301
RUN_IDS = [[0, 1], [0, 3], [0, 2], [5, -1]]
RUN_D = [[1.0, 2.0005],         # both within +1e-3: 2/2
         [0.5, 1.0],            # a different id at a tied distance still counts (tie-aware): 2/2
         [0.2, 1.21],           # 1.21 > 1.201 but <= 1.212: k-nn 1/2, epsilon 2/2
         [0.1, 0.0]]            # padding (-1) never counts, whatever its stored distance: 1/2


def test_knn_and_epsilon_hand_computed():
    ds, r = make_dataset(TRUE), make_result(RUN_IDS, RUN_D)
    values = evaluate(ds, r)
    assert values["k-nn"] == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert values["epsilon"] == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert metrics.Scoring(ds, r).knn_recalls.tolist() == [1.0, 1.0, 0.5, 0.5]


def test_knn_count_one_uses_first_true_distance():
    r = make_result([[1], [1], [1], [1]], [[1.0005], [0.6], [0.2], [0.1005]], count=1)
    assert get_metric("k-nn")(make_dataset(TRUE), r) == pytest.approx(0.75)


def test_speed_and_cost_metrics():
    r = make_result(RUN_IDS, RUN_D, times=[0.001, 0.002, 0.003, 0.004], best=0.01, size=4096,
                    stats={"distcomps": 123.5, "hops": 7.0})
    values = evaluate(make_dataset(TRUE), r)
    assert values["qps"] == pytest.approx(100.0)
    assert values["p50"] == pytest.approx(2.5)
    assert values["p95"] == pytest.approx(3.85)
    assert values["p99"] == pytest.approx(3.97)
    assert values["build"] == 1.5
    assert values["indexsize"] == 4.0
    assert values["distcomps"] == 123.5 and values["hops"] == 7.0
    assert values["lists_probed"] is None
    assert values["candidates"] == pytest.approx(1.75)


def test_not_applicable_is_none_never_zero():
    ds = make_dataset(TRUE)
    text = make_result(RUN_IDS, RUN_D, stats={"text_index": True}, size=None)
    values = evaluate(ds, text)
    assert values["k-nn"] is None and values["epsilon"] is None
    assert values["indexsize"] is None and values["distcomps"] is None
    assert values["qps"] == pytest.approx(100.0)
    assert all(values[m] is None for m in ("recall@10", "recall@100", "mrr@10", "ndcg@10"))  # no qrels
    deep = make_result([[0] * 5] * 4, [[0.0] * 5] * 4)  # count 5 > ground truth depth 4
    assert get_metric("k-nn")(ds, deep) is None
    assert get_metric("k-nn")(None, make_result(RUN_IDS, RUN_D)) is None
    assert get_metric("qps")(None, make_result(RUN_IDS, RUN_D, best=0.0)) is None


def test_registry_shape_and_unknown_name():
    for name in ("k-nn", "epsilon", "qps", "p50", "p95", "p99", "build", "indexsize", "distcomps", "hops",
                 "lists_probed", "candidates", "recall@10", "recall@100", "mrr@10", "ndcg@10"):
        m = METRICS[name]
        assert m.name == name and m.description and m.direction in ("higher", "lower")
    assert METRICS["qps"].scale == "log"
    with pytest.raises(UnknownNameError, match="known metrics: k-nn"):
        get_metric("recal")


# --- task metrics against ir_measures -----------------------------------------------------------------------------


def task_case(count: int, seed: int = 3, ties: bool = True):
    """A dataset with graded qrels and shuffled doc ids, and a run whose scores tie often."""
    rng = np.random.default_rng(seed)
    n_docs, nq = 160, 8
    doc_ids = [f"doc{i}" for i in rng.permutation(n_docs)]  # id order differs from row order
    rows = np.stack([rng.permutation(n_docs)[:count] for _ in range(nq)])
    if ties:
        dist = np.round(rng.uniform(0, 1, size=(nq, count)), 1)  # eleven distinct values: many ties
    else:
        dist = rng.permutation(nq * count).reshape(nq, count) / (nq * count)
    rows[5, count - 3:] = -1  # padding
    dist[5, count - 3:] = np.inf
    qrels = []
    for q in range(nq - 1):  # the last query is not judged at all: it must not enter the average
        for d in rng.choice(n_docs, 25, replace=False):
            qrels.append((q, int(d), int(rng.integers(0, 3))))
    qrels = [(q, d, g) for q, d, g in qrels if q != 2 or g == 0]  # q2: judged, nothing relevant
    # q3: relevant documents exist, none is retrieved
    qrels = [(q, d, g) for q, d, g in qrels if q != 3 or d not in rows[3]] + [(3, int(np.setdiff1d(
        np.arange(n_docs), rows[3])[0]), 2)]
    # q0: a relevant and a non-relevant document tie at the top; trec_eval puts the larger id first
    top = [doc_ids.index("doc1"), doc_ids.index("doc0")]
    rows[0] = np.concatenate([top, np.setdiff1d(rng.permutation(n_docs), top, assume_unique=True)])[:count]
    dist[0, :2] = -1.0
    qrels = [(q, d, g) for q, d, g in qrels if not (q == 0 and d in rows[0, :2])]
    qrels += [(0, int(rows[0, 1]), 1), (0, int(rows[0, 0]), 0)]  # doc0 relevant, doc1 not
    ds = Dataset(name="t", path=Path("t.hdf5"), distance="euclidean", train=np.zeros((n_docs, 2), np.float32),
                 test=np.zeros((nq, 2), np.float32), neighbors=np.zeros((nq, 100), np.int32),
                 distances=np.zeros((nq, 100), np.float32), doc_ids=doc_ids, qrels=np.array(qrels))
    return ds, make_result(rows, dist, count=count)


def ir_inputs(ds: Dataset, r: Result):
    import ir_measures

    qrels = [ir_measures.Qrel(str(q), ds.doc_ids[d], int(g)) for q, d, g in ds.qrels]
    run = [ir_measures.ScoredDoc(str(q), ds.doc_ids[d], -float(r.distances[q, j]))
           for q in range(len(r.neighbors)) for j, d in enumerate(r.neighbors[q]) if d >= 0]
    return qrels, run


def test_task_metrics_equal_ir_measures_with_ties():
    import ir_measures
    from ir_measures import RR, R, nDCG

    ds, r = task_case(count=100)
    qrels, run = ir_inputs(ds, r)
    expected = ir_measures.calc_aggregate([nDCG @ 10, R @ 10, R @ 100], qrels, run)
    values = evaluate(ds, r)
    assert values["ndcg@10"] == pytest.approx(expected[nDCG @ 10], abs=1e-4)
    assert values["recall@10"] == pytest.approx(expected[R @ 10], abs=1e-4)
    assert values["recall@100"] == pytest.approx(expected[R @ 100], abs=1e-4)
    assert 0 < values["ndcg@10"] < 1

    # MRR@10 = trec_eval's recip_rank on the 10-deep run (ir_measures' default RR@10 is MS MARCO's, ties ascending).
    ds10, r10 = task_case(count=10)
    qrels, run = ir_inputs(ds10, r10)
    rr = ir_measures.pytrec_eval.calc_aggregate([RR], qrels, run)[RR]
    assert get_metric("mrr@10")(ds10, r10) == pytest.approx(rr, abs=1e-4)
    scoring = metrics.Scoring(ds10, r10)
    assert scoring.per_query("mrr", 10)[0] == 0.5  # doc1 (not relevant) outranks doc0 at the tied top score
    assert scoring.per_query("recall", 10)[2] == 0 and scoring.per_query("ndcg", 10)[3] == 0
    assert get_metric("recall@100")(ds10, r10) is None  # cutoff deeper than the run


def test_mrr_equals_default_ir_measures_without_ties():
    import ir_measures
    from ir_measures import RR

    ds, r = task_case(count=100, ties=False)
    r.distances[0, :2] = [-1.0, -0.5]  # untie the planted pair too
    qrels, run = ir_inputs(ds, r)
    assert get_metric("mrr@10")(ds, r) == pytest.approx(ir_measures.calc_aggregate([RR @ 10], qrels, run)[RR @ 10],
                                                         abs=1e-4)


def test_doc_id_fallback_is_row_string():
    """Without doc ids, row 10 ("10") sorts below row 9 ("9") as a string, so 9 wins the tie."""
    ds = make_dataset([[0.0] * 4], n_docs=20, qrels=[(0, 9, 1), (0, 10, 0)])
    r = make_result([[10, 9]], [[0.5, 0.5]], count=10)
    assert get_metric("mrr@10")(ds, r) == 1.0
    assert metrics.Scoring(ds, r).ranked_grades[0].tolist() == [1, 0]
    assert get_metric("mrr@10")(ds, make_result([[10, 9]], [[0.5, 0.5]])) is None  # count 2 < cutoff 10


# --- summary ------------------------------------------------------------------------------------------------------


def test_summarize_picks_fastest_point_reaching_each_level():
    def point(algorithm, name, recall, qps):
        return Point("d", algorithm, name, f'{{"args": ["{name}"]}}', 10, False, {"k-nn": recall, "qps": qps})

    points = [point("hnsw", "a", 0.92, 1000.0), point("hnsw", "b", 0.96, 500.0), point("hnsw", "c", 0.995, 100.0),
              point("hnsw", "d", 0.97, 400.0), point("hnsw", "e", 0.90, 900.0),
              point("ivf", "f", 0.85, 5000.0), point("bm25", "g", None, 9000.0)]
    rows = summarize(points)
    hnsw = {row["level"]: row for row in rows if row["algorithm"] == "hnsw"}
    assert (hnsw[0.9]["name"], hnsw[0.9]["qps"], hnsw[0.9]["k-nn"]) == ("a", 1000.0, 0.92)
    assert (hnsw[0.95]["name"], hnsw[0.95]["qps"]) == ("b", 500.0)
    assert (hnsw[0.99]["name"], hnsw[0.99]["parameters"]) == ("c", '{"args": ["c"]}')
    ivf = [row for row in rows if row["algorithm"] == "ivf"]
    assert len(ivf) == 3 and all(row["qps"] is None and row["name"] is None for row in ivf)
    assert not [row for row in rows if row["algorithm"] == "bm25"]  # k-nn never applies to a text index


def test_summary_end_to_end():
    ds = make_dataset(TRUE)
    exact = make_result([[0, 1]] * 4, [row[:2] for row in TRUE], best=0.01, name="exact")
    rough = make_result(RUN_IDS, RUN_D, best=0.001, name="rough")
    rows = summary([exact, rough], ds, levels=(0.5, 0.99))
    assert [(row["level"], row["name"]) for row in rows] == [(0.5, "rough"), (0.99, "exact")]
