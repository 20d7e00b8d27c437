"""Pools with distractors: ``<first>+<second>`` is the first corpus's queries and judgements over every part's
documents, ids namespaced by part so that shared ids cannot collide, and it builds and samples like any corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest
from training_fixtures import write_beir_zip

from topobench.core.errors import DatasetError
from topobench.corpus.corpora import load_corpus


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    # Two synthetic BEIR corpora whose document ids coincide (d0, d1, …): only namespacing keeps both.
    write_beir_zip(tmp_path / "mirror", "alpha", docs=40, queries=12, test_queries=6, seed=1)
    write_beir_zip(tmp_path / "mirror", "beta", docs=30, queries=8, test_queries=4, seed=2)
    monkeypatch.setenv("TOPOBENCH_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("TOPOBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_a_union_keeps_the_first_corpus_queries_over_every_part_documents(mirror):
    alpha, beta = load_corpus("alpha"), load_corpus("beta")
    both = load_corpus("alpha+beta")
    assert len(both.docs) == len(alpha.docs) + len(beta.docs) == 70
    assert set(alpha.docs) & set(beta.docs)  # the parts share ids …
    assert {f"alpha:{d}" for d in alpha.docs} | {f"beta:{d}" for d in beta.docs} == set(both.docs)  # … kept apart
    assert both.docs["beta:d3"] == beta.docs["d3"] and both.docs["alpha:d3"] == alpha.docs["d3"]
    assert both.queries == alpha.queries  # the queries are the first part's, every split
    for split, judged in alpha.qrels.items():
        assert both.qrels[split] == {q: {f"alpha:{d}": g for d, g in docs.items()} for q, docs in judged.items()}
    assert [p["corpus"] for p in both.provenance["parts"]] == ["alpha", "beta"]
    assert len(both.provenance["files"]) == 2 and both.provenance["queries_from"] == "alpha"
    assert load_corpus("alpha+beta").docs == both.docs  # the same union every time


def test_a_union_pools_like_any_corpus(mirror):
    pooled = load_corpus("alpha+beta-pool50")
    assert len(pooled.docs) == 50
    judged = {d for split in pooled.qrels.values() for docs in split.values() for d in docs}
    assert judged <= set(pooled.docs)  # every judged document kept, distractors drawn to fill the pool
    assert any(d.startswith("beta:") for d in pooled.docs)


@pytest.mark.parametrize(("name", "message"), [
    ("alpha+alpha", "names a part twice"),
    ("alpha++beta", "an empty part between '\\+'"),
])
def test_bad_unions_are_one_clear_error(mirror, name, message):
    with pytest.raises(DatasetError, match=message):
        load_corpus(name)


def test_a_union_dataset_builds_and_is_benchmarked(workspace, mirror, monkeypatch):
    from topobench.datasets.store import load_dataset

    dataset = load_dataset("alpha+beta-toy")
    assert len(dataset.train) == 70 and dataset.attrs["n_docs"] == 70
    rows = {int(r) for r in dataset.qrels[:, 1]}
    assert all(dataset.doc_ids[r].startswith("alpha:") for r in rows)  # judgements only on the first part


def test_a_union_dataset_is_composed_from_its_parts_datasets(workspace, mirror):
    from topobench.datasets.store import dataset_path, load_dataset
    from topobench.encoding.corpus_dataset import encode_corpus, make_encoder

    union = load_dataset("alpha+beta-toy")
    alpha, beta = load_dataset("alpha-toy", build=False), load_dataset("beta-toy", build=False)  # built as parts
    rows = {f"alpha:{d}": v for d, v in zip(alpha.doc_ids, alpha.train, strict=True)}
    rows.update({f"beta:{d}": v for d, v in zip(beta.doc_ids, beta.train, strict=True)})
    assert all(np.array_equal(v, rows[d]) for d, v in zip(union.doc_ids, union.train, strict=True))
    assert np.array_equal(union.test, alpha.test) and union.query_ids == alpha.query_ids
    scores = union.test @ union.train.T  # the toy encoder is normalised: angular neighbours are the largest products
    assert np.array_equal(union.neighbors[:, 0], scores.argmax(axis=1))
    composed = json.loads(union.attrs["composed_from"])
    assert [(c["dataset"], c["n_docs"]) for c in composed] == [("alpha-toy", 40), ("beta-toy", 30)]
    assert union.attrs["encoder_name"] == "toy" and union.attrs["corpus"] == "alpha+beta"
    from topobench.study.provenance import dataset_provenance

    assert dataset_provenance(union)["composed_from"] == composed  # a study cell says how its vectors were made
    assert "composed_from" not in dataset_provenance(alpha)
    # For an encoder whose vectors do not depend on their batch, composing is encoding the union directly.
    direct = encode_corpus(load_corpus("alpha+beta"), make_encoder("toy"), "test")
    assert np.array_equal(direct["train"], union.train) and np.array_equal(direct["neighbors"], union.neighbors)
    assert dataset_path("alpha+beta-toy").exists()


def test_parts_made_by_two_models_are_refused_and_nothing_is_written(workspace, mirror):
    import h5py

    from topobench.datasets.store import dataset_path, load_dataset

    load_dataset("beta-toy")
    with h5py.File(dataset_path("beta-toy"), "a") as f:
        f.attrs["encoder_max_length"] = "64"  # as if beta had been encoded with another token limit
    with pytest.raises(DatasetError, match="not made by one model .encoder_max_length.*delete the older one"):
        load_dataset("alpha+beta-toy")
    assert not dataset_path("alpha+beta-toy").exists()


@pytest.mark.parametrize(("name", "parts"), [
    ("scifact+nfcorpus+medquad-minilm-topo@train_corpus=scifact,weight=0.0",
     ["scifact-minilm-topo@weight=0.0", "nfcorpus-minilm-topo@train_corpus=scifact,weight=0.0",
      "medquad-minilm-topo@train_corpus=scifact,weight=0.0"]),
    ("scifact+nfcorpus-minilm", ["scifact-minilm", "nfcorpus-minilm"]),
    ("scifact+nfcorpus-minilm-zeroshot", ["scifact-minilm", "nfcorpus-minilm"]),
    ("scifact+nfcorpus-minilm-topo", ["scifact-minilm-topo@train_corpus=scifact+nfcorpus",
                                      "nfcorpus-minilm-topo@train_corpus=scifact+nfcorpus"]),
])
def test_every_part_names_the_union_model(name, parts):
    from topobench.encoding.union_dataset import part_names
    from topobench.training.variants import parse_variant

    variant = parse_variant(name)
    assert part_names(variant) == parts
    if variant.trains:  # one training configuration: one checkpoint for the union and every part
        assert {parse_variant(p).config().fingerprint() for p in parts} == {variant.config().fingerprint()}
