"""Graded judgements (NFCorpus's qrels hold grades 1 and 2) enter nDCG@10 with their grade, as trec_eval and
ir_measures compute it: a corpus with grades 0, 1 and 2 is built, benchmarked, exported as a TREC run, and our
nDCG@10 equals ir_measures' on that run."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from topobench.datasets.store import load_dataset
from topobench.metrics.registry import evaluate
from topobench.report.trec import export_trec
from topobench.runs import results as res
from topobench.runs.runner import RunConfig, run_sweep

WORDS = [f"w{i}" for i in range(60)]


def _graded_zip(folder, name: str = "graded") -> None:
    """A BEIR zip whose test queries each judge three documents: grade 2, grade 1 and grade 0 (judged irrelevant)."""
    rng = np.random.default_rng(5)
    docs = {f"d{i}": " ".join(rng.choice(WORDS, size=12)) for i in range(80)}
    queries, lines = {}, ["query-id\tcorpus-id\tscore"]
    for q in range(25):
        picked = rng.choice(80, size=3, replace=False)
        queries[f"q{q}"] = " ".join(docs[f"d{picked[0]}"].split()[:4] + docs[f"d{picked[1]}"].split()[:2])
        lines += [f"q{q}\td{picked[0]}\t2", f"q{q}\td{picked[1]}\t1", f"q{q}\td{picked[2]}\t0"]
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / f"{name}.zip", "w") as z:
        z.writestr(f"{name}/corpus.jsonl", "".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n"
                                                   for d, t in docs.items()))
        z.writestr(f"{name}/queries.jsonl", "".join(json.dumps({"_id": q, "text": t}) + "\n"
                                                    for q, t in queries.items()))
        z.writestr(f"{name}/qrels/test.tsv", "\n".join(lines) + "\n")


def test_graded_ndcg_equals_ir_measures(workspace, tmp_path, monkeypatch):
    ir_measures = pytest.importorskip("ir_measures")
    _graded_zip(tmp_path / "mirror")
    monkeypatch.setenv("TOPOBENCH_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("TOPOBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "algos.yaml").write_text("float:\n  any:\n    toy:\n      args: []\n")
    report = run_sweep(RunConfig(dataset="graded-toy", count=10, runs=1, definitions_file=tmp_path / "algos.yaml"))
    assert not report.failed
    dataset = load_dataset("graded-toy", build=False)
    assert sorted(set(dataset.qrels[:, 2].tolist())) == [0, 1, 2]  # the grades are kept as judged
    result = next(res.iter_results("graded-toy", 10))
    ours = evaluate(dataset, result, ["ndcg@10"])["ndcg@10"]

    run_file = tmp_path / "toy.run"
    export_trec(run_file, point=result.path)
    run = {}
    for line in run_file.read_text().splitlines():
        qid, _, doc, _, score, _ = line.split()
        run.setdefault(qid, {})[doc] = float(score)
    qrels = {}
    for q, d, g in dataset.qrels:
        qrels.setdefault(dataset.query_ids[q], {})[dataset.doc_ids[d]] = int(g)
    theirs = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, run)[ir_measures.nDCG @ 10]
    assert ours == pytest.approx(theirs, abs=1e-9)
    binary = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], {q: {d: min(g, 1) for d, g in j.items()}
                                                                    for q, j in qrels.items()}, run)
    assert abs(binary[ir_measures.nDCG @ 10] - ours) > 1e-3  # the grades change the value: they are used
