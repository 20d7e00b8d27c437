"""Pools with distractors: ``<first>+<second>`` is the first corpus's queries and judgements over every part's
documents, ids namespaced by part so that shared ids cannot collide, and it builds and samples like any corpus."""

from __future__ import annotations

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
