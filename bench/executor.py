#!/usr/bin/env python3
"""Executor cost: the same sweep through the local executor and the Ray executor, in one process.

Each round runs the whole sweep (``run_sweep`` with ``--force`` semantics, into a fresh results folder per side) once
through ``LocalExecutor`` (a spawned process per build, one at a time) and once through ``RayExecutor`` (a local Ray
runtime started and stopped for the sweep, as ``run.py --executor ray`` does; or ``--ray-address``), alternating
which goes first, so drift in the machine's speed hits both. Wall time is the whole ``run_sweep`` call, Ray's start
and stop included; the QPS ratio is taken per point (ray / local, same round) and its median printed with its spread.

    python bench/executor.py                                  # random-xs-20-angular, hnsw + ivf, 2 rounds
    python bench/executor.py --algorithm hnsw --rounds 3 --runs 3

Last line: ``executor: wall_ratio=<ray/local> qps_ratio=<median per-point ray/local>`` (goal on 2 cores: wall ≤ 1.15,
QPS ≥ 0.97). Both sides must produce the same points with the same neighbours; the script says so (or exits 1).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from topobench.datasets.store import load_dataset  # noqa: E402
from topobench.runs import results as res  # noqa: E402
from topobench.runs.executors.local import LocalExecutor  # noqa: E402
from topobench.runs.executors.ray import RayExecutor  # noqa: E402
from topobench.runs.runner import RunConfig, default_definitions, run_sweep  # noqa: E402


def sweep(side: str, config: RunConfig, algorithms: list[str], folder: Path, address: str | None) -> float:
    """Run the sweep through one executor into ``folder``; return its wall time in seconds."""
    os.environ[res.RESULTS_DIR_ENV] = str(folder)
    executor = LocalExecutor() if side == "local" else RayExecutor(address)
    start = perf_counter()
    report = run_sweep(config, algorithms, executor)
    wall = perf_counter() - start
    if report.failed:
        sys.exit(f"{side}: {len(report.failed)} points failed: {report.failed[0]}")
    return wall


def points(folder: Path) -> dict[str, res.Result]:
    return {str(p.relative_to(folder)): res.read_result(p) for p in sorted(folder.rglob("*.hdf5"))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="random-xs-20-angular")
    p.add_argument("--algorithm", default="hnsw,ivf", help="comma-separated (default: hnsw,ivf of algos.yaml)")
    p.add_argument("--runs", type=int, default=2, help="timed runs per point (default 2)")
    p.add_argument("--rounds", type=int, default=2, help="local/ray pairs, alternating order (default 2)")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--ray-address", help="an existing cluster (default: a local runtime per sweep)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    algorithms = [a for a in args.algorithm.split(",") if a]
    dataset = load_dataset(args.dataset)  # built once, before any timing
    config = RunConfig(dataset=dataset.name, count=args.count, runs=args.runs, force=True,
                       definitions_file=default_definitions())
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    qps_ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-executor-") as scratch:
        for r in range(args.rounds):
            order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
            found = {}
            for side in order:
                folder = Path(scratch) / f"{side}-{r}"
                walls[side].append(sweep(side, config, algorithms, folder, args.ray_address))
                found[side] = points(folder)
                print(f"round {r + 1} {side}: {walls[side][-1]:.1f} s, {len(found[side])} points", flush=True)
            if sorted(found["local"]) != sorted(found["ray"]):
                print("error: the two executors produced different points", file=sys.stderr)
                return 1
            same = sum(np.array_equal(found["local"][k].neighbors, found["ray"][k].neighbors) for k in found["local"])
            print(f"round {r + 1}: {same}/{len(found['local'])} points with identical neighbours")
            qps_ratios += [found["local"][k].best_search_time / found["ray"][k].best_search_time
                           for k in found["local"]]
    wall_ratios = [ray / local for ray, local in zip(walls["ray"], walls["local"], strict=True)]
    q = np.percentile(qps_ratios, [10, 25, 75, 90])
    print(f"wall: local {statistics.median(walls['local']):.1f} s, ray {statistics.median(walls['ray']):.1f} s "
          f"(per-round ratios {', '.join(f'{x:.3f}' for x in wall_ratios)}); per-point QPS ratio over "
          f"{len(qps_ratios)} points: p10 {q[0]:.3f}, p25 {q[1]:.3f}, p75 {q[2]:.3f}, p90 {q[3]:.3f}")
    print(f"executor: wall_ratio={sum(walls['ray']) / sum(walls['local']):.3f} "
          f"qps_ratio={statistics.median(qps_ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
