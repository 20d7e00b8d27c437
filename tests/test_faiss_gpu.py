"""faiss's GPU indexes: listed as unavailable, with the reason, where faiss has no GPU support or sees no device;
on a CUDA machine (``pytest -m gpu``) each builds and answers as its CPU counterpart."""

from __future__ import annotations

import numpy as np
import pytest

from topobench.core.distances import exact_knn
from topobench.core.registry import get_registry
from topobench.datasets.store import make_blobs

pytest.importorskip("faiss")

GPU_INDEXES = {"gpu_flat": (), "gpu_ivf": (64,), "gpu_ivf_pq": (64, 8)}


def _has_gpu() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def test_gpu_indexes_are_registered_and_ask_for_a_gpu():
    registry = get_registry()
    for name in GPU_INDEXES:
        cls = registry.get("indexes", name).cls
        assert cls.gpus == 1 and not cls.can_save
        reason = registry.unavailable_reason("indexes", name)
        if not _has_gpu():
            assert reason and ("GPU support" in reason or "CUDA device" in reason), reason
            assert "pip install" in reason or "nvidia-smi" in reason, reason


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(GPU_INDEXES))
def test_a_gpu_index_finds_the_neighbours(name):
    if not _has_gpu():
        pytest.skip("no faiss GPU support or no CUDA device here")
    X = make_blobs(5000 + 100, 32, centers=20, seed=3)
    train, test = X[:5000], X[5000:]
    truth, _ = exact_knn(train, test, "euclidean", 10, progress=False)
    index = get_registry().create("indexes", name, "euclidean", *GPU_INDEXES[name])
    index.fit(train)
    if name != "gpu_flat":
        index.set_query_arguments(64)  # every list: exhaustive
    found = np.stack([index.query(q, 10) for q in test])
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= (0.99 if name != "gpu_ivf_pq" else 0.6), recall
    index.batch_query(test, 10)
    assert index.index_size() > 0


def test_exact_search_stays_on_the_cpu_without_a_device_or_when_told(monkeypatch):
    import faiss

    from topobench.core.distances import GPU_ENV, flat_index, gpu_available

    monkeypatch.setenv(GPU_ENV, "0")
    assert not gpu_available(faiss)
    assert isinstance(flat_index(8, inner_product=True), faiss.IndexFlatIP)
    assert isinstance(flat_index(8, inner_product=False), faiss.IndexFlatL2)
    monkeypatch.delenv(GPU_ENV)
    assert gpu_available(faiss) == _has_gpu()


@pytest.mark.gpu
@pytest.mark.parametrize("metric", ["angular", "euclidean", "ip"])
def test_gpu_ground_truth_equals_the_cpu_one(metric, monkeypatch):
    if not _has_gpu():
        pytest.skip("no faiss GPU support or no CUDA device here")
    from topobench.core.distances import GPU_ENV

    X = make_blobs(4000 + 200, 32, centers=20, seed=5)
    gpu_rows, gpu_dist = exact_knn(X[:4000], X[4000:], metric, k=50, progress=False)
    monkeypatch.setenv(GPU_ENV, "0")
    cpu_rows, cpu_dist = exact_knn(X[:4000], X[4000:], metric, k=50, progress=False)
    np.testing.assert_allclose(gpu_dist, cpu_dist, rtol=1e-4, atol=1e-4)
    assert (gpu_rows == cpu_rows).mean() > 0.999  # ties within float rounding may swap
