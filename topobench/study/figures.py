"""The figures of a study report, drawn from the cells alone with matplotlib's Agg canvas into PNGs whose bytes depend
only on the cells (fixed sizes and DPI, no "Software" or date metadata, no global pyplot state).

Figures (file name: what it shows):

* ``task.png`` — the study's factor (e.g. the weight w) vs exact-search nDCG@10 and Recall@100: each seed a faint
  dot, the mean with its 95 % t interval over seeds, the baseline's mean as a dotted line.
* ``index-<algorithm>.png`` — the same for the algorithm's index costs at k-NN recall 0.95 (HNSW: distance
  computations and QPS; IVF: lists probed, distance computations and QPS). ``hnsw`` and ``ivf`` are always tried, so
  a study without them says so.
* ``geometry-<algorithm>-<cost>.png`` — each geometry statistic vs that index cost, one point per cell, coloured by
  variant, with Spearman's ρ and its bootstrap interval in the panel title.
* ``frontiers.png`` — the k-NN recall vs QPS Pareto frontiers of every variant for one seed (the seed most variants
  have; ties: the smallest), one panel per algorithm.
* ``positive-cosines.png`` — the distribution of cos(q, d⁺) over the judged test pairs per variant (all its seeds
  pooled): violins with the mean marked.
* ``hardness.png`` — per-query hardness (format-3 cells): the empirical CDF per variant of the share of the corpus's
  distance computations each index needs to reach recall 0.9 for a query, one panel per index.

Log axes label every decade and only 2× and 5× between decades (:func:`readable_log_ticks`), so labels never collide.
The frontiers and every QPS come from the study's back-to-back run where the report has one (``qps_runs``).

A figure whose data the cells lack is not drawn; :func:`draw_figures` returns the reason instead.
The figures are independent: with more than one core, worker processes draw them side by side (the same bytes;
``bench/report.py``: the w-sweep's 21 figures in 0.55× the time on two idle cores).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from topobench.core.machine import cores_used
from topobench.study.analysis import KNN_LEVEL, Measure, StudyAnalysis, finite_number, seed_key
from topobench.study.resolving import HARDNESS_RHO, cell_hardness
from topobench.study.tables import correlation_text

logger = logging.getLogger(__name__)

DPI = 100
PANEL = (5.0, 3.6)  # inches per panel
RECALL_MARGIN = 0.005  # room right of recall 1.0 on a frontier axis, so points at 1.0 are not cut
ALWAYS_TRIED = ("hnsw", "ivf")  # index figures a reader expects; a study without them is told why they are missing


class SkipFigure(Exception):
    """A figure whose data the cells lack; the message says what is missing."""


@dataclass(frozen=True)
class Drawn:
    """A figure written into the report folder: its file name there and a caption."""

    file: str
    caption: str


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG with no metadata that varies between runs or machines (no "Software" entry)."""
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    return path


