"""The tables and words of a study report, as Markdown text with fixed formatting (so a report rebuilt from the same
cells is the same bytes on any machine).

Each table is a :class:`Table` (headers and rows of already formatted text), rendered to Markdown here and to HTML by
:mod:`topobench.study.report` from the same rows. Numbers: task metrics to 4 decimals, distance computations and QPS
to 1, lists probed to 2, correlations to 2, p-values to 4; negative numbers with a true minus sign (U+2212),
differences always signed, and a value that rounds to zero printed without a sign.

:func:`markdown_tables` takes the cells, the baseline and the factor names and returns every table and the words;
the individual builders take a :class:`~topobench.study.analysis.StudyAnalysis` so the bootstraps run once.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from topobench.study import stats
from topobench.study.analysis import (
    KNN_LEVEL,
    MIN_TREND_LEVELS,
    REFERENCE,
    GeometryStat,
    Measure,
    StudyAnalysis,
    analyse,
    finite_number,
    format_value,
    seed_text,
)

MINUS = "\u2212"
PERCENT = 95  # the level of every interval, in words (stats.LEVEL)


def num(value: float | None, decimals: int, signed: bool = False) -> str:
    """``value`` to ``decimals`` places; ``—`` for None; a true minus; ``+`` when ``signed``; no sign on zero."""
    if value is None:
        return "—"
    text = f"{value:.{decimals}f}"
    if float(text) == 0.0:
        return text.lstrip("-")
    if text.startswith("-"):
        return MINUS + text[1:]
    return f"+{text}" if signed else text


def interval_text(low: float | None, high: float | None, decimals: int, signed: bool = True) -> str:
    """``[low, high]``, or ``no interval`` when there is none."""
    if low is None or high is None:
        return "no interval"
    return f"[{num(low, decimals, signed)}, {num(high, decimals, signed)}]"


def p_text(p: float, resamples: int) -> str:
    """A bootstrap share to 4 decimals; ``< 1/resamples`` when no resample fell at or below zero."""
    return f"< {num(1.0 / resamples, 4)}" if p == 0 else num(p, 4)


def p_clause(p: float, resamples: int) -> str:
    """``p(Δ ≤ 0) = 0.0213`` or ``p(Δ ≤ 0) < 0.0001``."""
    text = p_text(p, resamples)
    return f"p(Δ ≤ 0) {text}" if text.startswith("<") else f"p(Δ ≤ 0) = {text}"


@dataclass(frozen=True)
class Table:
    """A table of formatted text; ``numeric`` columns are right-aligned."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]

    def markdown(self) -> str:
        def esc(text: str) -> str:
            return text.replace("|", "\\|")

        lines = ["| " + " | ".join(map(esc, self.headers)) + " |",
                 "|" + "|".join("---:" if n else "---" for n in self.numeric) + "|"]
        lines += ["| " + " | ".join(map(esc, row)) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"


def _mean_cell(interval: stats.Interval | None, decimals: int, seeds: int) -> str:
    if interval is None:
        return "—"
    text = num(interval.mean, decimals)
    if interval.half_width is not None:
        text += f" ± {num(interval.half_width, decimals)}"
    return text + (f" (n={interval.n})" if interval.n != seeds else "")


def variant_table(a: StudyAnalysis) -> Table:
    """Per variant (one column per factor, the baseline marked): its seeds and the mean ± the half-width of the 95 %
    t interval over seeds of each task metric and each index cost at k-NN recall 0.95 (``(n=…)`` where fewer cells
    than seeds have the value)."""
    headers = (*a.shown, "seeds", *(m.label for m in a.measures))
    rows = []
    for v in a.variants:
        factors = [format_value(x) for f, x in zip(a.factors, v.key, strict=True) if f in a.shown]
        if v is a.baseline:
            if factors:
                factors[-1] += " (baseline)"
            else:
                factors = ["(baseline)"]
        rows.append((*factors, str(len(v.cells)),
                     *(_mean_cell(a.intervals[(v.key, m.key)], m.decimals, len(v.cells)) for m in a.measures)))
    return Table(tuple(headers) if a.shown else ("variant", *headers), tuple(rows),
                 (False,) * max(1, len(a.shown)) + (True,) * (1 + len(a.measures)))


def _resolved_word(interval: stats.Interval | None) -> str:
    if interval is None:
        return "no shared seed"
    if not interval.has_interval:
        return "no interval"
    return "yes" if interval.resolved else "no"


def paired_table(a: StudyAnalysis) -> Table:
    """Per other variant and measure: ``variant − baseline`` over the seeds both have (same seed paired), the 95 %
    t interval of the per-seed differences, the change relative to the baseline's mean, and whether the interval
    excludes 0."""
    rows = []
    for v in a.others:
        for m in a.measures:
            p = a.paired[(v.key, m.key)]
            if p is None:
                rows.append((v.label, m.label, "0", "—", "—", "—", _resolved_word(None)))
                continue
            rel = p.relative
            rows.append((v.label, m.label, str(len(p.seeds)), num(p.diff.mean, m.decimals, True),
                         interval_text(p.diff.low, p.diff.high, m.decimals),
                         "—" if rel is None else num(100.0 * rel, 1, True) + " %", _resolved_word(p.diff)))
    return Table(("variant", "measure", "paired seeds", "Δ mean", f"{PERCENT} % CI", "Δ %", "resolved"), tuple(rows),
                 (False, False, True, True, True, True, False))


def bootstrap_table(a: StudyAnalysis) -> Table:
    """Per other variant and task metric: the paired bootstrap over queries (per-query values averaged over the seeds
    both variants have), its 95 % percentile interval and the share of resamples with Δ ≤ 0."""
    rows = []
    for v in a.others:
        for m in a.task_measures:
            comp = a.bootstrap[(v.key, m.key)]
            if isinstance(comp, str):
                rows.append((v.label, m.label, "—", "—", "—", "—", "—", f"not computed: {comp}"))
                continue
            r = comp.result
            seeds = ", ".join(map(seed_text, comp.seeds)) + ("" if comp.shared else " (all cells of each)")
            rows.append((v.label, m.label, seeds, str(r.n), num(r.mean, m.decimals, True),
                         interval_text(r.low, r.high, m.decimals), p_text(r.p_le_zero, r.resamples),
                         "yes" if r.resolved else "no"))
    return Table(("variant", "metric", "seeds averaged", "queries", "Δ mean", f"{PERCENT} % CI", "p(Δ ≤ 0)",
                  "resolved"), tuple(rows), (False, False, False, True, True, True, True, False))


def across_text(a: StudyAnalysis, m: Measure) -> str:
    """The change of ``m`` across the sweep (its trend's slope × the factor's range) relative to the baseline's mean,
    as ``−12.1 %``; ``—`` without a trend or a baseline mean."""
    t, reference = a.trends.get(m.key), a.intervals.get((a.baseline.key, m.key))
    if t is None or reference is None or not reference.mean:
        return "—"
    return num(100.0 * t.slope.mean * t.span / abs(reference.mean), 1, True) + " %"


def trend_table(a: StudyAnalysis) -> Table:
    """Per measure: the mean over seeds of each seed's least-squares slope against the numeric factor, its 95 % t
    interval, the change across the sweep (slope × the factor's range) relative to the baseline's mean, and whether
    the interval excludes 0."""
    rows = []
    for m in a.measures:
        t = a.trends.get(m.key)
        if t is None:
            rows.append((m.label, "0", "—", "—", "—", "—", f"fewer than {MIN_TREND_LEVELS} values of it in a seed"))
            continue
        rows.append((m.label, str(len(t.seeds)), str(t.levels), num(t.slope.mean, m.decimals + 1, True),
                     interval_text(t.slope.low, t.slope.high, m.decimals + 1), across_text(a, m),
                     _resolved_word(t.slope)))
    return Table(("measure", "seeds", f"{a.trend_factor} values", f"slope per 1 {a.trend_factor}",
                  f"{PERCENT} % CI", "across the sweep", "resolved"), tuple(rows),
                 (False, True, True, True, True, True, False))


def _trend_sentence(a: StudyAnalysis, m: Measure) -> tuple[str, bool | None]:
    t = a.trends.get(m.key)
    if t is None:
        return f"trend of {m.label} over {a.trend_factor}: not fitted (fewer than {MIN_TREND_LEVELS} values)", None
    if not t.slope.has_interval:
        return (f"trend of {m.label} over {a.trend_factor}: slope {num(t.slope.mean, m.decimals + 1, True)} "
                f"from one seed, no interval", None)
    direction = ("falls" if t.slope.mean < 0 else "rises")
    verdict = (f"resolved at {PERCENT} % ({m.label} {direction} with {a.trend_factor})" if t.slope.resolved
               else f"not resolved at {PERCENT} %")
    return (f"trend of {m.label} over {a.trend_factor}: slope {num(t.slope.mean, m.decimals + 1, True)} "
            f"{interval_text(t.slope.low, t.slope.high, m.decimals + 1)} per 1 {a.trend_factor} over "
            f"{len(t.seeds)} seeds (at least {t.levels} values of it each) — {verdict}"), t.slope.resolved


def paired_text(p: stats.PairedDifference | None, decimals: int, relative: bool = False) -> str:
    """``−0.123 [−0.200, −0.046]`` (with ``relative``: ``−0.123 (−12 %) [−0.200, −0.046]``, the change relative to the
    baseline's mean where it has one), in bold where the interval excludes 0; ``—`` with no shared seed."""
    if p is None:
        return "—"
    text = num(p.diff.mean, decimals, True)
    if relative and p.relative is not None:
        text += f" ({num(100.0 * p.relative, 0, True)} %)"
    text += " " + interval_text(p.diff.low, p.diff.high, decimals)
    return f"**{text}**" if p.diff.has_interval and p.diff.resolved else text


def geometry_table(a: StudyAnalysis) -> Table | None:
    """Per geometry statistic (rows): each variant's mean ± t half-width over seeds, then each other variant's
    seed-paired difference from the baseline with its interval (bold where it excludes 0); None without geometry."""
    if not a.geometry_stats:
        return None
    rows = []
    for stat in a.geometry_stats:
        g = GeometryStat(stat)
        rows.append((g.label, *(_mean_cell(a.geometry_intervals[(v.key, g.key)], g.decimals, len(v.cells))
                                for v in a.variants),
                     *(paired_text(a.geometry_paired[(v.key, g.key)], g.decimals) for v in a.others)))
    headers = ("geometry statistic", *(v.label + (" (baseline)" if v is a.baseline else "") for v in a.variants),
               *(f"Δ {v.label}" for v in a.others))
    return Table(headers, tuple(rows), (False,) + (True,) * (len(headers) - 1))


def correlation_text(c: stats.Correlation, total: int) -> str:
    """``ρ [low, high]`` to 2 decimals, ``(n=…)`` when fewer than ``total`` cells have both values."""
    if c.rho is None:
        text = "undefined"
    else:
        text = num(c.rho, 2, True) + " " + interval_text(c.low, c.high, 2)
    return text + (f" (n={c.n})" if c.n != total else "")


def correlation_table(a: StudyAnalysis) -> Table | None:
    """Spearman's ρ of each geometry statistic (rows) with each index cost at k-NN recall 0.95 (columns) over all
    cells, with its 95 % bootstrap interval over cells; None when there is no geometry or no varying cost."""
    if not a.geometry_stats or not a.correlation_costs:
        return None
    total = len(a.cells)
    rows = tuple((stat, *(correlation_text(a.correlations[(stat, m.key)], total) for m in a.correlation_costs))
                 for stat in a.geometry_stats)
    return Table(("geometry statistic", *(m.label for m in a.correlation_costs)), rows,
                 (False,) + (True,) * len(a.correlation_costs))


TEXT_METRICS = (("ndcg@10", "nDCG@10"), ("recall@100", "Recall@100"), ("mrr@10", "MRR@10"))


def text_search_table(a: StudyAnalysis) -> Table | None:
    """Algorithms measured by task metrics alone — text search (BM25): no vectors, so no k-NN recall, no frontier —
    beside the variants: per algorithm, the task quality of its best grid point in each cell (the same corpus and
    queries in every cell, so one figure, or its range where cells differ) and the median QPS there. None when the
    study has no such algorithm."""
    rows = []
    for algorithm in a.algorithms:
        entries = [e for c in a.cells if (e := (c.get("algorithms") or {}).get(algorithm))]
        tasks = [e["task"] for e in entries if e.get("task") and not e.get("frontier")]
        if not tasks or len(tasks) != len(entries):
            continue
        row = [algorithm, str(len(tasks))]
        for metric, _ in TEXT_METRICS:
            values = [v for t in tasks if (v := finite_number(t.get(metric))) is not None]
            low, high = (num(min(values), 4), num(max(values), 4)) if values else ("—", "—")
            row.append(low if low == high else f"{low}–{high}")
        qps = [v for t in tasks if (v := finite_number(t.get("qps"))) is not None]
        row.append(num(statistics.median(qps), 1) if qps else "—")
        rows.append(tuple(row))
    if not rows:
        return None
    headers = ("algorithm", "cells", *(label for _, label in TEXT_METRICS), "QPS (median)")
    return Table(headers, tuple(rows), (False, True, True, True, True, True))


def cells_table(a: StudyAnalysis) -> Table:
    """One row per cell: seed, fingerprint, minutes spent (training, total) and the machine (from its provenance)."""
    rows = []
    for v in a.variants:
        for c in v.cells:
            cost = c.get("cost_seconds") or {}
            machine = ((c.get("provenance") or {}).get("machine") or {})
            where = machine.get("cpu") or "?"
            if machine.get("gpu"):
                where += f" + {machine['gpu']}"
            minutes = [None if cost.get(k) is None else float(cost[k]) / 60.0 for k in ("train", "total")]
            rows.append((str(c["cell"]), seed_text(c["seed"]), str(c.get("fingerprint") or "—"),
                         num(minutes[0], 1), num(minutes[1], 1), where))
    return Table(("cell", "seed", "fingerprint", "train min", "total min", "machine"), tuple(rows),
                 (False, True, False, True, True, False))


def _direction(m: Measure, mean: float) -> str:
    if m.lower_is_better:
        return "fewer" if mean < 0 else "more"
    return "higher" if mean > 0 else "lower"


def _seed_clause(p: stats.PairedDifference | None, m: Measure) -> tuple[str, bool | None]:
    """The words for a paired difference and whether it is resolved (None: no interval to tell)."""
    if p is None:
        return "no seed in common with the baseline", None
    d = p.diff
    seeds = f"{len(p.seeds)} seed{'s' if len(p.seeds) != 1 else ''}"
    rel = "" if p.relative is None or m.algorithm is None else f" ({num(100.0 * p.relative, 1, True)} %)"
    if not d.has_interval:
        return f"{num(d.mean, m.decimals, True)}{rel} over {seeds}: no interval", None
    verdict = (f"resolved at {PERCENT} % ({_direction(m, d.mean)})" if d.resolved
               else f"not resolved at {PERCENT} %")
    text = f"{num(d.mean, m.decimals, True)} {interval_text(d.low, d.high, m.decimals)}{rel} over {seeds} — {verdict}"
    return text, d.resolved


def resolution_sentences(a: StudyAnalysis) -> list[str]:
    """The report's words: for every other variant and measure, the difference from the baseline with its interval
    and whether it is resolved at 95 % (seed-paired; for task metrics also the bootstrap over queries); then a
    count of what is resolved, the geometry–cost correlations whose interval excludes 0, and the caveat that the
    intervals are per comparison (no correction for how many comparisons the report makes)."""
    out: list[str] = []
    resolved: list[str] = []
    boot_resolved: list[str] = []
    told = boot_told = 0
    for v in a.others:
        for m in a.measures:
            clause, ok = _seed_clause(a.paired[(v.key, m.key)], m)
            text = f"{v.label} vs {a.baseline.label}, {m.label}: {clause}"
            if ok is not None:
                told += 1
                if ok:
                    resolved.append(f"{v.label} {m.label}")
            comp = a.bootstrap.get((v.key, m.key))  # None for index costs
            if isinstance(comp, str):
                text += f"; bootstrap over queries not computed ({comp})"
            elif comp is not None:
                r = comp.result
                boot_told += 1
                if r.resolved:
                    boot_resolved.append(f"{v.label} {m.label}")
                verdict = (f"resolved at {PERCENT} % ({_direction(m, r.mean)})" if r.resolved
                           else f"not resolved at {PERCENT} %")
                text += (f"; over {r.n} queries (paired bootstrap) {num(r.mean, m.decimals, True)} "
                         f"{interval_text(r.low, r.high, m.decimals)}, {p_clause(r.p_le_zero, r.resamples)}"
                         f" — {verdict}")
            out.append(text + ".")
    if told:
        listed = f": {'; '.join(resolved)}" if resolved else ""
        out.append(f"Seed-paired differences resolved at {PERCENT} %: {len(resolved)} of {told}{listed}.")
    else:
        out.append("No seed-paired difference has an interval: each variant needs at least 2 seeds in common with "
                   "the baseline.")
    if boot_told:
        listed = f": {'; '.join(boot_resolved)}" if boot_resolved else ""
        out.append(f"Paired bootstraps over queries resolved at {PERCENT} %: {len(boot_resolved)} of {boot_told}"
                   f"{listed}.")
    trends_told, trends_resolved = 0, []
    for m in (a.measures if a.trend_factor else ()):
        text, resolved_flag = _trend_sentence(a, m)
        out.append(text[0].upper() + text[1:] + ".")
        if resolved_flag is not None:
            trends_told += 1
            if resolved_flag:
                trends_resolved.append(m.label)
    if trends_told:
        listed = f": {'; '.join(trends_resolved)}" if trends_resolved else ""
        out.append(f"Trends over {a.trend_factor} resolved at {PERCENT} %: {len(trends_resolved)} of {trends_told}"
                   f"{listed}.")
    if a.correlations:
        total = [(k, c) for k, c in sorted(a.correlations.items()) if c.rho is not None]
        strong = [(k, c) for k, c in total if c.resolved]
        labels = {m.key: m.label for m in a.correlation_costs}
        listed = "; ".join(f"{stat} vs {labels[cost]} ρ = {num(c.rho, 2, True)} {interval_text(c.low, c.high, 2)}"
                           for (stat, cost), c in strong)
        out.append(f"Geometry vs index cost over {len(a.cells)} cells: {len(strong)} of {len(total)} rank correlations "
                   f"have a {PERCENT} % interval that excludes 0" + (f": {listed}." if listed else "."))
    families = [(told, "seed-paired differences"), (boot_told, "bootstraps over queries"), (trends_told, "trends"),
                (len([c for c in a.correlations.values() if c.rho is not None]), "rank correlations")]
    chance = "; ".join(f"{n * (100 - PERCENT) / 100:.1f} of the {n} {name}" for n, name in families if n)
    out.append(f"Each interval is a {PERCENT} % interval for its own comparison, with no correction for the number of "
               "comparisons in this report: expect about 1 in 20 unresolved-in-truth differences to look resolved"
               + (f" — if nothing differed at all, about {chance} (the measures are correlated, so this is rough)."
                  if chance else "."))
    return out


@dataclass(frozen=True)
class Section:
    """A titled part of the report: paragraphs (str), tables (:class:`Table`) and bullet lists (tuple of str), in
    order. Plain text only, so the same sections render to Markdown and to HTML."""

    title: str
    parts: tuple[str | Table | tuple[str, ...], ...]

    def markdown(self) -> str:
        out = [f"## {self.title}\n"]
        for part in self.parts:
            if isinstance(part, Table):
                out.append(part.markdown())
            elif isinstance(part, tuple):
                out.append("".join(f"- {item}\n" for item in part))
            else:
                out.append(part + "\n")
        return "\n".join(out)


def report_sections(a: StudyAnalysis, extra: Sequence[Section] = ()) -> list[Section]:
    """The report's sections: variants, paired differences, bootstrap over queries, geometry–cost correlations,
    ``extra`` (:mod:`topobench.study.resolving_tables`), what the intervals resolve, and the cells."""
    seeds = sorted({s for v in a.variants for s in v.seeds if s is not None})
    fixed = ", ".join(f"{k}={format_value(v)}" for k, v in a.constant_factors.items())
    chosen = "" if a.baseline_named else " (the study names none: the first variant)"
    sections = [Section("Variants", (
        f"Mean ± half-width of the {PERCENT} % Student t interval over seeds; index costs at k-NN recall "
        f"{KNN_LEVEL} (interpolated along each cell's Pareto frontiers: QPS along recall–QPS, each counter along "
        f"recall–counter, so counters do not carry timing noise). Seeds: {', '.join(map(str, seeds)) or 'none'}. "
        + (f"Fixed: {fixed}. " if fixed else "") + f"Baseline: {a.baseline.label}{chosen}."
        + (f" QPS depends on the machine's state while each cell was benchmarked (cells run at different times); "
           f"QPS÷{REFERENCE} divides it by the exhaustive {REFERENCE} search's QPS from the same sweep, which does "
           "the same work in every cell: a QPS difference that QPS÷" + REFERENCE + " does not show is the machine's."
           if any(m.metric == "speedup" for m in a.cost_measures) else ""),
        variant_table(a)))]
    text = text_search_table(a)
    if text is not None:
        sections[0] = Section(sections[0].title, sections[0].parts + (
            "Text search beside them (it searches the texts, so it has no k-NN recall and no index cost above): "
            "the task quality of its best grid point on these test queries — chosen on them, so an optimistic "
            "figure for a tuned baseline — and its QPS there.", text))
    if a.constant_costs:
        sections[0] = Section(sections[0].title, sections[0].parts + (
            "The same in every cell, so neither compared nor correlated: "
            + "; ".join(f"{m.label} = {num(x, m.decimals)}" for m, x in a.constant_costs) + ".",))
    if a.others:
        sections.append(Section(f"Paired differences vs {a.baseline.label} (same seed)", (
            f"Δ = variant − baseline per seed; mean and {PERCENT} % t interval over the seeds both have (a variant "
            "that trains nothing pairs with every seed). Δ % is relative to the baseline's mean on those seeds.",
            paired_table(a))))
        if a.task_measures:
            sections.append(Section("Paired bootstrap over queries", (
                f"Per-query exact-search values, each variant averaged over the seeds it shares with the baseline, "
                f"queries resampled {a.resamples:,} times (seed {a.bootstrap_seed}); {PERCENT} % percentile interval "
                "of the mean Δ; p(Δ ≤ 0) is the share of resamples at or below 0 (one-sided).",
                bootstrap_table(a))))
    if a.trend_factor:
        sections.append(Section(f"Trend over {a.trend_factor} (every variant at once)", (
            f"Per seed, the least-squares slope of each measure against {a.trend_factor} over the variants that seed "
            f"has (at least {MIN_TREND_LEVELS} values of it); mean and {PERCENT} % t interval of the slopes over "
            "seeds: one test per measure using every cell, where the paired differences above test each variant "
            "apart. A straight line is the test's model, not a claim that the response is linear: the table of "
            "variants shows the shape. Across the sweep = slope × the range of " + a.trend_factor
            + ", relative to the baseline's mean.",
            trend_table(a))))
    geometry = geometry_table(a)
    if geometry is not None:
        sections.append(Section("Geometry by variant", (
            f"What each variant did to its vectors: each geometry statistic's mean ± half-width of the {PERCENT} % "
            "t interval over seeds, and its seed-paired difference from the baseline with the interval (bold where "
            "it excludes 0) — e.g. ivf_imbalance, faiss's nlist·Σc²/(Σc)² of the IVF's list sizes (1 = equal "
            "lists), beside the lists probed above. These describe the mechanism; they are not among the tests of "
            "'What the intervals resolve'.", geometry)))
    table = correlation_table(a)
    if table is None:
        why = "the cells have no geometry statistics" if not a.geometry_stats else "no index cost varies over the cells"
        parts: tuple = (f"Not computed: {why}.",)
    else:
        parts = (f"One point per cell; ρ of average ranks [{PERCENT} % percentile bootstrap interval over cells, "
                 f"{a.resamples:,} resamples].", table)
    if a.dropped_costs:
        parts += ("Index costs left out of the correlations: " + "; ".join(a.dropped_costs) + ".",)

    sections += [Section("Geometry vs index cost (Spearman ρ over cells)", parts), *extra,
                 Section("What the intervals resolve", (tuple(resolution_sentences(a)),)),
                 Section("Cells", (cells_table(a),))]
    return sections


def analysis_markdown(a: StudyAnalysis) -> str:
    """The Markdown of :func:`report_sections`."""
    return "\n".join(section.markdown() for section in report_sections(a))


def markdown_tables(cells: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | str | None,
                    factors: Sequence[str], algorithms: Sequence[str] | None = None) -> str:
    """Every table and the words of a study report, as Markdown.

    ``cells`` are cell dicts (docs/STUDIES.md), ``baseline`` the factor values of the baseline variant (e.g.
    ``{"weight": 0}`` or ``{"variant": "infonce"}``; a bare string is the ``variant`` factor's value, see
    :func:`topobench.study.analysis.normalise_baseline`), ``factors`` the grid's factor names, ``algorithms`` those to
    report (default: every one in the cells).
    """
    return analysis_markdown(analyse(cells, baseline, factors, algorithms))
