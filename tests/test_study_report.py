"""The study report from cell files alone: tables and words, figures, byte-for-byte reproducibility, the HTML hook."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from topobench.core.errors import TopobenchError
from topobench.study.analysis import StudyDataError, analyse
from topobench.study.cells import FORMAT
from topobench.study.report import MARKER, read_cells, write_study_report
from topobench.study.tables import markdown_tables, num

GEOMETRY = ("anisotropy", "hubness_skew", "kmeans_inertia_rel", "pos_cos_mean", "pq_error_rel")


def _at(qps: float, distcomps: float | None, lists: float | None) -> dict:
    return {"qps": round(qps, 3), "distcomps": None if distcomps is None else round(distcomps, 3),
            "hops": None if lists is not None or distcomps is None else round(distcomps / 20, 3),
            "lists_probed": None if lists is None else round(lists, 3)}


def make_cell(weight: float, seed: int | None, *, recipe: str = "topo", study: str = "w-sweep",
              algorithms: tuple[str, ...] = ("hnsw", "ivf", "flat"), queries: int = 50, quality: float = 0.0,
              cost: float = -40.0, per_query: bool = True, geometry: bool = True, cosines: bool = True) -> dict:
    """A synthetic cell of docs/STUDIES.md (format 1), as the runner writes one for ``recipe`` at ``weight``.

    Task quality per query is a fixed difficulty (the same queries in every cell) + ``quality``·weight + seed
    noise; HNSW distance computations and IVF lists probed at k-NN 0.95 move by ``cost``·weight (+ seed noise);
    geometry statistics follow the weight (``pos_cos_mean`` up, ``hubness_skew`` down) except ``anisotropy``
    (noise only)."""
    rng = np.random.default_rng([int(round(weight * 1000)), 999 if seed is None else seed, len(recipe)])
    difficulty = np.random.default_rng(7).uniform(0.3, 0.8, queries)
    ndcg = np.clip(difficulty + quality * weight + rng.normal(0, 0.03, queries), 0, 1).round(6)
    recall = np.clip(difficulty + 0.15 + quality * weight + rng.normal(0, 0.03, queries), 0, 1).round(6)
    distcomps = 400 + cost * weight + rng.normal(0, 4)
    lists = 12 + cost / 40 * 3 * weight + rng.normal(0, 0.3)
    qps = 2000 * 400 / distcomps
    algos = {}
    for name in algorithms:
        if name == "hnsw":
            levels = {lvl: _at(qps * f, distcomps / f, None) for lvl, f in (("0.9", 1.3), ("0.95", 1.0),
                                                                             ("0.99", 0.6))}
            frontier = [[0.8, qps * 2, distcomps / 2], [0.9, qps * 1.3, distcomps / 1.3], [0.96, qps, distcomps],
                        [0.995, qps * 0.5, distcomps * 2]]
        elif name == "ivf":
            levels = {lvl: _at(qps * f / 2, distcomps * 3 / f, lists / f) for lvl, f in (("0.9", 1.3), ("0.95", 1.0),
                                                                                           ("0.99", 0.6))}
            frontier = [[0.85, qps, distcomps * 2], [0.96, qps / 2, distcomps * 3], [0.99, qps / 4, distcomps * 5]]
        else:  # flat: exact, one point, the same work in every cell
            levels = {lvl: _at(50 + rng.normal(0, 1), 5183, None) for lvl in ("0.9", "0.95", "0.99")}
            frontier = [[1.0, levels["0.95"]["qps"], 5183]]
        algos[name] = {"at_knn": levels, "at_ndcg": {"level": 0.99 * float(ndcg.mean()), **levels["0.95"]},
                       "frontier": [[round(x, 6) for x in p] for p in frontier]}
    overrides = {} if seed is None else {"seed": seed, "weight": weight}
    name = "zeroshot" if seed is None else f"{recipe}@seed={seed},weight={weight!r}"
    cell = {
        "format": FORMAT, "study": study, "cell": f"minilm-{name}", "dataset": f"scifact-minilm-{name}",
        "corpus": "scifact", "encoder": "minilm", "recipe": recipe, "overrides": overrides,
        "factors": {"encoder": "minilm", "variant": recipe, "weight": weight}, "seed": seed,
        "fingerprint": None if seed is None else f"{abs(hash((weight, seed))) % 16**12:012x}",
        "config": None, "provenance": {"machine": {"cpu": "Test CPU", "cores": 2, "gpu": None, "platform": "linux"}},
        "training": None, "cost_seconds": {"train": 600.0, "encode": 300.0, "benchmark": 200.0, "total": 1100.0},
        "exact": {"ndcg@10": round(float(ndcg.mean()), 6), "recall@100": round(float(recall.mean()), 6),
                  "mrr@10": round(float(ndcg.mean()) + 0.02, 6), "recall@10": round(float(ndcg.mean()) - 0.05, 6)},
        "algorithms": algos,
    }
    if per_query:
        cell["per_query"] = {"query_ids": [str(1000 + i) for i in range(queries)], "ndcg@10": ndcg.tolist(),
                             "recall@100": recall.tolist()}
    if cosines:
        cell["positive_cosines"] = np.clip(rng.normal(0.55 + 0.2 * weight, 0.1, 80), -1, 1).round(6).tolist()
    if geometry:
        noise = rng.normal(0, 0.01, len(GEOMETRY))
        values = {"anisotropy": 0.3, "hubness_skew": 1.2 - 0.4 * weight, "kmeans_inertia_rel": 1.0 - 0.2 * weight,
                  "pos_cos_mean": 0.55 + 0.2 * weight, "pq_error_rel": 1.0 - 0.1 * weight}
        cell["geometry"] = {k: round(values[k] + float(n), 6) for k, n in zip(GEOMETRY, noise, strict=True)}
    return cell


def sweep(weights=(0.0, 0.6, 1.0), seeds=(13, 14, 15), **kw) -> list[dict]:
    return [make_cell(w, s, **kw) for w in weights for s in seeds]


SPEC = {"name": "w-sweep", "baseline": {"weight": 0.0}, "factors": ["encoder", "variant", "weight"],
        "algorithms": ["hnsw", "ivf", "flat"]}


# --- grouping, baseline, pairing ------------------------------------------------------------------------------------


def test_text_search_is_reported_beside_the_variants():
    """BM25 (no vectors: no k-NN recall, no frontier) gets a row of its task quality beside the variants — one figure
    where the cells agree, their range where they do not, the median QPS; a study without it has no such table."""
    cells = sweep(weights=(0.0, 1.0), seeds=(13, 14))
    for i, cell in enumerate(cells):
        cell["algorithms"]["bm25"] = {"at_knn": dict.fromkeys(("0.9", "0.95", "0.99")), "frontier": [], "points": 4,
                                      "task": {"ndcg@10": 0.6828, "recall@100": 0.93 if i else 0.928,
                                               "mrr@10": 0.65, "qps": 800.0 + i}}
    md = markdown_tables(cells, SPEC["baseline"], SPEC["factors"], [*SPEC["algorithms"], "bm25"])
    assert "Text search beside them" in md
    assert "| bm25 | 4 | 0.6828 | 0.9280–0.9300 | 0.6500 | 801.5 |" in md
    assert "| bm25 |" not in md.split("Text search beside them")[0]  # not among the index costs
    plain = markdown_tables(sweep(weights=(0.0, 1.0), seeds=(13, 14)), SPEC["baseline"], SPEC["factors"])
    assert "Text search" not in plain


def test_speedup_over_flat_divides_out_the_machines_state():
    """Cells benchmarked on a machine twice as busy: raw QPS halves for every index, QPS÷flat does not move, and
    the report says why it is there."""
    from topobench.study.analysis import Measure

    quiet, busy = make_cell(1.0, 13), make_cell(1.0, 13)
    for algo in busy["algorithms"].values():
        for level in algo["at_knn"].values():
            level["qps"] /= 2
        algo["frontier"] = [[p[0], p[1] / 2, p[2]] for p in algo["frontier"]]
    speedup, qps = Measure("speedup", "hnsw"), Measure("qps", "hnsw")
    assert qps.value(busy) == pytest.approx(qps.value(quiet) / 2)
    assert speedup.value(busy) == pytest.approx(speedup.value(quiet))
    assert speedup.value(quiet) == pytest.approx(qps.value(quiet) / quiet["algorithms"]["flat"]["frontier"][0][1])
    del quiet["algorithms"]["flat"]
    assert speedup.value(quiet) is None  # no reference in the cell: no speedup
    text = markdown_tables(sweep(), {"weight": 0}, SPEC["factors"], SPEC["algorithms"])
    assert "hnsw QPS÷flat@0.95" in text and "a QPS difference that QPS÷flat does not show is the machine's" in text


def test_variants_grouped_by_the_varying_factor_and_baseline_found():
    cells = sweep()
    a = analyse(list(reversed(cells)), {"weight": 0}, SPEC["factors"], SPEC["algorithms"], resamples=200)
    assert [v.label for v in a.variants] == ["topo weight=0.0", "topo weight=0.6", "topo weight=1.0"]
    assert a.shown == ("weight",) and a.constant_factors == {"encoder": "minilm", "variant": "topo"}
    assert a.baseline.label == "topo weight=0.0" and a.baseline.seeds == (13, 14, 15)  # 0 == 0.0, seeds sorted
    assert [m.key for m in a.cost_measures] == ["hnsw distcomps", "hnsw qps", "hnsw speedup", "ivf distcomps",
                                                "ivf lists_probed", "ivf qps", "ivf speedup", "flat qps"]
    assert [(m.key, x) for m, x in a.constant_costs] == [("flat distcomps", 5183.0)]


def test_paired_difference_from_cells_by_hand():
    cells = sweep(quality=0.03)
    a = analyse(cells, {"weight": 0.0}, SPEC["factors"], resamples=200)
    by = {(c["factors"]["weight"], c["seed"]): c for c in cells}
    diffs = [by[(1.0, s)]["exact"]["ndcg@10"] - by[(0.0, s)]["exact"]["ndcg@10"] for s in (13, 14, 15)]
    p = a.paired[((("minilm", "topo", 1.0)), "ndcg@10")]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    assert p.seeds == (13, 14, 15)
    assert p.diff.mean == pytest.approx(mean, abs=1e-12)
    assert p.diff.high - p.diff.mean == pytest.approx(4.302653 * sd / math.sqrt(3), abs=1e-6)


def test_query_bootstrap_averages_the_shared_seeds():
    cells = sweep(quality=0.03) + [make_cell(1.0, 16, quality=0.03)]  # seed 16 only in the variant: left out
    a = analyse(cells, {"weight": 0.0}, SPEC["factors"], resamples=500)
    comp = a.bootstrap[(("minilm", "topo", 1.0), "ndcg@10")]
    assert comp.seeds == (13, 14, 15) and comp.shared
    per = {(c["factors"]["weight"], c["seed"]): np.array(c["per_query"]["ndcg@10"]) for c in cells}
    expected = np.mean([per[(1.0, s)] - per[(0.0, s)] for s in (13, 14, 15)])
    assert comp.result.mean == pytest.approx(float(expected), abs=1e-12)
    assert comp.result.n == 50 and comp.result.resamples == 500 and comp.result.low > 0


def test_a_seedless_variant_pairs_with_every_baseline_seed():
    zeroshot = make_cell(0.0, None, recipe="zeroshot")
    zeroshot["factors"] = {"encoder": "minilm", "variant": "zeroshot"}
    cells = [zeroshot] + [make_cell(0.6, s, recipe="infonce") for s in (13, 14)]
    for c in cells[1:]:
        c["factors"] = {"encoder": "minilm", "variant": "infonce"}
    a = analyse(cells, "infonce", ["encoder", "variant"], resamples=200)
    assert a.baseline.label == "infonce" and [v.label for v in a.others] == ["zeroshot"]
    p = a.paired[(("minilm", "zeroshot"), "ndcg@10")]
    assert p.seeds == (13, 14) and p.diff.n == 2
    base = [c["exact"]["ndcg@10"] for c in cells[1:]]
    assert p.diff.mean == pytest.approx(zeroshot["exact"]["ndcg@10"] - sum(base) / 2, abs=1e-12)
    assert not a.bootstrap[(("minilm", "zeroshot"), "ndcg@10")].shared


def test_bad_baselines_and_ambiguous_cells_are_one_clear_error():
    cells = sweep(weights=(0.0, 0.6), seeds=(13,))
    with pytest.raises(StudyDataError, match=r"baseline \{'weight': 0.3\} matches no variant.*topo weight=0.0"):
        analyse(cells, {"weight": 0.3}, SPEC["factors"])
    with pytest.raises(StudyDataError, match="matches 2 variants"):
        analyse(cells, {"variant": "topo"}, SPEC["factors"])
    with pytest.raises(StudyDataError, match="same factors"):
        analyse(cells, {"variant": "topo"}, ["variant"])  # weight left out: two cells per (variant, seed)
    with pytest.raises(StudyDataError, match="no cells"):
        analyse([], {}, SPEC["factors"])


# --- tables and words -----------------------------------------------------------------------------------------------


def test_number_formatting_is_fixed():
    assert num(-0.0123456, 4, True) == "\u22120.0123"
    assert num(0.0123456, 4, True) == "+0.0123"
    assert num(-0.00001, 4, True) == "0.0000"  # no sign on a value that rounds to zero
    assert num(None, 2) == "—"


def test_words_say_what_is_resolved_and_what_is_not():
    text = markdown_tables(sweep(quality=0.05, cost=0.0) + sweep(weights=(0.6,), seeds=(16,), quality=0.05,
                                                                     cost=0.0), {"weight": 0.0}, SPEC["factors"])
    words = text.split("## What the intervals resolve")[1].split("## Cells")[0]
    # quality clearly up with w (0.05·w ≫ noise); hnsw distance computations do not move (cost 0)
    assert re.search(r"topo weight=1\.0 vs topo weight=0\.0, nDCG@10: \+0\.0[45]\d\d \[\+0\.0\d{3}, \+0\.0\d{3}\] over "
                     r"3 seeds — resolved at 95 % \(higher\)", words)
    assert re.search(r"topo weight=1\.0 vs topo weight=0\.0, hnsw distcomps@0\.95: [^;]* over 3 seeds — not "
                     r"resolved at 95 %", words)
    assert "p(Δ ≤ 0) < 0.0001 — resolved" in words
    assert "no correction for the number of comparisons" in words
    assert "| 0.6 | 4 |" in text  # the extra seed shows in the variant table (pairs still 3: seed 16 unpaired)


def test_one_seed_says_no_interval():
    text = markdown_tables(sweep(seeds=(13,)), {"weight": 0.0}, SPEC["factors"])
    assert "over 1 seed: no interval" in text
    assert "No seed-paired difference has an interval" in text
    assert "| no interval |" in text  # the paired table's resolved column


# --- the report folder ----------------------------------------------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_report_is_rebuilt_byte_for_byte(tmp_path):
    cells = sweep(quality=0.02)
    first = write_study_report(cells, SPEC, tmp_path / "a")
    second = write_study_report(list(reversed(cells)), dict(SPEC), tmp_path / "b")  # any cell order
    assert [p.name for p in first] == [p.name for p in second]
    assert first[0].name == "report.md" and first[1].name == "index.html"
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys() and {"task.png", "index-hnsw.png", "index-ivf.png", "frontiers.png",
                                     "positive-cosines.png", "geometry-hnsw-distcomps.png"} <= a.keys()
    for name in a:
        assert a[name] == b[name], name
    assert b"Software" not in a["task.png"] and a["task.png"].startswith(b"\x89PNG")
    md = a["report.md"].decode()
    assert md.startswith("# Study: w-sweep\n") and md.rstrip().endswith(MARKER)
    assert str(tmp_path) not in md and str(tmp_path) not in a["index.html"].decode()
    for section in ("## Variants", "## Paired differences vs topo weight=0.0 (same seed)",
                    "## Paired bootstrap over queries", "## Geometry vs index cost", "## What the intervals resolve",
                    "## Figures", "![", "(task.png)"):
        assert section in md


def test_figures_without_their_data_are_skipped_with_reasons(tmp_path):
    cells = sweep(weights=(0.0, 1.0), seeds=(13, 14), algorithms=("hnsw",), per_query=False, geometry=False,
                  cosines=False)
    for c in cells:
        c["algorithms"]["flat"] = None  # the runner's entry for an algorithm without results in this cell
    files = write_study_report(cells, SPEC, tmp_path / "r")
    names = {p.name for p in files}
    assert {"task.png", "index-hnsw.png", "frontiers.png"} <= names
    assert not names & {"index-ivf.png", "positive-cosines.png"} and not any(n.startswith("geometry-") for n in names)
    md = (tmp_path / "r" / "report.md").read_text()
    assert "- index-ivf.png: no cell has ivf results (ivf is not in this study)" in md
    assert "- index-flat.png: no cell has flat results (flat is not in this study)" in md
    assert "- geometry-*.png: the cells have no geometry statistics" in md
    assert "- positive-cosines.png: no cell has positive_cosines" in md
    assert "not computed: cell minilm-topo@seed=13,weight=0.0 has no per-query ndcg@10" in md
    assert "Not computed: the cells have no geometry statistics." in md


def test_worker_processes_draw_the_same_figures_and_skip_the_same_ones_in_the_same_order(tmp_path):
    from topobench.study.figures import draw_figures
    from topobench.study.report import study_analysis

    cells = sweep(weights=(0.0, 1.0), seeds=(13, 14), algorithms=("hnsw",), per_query=False, cosines=False)
    a = study_analysis(cells, SPEC)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    serial = draw_figures(a, tmp_path / "one", processes=1)
    parallel = draw_figures(a, tmp_path / "two", processes=2)
    assert parallel == serial and len(serial[0]) >= 4 and serial[1]  # drawn and not drawn, each in report order
    for drawn in serial[0]:
        assert (tmp_path / "two" / drawn.file).read_bytes() == (tmp_path / "one" / drawn.file).read_bytes()


def test_without_worker_processes_the_figures_are_drawn_one_by_one(tmp_path, monkeypatch):
    from topobench.study import figures
    from topobench.study.report import study_analysis

    def no_semaphores(*args, **kwargs):
        raise OSError("[Errno 38] Function not implemented")  # what a machine without /dev/shm answers

    monkeypatch.setattr(figures, "ProcessPoolExecutor", no_semaphores)
    cells = sweep(weights=(0.0, 1.0), seeds=(13, 14), algorithms=("hnsw",), per_query=False, geometry=False)
    drawn, _ = figures.draw_figures(study_analysis(cells, SPEC), tmp_path, processes=2)
    assert drawn and all((tmp_path / d.file).stat().st_size > 1000 for d in drawn)


def test_frontier_panels_show_no_recall_above_one():
    from topobench.study.figures import RECALL_MARGIN, frontier_figure
    from topobench.study.report import study_analysis

    fig, seed = frontier_figure(study_analysis(sweep(weights=(0.0, 1.0), seeds=(13, 14)), SPEC))
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert seed == 13 and set(panels) == {"hnsw", "ivf", "flat"}
    for title, ax in panels.items():
        left, right = ax.get_xlim()
        assert right <= 1.0 + RECALL_MARGIN and left < 0.95, (title, left, right)
        assert all(x <= right for line in ax.get_lines() for x in line.get_xdata()), title  # points at 1.0 stay in


def test_report_replaces_only_an_earlier_report(tmp_path):
    cells = sweep(weights=(0.0, 1.0), seeds=(13, 14), algorithms=("hnsw",), geometry=False, cosines=False)
    out = tmp_path / "report"
    write_study_report(cells, SPEC, out)
    (out / "stale.png").write_bytes(b"old")
    write_study_report(cells, SPEC, out)  # an earlier report: replaced whole
    assert not (out / "stale.png").exists() and (out / "report.md").exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(TopobenchError, match="is not a study report"):
        write_study_report(cells, SPEC, other)
    assert [p.name for p in other.iterdir()] == ["mine.txt"]
    with pytest.raises(StudyDataError):  # a failed report leaves the previous one as it was
        write_study_report(cells, {**SPEC, "baseline": {"weight": 0.5}}, out)
    assert (out / "report.md").read_text().rstrip().endswith(MARKER)


def _write_cells(folder: Path, cells: list[dict]) -> None:
    folder.mkdir(parents=True)
    for c in cells:
        (folder / f"{c['cell']}.json").write_text(json.dumps(c, indent=1))


def test_read_cells_names_a_broken_file(tmp_path):
    cells = sweep(weights=(0.0,), seeds=(13, 14))
    folder = tmp_path / "w-sweep" / "cells"  # studies/<study>/cells/: a cell's place names its study
    _write_cells(folder, cells)
    assert read_cells(folder) == sorted(cells, key=lambda c: c["cell"])
    (folder / "broken.json").write_text("{not json")
    with pytest.raises(TopobenchError, match=r"broken\.json is not a readable cell file"):
        read_cells(folder)
    (folder / "broken.json").write_text(json.dumps({"format": FORMAT + 1}))
    with pytest.raises(TopobenchError, match=f"not a format-{FORMAT} cell file"):
        read_cells(folder)


def test_html_report_links_a_page_per_study(workspace, monkeypatch):
    from topobench.report.html_report import write_report

    monkeypatch.chdir(workspace)  # no studies.yaml here: the spec is inferred from the cells
    cells = sweep(weights=(0.0, 1.0), seeds=(13, 14), algorithms=("hnsw",), geometry=False, study="mini")
    _write_cells(workspace / "studies" / "mini" / "cells", cells)
    _write_cells(workspace / "studies" / "broken" / "cells", [])
    (workspace / "studies" / "broken" / "cells" / "x.json").write_text("[]")
    written = write_report(workspace / "out")  # no benchmark results at all: the studies alone make a report
    assert workspace / "out" / "studies" / "mini" / "index.html" in written
    index = (workspace / "out" / "index.html").read_text()
    assert '<a href="studies/mini/index.html">mini</a>' in index
    assert "broken" in index and f"not a format-{FORMAT} cell file" in index
    page = (workspace / "out" / "studies" / "mini" / "index.html").read_text()
    assert '<img src="task.png"' in page and '<a href="../../index.html">' in page
    assert "Baseline: topo weight=0.0 (the study names none: the first variant)." in page
    assert (workspace / "out" / "studies" / "mini" / "report.md").exists()


def test_a_numeric_sweep_gets_one_trend_test_per_measure():
    """Distance computations fall by 40 per unit of w (+ seed noise) in the synthetic sweep and task quality does not
    move: the per-seed slopes find the first (about −40, resolved) and not the second; the report's words say so."""
    a = analyse(sweep(), {"weight": 0}, SPEC["factors"], SPEC["algorithms"], resamples=200)
    assert a.trend_factor == "weight"
    cost = a.trends["hnsw distcomps"]
    assert cost.seeds == (13, 14, 15) and cost.levels == 3 and cost.span == 1.0
    assert cost.slope.resolved and -50 < cost.slope.mean < -30
    assert not a.trends["ndcg@10"].slope.resolved
    text = markdown_tables(sweep(), {"weight": 0}, SPEC["factors"], SPEC["algorithms"])
    assert "## Trend over weight (every variant at once)" in text
    assert re.search(r"Trend of hnsw distcomps@0\.95 over weight: slope −\d+\.\d+ \[.*\] per 1 weight over 3 seeds "
                     r".*resolved at 95 % \(hnsw distcomps@0\.95 falls with weight\)", text)
    assert "Trends over weight resolved at 95 %:" in text