def _figure(ncols: int, nrows: int = 1, width: float | None = None, height: float | None = None) -> Figure:
    fig = Figure(figsize=(width or PANEL[0] * ncols, height or PANEL[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colors(count: int) -> list:
    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def _axis(a: StudyAnalysis) -> tuple[list[float], str, list[str] | None]:
    """x positions of the variants, the axis label, and tick labels (None on a numeric axis).

    One numeric shown factor (e.g. ``weight``) is a numeric axis; anything else places the variants at 0, 1, 2 … in
    report order, labelled by name.
    """
    if len(a.shown) == 1:
        i = a.factors.index(a.shown[0])
        values = [v.key[i] for v in a.variants]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            return [float(x) for x in values], a.shown[0], None
    return [float(i) for i in range(len(a.variants))], "variant", [v.label for v in a.variants]


def _style_x(ax, xs: list[float], label: str, ticks: list[str] | None) -> None:
    ax.set_xlabel(label)
    if ticks is None:
        ax.set_xticks(sorted(set(xs)))
    else:
        ax.set_xticks(xs, ticks, rotation=30 if max(map(len, ticks)) > 8 else 0, ha="right"
                      if max(map(len, ticks)) > 8 else "center")
    ax.grid(True, alpha=0.3)


def factor_figure(a: StudyAnalysis, measures: Sequence[Measure], title: str) -> Figure:
    """One panel per measure: the factor vs the measure, per-seed dots, mean and 95 % t interval, baseline mean."""
    measures = [m for m in measures if any(a.intervals.get((v.key, m.key)) for v in a.variants)]
    if not measures:
        raise SkipFigure("no cell has these values")
    xs, xlabel, ticks = _axis(a)
    fig = _figure(len(measures))
    for ax, m in zip(fig.subplots(1, len(measures), squeeze=False)[0], measures, strict=True):
        mx, my, lo, hi = [], [], [], []
        for x, v in zip(xs, a.variants, strict=True):
            vals = v.values(m)
            if not vals:
                continue
            seeds = sorted(vals, key=seed_key)
            ax.scatter([x] * len(seeds), [vals[s] for s in seeds], s=14, color="0.55", alpha=0.6, zorder=2,
                       label="one seed" if not mx else None)
            iv = a.intervals[(v.key, m.key)]
            mx.append(x)
            my.append(iv.mean)
            lo.append(iv.mean - iv.low if iv.has_interval else 0.0)
            hi.append(iv.high - iv.mean if iv.has_interval else 0.0)
        ax.errorbar(mx, my, yerr=[lo, hi], color="C0", marker="o", capsize=4, zorder=3,
                    linestyle="-" if ticks is None else "none", label="mean, 95 % t interval")
        base = a.intervals.get((a.baseline.key, m.key))
        if base is not None:
            ax.axhline(base.mean, color="C3", linestyle=":", linewidth=1, label=f"baseline ({a.baseline.label})")
        _style_x(ax, xs, xlabel, ticks)
        ax.set_ylabel(m.label)
        ax.set_title(m.label)
        ax.legend(fontsize="x-small")
    fig.suptitle(f"{a.name}: {title}")
    return fig


def geometry_figure(a: StudyAnalysis, cost: Measure) -> Figure:
    """One panel per geometry statistic: its value vs ``cost`` over all cells, coloured by variant, ρ in the title."""
    if not a.geometry_stats:
        raise SkipFigure("the cells have no geometry statistics")
    ncols = min(4, len(a.geometry_stats))
    nrows = math.ceil(len(a.geometry_stats) / ncols)
    fig = _figure(ncols, nrows, width=4.2 * ncols, height=3.2 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    colors = _colors(len(a.variants))
    for ax, stat in zip(axes, a.geometry_stats, strict=False):
        for color, v in zip(colors, a.variants, strict=True):
            pts = [(g, y) for c in v.cells
                   if (g := a.geometry(c, stat)) is not None and (y := cost.value(c)) is not None]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, color=color, label=v.label)
        corr = a.correlations.get((stat, cost.key))
        ax.set_title(f"{stat}\nρ = {correlation_text(corr, len(a.cells))}" if corr else stat, fontsize="small")
        ax.set_xlabel(stat, fontsize="small")
        ax.set_ylabel(cost.label, fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(a.geometry_stats):]:
        ax.set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(6, len(labels)) or 1, fontsize="small")
    fig.suptitle(f"{a.name}: geometry vs {cost.label} (one point per cell)")
    return fig


def readable_log_ticks(axis) -> None:
    """Plain numbers on a log axis without collisions: every decade labelled; between decades only 2× and 5× (the
    minor ticks at 3, 4, 6, 7, 8, 9 stay unlabelled), so neighbouring labels never overlap however the axis spans."""
    axis.set_major_locator(LogLocator(base=10.0))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0)))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))


def frontier_seed(a: StudyAnalysis) -> int | None:
    """The seed most variants have (ties: the smallest); None when no cell has a seed."""
    counts: dict[int, int] = {}
    for v in a.variants:
        for s in set(v.seeds) - {None}:
            counts[s] = counts.get(s, 0) + 1
    return min(counts, key=lambda s: (-counts[s], s)) if counts else None


def _frontier(cell, algorithm: str) -> list[tuple[float, float]]:
    algo = (cell.get("algorithms") or {}).get(algorithm) or {}
    pts = []
    for point in algo.get("frontier") or []:
        x, y = (finite_number(point[0]), finite_number(point[1])) if len(point) >= 2 else (None, None)
        if x is not None and y is not None and y > 0:
            pts.append((x, y))
    return sorted(pts)


