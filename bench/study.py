#!/usr/bin/env python3
"""Cost of one study cell: where a SciFact-MiniLM cell's minutes go, measured on a smaller cell and projected.

A cell trains a variant (``topobench/training``), encodes the corpus with its best checkpoint at the encoder's own max
length and benchmarks it — ``load_dataset`` then ``run_sweep``, as ``study.py run`` does. This bench runs one for
real, in a scratch folder, with fewer training queries (``--max-train-queries``, default 128: five steps a stage and
the same events as the full cell — BM25 mining, model mining, a re-mining, the dev evaluations), then projects the full
cell from what it measured:

* optimiser steps: the full curriculum's steps per stage (:meth:`Trainer.schedule`) × the stage's median step over
  full batches;
* events (dev evaluations, minings, resume saves): the full schedule's events, each costed as the measured event of
  the same kind and stage (an evaluation's cost is the corpus encoding: it does not depend on the training queries;
  mining 709 instead of 128 training queries adds a few seconds of query encoding and search, left out);
* the final encoding (the whole corpus at the encoder's length), set-up and the benchmark: as measured.

Every phase is timed in wall seconds and in CPU seconds of this process (the benchmark's children included). Wall time
depends on what else runs on the two cores; CPU time hardly does (MiniLM at 128 tokens: 36–39 CPU ms a document at
load 6, 38.7 on an idle machine), so ``quiet_minutes`` — CPU time over the cores, the cell on an otherwise idle machine
at perfect parallel use (measured on an idle machine: 1.92 of 2 cores while encoding) — is the figure to compare across
runs, ``cell_minutes`` the one this run would have taken today.

Both profiles side by side (issue 23): the exact cell (``--variant``, float32, the committed cells' arithmetic) and its
fast twin (``…@profile=fast``: bf16 autocast for the training steps, the mining and dev-evaluation encodings and the
final encoding; vectors stored float32) are measured in one run, one after the other, each projected as above. The
ratio compares CPU seconds (``fast_ratio``), which hardly move with the load; the wall ratio is printed beside it. The
last line::

    study: exact_minutes=<projected wall> fast_minutes=<…> exact_quiet_minutes=<CPU/cores> fast_quiet_minutes=<…>
           fast_ratio=<fast/exact CPU> fast_wall_ratio=<fast/exact wall> train_share=<exact: optimiser steps>
           encode_share=<exact: corpus encodings> load_exact=<1-min load> load_fast=<…>

The exact profile's own cost is today's: nothing that reproduces bit for bit was left to remove (below, and
``bench/encode.py`` for the encoder's kernels). A float32 training step (32 queries, 32 positives, 32 negatives at 128
tokens) spends 70 % in matrix products, 15 % drawing dropout masks (``bernoulli_``: the attention probabilities'
dropout alone is 12.6 M draws a step) and 15 % in softmax, GELU, layer norm and copies; in bf16 the products shrink
and the step takes 0.65× as long, the masks staying what they cost.

Measured and left alone (SciFact, MiniLM, this 2-core AMD EPYC):

* torch threads: encoding with 1 or 2 threads gives identical vectors; with topobench's sleeping OpenMP waiters
  (``OMP_WAIT_POLICY=PASSIVE``, set in ``topobench/__init__.py``) 2 threads are as fast as 1 at load 8 and keep
  1.92 cores busy on an idle machine: nothing to switch. With spinning waiters (torch imported before topobench) a
  training step took 1.8× as long at load 8. Training on another thread count changes the weights (by 2.9e-6 after
  two steps). Interop threads are idle (eager BERT runs no operators in parallel).
* batch size and padding: texts are already sorted by length and padded per batch; at 128 tokens 97.9 % of SciFact's
  abstracts are cut to 128 (no padding left). Batches of 32 instead of 64 cost 10 % less CPU at 128 tokens, but
  ``encode_batch_size`` is part of the configuration and another batch size moves vectors by ~1e-7, hence mined
  negatives at near-ties: a recipe decision, not a free speed-up.
* reusing the best checkpoint's 128-token dev embeddings in the 256-token dataset: only documents of at most 128
  tokens get the same vectors (to 1.3e-7: the batches differ), and SciFact has 110 of 5,183 (2.1 % of the documents,
  1.0 % of the 256-token work).
* sharing stage 1 between cells: no two w-sweep cells have the same stage 1 (w or the seed differs); only the groups
  study's ``infonce``/``infonce-inbatch`` and ``topo``/``topo-inbatch`` pairs share 25 warm-up steps.

Measured (2026-12-05, beside a fidelity cell, load 4.0)::

    study: exact_minutes=28.3 fast_minutes=15.7 exact_quiet_minutes=13.3 fast_quiet_minutes=7.8 fast_ratio=0.586
           fast_wall_ratio=0.556 train_share=0.41 encode_share=0.57 load_exact=4.0 load_fast=4.0

per phase fast/exact CPU: steps 0.57, evaluations 0.59, mining 0.38, final encoding 0.61, benchmark 0.95.

Run from the repository root (about 30 minutes at load 4 with the defaults: both profiles)::

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/study.py
    python bench/study.py --max-train-queries 0      # the whole cells, nothing projected (25-80 minutes)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topobench.corpus.corpora import load_corpus  # noqa: E402
from topobench.datasets.store import DATA_DIR_ENV, load_dataset  # noqa: E402
from topobench.encoding import corpus_dataset  # noqa: E402
from topobench.runs.index_store import INDEXES_DIR_ENV  # noqa: E402
from topobench.runs.results import RESULTS_DIR_ENV  # noqa: E402
from topobench.runs.runner import RunConfig, run_sweep  # noqa: E402
from topobench.training import recipes  # noqa: E402
from topobench.training.checkpoints import LOG_FILE  # noqa: E402
from topobench.training.config import EXACT  # noqa: E402
from topobench.training.trainer import Trainer  # noqa: E402
from topobench.training.variants import parse_variant  # noqa: E402

logger = logging.getLogger("bench.study")


class Clock:
    """Wall seconds and CPU seconds (this process and its finished children) since construction."""

    def __init__(self) -> None:
        self.start = (time.perf_counter(), _cpu())

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.start[0], _cpu() - self.start[1]


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def timed(module: Any, name: str, into: dict[str, tuple[float, float]]) -> Iterator[None]:
    """Time every call of ``module.name`` (wall, CPU) into ``into[name]`` while the block runs."""
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        clock = Clock()
        try:
            return original(*args, **kwargs)
        finally:
            wall, cpu = clock.read()
            before = into.get(name, (0.0, 0.0))
            into[name] = (before[0] + wall, before[1] + cpu)

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


def run_cell(name: str, algorithms: list[str], count: int, runs: int) -> dict[str, tuple[float, float]]:
    """Build dataset ``name`` (train + final encoding) and benchmark it; (wall, CPU) seconds per phase."""
    phases: dict[str, tuple[float, float]] = {}
    clock = Clock()
    with timed(recipes, "train", phases), timed(corpus_dataset, "encode_corpus", phases):
        dataset = load_dataset(name)
    phases["build"] = clock.read()
    if algorithms:
        clock = Clock()
        sweep = run_sweep(RunConfig(dataset=dataset.name, count=count, runs=runs), algorithms)
        if sweep.failed:
            raise SystemExit(f"benchmark points failed: {sweep.failed[0]}")
        phases["benchmark"] = clock.read()
    return phases


def read_log(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / LOG_FILE).read_text(encoding="utf-8").splitlines() if line.strip()]


def event_costs(log: list[dict[str, Any]], batch_size: int) -> dict[tuple, list[tuple[float, float]]]:
    """Measured (wall, CPU) per event kind: ("eval", stage), ("mine", stage), ("save",) and ("step", stage), the
    steps over full batches only (an epoch's last batch is short)."""
    stage_at: dict[int, int] = {}
    for record in log:
        if "event" not in record:
            stage_at[record["step"]] = record["stage"]
    costs: dict[tuple, list[tuple[float, float]]] = {}
    for record in log:
        kind = record.get("event", "step")
        if kind == "step" and round(record["examples_per_s"] * record["seconds"]) < batch_size:
            continue
        if kind == "save":
            key: tuple = ("save",)
        elif kind == "mine":
            key = ("mine", record["stage"])
        else:
            key = (kind, record.get("stage") or stage_at.get(record["step"], 0))
        costs.setdefault(key, []).append((float(record["seconds"]), float(record["cpu_seconds"])))
    return costs


def project(schedule: list[dict[str, Any]], costs: dict[tuple, list[tuple[float, float]]],
            save_steps: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of a training run with ``schedule``, from measured ``costs`` (see the module docstring)."""

    def median(samples: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)

    def like(key: tuple) -> tuple[float, float]:
        if key in costs:
            return median(costs[key])
        same_kind = [s for k, v in costs.items() if k[0] == key[0] for s in v]
        return median(same_kind) if same_kind else (0.0, 0.0)

    out = {"steps": (0.0, 0.0), "evaluations": (0.0, 0.0), "mining": (0.0, 0.0), "saves": (0.0, 0.0)}

    def add(phase: str, cost: tuple[float, float], times: float = 1) -> None:
        out[phase] = (out[phase][0] + cost[0] * times, out[phase][1] + cost[1] * times)

    total = sum(e["steps"] for e in schedule if e["event"] == "steps")
    events: dict[int, bool] = {}
    for entry in schedule:
        if entry["event"] == "steps":
            add("steps", like(("step", entry["stage"])), entry["steps"])
        elif entry["event"] == "eval":
            add("evaluations", like(("eval", entry["stage"])))
            events[entry["step"]] = True
        else:
            add("mining", like(("mine", entry["stage"])))
            events[entry["step"]] = True
    saves = sum(1 for step in range(1, total) if events.get(step) or step % save_steps == 0)
    add("saves", like(("save",)), saves)
    return out


class LoadSampler:
    """The machine's 1-minute load average, sampled every 15 s while the block runs (this process included)."""

    def __init__(self) -> None:
        import threading

        self.samples = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(15):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)


def total(rows: dict[str, tuple[float, float]]) -> tuple[float, float]:
    return sum(v[0] for v in rows.values()), sum(v[1] for v in rows.values())


def measure_cell(variant: str, max_train_queries: int, algorithms: list[str], count: int, runs: int,
                 work: Path) -> tuple[dict[str, tuple[float, float]], float]:
    """Run ``variant`` shrunk to ``max_train_queries`` in ``work`` and project the full cell: (phase → (wall, CPU)
    seconds, mean load). Phases: steps, evaluations, mining, saves, final encoding, benchmark, other."""
    full = parse_variant(variant).config()
    name = variant
    if max_train_queries:
        name += f"{',' if '@' in name else '@'}max_train_queries={max_train_queries}"
    small = parse_variant(name).config()
    for env, sub in ((recipes.CHECKPOINTS_ENV, "checkpoints"), (DATA_DIR_ENV, "datasets"),
                     (RESULTS_DIR_ENV, "results"), (INDEXES_DIR_ENV, "indexes")):
        os.environ[env] = str(work / sub)
    with LoadSampler() as load:
        phases = run_cell(name, algorithms, count, runs)
    log = read_log(recipes.run_folder(small))
    costs = event_costs(log, small.batch_size)
    logged = (sum(r["seconds"] for r in log), sum(r["cpu_seconds"] for r in log))
    build, final = phases["build"], phases["encode_corpus"]
    other = (build[0] - logged[0] - final[0], build[1] - logged[1] - final[1])  # loading, set-up, dataset file
    schedule = Trainer(full, work, corpus=load_corpus(full.corpus)).schedule()
    logger.info("measured %s: %d steps, training %.0f s wall (%.0f s in logged steps and events), final encoding "
                "%.0f s, mean load %.1f", name, sum("event" not in r for r in log), phases["train"][0], logged[0],
                final[0], load.mean)
    return {**project(schedule, costs, full.save_steps), "final encoding": final,
            "benchmark": phases.get("benchmark", (0.0, 0.0)), "other": other}, load.mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="scifact-minilm-topo", help="the cell's dataset name (a trained variant)")
    parser.add_argument("--max-train-queries", type=int, default=128,
                        help="train on the first N training queries, projected to all (0: the whole cell)")
    parser.add_argument("--algorithm", default="hnsw", help="comma-separated index plugins to benchmark ('' none)")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("topobench.runs", "faiss", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    variant = parse_variant(args.variant)
    if variant is None or not variant.trains or variant.config().profile != EXACT:
        raise SystemExit(f"{args.variant!r} is not an exact-profile trained variant (e.g. scifact-minilm-topo)")
    fast_name = f"{args.variant}{',' if '@' in args.variant else '@'}profile=fast"
    algorithms = [a for a in args.algorithm.split(",") if a]
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    loads: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-study-")))
        for profile, name in (("exact", args.variant), ("fast", fast_name)):
            rows[profile], loads[profile] = measure_cell(name, args.max_train_queries, algorithms, args.count,
                                                         args.runs, work / profile)
    cells = {profile: total(r) for profile, r in rows.items()}
    exact, fast = cells["exact"], cells["fast"]
    logger.info("%-15s %14s %14s %11s", "phase", "exact wall/CPU", "fast wall/CPU", "fast/exact")
    for phase in rows["exact"]:
        (ew, ec), (fw, fc) = rows["exact"][phase], rows["fast"][phase]
        logger.info("%-15s %6.0f %7.0f %6.0f %7.0f %11s", phase, ew, ec, fw, fc, f"{fc / ec:.2f}" if ec else "-")
    logger.info("%-15s %6.0f %7.0f %6.0f %7.0f %11.2f", "cell", exact[0], exact[1], fast[0], fast[1],
                fast[1] / exact[1])
    cores = os.cpu_count() or 1

    def encode_share(r: dict[str, tuple[float, float]]) -> float:  # every corpus encoding sits in an evaluation
        return (r["evaluations"][1] + r["final encoding"][1]) / total(r)[1]

    print(f"study: exact_minutes={exact[0] / 60:.1f} fast_minutes={fast[0] / 60:.1f} "
          f"exact_quiet_minutes={exact[1] / cores / 60:.1f} fast_quiet_minutes={fast[1] / cores / 60:.1f} "
          f"fast_ratio={fast[1] / exact[1]:.3f} fast_wall_ratio={fast[0] / exact[0]:.3f} "
          f"train_share={rows['exact']['steps'][1] / exact[1]:.2f} encode_share={encode_share(rows['exact']):.2f} "
          f"load_exact={loads['exact']:.1f} load_fast={loads['fast']:.1f}")


if __name__ == "__main__":
    main()
