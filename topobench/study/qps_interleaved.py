"""One round of ``bench/study_qps.py --interleave``: every cell timed at one setting before the next setting.

A rotated round (``bench/study_qps.py`` without ``--interleave``) benchmarks one cell's whole grid, then the next
cell's: two cells compared at a setting were timed ~20 s and more apart. The machine's speed drifts over seconds
(``bench/qps_noise.py``: readings taken next to each other correlate at r ≈ +0.5 … +0.7, and a reading varies by a
CV of 3–10 %), so part of every cell-to-cell QPS difference is when each was timed. Here each build configuration is
built for every cell and kept, then at each query setting every cell is timed in turn (the order rotated from one
setting to the next), so the readings a comparison divides were taken seconds apart.

Each point is timed and written exactly as the runner does it (:func:`topobench.runs.timing.measure_single`, its
warm-up included, and the runner's result file in a scratch results folder), so its k-NN recall is scored as the
cells' was and the round has the rotated round's form: per cell, per algorithm, [build args, query args, k-NN recall,
QPS]. Everything runs in this process (no child per build, unlike a sweep): memory holds one build configuration's
index for every cell at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any

from tqdm import tqdm

from topobench.core.environment import temporary_environ
from topobench.core.errors import ConfigError
from topobench.core.registry import get_registry
from topobench.datasets.store import load_dataset
from topobench.runs import results as res
from topobench.runs.runner import select_definitions
from topobench.runs.timing import measure_single
from topobench.runs.unit_run import RunConfig, point_paths, to_result
from topobench.study.qps_runs import INTERLEAVED, round_points, utc_now


def _grid(definitions) -> list[tuple[str, list, list]]:
    return [(d.algorithm, list(d.arguments), [list(q) for q in d.query_argument_groups]) for d in definitions]


def interleaved_round(cells: Sequence[Mapping[str, Any]], algorithms: list[str], count: int, runs: int,
                      folder: Path, order: list[int], definitions_file: Path | None = None) -> dict[str, Any]:
    """Time every cell of ``cells`` (datasets built) at every setting of ``algorithms``' grid, one setting at a time,
    the cells in ``order`` rotated by one for each next setting; write each point's result under ``folder`` (a
    scratch results folder) and return the round as :func:`topobench.study.qps_runs.write_runs` keeps it.

    Every cell must have the same grid (one corpus and encoder: the study's); otherwise a :class:`ConfigError`
    names the first that differs."""
    started = utc_now()
    chosen = [cells[i] for i in order]
    datasets = [load_dataset(str(c["dataset"])) for c in chosen]  # a missing one is built (trained) first
    extra = {"definitions_file": definitions_file} if definitions_file else {}
    configs = [RunConfig(dataset=ds.name, count=count, runs=runs, **extra) for ds in datasets]
    grids = [select_definitions(config, ds, algorithms)[0] for config, ds in zip(configs, datasets, strict=True)]
    for cell, grid in zip(chosen[1:], grids[1:], strict=True):
        if _grid(grid) != _grid(grids[0]):
            raise ConfigError(f"{cell['cell']}: its index grid differs from {chosen[0]['cell']}'s; an interleaved "
                              "round times one grid across cells of one corpus and encoder")
    registry = get_registry()
    n = len(chosen)
    points = sum(len(d.query_argument_groups) for d in grids[0]) * n
    bar = tqdm(desc="interleaved round", unit="point", total=points)
    with temporary_environ({res.RESULTS_DIR_ENV: str(folder)}):
        shift = 0
        for j, definition in enumerate(grids[0]):
            built = []
            for ds, grid in zip(datasets, grids, strict=True):
                index = registry.create("indexes", definition.algorithm, ds.distance, *definition.arguments,
                                        check_available=False)
                start = perf_counter()
                index.fit(ds.train)
                built.append((index, perf_counter() - start, index.index_size(), grid[j]))
            for q, qargs in enumerate(definition.query_argument_groups):
                for k in [(i + shift) % n for i in range(n)]:
                    index, build_time, size, own = built[k]
                    index.set_query_arguments(*qargs)
                    m = measure_single(index, datasets[k].test, count, runs)
                    res.write_result(point_paths(configs[k], own)[q],
                                     to_result(configs[k], own, datasets[k], index, qargs, m, build_time, size))
                    bar.update()
                shift += 1
            for index, *_ in built:
                index.done()
        bar.close()
        out = {str(cell["cell"]): round_points(ds, count, algorithms)
               for cell, ds in zip(chosen, datasets, strict=True)}
    return {"order": [str(c["cell"]) for c in chosen], "design": INTERLEAVED, "load_1min": round(os.getloadavg()[0], 2),
            "started": started, "finished": utc_now(), "points": out}
