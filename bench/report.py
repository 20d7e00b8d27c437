#!/usr/bin/env python3
"""A study report's figures drawn one after another and by worker processes, side by side in one run.

``study.py report`` spends most of its time drawing PNGs (the w-sweep's 21 figures: ~2 s each on this 2-core AMD
EPYC), and the figures are independent, so :func:`topobench.study.figures.draw_figures` draws them in worker processes
when the machine has more than one core. This bench reads a committed study's cells once, builds its analysis once,
then draws every figure ``--rounds`` times each way (``processes=1`` and the default, every core; which goes first
alternates), checks that both ways wrote the same bytes, and prints the median wall time of each way::

    report: serial_s=<s> parallel_s=<s> ratio=<parallel/serial> workers=<n> figures=<n>

Run it on a quiet machine: a busy one leaves the workers nothing to gain. ``python bench/report.py w-sweep``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topobench.core.machine import cores_used  # noqa: E402
from topobench.study.figures import draw_figures  # noqa: E402
from topobench.study.readme_tables import analysis_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed_draw(a, folder: Path, processes: int | None) -> float:
    started = perf_counter()
    draw_figures(a, folder, processes=processes)
    return perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", default="w-sweep", help="a study with committed cells (default w-sweep)")
    parser.add_argument("--rounds", type=int, default=3, help="draws each way (default 3)")
    args = parser.parse_args(argv)
    a = analysis_of(args.study, ROOT / "studies")
    times: dict[str, list[float]] = {"serial": [], "parallel": []}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        for r in range(args.rounds):
            order = [("serial", 1), ("parallel", None)]
            for side, processes in order if r % 2 == 0 else order[::-1]:
                folder = Path(scratch) / f"{side}-{r}"
                folder.mkdir()
                times[side].append(timed_draw(a, folder, processes))
        serial, parallel = Path(scratch) / "serial-0", Path(scratch) / "parallel-0"
        files = sorted(p.name for p in serial.iterdir())
        if files != sorted(p.name for p in parallel.iterdir()) or any(
                (serial / f).read_bytes() != (parallel / f).read_bytes() for f in files):
            print("error: the figures drawn by worker processes differ from those drawn one by one", file=sys.stderr)
            return 1
    s, p = statistics.median(times["serial"]), statistics.median(times["parallel"])
    print(f"report: serial_s={s:.1f} parallel_s={p:.1f} ratio={p / s:.2f} workers={min(cores_used(), len(files))} "
          f"figures={len(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
