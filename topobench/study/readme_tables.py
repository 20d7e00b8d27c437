"""The README's study tables, generated from the committed cell files, so every number in them comes from a committed
file and a test can recompute them (``python scripts/readme_tables.py`` rewrites them, ``--check`` compares).

A generated table sits in README.md between two markers naming the study and the kind of table::

    <!-- study-table w-sweep cells -->
    | … |
    <!-- /study-table -->

Kinds (each from the same analysis as ``study.py report``, :mod:`topobench.study.analysis`):

* ``cells`` — one row per cell: its factors and seed, the task metrics, the index costs at k-NN 0.95 of
  :data:`SUMMARY` (each estimand a column of its own), the geometry relative to the stock model and the mean
  positive-pair cosine;
* ``trends`` — per measure of :data:`SUMMARY`, the slope over the study's numeric factor (mean over seeds of each
  seed's least-squares slope), its 95 % t interval, the change across the sweep, and the p-value adjusted by Holm and by
  Benjamini–Hochberg over the study's whole family of trend tests (as the report's "Corrections");
* ``paired`` — per variant other than the baseline, the seed-paired difference of :data:`PAIRED` with its 95 % t
  interval (bold where the interval excludes 0);
* ``variants`` — per variant, the mean ± half-width of the 95 % t interval over seeds of :data:`VARIANT_MEASURES`;
* ``balance`` — per variant, IVF lists probed at k-NN 0.95 (hull, per build, pooled frontier) beside
  ``ivf_imbalance`` (faiss's imbalance factor of the IVF's list sizes: what a uniform-cell constraint targets), its
  mean ± half-width over seeds and its seed-paired difference from the baseline;
* ``text-search`` — the report's table of the algorithms measured by task metrics alone (BM25) beside the variants.

A measure no cell has (the hull of a study whose cells are all of format 2) is left out; a cell without it shows ``—``.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from topobench.core.errors import TopobenchError
from topobench.study import stats
from topobench.study.analysis import HULL, PER_BUILD, GeometryStat, Measure, StudyAnalysis, format_value, seed_text
from topobench.study.report import STUDIES_FILE, back_to_back, read_cells, study_analysis, study_spec
from topobench.study.resolving import corrections
from topobench.study.tables import Table, across_text, interval_text, num, paired_text, text_search_table

BLOCK = re.compile(r"(?P<open><!-- study-table (?P<study>\S+) (?P<kind>\S+) -->\n)(?P<body>.*?)"
                   r"(?P<close><!-- /study-table -->)", re.S)

# The index costs the README quotes, at k-NN 0.95: the hull first (the primary estimand), the per-build reading, and
# the pooled-frontier reading that format-2 cells had (kept beside them for comparison with earlier figures).
SUMMARY = (Measure("ndcg@10"), Measure("recall@100"),
           Measure("distcomps", "hnsw", HULL), Measure("distcomps", "hnsw", PER_BUILD), Measure("distcomps", "hnsw"),
           Measure("speedup", "hnsw"),
           Measure("lists_probed", "ivf", HULL), Measure("lists_probed", "ivf"), Measure("distcomps", "ivf", HULL))
PAIRED = (Measure("ndcg@10"), Measure("distcomps", "hnsw", HULL), Measure("distcomps", "hnsw", PER_BUILD),
          Measure("distcomps", "hnsw"), Measure("lists_probed", "ivf", HULL), Measure("lists_probed", "ivf"))
VARIANT_MEASURES = (Measure("ndcg@10"), Measure("recall@100"), Measure("distcomps", "hnsw", HULL),
                    Measure("distcomps", "hnsw"), Measure("lists_probed", "ivf", HULL), Measure("lists_probed", "ivf"))
GEOMETRY = (("kmeans_inertia_rel", "k-means inertia / stock"), ("pq_error_rel", "PQ error / stock"))
BALANCE_COSTS = (Measure("lists_probed", "ivf", HULL), Measure("lists_probed", "ivf", PER_BUILD),
                 Measure("lists_probed", "ivf"))
IMBALANCE = GeometryStat("ivf_imbalance")


class ReadmeTableError(TopobenchError):
    """A README table marker names a study without cells or a kind of table that does not exist."""


def _present(a: StudyAnalysis, measures: Sequence[Measure]) -> list[Measure]:
    """The measures of ``measures`` the analysis has (some cell has a value), in that order."""
    keys = {m.key for m in a.measures}
    return [m for m in measures if m.key in keys]


def column_label(m: Measure) -> str:
    """A measure's column header in the README (the report's label, index names in capitals)."""
    return m.label.replace("@0.95", " @ 0.95").replace("hnsw ", "HNSW ").replace("ivf ", "IVF ")


def cells_table(a: StudyAnalysis) -> Table:
    """One row per cell (see the module docstring)."""
    measures = _present(a, SUMMARY)
    headers = (*(a.shown or ("variant",)), "seed", *(column_label(m) for m in measures),
               *(label for _, label in GEOMETRY), "mean cos(q, d⁺)")
    rows = []
    for v in a.variants:
        factors = [format_value(x) for f, x in zip(a.factors, v.key, strict=True) if f in a.shown] or [v.label]
        for c in v.cells:
            cosines = c.get("positive_cosines") or []
            rows.append((*factors, seed_text(c.get("seed")), *(num(m.value(c), m.decimals) for m in measures),
                         *(num(a.geometry(c, stat), 3) for stat, _ in GEOMETRY),
                         num(statistics.mean(cosines), 3) if cosines else "—"))
    width = max(1, len(a.shown))
    return Table(headers, tuple(rows), (False,) * width + (True,) * (len(headers) - width))


def trends_table(a: StudyAnalysis) -> Table:
    """Per measure of :data:`SUMMARY` with a trend: slope, interval, change across the sweep, adjusted p-values."""
    adjusted = corrections(a).trend_adjusted
    rows = []
    for m in _present(a, SUMMARY):
        t = a.trends.get(m.key)
        if t is None or not t.slope.has_interval:
            continue
        adj = adjusted[m.key]
        rows.append((column_label(m), str(len(t.seeds)), num(t.slope.mean, m.decimals, True),
                     interval_text(t.slope.low, t.slope.high, m.decimals), across_text(a, m),
                     "**yes**" if t.slope.resolved else "no", num(adj.holm, 3), num(adj.bh, 3)))
    family = sum(x.p is not None for x in adjusted.values())
    return Table(("measure", "seeds", f"slope per 1 {a.trend_factor}", "95 % CI", "across the sweep", "resolved",
                  f"Holm p (of {family})", f"BH p (of {family})"), tuple(rows),
                 (False, True, True, True, True, False, True, True))


def paired_table(a: StudyAnalysis) -> Table:
    """Per other variant: the seed-paired difference of each measure of :data:`PAIRED` against the baseline."""
    measures = _present(a, PAIRED)
    rows = tuple((v.label, str(len(a.paired[(v.key, measures[0].key)].seeds)) if a.paired.get(
        (v.key, measures[0].key)) else "0",
        *(paired_text(a.paired.get((v.key, m.key)), m.decimals, relative=m.algorithm is not None) for m in measures))
        for v in a.others)
    return Table(("vs " + a.baseline.label, "seeds", *(column_label(m) for m in measures)), rows,
                 (False, True) + (True,) * len(measures))


def _mean_text(interval: stats.Interval | None, decimals: int) -> str:
    if interval is None:
        return "—"
    text = num(interval.mean, decimals)
    return text + (f" ± {num(interval.half_width, decimals)}" if interval.half_width is not None else "")


def variants_table(a: StudyAnalysis) -> Table:
    """Per variant: cells and the mean ± t half-width over seeds of :data:`VARIANT_MEASURES`, and k-means inertia."""
    measures = _present(a, VARIANT_MEASURES)
    rows = []
    for v in a.variants:
        values = [_mean_text(a.intervals.get((v.key, m.key)), m.decimals) for m in measures]
        inertia = [x for c in v.cells if (x := a.geometry(c, "kmeans_inertia_rel")) is not None]
        label = v.label + (" (baseline)" if v is a.baseline else "")
        rows.append((label, str(len(v.cells)), *values, num(statistics.mean(inertia), 3) if inertia else "—"))
    return Table(("variant", "cells", *(column_label(m) for m in measures), "k-means inertia / stock"), tuple(rows),
                 (False, True) + (True,) * (len(measures) + 1))


def balance_table(a: StudyAnalysis) -> Table:
    """Per variant: IVF lists probed (:data:`BALANCE_COSTS`) and ``ivf_imbalance``, mean ± half-width over seeds, and
    the imbalance's seed-paired difference from the baseline."""
    if "ivf_imbalance" not in a.geometry_stats:
        raise ReadmeTableError(f"study {a.name}'s cells have no ivf_imbalance in their geometry: remove its balance "
                               "block")
    measures = _present(a, BALANCE_COSTS)
    rows = []
    for v in a.variants:
        base = v is a.baseline
        rows.append((v.label + (" (baseline)" if base else ""), str(len(v.cells)),
                     *(_mean_text(a.intervals.get((v.key, m.key)), m.decimals) for m in measures),
                     _mean_text(a.geometry_intervals.get((v.key, IMBALANCE.key)), IMBALANCE.decimals),
                     "(baseline)" if base else paired_text(a.geometry_paired.get((v.key, IMBALANCE.key)),
                                                           IMBALANCE.decimals)))
    return Table(("variant", "cells", *(column_label(m) for m in measures), "IVF imbalance",
                  "IVF imbalance vs " + a.baseline.label), tuple(rows), (False,) + (True,) * (len(measures) + 3))


