#!/usr/bin/env python3
"""Throughput of a study's cells measured back to back, so that QPS compares across cells.

A study's cells are benchmarked when each finishes training, hours apart and beside whatever else the machine does, so
their raw QPS carries the machine's state (two benchmarks of identical vectors gave flat search 10,126 and 5,466 QPS).
The report divides that out with QPS÷flat; this bench removes it instead: it runs every finished cell's benchmark
again — the study's algorithms (text search left out: BM25 does the same work in every cell), count and runs, on the
cell's dataset — one cell after another in one session, ``--rounds`` times with the order rotated each round (so drift
in the machine's speed spreads over all cells), each round into its own scratch results folder. Every round — each
point's recall and QPS, the order, the load — is written to ``studies/<study>/qps/<UTC stamp>.json``
(:mod:`topobench.study.qps_runs`): a result to commit, which the study report then uses for every QPS it shows
(``study.py report``). Per cell and algorithm the median over rounds of each point's QPS gives the frontier and the
QPS at k-NN recall 0.95, and the report's own statistics run on them here: per variant the mean and interval over
seeds, the seed-paired difference from the baseline and, for a numeric factor (the w of ``w-sweep``), the trend test.

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror \\
        python bench/study_qps.py w-sweep --rounds 3

``--interleave`` pairs finer: each round builds every cell's index of one build configuration and times all cells at
one setting before the next setting (:mod:`topobench.study.qps_interleaved`), so the readings a comparison divides
were taken seconds apart, not a cell's whole benchmark apart (the machine's speed drifts over seconds:
``bench/qps_noise.py``). The round records ``design: interleaved``; the report says which design its QPS comes from.

A run killed part way (a session that ends) goes on after its last finished round when started again with the same
cells and ``--rounds`` on the same machine (``--fresh`` starts over): finished rounds are kept in
``studies/<study>/qps/unfinished/`` (not committed; :mod:`topobench.study.qps_unfinished`), and each round records
when it started and finished.

Needs the cells' datasets here (``datasets/``; missing ones are built, which trains them). Run it on a quiet machine:
the point is that every cell sees the same one. Last line::

    study_qps: <algorithm>_qps_trend=<slope per unit> [<low>, <high>] … flat_spread=<(max − min) / median flat QPS>
        recall_equal=<points>/<compared>

``flat_spread`` checks the machine: exhaustive search does the same work in every cell, so its QPS should agree across
cells to within the machine's noise. ``recall_equal`` checks the vectors: a rerun point whose k-NN recall differs from
its cell's searched other vectors than the cell did (a rebuilt dataset that did not reproduce); the report says how many
agree (:func:`topobench.study.qps_runs.recall_agreement`).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topobench.core.environment import temporary_environ  # noqa: E402
from topobench.runs.results import RESULTS_DIR_ENV  # noqa: E402

LEVEL = "0.95"


def benchmark_round(study, algorithms: list[str], cells, folder: Path, order: list[int]) -> dict:
    """Run the study's benchmark of ``algorithms`` on every cell (in ``order``) into ``folder``; the round as
    :func:`topobench.study.qps_runs.write_runs` keeps it: the order, the load, and per cell, per algorithm, every
    point's [build args, query args, k-NN recall, QPS]."""
    from topobench.datasets.store import load_dataset
    from topobench.runs.runner import RunConfig, run_sweep
    from topobench.study.qps_runs import round_points, utc_now

    started = utc_now()
    out: dict[str, dict[str, list]] = {}
    with temporary_environ({RESULTS_DIR_ENV: str(folder)}):
        for i in order:
            cell = cells[i]
            extra = {"definitions_file": study.definitions} if study.definitions else {}
            report = run_sweep(RunConfig(dataset=cell["dataset"], count=study.count, runs=study.runs, **extra),
                               algorithms)
            if report.failed:
                raise SystemExit(f"error: {cell['cell']}: {report.failed[0]}")
            out[cell["cell"]] = round_points(load_dataset(cell["dataset"], build=False), study.count, algorithms)
            logging.getLogger("study_qps").info("%s: %d points", cell["cell"],
                                                sum(len(p) for p in out[cell["cell"]].values()))
    return {"order": [cells[i]["cell"] for i in order], "load_1min": round(os.getloadavg()[0], 2),
            "started": started, "finished": utc_now(), "points": out}


