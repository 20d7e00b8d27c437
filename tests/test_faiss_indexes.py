"""Targeted checks of the faiss and hnswlib plugins: the traps measured in this environment (see DESIGN.md)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see tests/test_index_contract.py

from topobench.core.distances import exact_knn  # noqa: E402
from topobench.core.registry import build_registry  # noqa: E402
from topobench.datasets.store import make_blobs  # noqa: E402

faiss = pytest.importorskip("faiss")

REGISTRY = build_registry()


def index_class(name: str) -> type:
    return REGISTRY.get("indexes", name).cls


def faiss_common():
    """The shared helper module the faiss plugins import (topobench/backends/faiss_index.py)."""
    from topobench.backends import faiss_index

    assert index_class("ivf").__mro__[1].__module__ == faiss_index.__name__
    return faiss_index


@pytest.fixture(scope="module")
def data():
    X = make_blobs(2050, 16, centers=20, seed=3)
    return X[:2000], X[2000:]


@pytest.mark.parametrize("name, args", [("ivf", (4096,)), ("ivf_pq", (4096, 4))])
def test_nlist_larger_than_the_corpus_is_clamped_with_a_warning(name, args, data, caplog):
    train, test = data
    index = index_class(name)("euclidean", *args)
    with caplog.at_level(logging.WARNING):
        index.fit(train[:300])
    assert "nlist=4096 is larger than the 300 vectors" in caplog.text
    assert index.nlist == 300 and index.ivf.nlist == 300
    index.set_query_arguments(4096)  # nprobe is clamped too
    assert index.ivf.nprobe == 300
    assert len(index.query(test[0], 10)) == 10


def test_set_query_arguments_before_fit_is_applied_by_fit(data):
    train, _ = data
    index = index_class("ivf")("angular", 32)
    index.set_query_arguments(8)
    index.fit(train)
    assert index.ivf.nprobe == 8


def test_ivf_drops_the_minus_one_padding_in_single_mode_and_keeps_it_at_the_end_in_batch(data):
    train, test = data
    index = index_class("ivf")("euclidean", 64)
    index.fit(train)
    index.set_query_arguments(1)  # one list of ~30 vectors cannot hold 100 results
    found = [index.query(q, 100) for q in test]
    assert any(len(rows) < 100 for rows in found)
    assert all(rows.min() >= 0 and len(np.unique(rows)) == len(rows) for rows in found)
    index.batch_query(test, 100)
    batch = index.get_batch_results()
    for row, rows in zip(batch, found, strict=True):
        assert np.array_equal(row[: len(rows)], rows) and np.all(row[len(rows):] == -1)


@pytest.mark.parametrize("name, args", [("flat", ()), ("ivf", (4,)), ("hnsw", (8,)), ("hnswlib", (8,))])
def test_k_larger_than_the_corpus(name, args, data):
    train, test = data
    index = index_class(name)("angular", *args)
    index.fit(train[:5])
    index.set_query_arguments(*args)  # ivf: nprobe = nlist; hnsw: ef = M, below k
    rows = index.query(test[0], 10)
    assert sorted(rows.tolist()) == [0, 1, 2, 3, 4]
    index.batch_query(test[:2], 10)
    batch = index.get_batch_results()
    assert batch.shape == (2, 10) and np.all(batch[:, 5:] == -1) and set(batch[0, :5].tolist()) == set(range(5))


def test_faiss_hnsw_searches_with_at_least_k(data):
    """faiss alone returns fewer than k results when efSearch < k; the plugin searches with max(efSearch, k)."""
    train, test = data
    index = index_class("hnsw")("euclidean", 8)
    index.fit(train)
    index.set_query_arguments(1)
    assert all(len(index.query(q, 50)) == 50 for q in test[:10])


def test_builds_use_every_core_after_set_threads_1_then_queries_get_their_count_back(data):
    """omp_set_num_threads is process-global: without a reset in fit, set_threads(1) would slow every later build."""
    train, _ = data
    all_threads = faiss_common().build_threads()
    if all_threads < 2:
        pytest.skip("one OpenMP thread only (OMP_NUM_THREADS=1 or one core)")
    seen = []

    class Probe(index_class("flat")):
        def build(self, X):
            seen.append(faiss.omp_get_max_threads())
            return super().build(X)

    first = Probe("euclidean")
    first.fit(train)
    first.set_threads(1)
    assert faiss.omp_get_max_threads() == 1
    second = Probe("euclidean")
    second.fit(train)
    assert faiss.omp_get_max_threads() == all_threads  # nobody asked the new index for fewer threads
    first.fit(train)  # a refit builds with every core, then restores the query setting
    assert faiss.omp_get_max_threads() == 1
    assert seen == [all_threads] * 3
    first.set_threads(all_threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_ivf_counters_are_exact_in_single_and_batch_mode(threads, data):
    train, test = data
    index = index_class("ivf")("euclidean", 16)
    index.fit(train)
    index.set_query_arguments(16)  # every list: each query scans all 2000 vectors and 16 centroids
    index.set_threads(threads)
    index.reset_stats()
    for q in test:
        index.query(q, 10)
    assert index.stats() == {"distcomps": len(test) * (2000 + 16), "lists_probed": len(test) * 16}
    index.reset_stats()
    index.batch_query(test, 10)
    assert index.stats() == {"distcomps": len(test) * (2000 + 16), "lists_probed": len(test) * 16}


def test_flat_counts_every_vector_and_hnsw_counts_fewer(data):
    train, test = data
    flat, hnsw = index_class("flat")("angular"), index_class("hnsw")("angular", 16)
    for index in (flat, hnsw):
        index.fit(train)
        index.set_threads(2)
        index.reset_stats()
        index.batch_query(test, 10)
    assert flat.stats() == {"distcomps": 2000 * len(test)}
    assert 0 < hnsw.stats()["distcomps"] < 2000 * len(test) and hnsw.stats()["hops"] > 0


@pytest.mark.parametrize("name, args", [("flat", ()), ("lsh", (64,)), ("pq", (4,)), ("ivf", (8,)), ("ivf_pq", (8, 4)),
                                        ("hnsw", (8,))])
def test_angular_results_do_not_depend_on_the_query_scale(name, args, data):
    """Queries are not normalised on the timed path (inner product) or are normalised by the plugin (PQ codes)."""
    train, test = data
    index = index_class(name)("angular", *args)
    index.fit(train)
    for q in test[:10]:
        assert np.array_equal(index.query(q, 10), index.query(q * 37.0, 10))


def test_inner_product_flat_is_exact(data):
    train, test = data
    index = index_class("flat")("ip")
    index.fit(train)
    truth, _ = exact_knn(train, test, "ip", 10, progress=False)
    assert all(np.array_equal(index.query(q, 10), t) for q, t in zip(test, truth, strict=True))


@pytest.mark.parametrize("name, args", [("pq", (5,)), ("pq", (24,)), ("ivf_pq", (16, 6))])
def test_pq_pads_a_dimension_that_m_does_not_divide(name, args, data):
    """faiss needs d % m == 0; zero padding keeps every distance, so m means m codes per vector for any dimension."""
    train, test = data
    index = index_class(name)("euclidean", *args)
    index.fit(train)
    index.set_query_arguments(*args[:1])
    truth, _ = exact_knn(train, test, "euclidean", 10, progress=False)
    found = [index.query(q, 10) for q in test]
    assert np.mean([len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)]) > 3


def test_pq_clamps_bits_on_a_tiny_corpus(data, caplog):
    train, test = data
    index = index_class("pq")("euclidean", 4)
    with caplog.at_level(logging.WARNING):
        index.fit(train[:50])
    assert "using nbits=5" in caplog.text
    assert len(index.query(test[0], 10)) == 10


def test_hnswlib_index_size_is_the_size_of_the_saved_file(data, tmp_path):
    train, _ = data
    index = index_class("hnswlib")("angular", 8, 50)
    index.fit(train)
    index.index.save_index(str(tmp_path / "index.bin"))
    assert index.index_size() == (tmp_path / "index.bin").stat().st_size


def test_registering_the_plugins_imports_neither_faiss_nor_hnswlib():
    code = ("import sys; from topobench.core.registry import build_registry; build_registry(); "
            "print(sorted(m for m in ('faiss', 'hnswlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_more_subquantizers_than_dimensions_are_lowered_to_the_dimension(data, caplog):
    """m > d would leave sub-quantizers coding only zero padding (minutes of degenerate k-means): m becomes d."""
    train, test = data
    index = index_class("pq")("euclidean", 4 * train.shape[1])
    with caplog.at_level(logging.WARNING):
        index.fit(train)
    assert f"using m={train.shape[1]}" in caplog.text
    assert len(index.query(test[0], 10)) == 10
