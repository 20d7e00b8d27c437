"""Throughput measured back to back (``bench/study_qps.py``), kept as results: ``studies/<study>/qps/<stamp>.json``.

A cell's QPS is measured when the cell finishes, hours apart from the others and beside whatever else the machine
does, so raw QPS compares poorly across cells (identical vectors gave flat search 10,126 and 5,466 QPS). The bench
runs every cell's benchmark again, one after another, in rounds of rotated order; this module writes each run of it
(every round, every point's QPS and recall) into a committed file, and gives the report cells whose QPS — their
recall–QPS frontier and QPS at each k-NN level — are the median over those rounds, point by point. Counters and
recall are the cells' own (they do not depend on timing); only QPS is replaced.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path
from topobench.core.errors import ConfigError
from topobench.datasets.store import Dataset
from topobench.metrics.registry import Point
from topobench.runs.results import params_json
from topobench.study.cells import studies_dir
from topobench.study.measure import KNN_LEVELS, at_level, frontier
from topobench.study.settings import point_settings

FOLDER = "qps"
FORMAT = 1
INTERLEAVED = "interleaved"  # a round's ``design`` when every cell was timed at one setting before the next


def utc_now() -> str:
    """Now, UTC, to the second (ISO 8601): when a round started or finished."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def round_points(dataset: Dataset, count: int, algorithms: Sequence[str]) -> dict[str, list[list]]:
    """One cell's entry in a round: per algorithm, each point's [build args, query args, k-NN recall, QPS], read from
    the results the round just wrote (:func:`topobench.study.settings.point_settings`, as the cells were scored)."""
    return {a: [[p["build"], p["query"], p["k-nn"], p["qps"]] for p in points]
            for a, points in point_settings(dataset, count, algorithms).items()}


def runs_dir(study: str, studies: Path | None = None) -> Path:
    """``<studies>/<study>/qps/`` (``studies``: default ``$TOPOBENCH_STUDIES`` or ``studies/``)."""
    return (studies or studies_dir()) / study / FOLDER


def rerun_algorithms(algorithms: Sequence[str]) -> tuple[list[str], list[str]]:
    """``algorithms`` split into those a back-to-back run measures and those it leaves out: an index that searches
    texts (BM25) does the same work in every cell of a study — same corpus, same queries, no vectors — and has no k-NN
    recall, so its QPS says nothing about the cells' vectors and no round of it would be used (:func:`median_points`
    keeps points with a k-NN recall); the exhaustive ``flat`` search is the machine check instead. A name no plugin
    registers is kept (the benchmark itself then says what is wrong with it)."""
    from topobench.core.errors import UnknownNameError
    from topobench.core.registry import get_registry

    registry = get_registry()

    def searches_texts(name: str) -> bool:
        try:
            return bool(registry.get("indexes", name).cls.needs_texts)
        except UnknownNameError:
            return False

    texts = [a for a in algorithms if searches_texts(a)]
    return [a for a in algorithms if a not in texts], texts


def write_runs(study: str, rounds: Sequence[Mapping[str, Any]], facts: Mapping[str, Any]) -> Path:
    """Write one back-to-back run of ``study`` (``rounds``: each ``{"order": [cell…], "load_1min": x, "points":
    {cell: {algorithm: [[build, query, k-nn, qps], …]}}}``) with the machine ``facts``; return the file."""
    created = datetime.datetime.now(datetime.timezone.utc)
    record = {"format": FORMAT, "study": study, "created": created.isoformat(timespec="seconds"),
              "machine": dict(facts), "rounds": list(rounds)}
    check_runs(Path(f"{study}/{FOLDER}/(new)"), record, study)
    path = runs_dir(study) / f"{created.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path