def frontier_figure(a: StudyAnalysis) -> tuple[Figure, int | None]:
    """k-NN recall vs QPS frontiers, one panel per algorithm that has any, one line per variant (one seed)."""
    seed = frontier_seed(a)
    chosen = []  # (variant, cell): the frontier seed's cell, or a seedless variant's only cell
    for v in a.variants:
        cell = next((c for c in v.cells if c["seed"] == seed), None) or (v.cells[0] if v.seedless else None)
        if cell is not None:
            chosen.append((v, cell))
    algos = [algo for algo in a.algorithms if any(_frontier(c, algo) for _, c in chosen)]
    if not algos:
        raise SkipFigure("no cell has a Pareto frontier (algorithms.*.frontier)")
    fig = _figure(len(algos))
    colors = dict(zip([v.key for v in a.variants], _colors(len(a.variants)), strict=True))
    for ax, algo in zip(fig.subplots(1, len(algos), squeeze=False)[0], algos, strict=True):
        for v, cell in chosen:
            pts = _frontier(cell, algo)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, color=colors[v.key],
                        label=v.label)
        ax.axvline(float(KNN_LEVEL), color="0.5", linestyle=":", linewidth=1)
        left, right = ax.get_xlim()
        ax.set_xlim(left, min(right, 1.0 + RECALL_MARGIN))  # no recall ticks above 1 (flat's lone point at 1.0)
        ax.set_yscale("log")
        readable_log_ticks(ax.yaxis)
        ax.set_xlabel("k-NN recall")
        ax.set_ylabel("queries per second")
        ax.set_title(algo)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.suptitle(f"{a.name}: recall–QPS Pareto frontiers" + ("" if seed is None else f", seed {seed}"))
    return fig, seed


def cosine_figure(a: StudyAnalysis) -> Figure:
    """Violins of cos(q, d⁺) per variant (all seeds pooled), the mean marked."""
    data = []
    for v in a.variants:
        values = [x for c in v.cells for y in (c.get("positive_cosines") or []) if (x := finite_number(y)) is not None]
        if values:
            data.append((v, values))
    if not data:
        raise SkipFigure("no cell has positive_cosines")
    xs, xlabel, ticks = _axis(a)
    pos = {v.key: x for x, v in zip(xs, a.variants, strict=True)}
    gaps = [b - x for x, b in zip(sorted(xs), sorted(xs)[1:], strict=False) if b > x]
    width = 0.6 * (min(gaps) if gaps else 1.0)
    fig = _figure(1, width=max(6.0, 0.9 * len(a.variants) + 2.0), height=4.2)
    ax = fig.subplots()
    parts = ax.violinplot([d[1] for d in data], positions=[pos[v.key] for v, _ in data], widths=width,
                          showmeans=True, showextrema=True)
    for body in parts["bodies"]:
        body.set_alpha(0.5)
    _style_x(ax, xs, xlabel, ticks)
    ax.set_ylabel("cos(q, d⁺) of judged test pairs")
    counts = ", ".join(f"{v.label}: {len(vals)}" for v, vals in data)
    ax.set_title(f"pairs per variant (seeds pooled) — {counts}", fontsize="x-small")
    fig.suptitle(f"{a.name}: positive-pair cosine per variant")
    return fig


def hardness_figure(a: StudyAnalysis) -> Figure:
    """The distribution (empirical CDF, log x) of per-query hardness per variant, one panel per graph or inverted-file
    index whose cells keep per-query distance computations (format 3), seeds pooled."""
    algorithms = [algo for algo in a.algorithms if algo != "flat"
                  and any(cell_hardness(c, algo) is not None for c in a.cells)]
    if not algorithms:
        raise SkipFigure("no cell keeps per-query hits and distance computations (cell format 3)")
    fig = _figure(len(algorithms))
    colors = dict(zip([v.key for v in a.variants], _colors(len(a.variants)), strict=True))
    for ax, algo in zip(fig.subplots(1, len(algorithms), squeeze=False)[0], algorithms, strict=True):
        for v in a.variants:
            values = [h for c in v.cells if (h := cell_hardness(c, algo)) is not None]
            pooled = np.sort(np.concatenate(values)) if values else np.array([])
            reached = pooled[np.isfinite(pooled)]
            if reached.size:
                share = np.arange(1, reached.size + 1) / pooled.size  # queries never reached stay above the curve
                ax.step(100 * reached, share, where="post", color=colors[v.key], label=v.label)
        ax.set_xscale("log")
        readable_log_ticks(ax.xaxis)
        ax.set_xlabel(f"% of the corpus's distance computations to reach recall {HARDNESS_RHO:g}")
        ax.set_ylabel("share of queries")
        ax.set_title(algo)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.suptitle(f"{a.name}: per-query hardness (Hephaestus)")
    return fig


# A figure to draw: its file name, caption, and the function that draws it from the analysis and these arguments.
Job = tuple[str, str, Callable[..., Figure], tuple]
_WORKER: dict[str, StudyAnalysis] = {}  # in a worker process: the analysis its figures are drawn from


def _serve(a: StudyAnalysis) -> None:
    _WORKER["analysis"] = a


def _draw(a: StudyAnalysis, job: Job, out_dir: Path) -> str | None:
    """Draw and save one figure; None, or why it was not drawn."""
    file, _, build, args = job
    try:
        fig = build(a, *args)
    except SkipFigure as exc:
        return f"{file}: {exc}"
    save(fig, out_dir / file)
    return None