def benchmark_rounds(args: argparse.Namespace, study, algorithms: list[str], texts: list[str], cells) -> dict:
    """Benchmark ``cells`` back to back for ``args.rounds`` rounds and write the run; the record. Each finished round
    is kept (:class:`topobench.study.qps_unfinished.UnfinishedRun`): a run killed part way goes on after its last
    finished round when started again (``--fresh``: from the first)."""
    from topobench.core.machine import machine_facts, versions
    from topobench.study.qps_interleaved import interleaved_round
    from topobench.study.qps_runs import INTERLEAVED, write_runs
    from topobench.study.qps_unfinished import UnfinishedRun

    facts = {**machine_facts(), "versions": versions(), "command": " ".join(sys.argv)}
    plan = {"cells": [c["cell"] for c in cells], "algorithms": algorithms, "rounds": args.rounds}
    if args.interleave:
        plan["design"] = INTERLEAVED
    unfinished = UnfinishedRun.open(study.name, plan, facts, fresh=args.fresh)
    if unfinished.rounds:
        print(f"going on with {unfinished.path}: {len(unfinished.rounds)} of {args.rounds} rounds done (the first "
              f"started {unfinished.rounds[0].get('started')})", flush=True)
    if texts:
        print(f"not rerun: {', '.join(texts)} (text search: the same work in every cell, no k-NN recall; the report "
              f"keeps each cell's own QPS for it)", flush=True)
    with tempfile.TemporaryDirectory(prefix="study-qps-") as scratch:
        for r in range(len(unfinished.rounds), args.rounds):
            order = [(i + r * len(cells) // args.rounds) % len(cells) for i in range(len(cells))]
            folder = Path(scratch) / f"round{r}"
            if args.interleave:
                unfinished.add(interleaved_round(cells, algorithms, study.count, study.runs, folder, order,
                                                 study.definitions))
            else:
                unfinished.add(benchmark_round(study, algorithms, cells, folder, order))
            print(f"round {r + 1}/{args.rounds} done (load {os.getloadavg()[0]:.2f})", flush=True)
    path = write_runs(study.name, unfinished.rounds, facts)
    unfinished.discard()
    print(f"wrote {path}")
    return {"rounds": unfinished.rounds}


def summarised(path: Path, study: str) -> dict:
    """The run written before at ``path`` (checked: a readable format-1 run of ``study``)."""
    from topobench.core.errors import ConfigError
    from topobench.study.qps_runs import read_runs

    try:
        record = read_runs(path, study)
    except ConfigError as exc:
        raise SystemExit(f"error: --summarise {path}: {exc}") from None
    print(f"summary of {path} ({len(record['rounds'])} rounds, {record.get('created')})")
    return record


def _interval(interval, signed: bool = False) -> str:
    """``mean [low, high]`` as the study report writes it (``no interval`` from one seed)."""
    from topobench.study.tables import interval_text, num

    return f"{num(interval.mean, 2, signed)} {interval_text(interval.low, interval.high, 2, signed)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", help="a study of studies.yaml with committed cells, e.g. w-sweep")
    parser.add_argument("--studies", type=Path, default=Path("studies.yaml"))
    parser.add_argument("--rounds", type=int, default=3, help="benchmarks of every cell (default: %(default)s)")
    parser.add_argument("--cells", nargs="+", help="only these cells (as `study.py status` names them)")
    parser.add_argument("--fresh", action="store_true",
                        help="discard an unfinished run of these cells instead of going on after its last round")
    parser.add_argument("--interleave", action="store_true",
                        help="time every cell at one setting before the next setting (topobench.study."
                             "qps_interleaved), instead of one cell's whole grid after another")
    parser.add_argument("--summarise", type=Path, metavar="RUN",
                        help="benchmark nothing: summarise a run written before (studies/<study>/qps/*.json)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("study_qps").setLevel(logging.INFO)

    from topobench.core.errors import TopobenchError
    from topobench.study.analysis import REFERENCE, Measure, analyse
    from topobench.study.runner import load_cells, select_cells
    from topobench.study.spec import get_study

    try:
        study = get_study(args.study, args.studies)
        wanted = {cell.name for cell in select_cells(study, args.cells)}  # a misspelt name is an error, as in study.py
        cells = [c for c in load_cells(study.name) if c["cell"] in wanted]
    except TopobenchError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not cells:
        raise SystemExit(f"error: study {study.name!r} has no finished cells here; run `python study.py run "
                         f"{study.name}` first")
    from topobench.study.qps_runs import recall_agreement, rerun_algorithms, with_back_to_back_qps

    algorithms, texts = rerun_algorithms(study.algorithms)
    if args.summarise:
        record = summarised(args.summarise, study.name)
    else:
        try:
            record = benchmark_rounds(args, study, algorithms, texts, cells)
        except TopobenchError as exc:
            raise SystemExit(f"error: {exc}") from None
    rebenched = with_back_to_back_qps(cells, record)
    medians = {c["cell"]: {a: (((c["algorithms"].get(a) or {}).get("at_knn") or {}).get(LEVEL) or {}).get("qps")
                           if a != REFERENCE else max((p[1] for p in (c["algorithms"].get(a) or {}).get("frontier")
                                                       or []), default=None)
                           for a in algorithms} for c in rebenched}
    spec = study.summary_spec()
    analysis = analyse(rebenched, spec["baseline"], spec["factors"], spec["algorithms"], name=study.name)

    flat = [m[REFERENCE] for m in medians.values() if m.get(REFERENCE)]
    spread = (max(flat) - min(flat)) / statistics.median(flat) if flat else float("nan")
    print(f"{len(cells)} cells × {len(record['rounds'])} rounds back to back; " + (
        f"{REFERENCE} QPS across cells: median {statistics.median(flat):.0f}, (max − min) / median {spread:.3f}"
        if flat else f"no {REFERENCE} results: the study has no exhaustive reference to check the machine with"))
    agreement = recall_agreement(cells, record)
    print(f"recall check: {agreement.sentence()}")
    parts = []
    for algorithm in [a for a in analysis.algorithms if a in algorithms]:
        for stat in ("qps", "speedup"):
            measure = Measure(stat, algorithm)
            if algorithm == REFERENCE and stat == "speedup":
                continue
            print(f"{measure.label}:")
            for variant in analysis.variants:
                interval = analysis.intervals.get((variant.key, measure.key))
                paired = analysis.paired.get((variant.key, measure.key))
                text = f"  {variant.label:<28} " + (_interval(interval) if interval else "-")
                if paired:
                    text += f"   vs baseline {_interval(paired.diff, signed=True)}"
                print(text)
            trend = analysis.trends.get(measure.key)
            if trend is not None:
                print(f"  trend over {analysis.trend_factor}: {_interval(trend.slope, signed=True)} per unit, over "
                      f"seeds {', '.join(map(str, trend.seeds))}")
                if stat == "qps":
                    parts.append(f"{algorithm}_qps_trend={_interval(trend.slope, signed=True)}")
    print("study_qps: " + " ".join(parts) + f" flat_spread={spread:.3f} "
          f"recall_equal={agreement.equal}/{agreement.compared}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
