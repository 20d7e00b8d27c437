#!/usr/bin/env python3
"""How steady is one QPS reading? The runner's protocol beside two candidate readings of the same index, side by side.

A study's QPS at k-NN 0.95 is interpolated between two points, each read as the best of ``runs`` timed passes over the
test queries (``topobench.runs.timing.measure_single``). Back to back, one cell's HNSW QPS at 0.95 moved a median 16 %
between rounds (the w-sweep report's "Timing noise" line). On SciFact a pass of 300 queries through HNSW takes ~6 ms:
is the noise a few scheduler ticks within such short passes (which longer passes or dropping the slowest calls would
smooth), or the machine's speed drifting over seconds (which only timing compared things next to each other divides
out)? This bench times one index at one setting ``--repeats`` times with three readings, interleaved (A, B, C, then
B, C, A, …) so drift hits all alike:

- ``runner``: what the runner records — the best of ``--runs`` passes, each the mean latency over the queries;
- ``trimmed``: the same passes, each pass's mean over its fastest 95 % of queries (calls hit by an interruption
  dropped), best of the passes — costs nothing extra, but is not the mean latency any more;
- ``long``: each of ``--runs`` passes repeats the queries until it has run ``--min-seconds``, best of them.

Printed per reading: the coefficient of variation over the repeats (sd / mean), the median QPS, the seconds one
reading costs, and how strongly a repeat's ``runner`` and ``long`` readings (taken next to each other) correlate —
high when the noise is drift slower than a reading, which timing two compared things next to each other divides out;
last line ``qps_noise: runner_cv=… trimmed_cv=… long_cv=… trimmed/runner=… long/runner=… adjacent_r=…`` (the CV
ratios: below 1 is steadier than the runner).

    TOPOBENCH_DATASETS=~/.cache/topobench/src/datasets python bench/qps_noise.py --dataset scifact-minilm-topo
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from topobench.core.registry import get_registry  # noqa: E402
from topobench.datasets.store import load_dataset  # noqa: E402
from topobench.runs.timing import WARMUP_QUERIES, timed_pass  # noqa: E402

TRIM = 0.95  # the share of each pass's fastest queries the trimmed reading keeps


def pass_times(search: Callable, rows: list[np.ndarray], k: int) -> np.ndarray:
    """One timed pass over ``rows`` exactly as the runner times it: each call's seconds."""
    ticks, _ = timed_pass(search, rows, k)
    return np.asarray(ticks, dtype=np.float64) * 1e-9


def runner(search: Callable, rows: list[np.ndarray], k: int, runs: int, min_seconds: float) -> float:
    return 1.0 / min(float(pass_times(search, rows, k).mean()) for _ in range(runs))


def trimmed(search: Callable, rows: list[np.ndarray], k: int, runs: int, min_seconds: float) -> float:
    keep = max(1, int(len(rows) * TRIM))
    return 1.0 / min(float(np.sort(pass_times(search, rows, k))[:keep].mean()) for _ in range(runs))


def long(search: Callable, rows: list[np.ndarray], k: int, runs: int, min_seconds: float) -> float:
    best = float("inf")
    for _ in range(runs):
        calls, seconds = 0, 0.0
        while seconds < min_seconds:
            seconds += float(pass_times(search, rows, k).sum())
            calls += len(rows)
        best = min(best, seconds / calls)
    return 1.0 / best


READINGS = {"runner": runner, "trimmed": trimmed, "long": long}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="scifact-minilm")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--algorithm", default="hnsw")
    parser.add_argument("--build", type=int, nargs="+", default=[16, 200], help="build arguments (default 16 200)")
    parser.add_argument("--query", type=int, nargs="+", default=[20], help="query arguments (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="timed passes a reading takes the best of (default 3)")
    parser.add_argument("--min-seconds", type=float, default=0.25, help="the long reading's pass length (0.25)")
    parser.add_argument("--repeats", type=int, default=30, help="readings of each kind (default 30)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ds = load_dataset(args.dataset, build=False)
    index = get_registry().create("indexes", args.algorithm, ds.distance, *args.build)
    index.fit(ds.train)
    index.set_query_arguments(*args.query)
    index.set_threads(1)
    search = index.searcher(args.count)
    rows = list(ds.test)
    for q in rows[:WARMUP_QUERIES]:
        search(q)
    names = list(READINGS)
    qps: dict[str, list[float]] = {name: [] for name in names}
    cost: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate who goes first
            start = perf_counter()
            qps[name].append(READINGS[name](search, rows, args.count, args.runs, args.min_seconds))
            cost[name].append(perf_counter() - start)
    index.done()
    cv = {name: statistics.stdev(v) / statistics.fmean(v) for name, v in qps.items()}
    print(f"{args.dataset} {args.algorithm}{args.build}{args.query}: {len(rows)} queries, best of {args.runs} passes, "
          f"{args.repeats} readings each, interleaved")
    for name in names:
        print(f"  {name:8s} cv={cv[name]:.3f} median={statistics.median(qps[name]):10.0f} QPS "
              f"range {min(qps[name]):.0f}..{max(qps[name]):.0f}  {statistics.fmean(cost[name]):.3f} s a reading")
    # Readings taken next to each other share the machine's state: a high correlation says the noise is drift slower
    # than a reading, which pairing (timing the two things compared next to each other) divides out.
    shared = float(np.corrcoef(np.log(qps["runner"]), np.log(qps["long"]))[0, 1])
    print(f"  runner and long readings of one repeat (taken next to each other) correlate at r = {shared:+.2f}")
    print(f"qps_noise: runner_cv={cv['runner']:.3f} trimmed_cv={cv['trimmed']:.3f} long_cv={cv['long']:.3f} "
          f"trimmed/runner={cv['trimmed'] / cv['runner']:.2f} long/runner={cv['long'] / cv['runner']:.2f} "
          f"adjacent_r={shared:+.2f}")


if __name__ == "__main__":
    main()
