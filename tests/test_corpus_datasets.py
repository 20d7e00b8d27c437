"""Corpus datasets end to end on real data: SciFact encoded by the real MiniLM, qrels, texts, task metrics."""

from __future__ import annotations

import os
from pathlib import Path

import ir_measures
import numpy as np
import pytest
from ir_measures import RR, R, nDCG

from topobench.core.errors import DatasetError
from topobench.core.registry import get_registry
from topobench.corpus.corpora import load_corpus
from topobench.datasets.store import load_dataset, write_dataset
from topobench.datasets.texts import dataset_texts
from topobench.encoding.corpus_dataset import encode_corpus, make_encoder, split_name, subset
from topobench.report.export import load_points
from topobench.runs.results import iter_results
from topobench.runs.runner import RunConfig, run_sweep

MIRROR = Path(os.environ.get("TOPOBENCH_MIRROR", Path(__file__).resolve().parents[2] / "shared" / "mirror"))
needs_scifact = pytest.mark.skipif(not (MIRROR / "scifact.zip").exists(), reason=f"no scifact.zip in {MIRROR}")
_MINILM_MISSING = get_registry().get("encoders", "minilm").unavailable_reason()
needs_minilm = pytest.mark.skipif(_MINILM_MISSING is not None, reason=f"minilm unavailable: {_MINILM_MISSING}")
FLAT_ONLY = "float:\n  any:\n    flat:\n      args: []\n"


def test_dataset_names_split_into_corpus_encoder_variant():
    assert split_name("scifact-minilm") == ("scifact", "minilm", None)
    assert split_name("scifact-minilm-topo") == ("scifact", "minilm", "topo")
    assert split_name("nq-bge-small-topo") == ("nq", "bge-small", "topo")
    assert split_name("trec-covid-bert-base") == ("trec-covid", "bert-base", None)
    assert split_name("random-xs-20-angular") is None


def test_texts_need_a_corpus_dataset(workspace, tiny_dataset):
    with pytest.raises(DatasetError, match="not built from a corpus"):
        dataset_texts(load_dataset(tiny_dataset))


@pytest.fixture(scope="module")
def scifact_small(tmp_path_factory) -> tuple[Path, dict]:
    """300 SciFact documents (the relevant ones of 40 test queries first) encoded by the real MiniLM."""
    os.environ.setdefault("TOPOBENCH_MIRROR", str(MIRROR))
    corpus = subset(load_corpus("scifact"), "test", max_docs=300, max_queries=40)
    arrays = encode_corpus(corpus, make_encoder("minilm", batch_size=32), "test")
    folder = tmp_path_factory.mktemp("datasets")
    write_dataset(folder / "scifact300-minilm.hdf5", **arrays)
    return folder, arrays


@needs_scifact
@needs_minilm
def test_scifact_subset_dataset_has_vectors_ids_qrels_and_provenance(scifact_small, monkeypatch):
    folder, _ = scifact_small
    monkeypatch.setenv("TOPOBENCH_DATASETS", str(folder))
    ds = load_dataset("scifact300-minilm", build=False)
    assert ds.train.shape == (300, 384) and ds.test.shape == (40, 384) and ds.distance == "angular"
    assert np.allclose(np.linalg.norm(ds.train, axis=1), 1.0, atol=1e-4)
    assert len(ds.doc_ids) == 300 and len(ds.query_ids) == 40 and ds.has_qrels
    assert ds.qrels[:, 0].max() < 40 and ds.qrels[:, 1].max() < 300 and (ds.qrels[:, 2] >= 1).all()
    for key in ("corpus", "split", "encoder_model_id", "encoder_revision", "encoder_pooling", "encoder_max_length",
                "version_faiss-cpu", "corpus_files"):
        assert key in ds.attrs, key
    assert ds.attrs["corpus"] == "scifact" and ds.attrs["split"] == "test"
    docs, queries = dataset_texts(ds)
    assert len(docs) == 300 and len(queries) == 40
    exact = np.argsort(-(ds.test @ ds.train.T), axis=1)[:, :100]
    assert (exact[:, 0] == ds.neighbors[:, 0]).mean() > 0.95


@needs_scifact
@needs_minilm
def test_flat_task_metrics_match_ir_measures_on_the_real_run(scifact_small, workspace, monkeypatch):
    folder, _ = scifact_small
    monkeypatch.setenv("TOPOBENCH_DATASETS", str(folder))
    (workspace / "algos.yaml").write_text(FLAT_ONLY)
    config = RunConfig(dataset="scifact300-minilm", count=100, runs=1, definitions_file=workspace / "algos.yaml")
    assert run_sweep(config, ["flat"]).ran == 1
    ds = load_dataset("scifact300-minilm", build=False)
    (point,) = load_points("scifact300-minilm", count=100)
    (result,) = iter_results("scifact300-minilm", count=100)
    qrels = [ir_measures.Qrel(ds.query_ids[q], ds.doc_ids[d], int(g)) for q, d, g in ds.qrels]
    run = [ir_measures.ScoredDoc(ds.query_ids[qi], ds.doc_ids[row], float(-dist))
           for qi in range(len(ds.query_ids)) for row, dist in zip(result.neighbors[qi], result.distances[qi],
                                                                    strict=True) if row >= 0]
    expected = ir_measures.calc_aggregate([nDCG @ 10, R @ 100, R @ 10, RR], qrels, run)
    assert point.values["ndcg@10"] == pytest.approx(expected[nDCG @ 10], abs=1e-4)
    assert point.values["recall@100"] == pytest.approx(expected[R @ 100], abs=1e-4)
    assert point.values["recall@10"] == pytest.approx(expected[R @ 10], abs=1e-4)
    assert point.values["k-nn"] == pytest.approx(1.0)
    assert point.values["ndcg@10"] > 0.7  # 300 documents: the relevant ones are easy to find


@pytest.mark.slow
@needs_scifact
@needs_minilm
def test_full_scifact_minilm_reproduces_mteb(workspace, monkeypatch):
    """Builds the whole scifact-minilm (≈6 min here) and checks the published MTEB scores of all-MiniLM-L6-v2."""
    os.environ.setdefault("TOPOBENCH_MIRROR", str(MIRROR))
    datasets = Path(os.environ.get("TOPOBENCH_SLOW_DATASETS", Path(__file__).resolve().parents[1] / "datasets"))
    monkeypatch.setenv("TOPOBENCH_DATASETS", str(datasets))
    (workspace / "algos.yaml").write_text(FLAT_ONLY)
    config = RunConfig(dataset="scifact-minilm", count=100, runs=1, definitions_file=workspace / "algos.yaml")
    run_sweep(config, ["flat"])
    (point,) = load_points("scifact-minilm", count=100)
    assert point.values["ndcg@10"] == pytest.approx(0.645, abs=0.003)
    assert point.values["mrr@10"] == pytest.approx(0.605, abs=0.005)
    assert point.values["recall@100"] == pytest.approx(0.925, abs=0.005)


def test_unknown_training_recipe_is_one_clear_error(workspace):
    from helpers import cli

    result = cli("run.py", "-q", "--dataset", "scifact-minilm-nope", "--algorithm", "hnsw", cwd=workspace)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown training recipe 'nope' in 'scifact-minilm-nope'; known recipes: adaptive, cell_assign, "
        "cell_balance, checkpoint, infonce, infonce-inbatch, topo, topo-inbatch, topo-staged, toy, zeroshot"
        # adaptive, cell_*: the index-aware loss plugins' recipes; toy: the test plugin's
    ]
    assert not (workspace / "checkpoints").exists()