def text_table(a: StudyAnalysis) -> Table:
    """The report's text-search table (:func:`topobench.study.tables.text_search_table`)."""
    table = text_search_table(a)
    if table is None:
        raise ReadmeTableError(f"study {a.name} has no text-search algorithm (BM25): remove its text-search block")
    return table


KINDS: dict[str, Callable[[StudyAnalysis], Table]] = {
    "cells": cells_table, "trends": trends_table, "paired": paired_table, "variants": variants_table,
    "balance": balance_table, "text-search": text_table}


def render(text: str, analysis_of: Callable[[str], StudyAnalysis]) -> str:
    """``text`` with the body of every study-table block regenerated; ``analysis_of(study)`` gives a study's analysis
    (called once per study). Raises :class:`ReadmeTableError` for an unknown kind."""
    analyses: dict[str, StudyAnalysis] = {}

    def block(match: re.Match) -> str:
        study, kind = match["study"], match["kind"]
        if kind not in KINDS:
            raise ReadmeTableError(f"README table kind {kind!r} (study {study}) does not exist: use one of "
                                   f"{', '.join(KINDS)}")
        if study not in analyses:
            analyses[study] = analysis_of(study)
        return match["open"] + KINDS[kind](analyses[study]).markdown() + match["close"]

    return BLOCK.sub(block, text)


def studies_in(text: str) -> list[str]:
    """The studies the blocks of ``text`` name, in order of first appearance."""
    return list(dict.fromkeys(m["study"] for m in BLOCK.finditer(text)))


def analysis_of(study: str, studies: Path, studies_file: Path = STUDIES_FILE) -> StudyAnalysis:
    """The analysis ``study.py report`` makes of ``studies/<study>/cells/*.json`` (the spec from ``studies_file``),
    with the QPS of the study's newest back-to-back run (``studies/<study>/qps/``) where it measured every cell, as the
    report takes them: a README table's QPS is the report's."""
    folder = studies / study / "cells"
    cells = read_cells(folder) if folder.is_dir() else []
    if not cells:
        raise ReadmeTableError(f"README table names study {study!r}, which has no cells in {folder}: run "
                               f"`python study.py run {study}` or remove the block")
    spec = study_spec(study, cells, studies_file)
    return study_analysis(back_to_back(cells, spec, studies)[0], spec)
