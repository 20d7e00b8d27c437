#!/usr/bin/env python3
"""Harness overhead: the same faiss ``hnsw`` and ``ivf`` points timed through the runner's loop and a plain loop.

Both sides query the *same* built faiss index object, on the same queries, in one process, alternating A and B
``--rounds`` times so drift in the machine's speed hits both equally; the best QPS of each side is compared.
Single-query mode runs on one thread (as the runner does); batch mode on every core.

    python bench/overhead.py                               # random-xs-20-angular, 5 rounds
    python bench/overhead.py --dataset random-s-100-angular --rounds 9

Last line: ``overhead: single=<harness_qps/raw_qps> batch=<harness_qps/raw_qps>`` (goal: both ≥ 0.98), the geometric
mean over the points.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from topobench.core.registry import get_registry  # noqa: E402
from topobench.datasets.store import load_dataset  # noqa: E402
from topobench.runs.timing import measure_batch, measure_single  # noqa: E402

POINTS = [("hnsw", (16, 200), (40,)), ("ivf", (256,), (8,))]


def raw_single(index, queries: np.ndarray, k: int) -> float:
    """A plain loop calling faiss directly, one query at a time; returns QPS."""
    start = perf_counter()
    for q in queries:
        index.search(q[None], k)
    return len(queries) / (perf_counter() - start)


def raw_batch(index, queries: np.ndarray, k: int) -> float:
    start = perf_counter()
    index.search(queries, k)
    return len(queries) / (perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="random-xs-20-angular")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ds = load_dataset(args.dataset)
    registry = get_registry()
    ratios: dict[str, list[float]] = {"single": [], "batch": []}
    threads = os.cpu_count() or 1
    for algorithm, build_args, query_args in POINTS:
        index = registry.create("indexes", algorithm, ds.distance, *build_args)
        index.fit(ds.train)
        index.set_query_arguments(*query_args)
        for mode in ("single", "batch"):
            harness, raw = [], []
            for _ in range(args.rounds):
                if mode == "single":
                    harness.append(1.0 / measure_single(index, ds.test, args.count, runs=1).best_search_time)
                    faiss.omp_set_num_threads(1)
                    raw.append(raw_single(index.index, ds.test, args.count))
                else:
                    harness.append(1.0 / measure_batch(index, ds.test, args.count, runs=1).best_search_time)
                    faiss.omp_set_num_threads(threads)
                    raw.append(raw_batch(index.index, ds.test, args.count))
            ratio = max(harness) / max(raw)
            ratios[mode].append(ratio)
            per_round = [h / r for h, r in zip(harness, raw, strict=True)]
            print(f"{algorithm}{list(build_args)}{list(query_args)} {mode:6s} harness={max(harness):10.0f} QPS "
                  f"raw={max(raw):10.0f} QPS ratio={ratio:.3f} (per-round {min(per_round):.3f}..{max(per_round):.3f})")
        index.done()
    single = statistics.geometric_mean(ratios["single"])
    batch = statistics.geometric_mean(ratios["batch"])
    print(f"overhead: single={single:.3f} batch={batch:.3f}")


if __name__ == "__main__":
    main()
