"""Which saved index a service loads for an algorithm, building and saving it first when it is missing.

Without ``--params`` the build is the one the stored results favour: the build args of the algorithm's fastest result
with k-NN recall ≥ 0.95 (the summary table's pick), so ``serve.py --dataset scifact-minilm --algorithm hnsw`` after
``make main`` serves the hnsw build that is fastest at that recall. A missing index is built and saved through the
runner (``run.py --save-index ARGS``: same isolation, same grid file), with the count of the results it was chosen
from, so no point is measured twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from topobench.core.errors import NoResultsError
from topobench.runs.index_store import IndexStoreError, SavedIndex, find_saved, indexes_dir, list_saved

logger = logging.getLogger(__name__)

LEVEL = 0.95


def best_build(dataset: str, algorithm: str, level: float = LEVEL,
               among: Sequence[Sequence[Any]] | None = None) -> tuple[list[Any], int] | None:
    """(build args, count) of ``algorithm``'s fastest stored single-query result with k-nn ≥ ``level`` (only builds
    in ``among`` when given), or None when no result qualifies."""
    from topobench.report.export import load_points

    try:
        points = load_points(dataset, ["k-nn", "qps"], None, False)
    except NoResultsError:
        return None
    allowed = None if among is None else [list(a) for a in among]
    qualified = [p for p in points if p.algorithm == algorithm and (p.values["k-nn"] or 0.0) >= level
                 and p.values["qps"] and (allowed is None or json.loads(p.parameters)["args"] in allowed)]
    if not qualified:
        return None
    best = max(qualified, key=lambda p: p.values["qps"])
    return list(json.loads(best.parameters)["args"]), best.count


def build_and_save(dataset: str, algorithm: str, args: Sequence[Any], count: int = 10,
                   definitions: Path | None = None) -> SavedIndex:
    """Build ``algorithm`` with ``args`` on ``dataset`` and save it, through the runner (``--save-index ARGS``;
    ``definitions``: the grid file, default algos.yaml as run.py finds it)."""
    from topobench.runs.runner import RunConfig, default_definitions, run_sweep

    logger.warning("no saved %s index %s for %s: building and saving it now", algorithm, list(args), dataset)
    config = RunConfig(dataset=dataset, count=count, save_index=True, save_args=tuple(args),
                       definitions_file=definitions or default_definitions())
    report = run_sweep(config, [algorithm])
    if not report.saved:
        raise IndexStoreError(f"building {algorithm} {list(args)} on {dataset!r} failed ({'; '.join(report.failed)}); "
                              f"see the log, or run `python run.py --dataset {dataset} --algorithm {algorithm} "
                              f"--save-index {','.join(map(str, args))}`")
    return find_saved(dataset, algorithm, args)


def resolve_saved(dataset: str, algorithm: str, params: Sequence[Any] | None = None,
                  build_missing: bool = False, definitions: Path | None = None) -> SavedIndex:
    """The saved index to serve: the one with ``params``, else the only one saved, else the saved build the results
    favour; with ``build_missing``, the wanted build (``params`` or the results' favourite) is built when not saved."""
    if params is not None:
        try:
            return find_saved(dataset, algorithm, params)
        except IndexStoreError:
            if not build_missing:
                raise
        chosen = best_build(dataset, algorithm, among=[params])
        return build_and_save(dataset, algorithm, params, chosen[1] if chosen else 10, definitions)
    saved = list_saved(dataset, algorithm)
    if len(saved) == 1:
        return saved[0]
    if saved:
        chosen = best_build(dataset, algorithm, among=[s.build_args for s in saved])
        if chosen is None:
            return find_saved(dataset, algorithm)  # raises: several saved, pick one with --params
        logger.info("%d saved %s indexes: serving %s, the fastest stored result at k-nn >= %g", len(saved),
                    algorithm, chosen[0], LEVEL)
        return find_saved(dataset, algorithm, chosen[0])
    if not build_missing:
        return find_saved(dataset, algorithm)  # raises: nothing saved, with the command that saves one
    chosen = best_build(dataset, algorithm)
    if chosen is None:
        raise IndexStoreError(
            f"no saved {algorithm} index for {dataset!r} in {indexes_dir()}, and no stored {algorithm} result reaches "
            f"k-nn {LEVEL:g} to choose a build from: pass --params ARGS (build args from algos.yaml) to build one, or "
            f"save one with `python run.py --dataset {dataset} --algorithm {algorithm} --save-index ARGS`")
    return build_and_save(dataset, algorithm, chosen[0], chosen[1], definitions)