def latest_runs(study: str, studies: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest back-to-back run of ``study`` (checked) in :func:`runs_dir`, or None when it has none."""
    folder = runs_dir(study, studies)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return None
    return files[-1], read_runs(files[-1], study)


def read_runs(path: Path, study: str) -> dict[str, Any]:
    """The back-to-back run of ``study`` in ``path``, checked (:func:`check_runs`); a ConfigError naming the file when
    it is unreadable or not such a run."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable QPS run ({exc}); restore it from git or delete it") from None
    check_runs(path, record, study)
    return record


def check_runs(path: Path, record: Any, study: str) -> None:
    """Refuse, naming the file and the field, a run of another study or format, or a QPS or recall that is not a
    finite number (a NaN would otherwise drop a point silently)."""
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("study") != study:
        raise ConfigError(f"{path}: not a format-{FORMAT} QPS run of study {study!r}; restore it from git or delete it")
    for r, rnd in enumerate(record.get("rounds") or []):
        for cell, algorithms in (rnd.get("points") or {}).items():
            for algorithm, points in algorithms.items():
                for i, point in enumerate(points):
                    for name, value in (("k-nn", point[2]), ("qps", point[3])):
                        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                            raise ConfigError(f"{path}: rounds[{r}].points.{cell}.{algorithm}[{i}] {name} is "
                                              f"{value!r}, not a finite number; restore it from git or delete it")


def median_points(record: Mapping[str, Any], cell: str, algorithm: str) -> list[Point]:
    """The points of ``algorithm`` in ``cell`` with their median QPS over the rounds that measured them (recall as
    measured: the same in every round)."""
    by_setting: dict[str, list[tuple[float | None, float]]] = {}
    for rnd in record["rounds"]:
        for build, query, knn, qps in (rnd["points"].get(cell) or {}).get(algorithm) or []:
            by_setting.setdefault(params_json(build, query), []).append((knn, qps))
    out = []
    for key, values in sorted(by_setting.items()):
        knn = values[0][0]
        if knn is None:
            continue
        out.append(Point(dataset=cell, algorithm=algorithm, name=key, parameters=key, count=0, batch=False,
                         values={"k-nn": knn, "qps": statistics.median(v[1] for v in values)}))
    return out


