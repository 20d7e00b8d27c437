"""faiss's GPU indexes: listed as unavailable, with the reason, where faiss has no GPU support or sees no device;
on a CUDA machine (``pytest -m gpu``) each builds and answers as its CPU counterpart, and a sweep through the runner
writes their results as for any index."""

from __future__ import annotations

import numpy as np
import pytest

from topobench.core.distances import exact_knn
from topobench.core.registry import get_registry
from topobench.datasets.store import make_blobs

pytest.importorskip("faiss")

GPU_INDEXES = {"gpu_flat": (), "gpu_ivf": (64,), "gpu_ivf_pq": (64, 8), "gpu_cagra": (32, 64)}
EXHAUSTIVE_QUERY = {"gpu_ivf": (64,), "gpu_ivf_pq": (64,), "gpu_cagra": (128,)}  # every list; a wide CAGRA walk


def _has_gpu(name: str = "gpu_flat") -> bool:
    import faiss

    if name == "gpu_cagra" and not hasattr(faiss, "GpuIndexCagra"):
        return False
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


def test_cagra_arguments_are_checked_before_any_gpu_work():
    cls = get_registry().get("indexes", "gpu_cagra").cls
    with pytest.raises(ValueError, match="graph_degree <= intermediate_graph_degree"):
        cls("angular", 64, 32)
    with pytest.raises(ValueError, match="build_algo must be one of nn_descent, ivf_pq"):
        cls("angular", 32, 64, "brute")
    index = cls("angular", 32, 64)
    index.set_query_arguments(256, 2)
    assert (index.itopk_size, index.search_width) == (256, 2)


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(GPU_INDEXES))
def test_a_gpu_index_finds_the_neighbours(name):
    if not _has_gpu(name):
        pytest.skip("no faiss GPU support (or no cuVS for CAGRA) or no CUDA device here")
    X = make_blobs(5000 + 100, 32, centers=20, seed=3)
    train, test = X[:5000], X[5000:]
    truth, _ = exact_knn(train, test, "euclidean", 10, progress=False)
    index = get_registry().create("indexes", name, "euclidean", *GPU_INDEXES[name])
    index.fit(train)
    if name in EXHAUSTIVE_QUERY:
        index.set_query_arguments(*EXHAUSTIVE_QUERY[name])
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


@pytest.mark.gpu
@pytest.mark.parametrize("metric", ["angular", "euclidean", "ip"])
@pytest.mark.parametrize("build_algo", ["nn_descent", "ivf_pq"])
def test_cagra_ranks_as_exact_search_for_every_metric(metric, build_algo):
    if not _has_gpu("gpu_cagra"):
        pytest.skip("no faiss with cuVS or no CUDA device here")
    X = make_blobs(8000 + 200, 48, centers=30, seed=7)
    train, test = X[:8000], X[8000:]
    truth, _ = exact_knn(train, test, metric, 100, progress=False)
    index = get_registry().create("indexes", "gpu_cagra", metric, 32, 64, build_algo)
    index.fit(train)
    recalls = {}
    for itopk in (16, 256):  # 16 < k = 100: raised to k, so 100 results still come back
        index.set_query_arguments(itopk)
        found = [index.query(q, 100) for q in test]
        assert all(len(ids) == 100 for ids in found)
        recalls[itopk] = np.mean([len(set(a) & set(b)) / 100 for a, b in zip(found, truth, strict=True)])
    assert recalls[256] >= 0.95, recalls
    index.batch_query(test, 100)
    batch = index.get_batch_results()
    assert np.mean([len(set(a) & set(b)) / 100 for a, b in zip(batch, truth, strict=True)]) >= 0.95
    assert index.index_size() == 8000 * (32 + 48) * 4


@pytest.mark.gpu
def test_a_gpu_sweep_through_the_runner_writes_results(workspace):
    if not _has_gpu("gpu_cagra"):
        pytest.skip("no faiss with cuVS or no CUDA device here")
    from helpers import write_tiny_dataset

    from topobench.runs import results as res
    from topobench.runs.runner import RunConfig, run_sweep

    write_tiny_dataset(workspace / "datasets", n=2000, n_queries=50)
    grid = workspace / "algos.yaml"
    grid.write_text("""\
float:
  any:
    gpu_flat:
      args: []
    gpu_ivf:
      args: [[16]]
      query-args: [[1, 16]]
    gpu_cagra:
      args: [[16], [32]]
      query-args: [[32, 128]]
""")
    report = run_sweep(RunConfig(dataset="tiny-16-euclidean", definitions_file=grid, runs=2))
    assert report.ran == 5 and not report.failed
    files = sorted((workspace / "results" / "tiny-16-euclidean" / "10").glob("*/*.hdf5"))
    from topobench.datasets.store import load_dataset

    recall = {}
    truth = load_dataset("tiny-16-euclidean").neighbors[:, :10]
    for path in files:
        result = res.read_result(path)
        recall[(path.parent.name, tuple(result.query_args))] = np.mean(
            [len(set(a) & set(b)) / 10 for a, b in zip(result.neighbors, truth, strict=True)])
    assert recall[("gpu_flat", ())] == 1.0 and recall[("gpu_ivf", (16,))] == 1.0, recall
    assert recall[("gpu_cagra", (128,))] >= 0.95, recall
