"""Hard-negative miners: the rank window, ``in_batch``, ``bm25`` (Pyserini) on a dozen handwritten documents, ``toy``.

The ``bm25`` tests share one JVM and one Pyserini import (about 15-25 s, once for this module); each ``mine`` call then
indexes the dozen documents in well under a second.
"""

from __future__ import annotations

import logging

import pytest
from helpers import TESTS

from topobench.core.miners import Miner, MiningData, rank_window
from topobench.core.registry import build_registry, get_registry

DOCS = {
    "zeb": "Zebrafish embryos regenerate heart tissue after cardiac injury.",
    "zeb2": "Zebrafish larvae are transparent, which helps imaging of organ development.",
    "mouse": "The mouse model shows altered insulin signalling in adipose tissue.",
    "asp-trial": "A randomized trial of aspirin for primary prevention of cardiovascular events.",
    "asp-cox": "Aspirin irreversibly inhibits cyclooxygenase in platelets.",
    "asp-bleed": "Daily aspirin raises the risk of gastrointestinal bleeding in older adults.",
    "asp-child": "Aspirin is avoided in children because of Reye syndrome.",
    "telo": "Telomerase activity in cancer cells extends their replicative lifespan.",
    "telo2": "Telomere shortening limits the lifespan of somatic cells.",
    "micro": "Microglia prune synapses during postnatal brain development.",
    "vitd": "Vitamin D supplementation did not reduce fracture rates in a large cohort.",
    "statin": "Statins lower LDL cholesterol and reduce cardiovascular mortality.",
}
QUERIES = {
    "q-zeb": "zebrafish embryos imaging tissue",  # zeb2 is the one non-positive with "zebrafish" (and "imaging")
    "q-asp": "Does aspirin prevent cardiovascular events?",  # its three positives outrank the two other matches
    "q-telo": "telomerase cancer lifespan",
    "q-none": "quantum chromodynamics lattice gauge",  # no word in the corpus
    "q-only-pos": "microglia synapses",  # matches its positive only
}
POSITIVES = {
    "q-zeb": {"zeb"},
    "q-asp": {"asp-trial", "asp-cox", "statin"},
    "q-telo": {"telo"},
    "q-none": {"vitd"},
    "q-only-pos": {"micro"},
}


def _data(positives: dict[str, set[str]] | None = None) -> MiningData:
    return MiningData(
        doc_ids=list(DOCS),
        doc_texts=list(DOCS.values()),
        query_ids=list(QUERIES),
        query_texts=list(QUERIES.values()),
        positives=POSITIVES if positives is None else positives,
    )


# --- rank_window -----------------------------------------------------------------------------------------------------


def test_rank_window_removes_positives_before_skipping():
    ranked = ["p1", "a", "p2", "b", "c", "d"]
    assert rank_window(ranked, {"p1", "p2"}, skip=0, depth=10) == ["a", "b", "c", "d"]
    assert rank_window(ranked, {"p1", "p2"}, skip=1, depth=10) == ["b", "c", "d"]  # skips "a", not "p1"
    assert rank_window(ranked, {"p1", "p2"}, skip=1, depth=2) == ["b", "c"]


def test_rank_window_skip_depth_and_edges():
    ranked = ["a", "b", "c", "d", "e"]
    assert rank_window(ranked, set(), skip=2, depth=2) == ["c", "d"]
    assert rank_window(ranked, set(), skip=5, depth=3) == []
    assert rank_window(ranked, set(), skip=3, depth=10) == ["d", "e"]
    assert rank_window(iter(ranked), {"a"}, skip=0, depth=2) == ["b", "c"]  # any iterable, consumed lazily


def test_rank_window_depth_zero_is_empty():
    assert rank_window(["a", "b"], set(), skip=0, depth=0) == []
    assert rank_window(["a", "b"], set(), skip=1, depth=0) == []


def test_rank_window_drops_duplicates():
    assert rank_window(["a", "a", "b", "a", "c"], set(), skip=1, depth=5) == ["b", "c"]
    assert rank_window(["p", "p", "a", "a"], {"p"}, skip=0, depth=5) == ["a"]


@pytest.mark.parametrize(("skip", "depth"), [(-1, 3), (0, -1)])
def test_rank_window_refuses_negative_args(skip, depth):
    with pytest.raises(ValueError, match="must not be negative"):
        rank_window(["a"], set(), skip=skip, depth=depth)


def test_check_pools_raises_on_a_positive():
    data = _data()
    Miner.check_pools({"q-zeb": ["zeb2", "mouse"]}, data)
    with pytest.raises(RuntimeError, match=r"positives \['zeb'\] as negatives of query 'q-zeb'"):
        Miner.check_pools({"q-zeb": ["zeb2", "zeb"]}, data)


def test_mining_data_checks_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        MiningData(doc_ids=["a"], doc_texts=[], query_ids=[], query_texts=[], positives={})


# --- in_batch --------------------------------------------------------------------------------------------------------


def test_in_batch_mines_nothing():
    miner = get_registry().get("miners", "in_batch").cls()
    assert miner.unavailable_reason() is None
    assert miner.mine(_data()) == {}


# --- bm25 ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bm25_cls() -> type:
    cls = get_registry().get("miners", "bm25").cls
    reason = cls.unavailable_reason()
    if reason is not None:
        pytest.skip(f"bm25 miner unavailable: {reason}")
    return cls