def with_back_to_back_qps(cells: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Copies of ``cells`` whose recall–QPS frontiers, QPS at each k-NN level and each kept point's QPS (format 3's
    ``settings``, which ``explore.html`` draws) come from the median round of ``record``; a cell, algorithm or point the
    run did not measure keeps its own (a cell or algorithm is listed by :func:`uncovered`)."""
    out = []
    for cell in cells:
        copied = copy.deepcopy(dict(cell))
        for algorithm, summary in (copied.get("algorithms") or {}).items():
            points = median_points(record, str(cell.get("cell")), algorithm)
            if not summary or not points:
                continue
            medians = {p.name: p.values["qps"] for p in points}
            for setting in summary.get("settings") or []:
                setting["qps"] = medians.get(params_json(setting["build"], setting["query"]), setting["qps"])
            front = frontier(points)
            summary["frontier"] = [[p.values["k-nn"], p.values["qps"], None] for p in front]
            for level in KNN_LEVELS:
                entry = (summary.get("at_knn") or {}).get(f"{level:g}")
                value = at_level(front, level)
                if entry is not None:
                    entry["qps"] = None if value is None else value["qps"]
        copied["qps_source"] = "back to back"
        out.append(copied)
    return out


@dataclass(frozen=True)
class RecallAgreement:
    """How a back-to-back run's k-NN recall compares with the cells' own, point by point (same cell, algorithm, build
    and query parameters, every round): equal recall says the run searched the cells' vectors — a dataset rebuilt by
    training again reproduces them bit for bit — while a rebuild that did not reproduce shows as differences."""

    equal: int
    compared: int
    largest_difference: float

    def sentence(self) -> str:
        if self.compared == 0:
            return "No rerun point has a k-NN recall its cell recorded to compare with."
        if self.equal == self.compared:
            return (f"Every rerun point's k-NN recall equals its cell's own ({self.equal:,} of {self.compared:,}, all "
                    "rounds): the reruns searched the cells' vectors.")
        return (f"{self.compared - self.equal:,} of {self.compared:,} rerun points have a k-NN recall other than their "
                f"cell's (largest difference {self.largest_difference:.4f}): those datasets are not exactly the "
                "cells' vectors, or an index build is not deterministic; read their QPS with that in mind.")


def recall_agreement(cells: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> RecallAgreement:
    """Every point of ``record`` (all rounds) whose cell recorded a k-NN recall for the same setting (format 3's
    ``settings``), compared with it; see :class:`RecallAgreement`."""
    equal = compared = 0
    largest = 0.0
    for cell in cells:
        for algorithm, summary in (cell.get("algorithms") or {}).items():
            own = {params_json(s["build"], s["query"]): s.get("k-nn") for s in (summary or {}).get("settings") or []}
            for rnd in record.get("rounds") or []:
                for build, query, knn, _ in (rnd["points"].get(str(cell.get("cell"))) or {}).get(algorithm) or []:
                    recorded = own.get(params_json(build, query))
                    if recorded is None or knn is None:
                        continue
                    compared += 1
                    equal += knn == recorded
                    largest = max(largest, abs(knn - recorded))
    return RecallAgreement(equal, compared, largest)


def uncovered(cells: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> list[str]:
    """The cells (by name) the back-to-back run did not measure in every round."""
    return [str(c.get("cell")) for c in cells
            if not all(str(c.get("cell")) in rnd.get("points", {}) for rnd in record.get("rounds") or [])]


@dataclass(frozen=True)
class RoundSpread:
    """How far one algorithm's QPS at a k-NN level moves between the rounds of a back-to-back run: per cell, the
    slowest round's reading below the fastest's, ``(fastest − slowest) / fastest``, each round's QPS read off that
    round's own frontier; ``median`` and ``largest`` over the cells (``cell``: the largest's). The median over rounds
    that the report shows is steadier than one round, but a difference between variants of this order is the size
    of the machine's timing noise, not only of the vectors'."""

    algorithm: str
    cells: int
    median: float
    largest: float
    cell: str


def round_spreads(record: Mapping[str, Any], level: float = 0.95) -> list[RoundSpread]:
    """One :class:`RoundSpread` per algorithm of ``record`` (in first-seen order) over the cells that reach ``level``
    in at least two rounds."""
    readings: dict[str, dict[str, list[float]]] = {}
    for rnd in record.get("rounds") or []:
        for cell, algorithms in (rnd.get("points") or {}).items():
            for algorithm in algorithms:
                value = at_level(frontier(median_points({"rounds": [rnd]}, cell, algorithm)), level)
                if value is not None and value["qps"]:
                    readings.setdefault(algorithm, {}).setdefault(cell, []).append(value["qps"])
    out = []
    for algorithm, by_cell in readings.items():
        spreads = {cell: (max(v) - min(v)) / max(v) for cell, v in by_cell.items() if len(v) >= 2}
        if spreads:
            worst = max(spreads, key=lambda c: (spreads[c], c))
            out.append(RoundSpread(algorithm, len(spreads), statistics.median(spreads.values()), spreads[worst], worst))
    return out


def round_spread_sentence(spreads: Sequence[RoundSpread], level: float = 0.95) -> str:
    """The report's words for :func:`round_spreads` ("" without any)."""
    if not spreads:
        return ""
    parts = [f"{100 * s.median:.0f} % for {s.algorithm} ({s.cells} cell{'s' * (s.cells != 1)}; "
             f"largest {100 * s.largest:.0f} %, {s.cell})" for s in spreads]
    return (f"Timing noise, per cell: read off one round alone, QPS at k-NN {level:g} is lower in the slowest round "
            f"than in the fastest by a median {', '.join(parts)}; the medians over rounds below are steadier, but a "
            "QPS difference between variants of that size can be the machine's.")
