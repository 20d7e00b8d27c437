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

Before and after: the trainer used to evaluate after every stage; it now skips an evaluation that would encode the
corpus only for itself (a stage end followed by in-batch or BM25 mining). The bench costs the old schedule with the
same measured events, so the two figures come from one run. The last line::

    study: cell_minutes=<projected wall> train_share=<optimiser steps> encode_share=<corpus encodings>
           quiet_minutes=<CPU/cores> before_minutes=<old schedule, wall> ratio=<after/before> load=<1-min load>

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

Run from the repository root (16 minutes at load 4 with the defaults, 20 at load 6 with 64 training queries)::

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/study.py
    python bench/study.py --max-train-queries 0      # the whole cell, nothing projected (12-40 minutes)
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


def old_schedule(trainer: Trainer) -> list[dict[str, Any]]:
    """The schedule of the trainer before this change: an evaluation at the end of every stage."""

    class EveryStageEnd(Trainer):
        def _events_after(self, plan, step):  # type: ignore[no-untyped-def]
            evaluate, mine = super()._events_after(plan, step)
            return evaluate or step == plan.end, mine

    old = EveryStageEnd(trainer.config, trainer.output)
    old.data, old.plans, old.total_steps = trainer.data, trainer.plans, trainer.total_steps
    return old.schedule()


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
    if variant is None or not variant.trains:
        raise SystemExit(f"{args.variant!r} is not a trained variant (e.g. scifact-minilm-topo)")
    full = variant.config()
    name = args.variant
    if args.max_train_queries:
        name += f"{',' if '@' in name else '@'}max_train_queries={args.max_train_queries}"
    small = parse_variant(name).config()
    algorithms = [a for a in args.algorithm.split(",") if a]
    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-study-")))
        for env, sub in ((recipes.CHECKPOINTS_ENV, "checkpoints"), (DATA_DIR_ENV, "datasets"),
                         (RESULTS_DIR_ENV, "results"), (INDEXES_DIR_ENV, "indexes")):
            os.environ[env] = str(work / sub)
        with LoadSampler() as load:
            phases = run_cell(name, algorithms, args.count, args.runs)
        log = read_log(recipes.run_folder(small))

    costs = event_costs(log, small.batch_size)
    logged = (sum(r["seconds"] for r in log), sum(r["cpu_seconds"] for r in log))
    train, build, final = phases["train"], phases["build"], phases["encode_corpus"]
    other = (build[0] - logged[0] - final[0], build[1] - logged[1] - final[1])  # loading, set-up, dataset file
    fixed = {"final encoding": final, "benchmark": phases.get("benchmark", (0.0, 0.0)), "other": other}
    after = Trainer(full, work, corpus=load_corpus(full.corpus))
    after_schedule = after.schedule()
    before_schedule = old_schedule(after)
    rows = {**project(after_schedule, costs, full.save_steps), **fixed}
    before_rows = {**project(before_schedule, costs, full.save_steps), **fixed}
    cell, before = total(rows), total(before_rows)

    def count(schedule: list[dict[str, Any]], kind: str) -> int:
        return sum(e["event"] == kind for e in schedule)

    logger.info("measured %s: %d steps, training %.0f s wall (%.0f s in logged steps and events), final encoding "
                "%.0f s, mean load %.1f", name, sum("event" not in r for r in log), train[0], logged[0], final[0],
                load.mean)
    logger.info("full cell: %d steps, %d evaluations (before: %d), %d minings",
                sum(e["steps"] for e in after_schedule if e["event"] == "steps"), count(after_schedule, "eval"),
                count(before_schedule, "eval"), count(after_schedule, "mine"))
    logger.info("%-15s %9s %9s %7s %16s", "phase", "wall s", "CPU s", "share", "before: wall s")
    for phase, (wall, cpu) in rows.items():
        logger.info("%-15s %9.0f %9.0f %6.1f%% %16.0f", phase, wall, cpu, 100 * wall / cell[0], before_rows[phase][0])
    logger.info("%-15s %9.0f %9.0f %7s %16.0f", "cell", cell[0], cell[1], "", before[0])
    encode = rows["evaluations"][0] + rows["final encoding"][0]  # every corpus encoding sits in an evaluation
    cores = os.cpu_count() or 1
    print(f"study: cell_minutes={cell[0] / 60:.1f} train_share={rows['steps'][0] / cell[0]:.2f} "
          f"encode_share={encode / cell[0]:.2f} quiet_minutes={cell[1] / cores / 60:.1f} "
          f"before_minutes={before[0] / 60:.1f} ratio={cell[0] / before[0]:.3f} load={load.mean:.1f}")


if __name__ == "__main__":
    main()
