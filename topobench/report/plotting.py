"""Pareto-frontier plots of any two registered metrics, one line per (dataset, algorithm), like ann-benchmarks' plot.py.

Axis labels, log scales and which way is "better" all come from the metric registry, so ``-x build -y qps`` or
``-x ndcg@10 -y p99`` need no code here. Points for which either metric is None (it does not apply) are left out.
Drawn with matplotlib's Agg canvas on a bare ``Figure``, so no global pyplot state or display is involved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from topobench.core.atomic import atomic_path
from topobench.core.errors import DatasetError, NoResultsError, TopobenchError
from topobench.core.registry import get_registry
from topobench.metrics.registry import Point, get_metric
from topobench.metrics.scoring import Metric
from topobench.report.export import load_points, result_datasets, result_sections, run_hint, threads_rows
from topobench.report.formats import image_format
from topobench.runs.results import results_dir

logger = logging.getLogger(__name__)

T = TypeVar("T")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = "osv^<>pPXDd*h"


def pareto_frontier(points: Sequence[tuple[float, float, T]], x: Metric, y: Metric) -> list[tuple[float, float, T]]:
    """The non-dominated ``(x, y, label)`` points, as ann-benchmarks' ``create_pointset``.

    Sort by y best first (ties: x best first), then keep each point whose x is strictly better than every point kept
    before it. The result runs from the best y to the best x.
    """
    sx = -1.0 if x.direction == "higher" else 1.0
    sy = -1.0 if y.direction == "higher" else 1.0
    frontier, last_x = [], x.worst
    for point in sorted(points, key=lambda p: (sy * p[1], sx * p[0])):
        if x.better(point[0], last_x):
            last_x = point[0]
            frontier.append(point)
    return frontier


def _usable(points: list[Point], dataset: str, metrics: Sequence[Metric]) -> list[Point]:
    """Points where every metric has a value (and a positive one on a log axis)."""
    for m in metrics:
        if all(p.values[m.name] is None for p in points):
            raise NoResultsError(f"metric {m.name!r} applies to none of the {len(points)} results for dataset "
                                 f"{dataset!r}: it needs {m.requires or 'a value the results do not have'}; "
                                 "pick another metric (-x/-y)")
    kept = [p for p in points if all(p.values[m.name] is not None for m in metrics)]
    positive = [p for p in kept if all(m.scale != "log" or p.values[m.name] > 0 for m in metrics)]
    if len(positive) < len(kept):
        logger.warning("%s: %d points with a value <= 0 left off the log axis", dataset, len(kept) - len(positive))
    if not positive:
        raise NoResultsError(f"no result for dataset {dataset!r} has both {metrics[0].name} and {metrics[1].name}; "
                             "pick other metrics (-x/-y)")
    return positive


def plot(datasets: Sequence[str], x: str = "k-nn", y: str = "qps", count: int = 10, batch: bool = False,
         raw: bool = False, out: Path = Path("plot.png"), only: Sequence[str] | None = None) -> Path:
    """Draw the ``y``-vs-``x`` Pareto frontier of every algorithm on each dataset into ``out`` (format from its suffix).

    ``raw`` also draws every point faintly; ``only`` keeps those algorithms. Raises ``UnknownNameError`` for an
    unknown metric, ``NoResultsError`` when a dataset has no (applicable) results, ``DatasetError`` when a metric needs
    a dataset file that is missing.
    """
    fmt = image_format(out)
    fig = figure(datasets, x, y, count, batch, raw, only)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format=fmt)
    logger.debug("wrote %s", out)  # the CLI says it once
    return out


def figure(datasets: Sequence[str], x: str = "k-nn", y: str = "qps", count: int = 10, batch: bool = False,
           raw: bool = False, only: Sequence[str] | None = None) -> Figure:
    """The figure ``plot`` saves (for callers that embed it, e.g. an HTML report, and for tests).

    Colours follow the algorithm, line styles the dataset; when a single algorithm is drawn for several datasets
    (comparing trained variants), colours follow the dataset instead so the lines are told apart at a glance.
    """
    if not datasets:
        raise TopobenchError("no dataset to plot: name one with --dataset NAME")
    xm, ym = get_metric(x), get_metric(y)
    scored = {}
    for name in datasets:
        points = load_points(name, [x, y], count, batch)
        if only:
            points = [p for p in points if p.algorithm in only]
            if not points:
                raise NoResultsError(f"no results of {', '.join(only)} on {name!r} (count {count}): run "
                                     f"`python run.py --dataset {name} --algorithm {','.join(only)}` first")
        scored[name] = _usable(points, name, (xm, ym))
    # Every registered algorithm gets a fixed colour and marker, so one algorithm looks the same in every plot.
    present = {p.algorithm for points in scored.values() for p in points}
    algorithms = sorted(present | set(get_registry().names("indexes")))
    cmap = colormaps["tab10" if len(algorithms) <= 10 else "tab20"]

    fig = Figure(figsize=(9, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    by_dataset = len(present) == 1 and len(scored) > 1
    for d, (name, points) in enumerate(scored.items()):
        for algorithm in sorted({p.algorithm for p in points}):
            a = algorithms.index(algorithm)
            style = {"color": cmap((d if by_dataset else a) % cmap.N), "marker": MARKERS[a % len(MARKERS)]}
            pts = [(p.values[x], p.values[y], p) for p in points if p.algorithm == algorithm]
            if raw:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="none", alpha=0.3, markersize=4, **style)
            front = pareto_frontier(pts, xm, ym)
            label = algorithm if len(scored) == 1 else f"{algorithm} ({name})"
            ax.plot([p[0] for p in front], [p[1] for p in front], linestyle=LINESTYLES[d % len(LINESTYLES)],
                    markersize=5, label=label, **style)
            draw_spread(ax, [p for _, _, p in front], x, y, style["color"])
            logger.debug("%s / %s: %d points, %d on the frontier", name, algorithm, len(pts), len(front))
    ax.set_xscale(xm.scale)
    ax.set_yscale(ym.scale)
    ax.set_xlabel(f"{xm.description} — {xm.direction} is better")
    ax.set_ylabel(f"{ym.description} — {ym.direction} is better")
    mode = "batch" if batch else "single query"
    runs = max((p.repeats for points in scored.values() for p in points), default=1)
    spread = f"; median of up to {runs} runs, bars min-max" if runs > 1 else ""
    ax.set_title(f"{ym.name} vs {xm.name}: {', '.join(datasets)} (k={count}, {mode}{spread})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return fig



def threads_figure(dataset: str, count: int = 10, level: float = 0.95) -> Figure:
    """Throughput against query threads (``run.py --threads``): per algorithm, the best QPS (completed queries per
    second of wall time) among points reaching k-NN recall ``level`` at each thread count, with the line of perfect
    scaling from one thread dashed beside it. Raises ``NoResultsError`` when there are no ``--threads`` results or no
    point reaches ``level``."""
    rows = [r for r in threads_rows(dataset, count, recall_levels=(level,)) if r["qps"] is not None]
    if not rows:
        raise NoResultsError(f"no --threads result of {dataset!r} (count {count}) reaches k-nn {level:g}: lower "
                             "--level or run more query settings")
    algorithms = sorted({r["algorithm"] for r in rows} | set(get_registry().names("indexes")))
    cmap = colormaps["tab10" if len(algorithms) <= 10 else "tab20"]
    fig = Figure(figsize=(9, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    levels = sorted({r["threads"] for r in rows})
    for algorithm in sorted({r["algorithm"] for r in rows}):
        a = algorithms.index(algorithm)
        mine = sorted((r["threads"], r["qps"]) for r in rows if r["algorithm"] == algorithm)
        color = cmap(a % cmap.N)
        ax.plot([t for t, _ in mine], [q for _, q in mine], marker=MARKERS[a % len(MARKERS)], color=color,
                label=algorithm)
        one = dict(mine).get(1)
        if one:
            ax.plot(levels, [one * t for t in levels], linestyle=":", color=color, alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(t) for t in levels])
    ax.set_yscale("log")
    ax.set_xlabel("query threads (each answering one query at a time against the same index)")
    ax.set_ylabel(f"{get_metric('qps').description}, completed queries / wall time — higher is better")
    ax.set_title(f"qps vs threads at k-nn >= {level:g}: {dataset} (k={count}; dotted: perfect scaling)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return fig


def plot_threads(dataset: str, count: int = 10, level: float = 0.95, out: Path = Path("threads.png")) -> Path:
    """Save :func:`threads_figure` to ``out`` (format from its suffix)."""
    fmt = image_format(out)
    fig = threads_figure(dataset, count, level)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format=fmt)
    logger.debug("wrote %s", out)  # the CLI says it once
    return out


def draw_spread(ax, points: Sequence[Point], x: str, y: str, color) -> None:
    """Error bars from the min to the max over runs (``run.py --repeat``) of each point that was run several times,
    on both axes, around the median the line goes through."""
    bars = [(p.values[x], p.values[y], p.spread(x), p.spread(y)) for p in points if p.repeats > 1]
    if not bars:
        return

    def extent(centre: float, spread: tuple[float, float] | None) -> tuple[float, float]:
        return (0.0, 0.0) if spread is None else (max(centre - spread[0], 0.0), max(spread[1] - centre, 0.0))

    xerr = [extent(px, sx) for px, _, sx, _ in bars]
    yerr = [extent(py, sy) for _, py, _, sy in bars]
    ax.errorbar([b[0] for b in bars], [b[1] for b in bars], xerr=list(zip(*xerr, strict=True)),
                yerr=list(zip(*yerr, strict=True)), fmt="none", ecolor=color, elinewidth=1, capsize=3, alpha=0.7)


def plot_every_dataset(x: str = "k-nn", y: str = "qps", count: int | None = None, batch: bool | None = None,
                       raw: bool = False, only: Sequence[str] | None = None,
                       folder: Path = Path("plots")) -> list[Path]:
    """``plot.py`` without ``--dataset``: one PNG per dataset with results, ``folder/<dataset>_<x>_<y>_<count>.png``.

    Each dataset is drawn at ``count`` (default: the largest count it has results for), in batch mode when ``batch``
    is True, single-query mode when False, and by default single-query mode where it has such results, else batch. A
    dataset without results of that kind, or whose results lack one of the metrics (``ndcg@10`` of a ``random-*``
    dataset), is skipped with a warning. Raises ``NoResultsError`` when there are no results at all, or when no
    dataset could be drawn (naming why for each).
    """
    datasets = result_datasets()
    if not datasets:
        raise NoResultsError(f"no results under {results_dir()} to plot: run {run_hint('NAME')} first")
    written, skipped = [], []
    for dataset in datasets:
        found = [(c, b) for c, b in result_sections(dataset) if count is None or c == count]
        modes = [m for m in ((batch,) if batch is not None else (False, True)) if any(b == m for _, b in found)]
        if not modes:
            kind = {None: "", False: "single-query ", True: "batch "}[batch]
            skipped.append(f"{dataset}: no {kind}results" + (f" of count {count}" if count is not None else ""))
            continue
        mode = modes[0]
        chosen = max(c for c, b in found if b == mode)
        try:
            written.append(plot([dataset], x, y, chosen, mode, raw, folder / f"{dataset}_{x}_{y}_{chosen}.png", only))
        except (NoResultsError, DatasetError) as exc:
            skipped.append(f"{dataset}: {exc}")
    for line in skipped:
        logger.warning("not drawn: %s", line)
    if not written:
        raise NoResultsError(f"nothing to plot for -x {x} -y {y}: {'; '.join(skipped)}")
    return written
