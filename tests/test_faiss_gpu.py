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
