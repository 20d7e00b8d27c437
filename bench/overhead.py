#!/usr/bin/env python3
"""Harness overhead: the same faiss ``hnsw`` and ``ivf`` points timed through the runner's loop and a plain loop.

Both sides query the *same* built faiss index object, on the same queries, in one process, alternating A and B
``--rounds`` times (which goes first alternates too) so drift in the machine's speed hits both equally; each side's
speed is the median QPS of its best quarter of passes (on a busy machine single passes vary by 2x or more: the best
passes are the least disturbed ones, and a quarter of them is steadier than the single best), and the median of the
per-round paired ratios is printed beside it. Single-query mode runs on one thread (as the runner does); batch mode on
every core. The harness side is exactly what ``run.py`` times:
``topobench.runs.timing.measure_single`` (the index's ``searcher(k)`` between two ``perf_counter_ns`` reads per
query) and ``measure_batch``.

    python bench/overhead.py                               # random-xs-20-angular, 40 rounds
    python bench/overhead.py --dataset scifact-minilm --rounds 80

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


def best_quarter(qps: list[float]) -> float:
    """The median of the best quarter of the passes: the undisturbed speed, steadier than the single best pass (the
    maximum of a noisy sample is itself noisy: one lucky pass decides it)."""
    best = sorted(qps)[-max(1, len(qps) // 4):]
    return statistics.median(best)


def measure(side: str, mode: str, index, queries: np.ndarray, k: int, threads: int) -> float:
    """QPS of one pass: the runner's timing (``harness``) or a plain loop over ``index.search`` (``raw``)."""
    if side == "harness":
        m = measure_single(index, queries, k, runs=1) if mode == "single" else measure_batch(index, queries, k, runs=1)
        return 1.0 / m.best_search_time
    faiss.omp_set_num_threads(1 if mode == "single" else threads)
    return raw_single(index.index, queries, k) if mode == "single" else raw_batch(index.index, queries, k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="random-xs-20-angular")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=40,
                        help="passes per side, alternating; the best quarter of each side is compared (default 40)")
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
            sides: dict[str, list[float]] = {"harness": [], "raw": []}
            for r in range(args.rounds):
                # Alternate which side goes first, so a drift in the machine's speed favours neither.
                for side in (("harness", "raw") if r % 2 == 0 else ("raw", "harness")):
                    sides[side].append(measure(side, mode, index, ds.test, args.count, threads))
            harness, raw = sides["harness"], sides["raw"]
            ratio = best_quarter(harness) / best_quarter(raw)
            ratios[mode].append(ratio)
            per_round = sorted(h / r for h, r in zip(harness, raw, strict=True))
            print(f"{algorithm}{list(build_args)}{list(query_args)} {mode:6s} "
                  f"harness={best_quarter(harness):10.0f} QPS raw={best_quarter(raw):10.0f} QPS ratio={ratio:.3f} "
                  f"(paired per round: median {statistics.median(per_round):.3f}, range {per_round[0]:.3f}.."
                  f"{per_round[-1]:.3f})")
        index.done()
    single = statistics.geometric_mean(ratios["single"])
    batch = statistics.geometric_mean(ratios["batch"])
    print(f"overhead: single={single:.3f} batch={batch:.3f}")


if __name__ == "__main__":
    main()