def test_no_trend_without_three_numeric_values_of_one_factor():
    two = analyse(sweep(weights=(0.0, 1.0)), {"weight": 0}, SPEC["factors"], SPEC["algorithms"], resamples=200)
    assert two.trend_factor is None and not two.trends
    assert "Trend over" not in markdown_tables(sweep(weights=(0.0, 1.0)), {"weight": 0}, SPEC["factors"])
    recipes = [make_cell(0.6, s, recipe=r) for r in ("infonce", "topo", "topo-staged") for s in (13, 14)]
    named = analyse(recipes, {"variant": "infonce"}, SPEC["factors"], SPEC["algorithms"], resamples=200)
    assert named.trend_factor is None  # recipes are names, not numbers


def test_geometry_by_variant_means_and_paired_differences_by_hand():
    """Each geometry statistic per variant (mean and t interval over seeds) and paired with the baseline by seed, as
    computed by hand from the cells; the report shows them in a section of their own, resolved differences bold."""
    cells = sweep()
    a = analyse(cells, {"weight": 0.0}, SPEC["factors"], resamples=200)
    by = {(c["factors"]["weight"], c["seed"]): c["geometry"]["pos_cos_mean"] for c in cells}
    values = [by[(1.0, s)] for s in (13, 14, 15)]
    diffs = [by[(1.0, s)] - by[(0.0, s)] for s in (13, 14, 15)]
    interval = a.geometry_intervals[(("minilm", "topo", 1.0), "geometry pos_cos_mean")]
    paired = a.geometry_paired[(("minilm", "topo", 1.0), "geometry pos_cos_mean")]
    mean, dmean = sum(values) / 3, sum(diffs) / 3
    sd = math.sqrt(sum((d - dmean) ** 2 for d in diffs) / 2)
    assert interval.mean == pytest.approx(mean, abs=1e-12) and interval.n == 3
    assert paired.seeds == (13, 14, 15) and paired.diff.mean == pytest.approx(dmean, abs=1e-12)
    assert paired.diff.high - paired.diff.mean == pytest.approx(4.302653 * sd / math.sqrt(3), abs=1e-6)
    assert (("minilm", "topo", 0.0), "geometry pos_cos_mean") not in a.geometry_paired  # the baseline itself
    section = markdown_tables(cells, {"weight": 0.0}, SPEC["factors"]).split("## Geometry by variant")[1]
    table = section.split("## ")[0]
    assert ("| geometry statistic | topo weight=0.0 (baseline) | topo weight=0.6 | topo weight=1.0 "
            "| Δ topo weight=0.6 | Δ topo weight=1.0 |") in table
    row = next(line for line in table.splitlines() if line.startswith("| pos_cos_mean |"))
    assert row.split(" | ")[-1].startswith(f"**+{dmean:.3f} [")  # +0.2 by construction, noise 0.01: resolved
    anisotropy = next(line for line in table.splitlines() if line.startswith("| anisotropy |"))
    assert "**" not in anisotropy  # noise only
