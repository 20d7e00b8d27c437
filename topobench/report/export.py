"""Scoring the stored results of a dataset and exporting them: one CSV row per result, a column per registered metric.

The columns follow ``topobench.metrics.registry.all_metrics()``, so a metric added to the registry (or declared by a
plugin) is exported without touching this file. Results whose dataset file is gone (an ann-benchmarks file deleted,
say) cannot be scored against ground truth or qrels; they are skipped with a warning rather than exported with holes
that look like measurements.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from topobench.core.atomic import atomic_path
from topobench.core.errors import DatasetError, NoResultsError
from topobench.datasets.store import dataset_path, datasets_dir, load_dataset
from topobench.metrics.registry import Point, all_metrics, get_metric, score, summarize, summarize_spread
from topobench.metrics.scoring import SUMMARY_LEVELS
from topobench.runs.results import folder_threads, iter_results, results_dir

logger = logging.getLogger(__name__)

HEAD_COLUMNS = ("dataset", "algorithm", "parameters", "count", "batch", "repeats")
STDOUT = "-"  # ``export.py -o -``: the CSV goes to standard output


def to_stdout(out: str | Path | None) -> bool:
    """Whether ``out`` names standard output (``-``) rather than a file."""
    return out is not None and str(out) == STDOUT


@contextmanager
def open_csv(out: str | Path) -> Iterator[TextIO]:
    """A text handle to write a CSV table to ``out``: a temporary file renamed into place when the block succeeds
    (:func:`topobench.core.atomic.atomic_path`, which refuses to replace anything but a regular file), or, for
    ``-``, standard output — written in place, once the whole table is ready, so an error leaves nothing half-written
    there either."""
    if to_stdout(out):
        buffer = io.StringIO(newline="")
        yield buffer
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
        return
    with atomic_path(Path(out)) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        yield fh


def csv_header() -> list[str]:
    """The exported columns: the fixed ones, then every registered metric under its registry name."""
    return [*HEAD_COLUMNS, *all_metrics()]


def run_hint(dataset: str, count: int | None = None, batch: bool | None = None) -> str:
    """The command that produces results for ``dataset`` (used in error messages)."""
    flags = (f" --count {count}" if count not in (None, 10) else "") + (" --batch" if batch else "")
    return f"`python run.py --dataset {dataset}{flags}`"


def no_results_message(dataset: str, count: int | None, batch: bool | None) -> str:
    what = f"dataset {dataset!r}" + (f" with count {count}" if count is not None else "") + (
        " in batch mode" if batch else "")
    return f"no results for {what} under {results_dir()}: run {run_hint(dataset, count, batch)} first"


def load_points(dataset: str, names: Sequence[str] | None = None, count: int | None = None,
                batch: bool | None = None, threads: int | str | None = None) -> list[Point]:
    """Score every stored result of ``dataset`` on the named metrics (all by default); ``threads``: the results of
    ``run.py --threads`` at that level (``ANY_THREADS``: every level) instead of the single-query and batch ones.

    The dataset file is loaded only when one of the metrics needs it. Raises ``NoResultsError`` when there is no result,
    ``DatasetError`` when a needed dataset file is missing or unreadable.
    """
    dataset_path(dataset)  # rejects names that are not dataset names before they reach a glob
    metrics = [get_metric(n) for n in names] if names is not None else list(all_metrics().values())
    results = iter_results(dataset, count, batch, threads=threads)
    first = next(results, None)
    if first is None:
        if threads is not None:
            raise NoResultsError(f"no --threads results for dataset {dataset!r}" + (
                f" with count {count}" if count is not None else "") + f" under {results_dir()}: run `python run.py "
                f"--dataset {dataset} --threads 1,2` first")
        raise NoResultsError(no_results_message(dataset, count, batch))
    loaded = None
    needing = [m.name for m in metrics if m.needs_dataset]
    if needing:
        try:
            loaded = load_dataset(dataset, build=False)
        except DatasetError as exc:
            raise DatasetError(
                f"{exc}; metrics {', '.join(needing)} need the dataset the results were run on: put "
                f"{dataset}.hdf5 back in {datasets_dir()} or rebuild it with {run_hint(dataset)}") from exc
    return score(itertools.chain([first], results), loaded, [m.name for m in metrics])


def result_datasets() -> list[str]:
    """Names of the datasets that have a results folder."""
    base = results_dir()
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def result_sections(dataset: str) -> list[tuple[int, bool]]:
    """The (count, batch) combinations ``dataset`` has results for: counts ascending, single-query mode first."""
    found = set()
    for folder in (results_dir() / dataset).glob("*/*"):
        if (folder.is_dir() and folder.parent.name.isdigit() and folder_threads(folder.name) is None
                and any(folder.glob("*.hdf5"))):
            found.add((int(folder.parent.name), folder.name.endswith("-batch")))
    return sorted(found)


def threads_sections(dataset: str) -> dict[int, list[int]]:
    """The counts ``dataset`` has ``run.py --threads`` results for, each with its thread levels (ascending)."""
    found: dict[int, set[int]] = {}
    for folder in (results_dir() / dataset).glob("*/*"):
        level = folder_threads(folder.name)
        if level is not None and folder.is_dir() and folder.parent.name.isdigit() and any(folder.glob("*.hdf5")):
            found.setdefault(int(folder.parent.name), set()).add(level)
    return {count: sorted(levels) for count, levels in sorted(found.items())}


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def export_csv(out: str | Path, datasets: Sequence[str] | None = None, count: int | None = None,
               batch: bool | None = None) -> int:
    """Write one row per result (all datasets with results by default) to ``out``; return the number of rows.

    Datasets whose file is missing are skipped with a warning. Raises ``NoResultsError`` when nothing was exported.
    """
    names = list(datasets) if datasets else result_datasets()
    header = csv_header()
    metric_names = header[len(HEAD_COLUMNS):]  # the metric table read once, not per row
    rows, skipped = 0, []
    with open_csv(out) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for name in names:
            try:
                points = load_points(name, None, count, batch)
            except (NoResultsError, DatasetError) as exc:
                logger.warning("skipping dataset %s: %s", name, exc)
                skipped.append(name)
                continue
            for p in points:
                fixed = [p.dataset, p.algorithm, p.parameters, p.count, p.batch, p.repeats]
                writer.writerow([_cell(v) for v in fixed] + [_cell(p.values[m]) for m in metric_names])
                rows += 1
        if rows == 0:
            which = ", ".join(skipped) or "any dataset"
            raise NoResultsError(f"nothing to export for {which} (see the warnings above); run "
                                 f"{run_hint(names[0] if names else 'NAME', count, batch)} first")
    logger.info("wrote %d rows to %s", rows, out)
    return rows


def summary_rows(datasets: Sequence[str] | None = None, count: int | None = 10, batch: bool | None = False,
                 levels: Sequence[float] = SUMMARY_LEVELS, quality: str = "k-nn",
                 speed: str = "qps") -> list[dict[str, Any]]:
    """``metrics.summarize`` per dataset, each row led by ``dataset``; datasets that cannot be scored are skipped.

    Where points were run several times (``run.py --repeat``) the rows also hold ``runs`` and the min / median / max
    over runs of each run's best ``speed`` (``metrics.summarize_spread``); the best point itself is chosen on the
    median of its runs."""
    rows: list[dict[str, Any]] = []
    for name in list(datasets) if datasets else result_datasets():
        try:
            points = load_points(name, [quality, speed], count, batch)
        except (NoResultsError, DatasetError) as exc:
            logger.warning("skipping dataset %s: %s", name, exc)
            continue
        spread = {}
        if any(p.repeats > 1 for p in points):
            spread = {(r["algorithm"], r["count"], r["batch"], r["level"]): r
                      for r in summarize_spread(points, levels, quality, speed)}
        for row in summarize(points, levels, quality, speed):
            extra = spread.get((row["algorithm"], row["count"], row["batch"], row["level"]), {})
            rows.append({"dataset": name, **row, **{k: v for k, v in extra.items() if k not in row}})
    return rows


def summary_table(dataset: str, count: int = 10, batch: bool = False, levels: Sequence[float] = SUMMARY_LEVELS,
                  quality: str = "k-nn", speed: str = "qps") -> list[str]:
    """``summary_rows`` for one dataset as aligned text lines (a title, a header, one line per algorithm and level)."""
    rows = summary_rows([dataset], count, batch, levels, quality, speed)
    mode = "batch" if batch else "single query"
    title = f"best {speed} at {quality} >= level: {dataset} (count {count}, {mode})"
    if not rows:
        return [title, f"  no result has both {quality} and {speed}"]
    repeated = any("runs" in r for r in rows)
    lines = [["algorithm", "level", quality, speed, *([f"{speed} min / median / max over runs"] if repeated else []),
              "parameters"]]
    for r in rows:
        spread = []
        if repeated:
            spread = ["-" if r.get(f"{speed}_median") is None else
                      f"{r[f'{speed}_min']:.1f} / {r[f'{speed}_median']:.1f} / {r[f'{speed}_max']:.1f} "
                      f"({r['runs']} runs)"]
        if r[speed] is None:
            lines.append([r["algorithm"], f"{r['level']:g}", "-", "-", *spread, "(not reached)"])
        else:
            lines.append([r["algorithm"], f"{r['level']:g}", f"{r[quality]:.4f}", f"{r[speed]:.1f}", *spread,
                          r["parameters"]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [title] + ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines]


THREAD_LATENCIES = ("p50", "p95", "p99", "p999")


def threads_rows(dataset: str, count: int = 10, levels: Sequence[int] | None = None,
                 recall_levels: Sequence[float] = SUMMARY_LEVELS, quality: str = "k-nn") -> list[dict[str, Any]]:
    """Throughput against threads (``run.py --threads``): per algorithm, thread level and recall level, the best QPS
    (completed queries per second of wall time; median over runs where repeated) among points whose ``quality``
    reaches the level, with that point's ``quality``, p50 / p95 / p99 / p999 latency (ms, every call of every round)
    and parameters. One row per (algorithm, threads, level); ``qps`` None where no point reaches it."""
    levels = list(levels) if levels else threads_sections(dataset).get(count, [])
    if not levels:
        raise NoResultsError(f"no --threads results for dataset {dataset!r} with count {count}: run `python run.py "
                             f"--dataset {dataset} --threads 1,2` first")
    rows = []
    for threads in levels:
        try:
            points = load_points(dataset, [quality, "qps", *THREAD_LATENCIES], count, threads=threads)
        except NoResultsError:
            continue
        by_params = {(p.algorithm, p.parameters): p for p in points}
        for row in summarize(points, recall_levels, quality, "qps"):
            best = by_params.get((row["algorithm"], row["parameters"]))
            rows.append({"dataset": dataset, "threads": threads, **row,
                         **{m: best.values[m] if best else None for m in THREAD_LATENCIES}})
    return sorted(rows, key=lambda r: (r["algorithm"], r["level"], r["threads"]))


def threads_table(dataset: str, count: int = 10, levels: Sequence[int] | None = None,
                  recall_levels: Sequence[float] = SUMMARY_LEVELS) -> list[str]:
    """``threads_rows`` as aligned text lines: throughput and latency per algorithm, recall level and threads."""
    rows = threads_rows(dataset, count, levels, recall_levels)
    title = f"throughput at k-nn >= level by query threads: {dataset} (count {count})"
    lines = [["algorithm", "level", "threads", "k-nn", "qps", "x 1 thread", "p50 ms", "p99 ms", "p999 ms",
              "parameters"]]
    single = {(r["algorithm"], r["level"]): r["qps"] for r in rows if r["threads"] == 1}
    for r in rows:
        if r["qps"] is None:
            lines.append([r["algorithm"], f"{r['level']:g}", str(r["threads"]), "-", "-", "-", "-", "-", "-",
                          "(not reached)"])
            continue
        base = single.get((r["algorithm"], r["level"]))
        lines.append([r["algorithm"], f"{r['level']:g}", str(r["threads"]), f"{r['k-nn']:.4f}", f"{r['qps']:.1f}",
                      f"{r['qps'] / base:.2f}" if base else "-",
                      *(f"{r[m]:.3f}" if r[m] is not None else "-" for m in ("p50", "p99", "p999")),
                      r["parameters"]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [title] + ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines]


COST_METRICS = ("indexsize", "build", "buildmem", "searchmem", "containermem")


def cost_rows(dataset: str, count: int = 10, batch: bool = False) -> list[dict[str, Any]]:
    """One row per index build (algorithm and build args) of ``dataset``: its serialized size (kB), build time (s),
    peak resident memory of the build and the largest of its points' search phases (MB), the container's peak where
    it ran under Docker, and how many points and runs it has. Values are medians over runs (``run.py --repeat``)."""
    builds: dict[tuple[str, str], dict[str, Any]] = {}
    for p in load_points(dataset, COST_METRICS, count, batch):
        args = json.dumps(json.loads(p.parameters).get("args", []))
        row = builds.setdefault((p.algorithm, args), {"algorithm": p.algorithm, "args": args, "points": 0,
                                                      "runs": p.repeats, **dict.fromkeys(COST_METRICS)})
        row["points"] += 1
        row["runs"] = max(row["runs"], p.repeats)
        for name in COST_METRICS:
            value = p.values.get(name)
            if value is not None:  # the build's figures are the same on each point; search peaks: the largest
                row[name] = value if row[name] is None else max(row[name], value)
    def order(key: tuple[str, str]) -> tuple:  # numbers by value ([8, 200] before [16, 200]), the rest as text
        args = json.loads(key[1])
        return key[0], [(0, a, "") if isinstance(a, (int, float)) else (1, 0, str(a)) for a in args]

    return [builds[key] for key in sorted(builds, key=order)]


def geometry_table(datasets: Sequence[str] | None = None) -> tuple[list[str], list[dict[str, float]]]:
    """(dataset names, their geometry statistics) for the datasets that have them, in the order given (default: all
    dataset files)."""
    names = list(datasets) if datasets else sorted(p.stem for p in datasets_dir().glob("*.hdf5"))
    found, stats = [], []
    for name in names:
        if not dataset_path(name).exists():
            logger.warning("skipping dataset %s: no file %s", name, dataset_path(name))
            continue
        geometry = load_dataset(name, build=False).geometry
        if not geometry:
            logger.warning("dataset %s has no geometry statistics (built before they existed: rebuild it)", name)
            continue
        found.append(name)
        stats.append(geometry)
    if not found:
        raise NoResultsError("no dataset with geometry statistics; build one with `python run.py --dataset NAME`")
    return found, stats


def export_geometry(out: str | Path, datasets: Sequence[str] | None = None) -> list[str]:
    """Write the geometry table (one row per statistic, one column per dataset) as CSV; return its lines as text."""
    names, stats = geometry_table(datasets)
    keys = sorted(set().union(*stats))
    with open_csv(out) as fh:
        writer = csv.writer(fh)
        writer.writerow(["statistic", *names])
        for key in keys:
            writer.writerow([key, *(_cell(s.get(key)) for s in stats)])
    width = max(len(k) for k in keys)
    lines = [f"{'statistic':{width}s}  " + "  ".join(f"{n:>20s}" for n in names)]
    for key in keys:
        cells = ["-" if s.get(key) is None else f"{s[key]:.4g}" for s in stats]
        lines.append(f"{key:{width}s}  " + "  ".join(f"{c:>20s}" for c in cells))
    return lines

