"""Sharded corpus encoding: a 300-document corpus encoded by a tiny random BERT in shards of 120 (the last one
smaller than the ground truth's k) gives the arrays of the one-pass encoding, and a rebuild encodes only the shard
whose part is missing. The same through a Ray cluster is in test_ray_executor.py."""

from __future__ import annotations

import numpy as np
import pytest
from training_fixtures import write_beir_zip, write_tiny_bert

from topobench.corpus.corpora import load_corpus
from topobench.encoding.corpus_dataset import encode_corpus, make_encoder, query_split
from topobench.encoding.sharded import PARTS, SHARD_DOCS_ENV, ShardPlan, merge_top_k

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("faiss")


@pytest.fixture
def corpus_and_model(tmp_path, monkeypatch):
    write_beir_zip(tmp_path / "mirror", "synthetic", docs=300, queries=48, test_queries=24)
    model = write_tiny_bert(tmp_path / "model")
    for env, folder in (("TOPOBENCH_MIRROR", "mirror"), ("TOPOBENCH_CACHE", "cache"),
                        ("TOPOBENCH_DATASETS", "datasets")):
        monkeypatch.setenv(env, str(tmp_path / folder))
    return tmp_path, str(model)


def encode(model: str, plan: ShardPlan | None):
    corpus = load_corpus("synthetic")
    encoder = make_encoder("minilm", checkpoint=model, progress=False)
    return encode_corpus(corpus, encoder, query_split(corpus), plan)


def assert_same_dataset(a: dict, b: dict) -> None:
    """Equal up to float rounding (a shard's batches pad differently from the whole corpus's)."""
    assert a["doc_ids"] == b["doc_ids"] and a["query_ids"] == b["query_ids"]
    assert np.allclose(a["train"], b["train"], atol=1e-5) and np.array_equal(a["test"], b["test"])
    assert np.array_equal(a["neighbors"], b["neighbors"])
    assert np.allclose(a["distances"], b["distances"], atol=1e-5)
    assert np.array_equal(a["qrels"], b["qrels"])


def test_shards_give_the_one_pass_arrays_and_resume_per_shard(corpus_and_model, monkeypatch):
    workspace, model = corpus_and_model
    plan = ShardPlan("synthetic-minilm", "minilm", {"checkpoint": model, "progress": False})
    whole = encode(model, plan)  # 300 documents: one shard of the default size, one pass
    assert not (workspace / "datasets" / PARTS).exists()
    monkeypatch.setenv(SHARD_DOCS_ENV, "120")
    sharded = encode(model, plan)
    assert_same_dataset(whole, sharded)
    parts = sorted((workspace / "datasets" / PARTS / "synthetic-minilm").glob("*/*.npz"))
    assert [p.name for p in parts] == ["shard-000000000-000000120.npz", "shard-000000120-000000240.npz",
                                       "shard-000000240-000000300.npz"]
    kept = {p: p.stat().st_mtime_ns for p in parts[1:]}
    parts[0].unlink()  # a build killed before its first shard was written
    assert_same_dataset(whole, encode(model, plan))
    assert parts[0].exists() and all(p.stat().st_mtime_ns == t for p, t in kept.items())


def test_merged_top_k_is_by_distance_then_row():
    first = (np.array([[0, 1, -1]]), np.array([[0.5, 0.1, np.inf]]))  # a shard with two documents
    second = (np.array([[7, 5, 6]]), np.array([[0.1, 0.3, 0.5]]))
    neighbors, distances = merge_top_k([first, second], 4, 10)
    assert neighbors.tolist() == [[1, 7, 5, 0]] and distances[0].tolist() == pytest.approx([0.1, 0.1, 0.3, 0.5])
