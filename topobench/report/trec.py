"""TREC run files: what one stored result retrieved, in the format trec_eval, ir_measures and ranx read.

``export.py --trec OUT`` writes one line per retrieved document, ``<query id> Q0 <doc id> <rank> <score> <tag>``:
queries in the dataset's order, documents in the order topobench's task metrics rank them
(:attr:`topobench.metrics.scoring.Scoring.ranking`: score = −distance, higher first, ties broken by document id
descending as trec_eval breaks them), ranks from 1. Padding (fewer than ``count`` found) and a row returned twice are
not retrieved documents and are left out. Scores are written with every digit of the float, so tied scores stay tied.
Ids are the dataset's ``query_ids`` and ``doc_ids``: only datasets built from a corpus (``scifact-minilm``) have them.
The tag is ``<algorithm>[-batch]/<result file name>``, which names the point the run came from.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path
from topobench.core.errors import DatasetError, NoResultsError
from topobench.core.names import check_name
from topobench.datasets.store import Dataset, load_dataset
from topobench.metrics.scoring import Scoring
from topobench.report.export import run_hint
from topobench.runs.results import Result, read_result, results_dir

logger = logging.getLogger(__name__)


def run_tag(result: Result) -> str:
    """``hnsw/16_200_80-3f9a…``: the algorithm (``-batch`` in batch mode) and the result file's name, no spaces."""
    point = result.path.stem if result.path is not None else "point"
    return f"{result.algorithm}{'-batch' if result.batch else ''}/{point}".replace(" ", "_")


def trec_lines(dataset: Dataset, result: Result, tag: str | None = None) -> Iterator[str]:
    """The run-file lines of ``result`` on ``dataset`` (see the module docstring); ``DatasetError`` without ids."""
    if dataset.doc_ids is None or dataset.query_ids is None:
        raise DatasetError(f"dataset {dataset.name!r} has no document and query ids, which a TREC run file names; "
                           "export a result on a dataset built from a corpus (e.g. scifact-minilm)")
    if len(result.neighbors) != len(dataset.query_ids):
        raise DatasetError(f"the result {result.path} has {len(result.neighbors)} queries, dataset {dataset.name!r} "
                           f"{len(dataset.query_ids)}: it was not run on this dataset file; rerun it with "
                           f"{run_hint(dataset.name)}")
    tag = tag or run_tag(result)
    rows, scores, valid = Scoring(dataset, result).ranking
    for q, query_id in enumerate(dataset.query_ids):
        kept = valid[q]
        for rank, (row, score) in enumerate(zip(rows[q][kept].tolist(), scores[q][kept].tolist(), strict=True), 1):
            yield f"{query_id} Q0 {dataset.doc_ids[row]} {rank} {score!r} {tag}"


def write_trec(out: Path, dataset: Dataset, result: Result) -> int:
    """Write ``result``'s run file to ``out`` (temporary name, then renamed); returns the number of lines."""
    lines = list(trec_lines(dataset, result))
    with atomic_path(out) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    logger.info("wrote %d run lines of %s to %s", len(lines), result.path, out)
    return len(lines)


def _same(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return json.loads(json.dumps(list(a))) == json.loads(json.dumps(list(b)))


def find_result(dataset: str, algorithm: str, build_args: Sequence[Any] | None = None,
                query_args: Sequence[Any] | None = None, count: int | None = None) -> Result:
    """The one stored result of ``algorithm`` on ``dataset`` matching what is given (build args, query args, count,
    each optional); none or several is a ``NoResultsError`` naming the choices."""
    check_name(dataset, "dataset")
    check_name(algorithm, "algorithm")
    folders = f"{dataset}/{count if count is not None else '*'}/{algorithm}"
    paths = sorted(p for pattern in (folders, folders + "-batch") for p in results_dir().glob(f"{pattern}/*.hdf5")
                   if not p.name.startswith("."))
    found = [r for r in map(read_result, paths)
             if (build_args is None or _same(r.build_args, build_args))
             and (query_args is None or _same(r.query_args, query_args))]
    asked = "".join([f" --count {count}" if count is not None else "",
                     f" --params {','.join(map(str, build_args))}" if build_args is not None else "",
                     f" --query-args {','.join(map(str, query_args))}" if query_args is not None else ""])
    if not found:
        raise NoResultsError(f"no {algorithm} result on {dataset!r}{asked} under {results_dir()}: run "
                             f"{run_hint(dataset, count)} (with --algorithm {algorithm}) first, or check the args")
    if len(found) > 1:
        choices = "; ".join(f"--count {r.count} --params {','.join(map(str, r.build_args)) or '(none)'} --query-args "
                            f"{','.join(map(str, r.query_args)) or '(none)'}{' (batch)' if r.batch else ''}"
                            for r in found[:8])
        more = f" and {len(found) - 8} more" if len(found) > 8 else ""
        raise NoResultsError(f"{len(found)} {algorithm} results on {dataset!r}{asked}: pick one with --count, "
                             f"--params and --query-args, or --point FILE ({choices}{more})")
    return found[0]


def export_trec(out: Path, point: Path | None = None, dataset: str | None = None, algorithm: str | None = None,
                build_args: Sequence[Any] | None = None, query_args: Sequence[Any] | None = None,
                count: int | None = None) -> tuple[Result, int]:
    """Write the TREC run of one result: the file ``point``, or the one :func:`find_result` picks. Returns the result
    and the number of lines written."""
    if point is not None:
        if not Path(point).is_file():
            what = "a folder" if Path(point).is_dir() else "not a regular file" if Path(point).exists() else "missing"
            raise NoResultsError(f"the result file {point} is {what}: name a results/…/*.hdf5 file")
        try:
            result = read_result(point)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            reason = " ".join(str(exc).split())[:300]  # h5py's messages span lines: the error stays one line
            raise NoResultsError(f"cannot read the result file {point} ({reason}): name a results/…/*.hdf5 file"
                                 ) from exc
    else:
        result = find_result(dataset or "", algorithm or "", build_args, query_args, count)
    return result, write_trec(out, load_dataset(result.dataset, build=False), result)