def _draw_in_worker(job: Job, out_dir: Path) -> str | None:
    return _draw(_WORKER["analysis"], job, out_dir)


def _draw_all(a: StudyAnalysis, jobs: list[Job], out_dir: Path, processes: int | None) -> list[str | None]:
    """Each job's outcome (None: drawn; else why not), in order. Figures are independent, so with more than one core
    worker processes draw them, each given the analysis once. The workers come from a fork server (a fresh process,
    not a fork of this one and whatever threads it runs), which has imported this module; the bytes of a PNG do not
    depend on which process drew it."""
    workers = min(len(jobs), cores_used() if processes is None else processes)
    if workers < 2 or "forkserver" not in multiprocessing.get_all_start_methods():
        return [_draw(a, job, out_dir) for job in jobs]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    try:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_serve, initargs=(a,))
    except (ImportError, NotImplementedError, OSError) as exc:  # no working semaphores (e.g. no /dev/shm)
        logger.info("figures drawn one by one: no worker processes here (%s)", exc)
        return [_draw(a, job, out_dir) for job in jobs]
    with pool:
        return list(pool.map(_draw_in_worker, jobs, [out_dir] * len(jobs)))


def _frontiers(a: StudyAnalysis) -> Figure:
    return frontier_figure(a)[0]


def draw_figures(a: StudyAnalysis, out_dir: Path, processes: int | None = None) -> tuple[list[Drawn], list[str]]:
    """Write every figure of the report into ``out_dir``; return those drawn and, for each one not drawn, why.

    ``processes``: how many figures are drawn at once (default: the cores this process may use; 1 draws them here,
    one after another)."""
    entries: list[str | Job] = []  # in the report's order: a figure to draw, or why one is not drawn
    level = f"k-NN recall {KNN_LEVEL}"

    def draw(file: str, caption: str, build: Callable[..., Figure], *args: Any) -> None:
        entries.append((file, caption, build, args))

    skip = entries.append

    factor = a.shown[0] if len(a.shown) == 1 else "variant"
    draw("task.png", f"{factor} vs exact-search nDCG@10 and Recall@100: mean and 95 % t interval over seeds",
         factor_figure, a.task_measures, "task quality (exact search)")
    found = {algo for c in a.cells for algo, entry in (c.get("algorithms") or {}).items() if entry}
    for algo in dict.fromkeys((*ALWAYS_TRIED, *a.algorithms)):
        file = f"index-{algo}.png"
        measures = [m for m in a.cost_measures if m.algorithm == algo]
        if algo not in found:
            skip(f"{file}: no cell has {algo} results ({algo} is not in this study)")
        elif not measures:
            skip(f"{file}: no {algo} result reaches {level} in any cell")
        else:
            names = " and ".join(m.label for m in measures)
            draw(file, f"{factor} vs {names}: mean and 95 % t interval over seeds",
                 factor_figure, measures, f"{algo} at {level}")
    if not a.geometry_stats:
        skip("geometry-*.png: the cells have no geometry statistics")
    elif not a.correlation_costs:
        skip("geometry-*.png: no index cost varies over the cells")
    for m in a.correlation_costs:
        draw(f"geometry-{re.sub(r'[^A-Za-z0-9_.]+', '-', m.key).strip('-')}.png",
             f"each geometry statistic vs {m.label}, one point per cell (Spearman ρ and 95 % bootstrap interval)",
             geometry_figure, m)
    seed = frontier_seed(a)
    draw("frontiers.png", "k-NN recall vs QPS Pareto frontiers of the variants"
         + ("" if seed is None else f" (seed {seed})"), _frontiers)
    draw("positive-cosines.png", "cos(q, d⁺) over the judged test pairs per variant, seeds pooled",
         cosine_figure)
    draw("hardness.png", f"per-query hardness (the share of the corpus's distance computations needed to reach "
         f"recall {HARDNESS_RHO:g} for that query), its distribution per variant, seeds pooled",
         hardness_figure)
    jobs = [entry for entry in entries if not isinstance(entry, str)]
    outcomes = iter(_draw_all(a, jobs, out_dir, processes))
    drawn: list[Drawn] = []
    not_drawn: list[str] = []
    for entry in entries:
        why = entry if isinstance(entry, str) else next(outcomes)
        if why is None:
            drawn.append(Drawn(entry[0], entry[1]))
        else:
            not_drawn.append(why)
    logger.info("study %s: %d figures drawn, %d not drawn", a.name, len(drawn), len(not_drawn))
    return drawn, not_drawn
