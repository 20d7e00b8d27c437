"""export.py --trec: a TREC run file of one result, read back by ir_measures with the same scores topobench computes.

The case (from test_metrics.task_case) has graded qrels, doc ids whose order differs from row order, many tied scores,
padding, a judged query without relevant documents and one not judged at all; a repeated row is added here.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_tiny_dataset
from test_metrics import task_case

from topobench.cli.main import export_main
from topobench.datasets.store import dataset_path, load_dataset, write_dataset
from topobench.metrics.registry import evaluate
from topobench.runs.results import Result, result_path, write_result

ir_measures = pytest.importorskip("ir_measures")

DATASET = "trec-case"


def _write_case(count: int = 100) -> tuple[list[str], Result]:
    ds, r = task_case(count=count)
    query_ids = [f"Q{n}" for n in (7, 3, 11, 5, 2, 13, 17, 1)]  # not the row order either
    r.neighbors[4, 9] = r.neighbors[4, 3]  # a row returned twice: only its first occurrence is a retrieved document
    write_dataset(dataset_path(DATASET), train=ds.train, test=ds.test, distance="euclidean", neighbors=ds.neighbors,
                  distances=ds.distances, doc_ids=ds.doc_ids, query_ids=query_ids, qrels=ds.qrels)
    r.dataset, r.build_args, r.query_args = DATASET, [16, 200], [80]
    write_result(result_path(DATASET, count, "toy", False, [16, 200], [80]), r)
    return query_ids, r


def _read_run(path) -> list[list[str]]:
    return [line.split(" ") for line in path.read_text().splitlines()]


def test_trec_run_agrees_with_ir_measures_and_keeps_the_task_metrics_order(workspace, capsys):
    query_ids, r = _write_case()
    path = result_path(DATASET, 100, "toy", False, [16, 200], [80])
    out = workspace / "run.txt"
    assert export_main(["--trec", str(out), "--point", str(path)]) == 0
    assert f"to {out}" in capsys.readouterr().out
    lines = _read_run(out)
    ds = load_dataset(DATASET, build=False)
    assert all(len(fields) == 6 and fields[1] == "Q0" and fields[5] == f"toy/{path.stem}" for fields in lines)
    # Queries in the dataset's order, ranks 1..n, no document twice, padding and the repeat left out.
    assert list(dict.fromkeys(f[0] for f in lines)) == query_ids
    for qid in query_ids:
        mine = [f for f in lines if f[0] == qid]
        assert [int(f[3]) for f in mine] == list(range(1, len(mine) + 1))
        assert len({f[2] for f in mine}) == len(mine)
        keys = [(-float(f[4]), f[2]) for f in mine]  # score descending, then doc id descending (trec_eval)
        assert all(a[0] < b[0] or (a[0] == b[0] and a[1] > b[1]) for a, b in zip(keys, keys[1:], strict=False))
    per_query = {qid: sum(f[0] == qid for f in lines) for qid in query_ids}
    assert per_query[query_ids[5]] == 97 and per_query[query_ids[4]] == 99 and per_query[query_ids[0]] == 100
    top = [f for f in lines if f[0] == query_ids[0]][:2]
    assert [f[2] for f in top] == ["doc1", "doc0"] and top[0][4] == top[1][4]  # a tie, broken as trec_eval does
    # ir_measures reads the file and agrees with topobench on the same result.
    qrels = [ir_measures.Qrel(query_ids[q], ds.doc_ids[d], int(g)) for q, d, g in ds.qrels]
    run = list(ir_measures.read_trec_run(str(out)))
    expected = ir_measures.calc_aggregate([ir_measures.nDCG @ 10, ir_measures.R @ 100], qrels, run)
    values = evaluate(ds, r, ["ndcg@10", "recall@100"])
    assert 0 < values["ndcg@10"] < 1
    assert values["ndcg@10"] == pytest.approx(expected[ir_measures.nDCG @ 10], abs=1e-6)
    assert values["recall@100"] == pytest.approx(expected[ir_measures.R @ 100], abs=1e-6)


def test_trec_result_chosen_by_dataset_algorithm_and_args(workspace, capsys):
    _write_case()
    first = workspace / "first.txt"
    assert export_main(["--trec", str(first), "--dataset", DATASET, "--algorithm", "toy"]) == 0
    other = result_path(DATASET, 100, "toy", False, [16, 200], [120])
    r = task_case(count=100)[1]
    r.dataset, r.build_args, r.query_args = DATASET, [16, 200], [120]
    write_result(other, r)
    capsys.readouterr()
    assert export_main(["--trec", str(workspace / "x.txt"), "--dataset", DATASET, "--algorithm", "toy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 toy results" in err[0] and "--query-args 80" in err[0] and "--query-args 120" in err[0]
    chosen = workspace / "chosen.txt"
    assert export_main(["--trec", str(chosen), "--dataset", DATASET, "--algorithm", "toy", "--params", "16,200",
                        "--query-args", "80", "--count", "100"]) == 0
    assert chosen.read_text() == first.read_text()
    assert export_main(["--trec", str(workspace / "y.txt"), "--dataset", DATASET, "--algorithm", "toy",
                        "--query-args", "99"]) == 2
    assert "no toy result on 'trec-case' --query-args 99" in capsys.readouterr().err


def test_trec_needs_a_corpus_dataset_and_one_result(workspace, capsys):
    write_tiny_dataset(workspace / "datasets")
    rows = np.tile(np.arange(10), (20, 1))
    path = result_path("tiny-16-euclidean", 10, "toy", False, [], [])
    write_result(path, Result(dataset="tiny-16-euclidean", algorithm="toy", name="toy", count=10, batch=False,
                              distance="euclidean", build_args=[], query_args=[], build_time=0.1,
                              index_size_bytes=None, best_search_time=1e-4, run_count=1, threads=1,
                              times=np.full(20, 1e-4), neighbors=rows, distances=np.zeros((20, 10), np.float32)))
    out = workspace / "run.txt"
    for args, needle in [
        (["--point", str(path)], "has no document and query ids"),
        ([], "--trec needs the result to export"),
        (["--point", str(path), "--algorithm", "toy"], "--point names the result itself"),
        (["--point", str(path), "-o", "x.csv"], "--trec writes one run file"),
    ]:
        assert export_main(["--trec", str(out), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not out.exists()
    assert export_main(["--dataset", "x"]) == 2
    assert "-o is required" in capsys.readouterr().err
