"""The index contract: every registered, available vector index passes the same checks on small blob data.

Parametrised over the registry (built-in plugins, the reference plugin in tests/plugins, and whatever
``TOPOBENCH_PLUGIN_DIRS`` or an installed entry point adds), so a new index plugin is tested as soon as it registers,
with the settings it declares itself (``contract = ContractSettings(build args, generous query args, recall floor)``,
:class:`topobench.core.indexes.ContractSettings`); an index that declares none is built with no arguments and must
reach recall 0.99. On an out-of-tree plugin: ``TOPOBENCH_PLUGIN_DIRS=DIR pytest tests/test_index_contract.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# OpenMP threads that spin while waiting make faiss builds ~10x slower when the cores are shared (measured here under a
# load of 4 on 2 cores); sleeping instead keeps this file fast. Only effective if faiss is not yet loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from topobench.core.distances import distances_to, exact_knn  # noqa: E402
from topobench.core.registry import EXTRA_DIRS_ENV, build_registry  # noqa: E402
from topobench.datasets.store import make_blobs  # noqa: E402

TOY_DIR = Path(__file__).resolve().parent / "plugins"
K = 10
N_TRAIN, N_TEST, DIM = 2000, 100, 16
METRICS = ("angular", "euclidean")


# Libraries whose indexes can be serialized, so their size must be known.
SIZED_LIBRARIES = {"faiss", "hnswlib"}


def _registry():
    listed = {Path(p).resolve() for p in os.environ.get(EXTRA_DIRS_ENV, "").split(os.pathsep) if p}
    return build_registry(extra_dirs=[] if TOY_DIR in listed else [TOY_DIR])


REGISTRY = _registry()
INDEXES = [
    name for name in REGISTRY.names("indexes")
    if not REGISTRY.get("indexes", name).cls.needs_texts and REGISTRY.get("indexes", name).unavailable_reason() is None
]


@pytest.fixture(scope="module")
def blobs():
    X = make_blobs(N_TRAIN + N_TEST, DIM, centers=20, seed=0)
    return X[:N_TRAIN], X[N_TRAIN:]


@pytest.fixture(scope="module")
def truth(blobs):
    train, test = blobs
    return {metric: exact_knn(train, test, metric, K, progress=False)[0] for metric in METRICS}


def _recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))


def test_reference_and_builtin_indexes_are_registered():
    assert {"toy", "flat", "lsh", "pq", "ivf", "ivf_pq", "hnsw", "hnswlib"} <= set(REGISTRY.names("indexes"))
    assert REGISTRY.get("indexes", "toy").plugin == "plugins.toy"


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("name", INDEXES)
def test_index_contract(name, metric, blobs, truth):
    cls = REGISTRY.get("indexes", name).cls
    if metric not in cls.metrics:
        pytest.skip(f"{name} does not support {metric}")
    setting = cls.contract
    train, test = blobs
    index = cls(metric, *setting.args)
    index.fit(train)
    index.set_query_arguments(*setting.query_args)

    # Single-query mode, as the runner drives it: one thread, counters reset right before the loop.
    index.set_threads(1)
    index.reset_stats()
    assert all(value == 0 for value in index.stats().values()), "reset_stats must zero every counter"
    found = [index.query(q, K) for q in test]
    single_stats = index.stats()
    for rows in found:
        assert rows.ndim == 1 and np.issubdtype(rows.dtype, np.integer)
        assert 0 < len(rows) <= K and len(np.unique(rows)) == len(rows)
        assert rows.min() >= 0 and rows.max() < N_TRAIN
    dist = [distances_to(metric, q, train, rows) for q, rows in zip(test, found, strict=True)]
    if setting.exact_order:
        for d in dist:
            assert np.all(np.diff(d) >= -1e-5 * (1.0 + np.abs(d[:-1]))), f"{name} results not sorted by distance"
    else:  # ranked by an approximate distance: the head must still beat the tail on average
        assert np.mean([d[0] for d in dist]) <= np.mean([d[-1] for d in dist])
    recall = _recall(found, truth[metric])
    assert recall >= setting.floor, f"{name}/{metric}: recall@{K} {recall:.3f} < floor {setting.floor}"

    # Counters: only declared names, nonnegative, and every declared counter populated by the queries.
    assert set(single_stats) <= set(cls.stats_names)
    assert all(np.isfinite(v) and v >= 0 for v in single_stats.values())
    for counter in cls.stats_names:
        assert single_stats.get(counter, 0) > 0, f"{name} declares {counter!r} but did not count it"

    # The searcher the runner times gives query's answers (as a vector or a 1-row matrix, maybe -1 padded at the end)
    # and counts as query does.
    if not cls.needs_texts:
        search = index.searcher(K)
        index.reset_stats()
        for q, rows in zip(test, found, strict=True):
            ids = np.asarray(search(q)).ravel()
            assert np.array_equal(ids[ids >= 0], rows) and np.all(ids[len(rows):] == -1)
        assert index.stats() == pytest.approx(single_stats), f"{name}: searcher and query count differently"

    # set_threads(1) must not change answers; batch mode uses every core and must agree with single mode.
    index.set_threads(os.cpu_count() or 1)
    index.reset_stats()
    index.batch_query(test, K)
    batch = index.get_batch_results()
    batch_stats = index.stats()
    assert batch.shape == (N_TEST, K) and np.issubdtype(batch.dtype, np.integer)
    padding = (batch < 0).astype(np.int8)
    assert np.all(batch >= -1) and np.all(np.diff(padding, axis=1) >= 0), "-1 may only pad the end of a row"
    rows_batch = [row[row >= 0] for row in batch]
    agree = np.mean([set(a.tolist()) == set(b.tolist()) for a, b in zip(rows_batch, found, strict=True)])
    assert agree >= 0.95, f"{name}: batch and single results agree on only {agree:.0%} of queries"
    for counter in cls.stats_names:
        assert batch_stats[counter] == pytest.approx(single_stats[counter], rel=0.05), f"{name} {counter} in batch"

    size = index.index_size()
    if set(cls.requires) & SIZED_LIBRARIES:
        assert size is not None
    assert size is None or size > 0
    index.done()


@pytest.mark.parametrize("name", INDEXES)
def test_index_on_a_corpus_smaller_than_k(name, blobs):
    """k > n (and build parameters larger than the corpus) must give every row at most once, never -1 or a crash."""
    cls = REGISTRY.get("indexes", name).cls
    setting = cls.contract
    train, test = blobs
    n = 40
    index = cls(cls.metrics[0], *setting.args)
    index.fit(train[:n])
    index.set_query_arguments(*setting.query_args)
    rows = index.query(test[0], 2 * n)
    assert 0 < len(rows) <= n and len(np.unique(rows)) == len(rows) and rows.min() >= 0 and rows.max() < n
    # The searcher the runner times: -1 may pad the end, never stand for a row, and no row may repeat.
    ids = np.asarray(index.searcher(2 * n)(test[0])).ravel()
    real = ids[ids >= 0]
    assert np.all(ids[len(real):] == -1) and np.all(ids >= -1), "-1 may only pad the end of the searcher's answer"
    assert 0 < len(real) <= n and len(np.unique(real)) == len(real) and real.max() < n
    index.batch_query(test[:3], 2 * n)
    batch = index.get_batch_results()
    assert batch.shape == (3, 2 * n) and np.all(batch[:, n:] == -1)
