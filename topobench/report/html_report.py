"""The HTML report (``plot.py --report OUT/``): one static page per dataset and an index page, with the PNGs beside.

Each dataset page has a section per (count, mode) found in its results, each with the summary table (best QPS at
k-NN recall ≥ 0.9 / 0.95 / 0.99 and the parameters that achieved it, with min / median / max over runs where points
were repeated), the cost of each build (index size beside peak memory) and the Pareto plots of :data:`PLOTS` — k-NN
recall and the task metrics against QPS; distance computations, build time, index size, peak memory and every
counter a plugin declares as a metric against recall — drawn by :func:`topobench.report.plotting.figure`, plus recall
against ``nprobe`` for the inverted-file indexes (those whose ``stats_names`` include ``lists_probed``). A plot whose
metrics apply to no result (nDCG@10 on blobs) is listed as not drawn, with the reason. The dataset's facts and its
geometry statistics close the page.

``OUT`` is written under a temporary name and renamed when complete, so a failed report leaves nothing behind; an
existing ``OUT`` is replaced only when it is an earlier report (its ``index.html`` was generated here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from topobench.core.atomic import atomic_path
from topobench.core.errors import DatasetError, NoResultsError, TopobenchError
from topobench.datasets.store import dataset_path, load_dataset
from topobench.metrics.registry import get_metric, plugin_metrics
from topobench.metrics.scoring import SUMMARY_LEVELS
from topobench.report import html as h
from topobench.report.export import (
    cost_rows,
    load_points,
    result_datasets,
    result_sections,
    run_hint,
    summary_rows,
    threads_rows,
    threads_sections,
)
from topobench.runs.results import results_dir

logger = logging.getLogger(__name__)

# (file slug, x metric, y metric): every plot a section may hold, in page order.
PLOTS = (
    ("knn-qps", "k-nn", "qps"),
    ("ndcg10-qps", "ndcg@10", "qps"),
    ("recall100-qps", "recall@100", "qps"),
    ("acc20-qps", "acc@20", "qps"),
    ("distcomps-knn", "k-nn", "distcomps"),
    ("build-knn", "k-nn", "build"),
    ("indexsize-knn", "k-nn", "indexsize"),
    ("buildmem-knn", "k-nn", "buildmem"),
    ("searchmem-knn", "k-nn", "searchmem"),
)
DATASET_FACTS = ("corpus", "split", "n_docs", "n_queries", "encoder_model_id", "encoder_pooling", "encoder_max_length",
                 "recipe", "build_seconds")


def _plot_file(img: Path, dataset: str, count: int, batch: bool, slug: str) -> Path:
    return img / f"{dataset}-{count}{'-batch' if batch else ''}-{slug}.png"


def _ivf_algorithms() -> set[str]:
    from topobench.core.registry import get_registry

    registry = get_registry()
    return {n for n in registry.names("indexes") if "lists_probed" in registry.get("indexes", n).cls.stats_names}


def nprobe_figure(dataset: str, count: int, batch: bool):
    """k-NN recall against nprobe, one line per inverted-file build (algorithm and build args); None when none ran."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ivf = _ivf_algorithms()
    lines: dict[str, list[tuple[float, float]]] = {}
    for p in load_points(dataset, ["k-nn"], count, batch):
        params = json.loads(p.parameters)
        if p.algorithm in ivf and p.values["k-nn"] is not None and params["query_args"]:
            label = f"{p.algorithm} {','.join(map(str, params['args']))}"
            lines.setdefault(label, []).append((float(params["query_args"][0]), p.values["k-nn"]))
    if not lines:
        return None
    fig = Figure(figsize=(9, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, pts in sorted(lines.items()):
        pts.sort()
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", markersize=4, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("nprobe (inverted lists scanned per query)")
    ax.set_ylabel(get_metric("k-nn").description)
    ax.set_title(f"k-nn vs nprobe: {dataset} (k={count}, {'batch' if batch else 'single query'})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return fig


def _section(dataset: str, count: int, batch: bool, img: Path) -> list[str]:
    """The HTML of one (count, mode) section; its PNGs are written into ``img``."""
    from topobench.report.plotting import figure

    mode = "batch" if batch else "single query"
    out = [h.heading(2, f"k = {count}, {mode}", f"k{count}{'-batch' if batch else ''}")]
    rows = summary_rows([dataset], count, batch)
    out.append(h.heading(3, f"Best QPS at k-NN recall ≥ {' / '.join(f'{x:g}' for x in SUMMARY_LEVELS)}"))
    if rows:
        repeated = any("runs" in r for r in rows)
        spread = (lambda r: [None if r.get("qps_median") is None else
                             f"{r['qps_min']:.1f} / {r['qps_median']:.1f} / {r['qps_max']:.1f} ({r['runs']} runs)"]
                  ) if repeated else (lambda r: [])
        out.append(h.table(["algorithm", "recall ≥", "k-nn", "QPS", *(["QPS min / median / max over runs"] if repeated
                                                                     else []), "parameters"],
                           [[r["algorithm"], r["level"], None if r["k-nn"] is None else f"{r['k-nn']:.4f}",
                             None if r["qps"] is None else f"{r['qps']:.1f}", *spread(r),
                             r["parameters"] or "(not reached)"]
                            for r in rows], [False, True, True, True, *([True] if repeated else []), False]))
    else:
        out.append(h.paragraph("No result has a k-NN recall: only text indexes (BM25) ran, or the dataset file with "
                               "the ground truth is missing.", "note"))
    costs = cost_rows(dataset, count, batch)
    out.append(h.heading(3, "Cost per build: index size and peak memory"))
    out.append(h.table(["algorithm", "build args", "index size (kB)", "build (s)", "peak memory, build (MB)",
                        "peak memory, search (MB)", "container peak (MB)", "points", "runs"],
                       [[c["algorithm"], c["args"], c["indexsize"], c["build"], c["buildmem"], c["searchmem"],
                         c["containermem"], c["points"], c["runs"]] for c in costs],
                       [False, False, True, True, True, True, True, True, True]))
    out.append(h.paragraph("Peak resident memory of the benchmark process (VmHWM, reset at the start of each phase): "
                           "the build's includes the loaded dataset; the search column is the largest over the "
                           "build's query settings. The container peak (run.py --docker) is its cgroup's, since it "
                           "started, page cache included. Medians over runs.", "note"))
    out.append(h.heading(3, "Plots"))
    plots, skipped = [], []
    declared = [(f"{name}-knn", "k-nn", name) for name in plugin_metrics()]  # plugins' own counters, as distcomps
    for slug, x, y in (*PLOTS, *declared):
        path = _plot_file(img, dataset, count, batch, slug)
        try:
            fig = figure([dataset], x, y, count, batch)
        except (NoResultsError, DatasetError) as exc:
            skipped.append(f"{get_metric(y).name} vs {get_metric(x).name}: {exc}")
            continue
        fig.savefig(path, dpi=100)
        plots.append(h.figure(f"img/{path.name}", f"{get_metric(y).description} vs {get_metric(x).description} "
                                                   "(Pareto frontier per algorithm)"))
    fig = nprobe_figure(dataset, count, batch)
    if fig is None:
        skipped.append("k-nn vs nprobe: no inverted-file (IVF) result with a k-NN recall")
    else:
        path = _plot_file(img, dataset, count, batch, "nprobe-knn")
        fig.savefig(path, dpi=100)
        plots.append(h.figure(f"img/{path.name}", "k-NN recall vs nprobe, one line per IVF build"))
    out.append('<div class="plots">' + "".join(plots) + "</div>")
    if skipped:
        out.append(h.paragraph("Not drawn:", "note") + h.bullets([h.escape(s) for s in skipped]))
    return out


def _threads_section(dataset: str, count: int, levels: list[int], img: Path) -> list[str]:
    """The HTML of the ``run.py --threads`` results at ``count``: throughput and latency per thread count, and QPS
    against threads at k-NN recall 0.95."""
    from topobench.report.plotting import threads_figure

    out = [h.heading(2, f"k = {count}, {' / '.join(map(str, levels))} query threads", f"k{count}-threads")]
    rows = threads_rows(dataset, count, levels)
    out.append(h.heading(3, "Throughput (completed queries per second of wall time) and latency by query threads"))
    out.append(h.table(["algorithm", "recall ≥", "threads", "k-nn", "QPS", "p50 ms", "p95 ms", "p99 ms", "p999 ms",
                        "parameters"],
                       [[r["algorithm"], r["level"], r["threads"], r["k-nn"], r["qps"], r["p50"], r["p95"], r["p99"],
                         r["p999"], r["parameters"] or "(not reached)"] for r in rows],
                       [False, True, True, True, True, True, True, True, True, False]))
    try:
        fig = threads_figure(dataset, count, 0.95)
    except NoResultsError as exc:
        return [*out, h.paragraph(f"Not drawn: QPS vs threads: {exc}", "note")]
    path = img / f"{dataset}-{count}-threads-qps.png"
    fig.savefig(path, dpi=100)
    out.append('<div class="plots">' + h.figure(f"img/{path.name}", "QPS vs query threads at k-NN recall ≥ 0.95")
               + "</div>")
    return out


def _dataset_facts(dataset: str) -> list[str]:
    if not dataset_path(dataset).exists():
        return [h.paragraph(f"The dataset file {dataset_path(dataset)} is missing: no facts or geometry.", "note")]
    ds = load_dataset(dataset, build=False)
    facts = [["distance", ds.distance], ["dimension", ds.dimension], ["vectors", len(ds.train)],
             ["queries", len(ds.test)], ["relevance judgements", len(ds.qrels) if ds.has_qrels else 0]]
    facts += [[key, ds.attrs[key]] for key in DATASET_FACTS if key in ds.attrs]
    out = [h.heading(2, "Dataset", "dataset"), h.table(["", ""], facts)]
    if ds.geometry:
        out += [h.heading(2, "Geometry", "geometry"),
                h.table(["statistic", "value"], [[k, v] for k, v in sorted(ds.geometry.items())], [False, True])]
    return out


def dataset_page(dataset: str, img: Path) -> tuple[str, list[tuple[int, bool]]]:
    """The HTML page of ``dataset`` and the (count, batch) sections it has."""
    found = result_sections(dataset)
    threaded = threads_sections(dataset)
    if not found and not threaded:
        raise NoResultsError(f"no results for dataset {dataset!r} under {results_dir()}: run {run_hint(dataset)} first")
    body = [h.heading(1, f"topobench: {dataset}"), f'<p>{h.link("index.html", "← all datasets")}</p>']
    body.append(h.bullets([h.link(f"#k{c}{'-batch' if b else ''}", f"k = {c}, {'batch' if b else 'single query'}")
                           for c, b in found]
                          + [h.link(f"#k{c}-threads", f"k = {c}, query threads {', '.join(map(str, levels))}")
                             for c, levels in threaded.items()]
                          + [h.link("#dataset", "dataset and geometry")]))
    for count, batch in found:
        logger.info("report: %s, count %d, %s", dataset, count, "batch" if batch else "single query")
        body += _section(dataset, count, batch, img)
    for count, levels in threaded.items():
        body += _threads_section(dataset, count, levels, img)
    body += _dataset_facts(dataset)
    return h.page(f"topobench: {dataset}", body), found


def index_page(pages: Sequence[tuple[str, list[tuple[int, bool]]]], studies: Sequence[str] = ()) -> str:
    """The index: a row per dataset page, then ``studies`` (the "Studies" section's HTML fragments, if any)."""
    rows = []
    for dataset, found in pages:
        best = [r for c, b in found for r in summary_rows([dataset], c, b, levels=(0.95,)) if r["qps"] is not None]
        top = max(best, key=lambda r: r["qps"]) if best else None
        rows.append([h.link(f"{dataset}.html", dataset),
                     ", ".join(f"{c}{' batch' if b else ''}" for c, b in found),
                     f"{top['qps']:.1f} ({top['algorithm']}, k={top['count']})" if top else None])
    table = h.table(["dataset", "counts (k)", "best QPS at k-NN recall ≥ 0.95"], rows, [False, False, True])
    return h.page("topobench report", [h.heading(1, "topobench report"), *([table] if rows else []), *studies])


def write_report(out: Path, datasets: Sequence[str] | None = None) -> list[Path]:
    """Write ``out/index.html`` and ``out/<dataset>.html`` (+ ``out/img/*.png``), and ``out/studies/<name>/`` for
    every study with cell files (:mod:`topobench.study.report`); return the pages written."""
    from topobench.study.report import find_studies, studies_index, write_study_pages

    names = list(datasets) if datasets else result_datasets()
    if not names and not find_studies():
        raise NoResultsError(f"no results under {results_dir()} to report on: run {run_hint('NAME')} first")
    index = out / "index.html"
    if out.exists() and any(out.iterdir()) and h.GENERATOR not in (index.read_text() if index.exists() else ""):
        raise TopobenchError(f"{out} exists and is not a topobench report: choose a new or empty folder for --report")
    with atomic_path(out) as tmp:
        (tmp / "img").mkdir(parents=True)
        pages = []
        for name in names:
            html, found = dataset_page(name, tmp / "img")
            (tmp / f"{name}.html").write_text(html, encoding="utf-8")
            pages.append((name, found))
        studies = write_study_pages(tmp / "studies")  # a page per studies/<name>/cells/, from the cells alone
        (tmp / "index.html").write_text(index_page(pages, studies_index(studies)), encoding="utf-8")
    written = [out / "index.html", *(out / f"{name}.html" for name, _ in pages),
               *(out / s.href for s in studies if s.href)]
    logger.info("wrote %s", ", ".join(map(str, written)))
    return written