@pytest.fixture(scope="module")
def full_pools(bm25_cls) -> dict[str, list[str]]:
    """Pools deep enough to hold every non-positive match (depth 20 > 12 documents)."""
    return bm25_cls(depth=20).mine(_data())


def test_bm25_never_returns_positives(bm25_cls, full_pools):
    data = _data()
    for pools in (full_pools, bm25_cls(depth=2, skip=1).mine(data)):
        Miner.check_pools(pools, data)
        for qid, pool in pools.items():
            assert not POSITIVES[qid] & set(pool), qid
            assert len(pool) == len(set(pool)) and set(pool) <= set(DOCS), qid


def test_bm25_pools_follow_bm25_rank_order(full_pools):
    assert full_pools["q-zeb"] == ["zeb2", "mouse"]  # "zebrafish" is in one non-positive doc: it ranks first
    assert full_pools["q-telo"][0] == "telo2"  # "lifespan" is shared by telo2 only
    assert set(full_pools["q-asp"]) == {"asp-bleed", "asp-child"}  # the other aspirin docs
    assert "q-none" not in full_pools  # no hit at all: no pool, in-batch negatives only
    assert "q-only-pos" not in full_pools  # only its positive matches


def test_bm25_pools_match_the_index_ranking(bm25_cls, full_pools):
    """The pool is exactly the bm25 index's own ranking (same k1, b) with the positives removed."""
    index = get_registry().get("indexes", "bm25").cls("angular", k1=0.9, b=0.4)
    index.fit_texts(list(DOCS.values()))
    try:
        rows, _ = index.batch_query_texts(list(QUERIES.values()), len(DOCS))
    finally:
        index.done()
    doc_ids = list(DOCS)
    for qid, hits in zip(QUERIES, rows, strict=True):
        expected = [doc_ids[r] for r in hits.tolist() if r >= 0 and doc_ids[r] not in POSITIVES[qid]]
        assert full_pools.get(qid, []) == expected, qid


def test_bm25_skip_and_depth_cut_the_ranking(bm25_cls, full_pools):
    data = _data()
    assert bm25_cls(depth=20, skip=1).mine(data) == {q: p[1:] for q, p in full_pools.items() if p[1:]}
    shallow = bm25_cls(depth=2).mine(data)
    assert shallow == {q: p[:2] for q, p in full_pools.items()}
    assert all(len(p) <= 2 for p in shallow.values())
    assert bm25_cls(depth=2, skip=1).mine(data) == {q: p[1:3] for q, p in full_pools.items() if p[1:3]}


def test_bm25_fetches_past_the_positives(bm25_cls, full_pools):
    """q-asp's three positives are its top three hits: a pool of ``depth`` needs ``depth + skip + 3`` hits."""
    assert len(full_pools["q-asp"]) == 2
    for depth, skip in [(1, 0), (2, 0), (1, 1)]:
        expected = full_pools["q-asp"][skip : skip + depth]
        assert bm25_cls(depth=depth, skip=skip).mine(_data())["q-asp"] == expected, (depth, skip)
    assert bm25_cls(depth=0).mine(_data()) == {}


def test_bm25_logs_pool_counts(bm25_cls, caplog):
    with caplog.at_level(logging.INFO):
        bm25_cls(depth=3).mine(_data())
    assert any("3 of 5 queries got a pool" in r.getMessage() for r in caplog.records), caplog.text


def test_bm25_refuses_negative_args():
    cls = get_registry().get("miners", "bm25").cls
    with pytest.raises(ValueError, match="must not be negative"):
        cls(depth=-1)
    with pytest.raises(ValueError, match="must not be negative"):
        cls(skip=-2)


def test_bm25_unavailable_reason_delegates_to_the_index(monkeypatch):
    miner_cls = get_registry().get("miners", "bm25").cls
    index_cls = get_registry().get("indexes", "bm25").cls
    monkeypatch.setattr(index_cls, "unavailable_reason", classmethod(lambda cls: "pyserini is not installed; x"))
    reason = miner_cls.unavailable_reason()
    assert reason is not None and "pyserini is not installed" in reason and "'bm25' index" in reason


# --- toy (the reference plugin) --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_cls() -> type:
    return build_registry(extra_dirs=[TESTS / "plugins"]).get("miners", "toy").cls


def test_toy_never_draws_positives_and_bounds_depth(toy_cls):
    data = _data()
    pools = toy_cls(depth=5).mine(data)
    assert set(pools) == set(QUERIES)
    Miner.check_pools(pools, data)
    for qid, pool in pools.items():
        assert len(pool) == 5 and len(set(pool)) == 5 and set(pool) <= set(DOCS) - POSITIVES[qid], qid
    everything = toy_cls(depth=100).mine(data)
    assert all(set(p) == set(DOCS) - POSITIVES[q] for q, p in everything.items())  # never more than exists


def test_toy_is_reproducible_per_query(toy_cls):
    data = _data()
    first = toy_cls(depth=4, seed=3).mine(data)
    assert toy_cls(depth=4, seed=3).mine(data) == first
    reordered = MiningData(data.doc_ids, data.doc_texts, data.query_ids[::-1], data.query_texts[::-1], POSITIVES)
    assert toy_cls(depth=4, seed=3).mine(reordered) == first  # per query, not per call order
    assert toy_cls(depth=4, seed=4).mine(data) != first
