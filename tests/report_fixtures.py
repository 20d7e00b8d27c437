"""A small benchmark to report on, shared by the report tests: blobs with relevance judgements and geometry, and real
results of the toy, hnsw and ivf indexes written by the runner (so distcomps and nprobe are measured, not made up)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import toy_hnsw_grid

from topobench.core.distances import exact_knn
from topobench.datasets.store import make_blobs, write_dataset
from topobench.runs.runner import RunConfig, run_sweep

DATASET = "judged-16-euclidean"
GRID = toy_hnsw_grid(extra="    ivf:\n      args: [[16]]\n      query-args: [[1, 4, 16]]\n")


def write_benchmark(root: Path) -> None:
    """``root/datasets/judged-16-euclidean.hdf5`` (each query judges its exact nearest neighbour relevant) and its
    results under ``root/results`` (the caller points TOPOBENCH_DATASETS / TOPOBENCH_RESULTS there)."""
    X = make_blobs(520, 16, centers=8, seed=11)
    train, test = X[:500], X[500:]
    neighbors, distances = exact_knn(train, test, "euclidean", 100, progress=False)
    qrels = np.stack([np.arange(len(test)), neighbors[:, 0], np.ones(len(test), dtype=np.int64)], axis=1)
    write_dataset(root / "datasets" / f"{DATASET}.hdf5", train=train, test=test, distance="euclidean",
                  neighbors=neighbors, distances=distances, qrels=qrels,
                  geometry={"lid_mean": 7.5, "hubness_skew": 0.42})
    (root / "algos.yaml").write_text(GRID)
    report = run_sweep(RunConfig(dataset=DATASET, definitions_file=root / "algos.yaml", runs=1))
    assert report.ran == 6 and not report.failed, report
