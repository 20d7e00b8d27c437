"""The report sections of :mod:`topobench.study.resolving`: equal-parameter cost ratios, both noise sources at once,
corrections for the number of tests, geometry vs cost within one factor value, and per-query hardness — each with
the sentence that says which question its numbers answer."""

from __future__ import annotations

import math

from topobench.study.analysis import HULL, KNN_LEVEL, PER_BUILD, StudyAnalysis
from topobench.study.multiplicity import expected_by_chance
from topobench.study.resolving import HARDNESS_RHO, Adjusted, Resolving, counter_measures, hardness_summary
from topobench.study.tables import PERCENT, Section, Table, interval_text, num

ALPHA = 1.0 - PERCENT / 100.0


def estimand_section(a: StudyAnalysis, r: Resolving) -> Section | None:
    """What the three ways of reading a counter at k-NN recall 0.95 answer, and the equal-parameter ratios."""
    measures = counter_measures(a)
    if not measures:
        return None
    rows = []
    for v in a.others:
        for m in measures:
            c = r.equal_parameters.get((v.key, m.key))
            if c is None:
                rows.append((v.label, m.label.split("@")[0], "0", "—", "—", "—", "—", "no shared setting"))
                continue
            low, high = c.log_ratio.low, c.log_ratio.high
            ci = "no interval" if low is None else interval_text(100 * (math.exp(low) - 1), 100 * (math.exp(high) - 1),
                                                                 1, True)
            rows.append((v.label, m.label.split("@")[0], str(len(c.seeds)), str(c.settings),
                         num(100 * (c.ratio - 1), 1, True) + " %", ci,
                         num(c.recall_difference, 4, True) if c.recall_difference is not None else "—",
                         "yes" if c.log_ratio.resolved else ("no interval" if low is None else "no")))
    return Section(f"Index cost at k-NN {KNN_LEVEL}: three estimands", (
        "A counter (distance computations, lists probed) at a recall level answers one of three questions, and the "
        "tables above show each as a measure of its own: "
        f"(frontier) the cost read off the Pareto frontier pooled over every build, interpolated between two points "
        f"— the measure of format-2 cells, which a saw-tooth frontier makes fragile; ({HULL}) the least mean work "
        "that reaches the level by mixing two settings, read off the lower convex hull of (recall, counter): the "
        f"best the index can do, and stable when one query's recall moves by one neighbour; ({PER_BUILD}) each build "
        "configuration along its own query parameter, the geometric mean over the builds that reach the level: what "
        "a typical build costs. The table below answers a fourth: at identical build and query arguments, how much "
        "more or less work the variant's index does than the baseline's (the geometric mean of the per-setting "
        "ratios, then over seeds), with the recall difference at those settings beside it — equal parameters need "
        "not mean equal recall.",
        Table(("variant", "counter", "seeds", "shared settings", "ratio − 1", f"{PERCENT} % CI", "recall Δ",
               "resolved"), tuple(rows), (False, False, True, True, True, True, True, False))))


def two_level_section(a: StudyAnalysis, r: Resolving) -> Section | None:
    """The task metrics' paired difference by the t over seeds and by the two-level bootstrap, side by side."""
    if not r.hierarchical:
        return None
    rows = []
    for v in a.others:
        for m in a.task_measures:
            p, h = a.paired.get((v.key, m.key)), r.hierarchical.get((v.key, m.key))
            t_text = "—" if p is None else f"{num(p.diff.mean, m.decimals, True)} " \
                                          f"{interval_text(p.diff.low, p.diff.high, m.decimals)}"
            if isinstance(h, str) or h is None:
                rows.append((v.label, m.label, t_text, f"not computed: {h}", "—"))
                continue
            rows.append((v.label, m.label, t_text, f"{num(h.mean, m.decimals, True)} "
                         f"{interval_text(h.low, h.high, m.decimals)}", "yes" if h.resolved else "no"))
    return Section("Both noise sources: seeds, then queries", (
        "The t interval over seeds sees how much the training seed moves a metric but treats each seed's mean over "
        "the test queries as exact; the bootstrap over queries (above) sees the queries but averages the seeds "
        "away. The two-level bootstrap resamples seeds, then the test queries every seed shares, keeping the pairs "
        f"(seed s with seed s, query i with query i), {a.resamples:,} resamples. With three seeds it is too narrow "
        "when the seeds disagree (simulated coverage ≈ 80 % where the t keeps ≈ 94 %, docs/STUDIES.md): read the t "
        "interval as the headline and this one as the check that queries add no doubt the t misses.",
        Table(("variant", "metric", "Δ, t over seeds", "Δ, seeds × queries", "resolved (two-level)"), tuple(rows),
              (False, False, True, True, False))))


def _adjusted_row(adj: Adjusted) -> tuple[str, str, str, str, str]:
    if adj.p is None:
        return ("—", "—", "—", "—", "—")
    return (num(adj.p, 4), num(adj.holm, 4), num(adj.bh, 4), "yes" if adj.resolved("holm", ALPHA) else "no",
            "yes" if adj.resolved("bh", ALPHA) else "no")


def corrections_section(a: StudyAnalysis, r: Resolving) -> Section:
    """Adjusted p-values and 'resolved after correction' for each family of tests."""
    rows = []
    for v in a.others:
        for m in a.measures:
            adj = r.paired_adjusted.get((v.key, m.key))
            if adj is not None and adj.p is not None:
                rows.append(("seed-paired", f"{v.label}: {m.label}", *_adjusted_row(adj)))
    for m in a.measures:
        adj = r.trend_adjusted.get(m.key)
        if adj is not None and adj.p is not None:
            rows.append((f"trend over {a.trend_factor}", m.label, *_adjusted_row(adj)))
    counts = r.counted_tests
    raw = {family: sum(1 for x in (r.paired_adjusted if family == "paired" else r.trend_adjusted).values()
                       if x.p is not None and x.p < ALPHA) for family in counts}
    after = {family: sum(1 for x in (r.paired_adjusted if family == "paired" else r.trend_adjusted).values()
                         if x.resolved("holm", ALPHA)) for family in counts}
    summary = "; ".join(
        f"{family}: {counts[family]} tests, {expected_by_chance(counts[family], ALPHA):.1f} expected to look resolved "
        f"by chance alone, {raw[family]} resolved uncorrected, {after[family]} after Holm"
        for family in counts if counts[family])
    return Section("Corrections for the number of tests", (
        "Each family of tests above (the seed-paired differences; the trends) is corrected as one: Holm's adjusted "
        "p-value keeps the chance of any false 'resolved' in the family below 5 %; Benjamini–Hochberg's keeps the "
        "expected share of false ones among those called resolved below 5 %. p is the two-sided t test of the "
        "interval shown above (the same test: p < 0.05 exactly when that interval excludes 0). " + summary + ".",
        Table(("family", "test", "p", "Holm", "BH", "resolved after Holm", "resolved after BH"), tuple(rows),
              (False, False, True, True, True, False, False))))


def within_section(a: StudyAnalysis, r: Resolving) -> Section | None:
    """Geometry vs cost over all cells beside the correlation within one value of the factor."""
    if not r.within or r.within_factor is None:
        return None
    grouped = {name for group in r.geometry_groups for name in group[1:]}
    rows = []
    for stat in a.geometry_stats:
        if stat in grouped:
            continue
        same = next((g[1:] for g in r.geometry_groups if g[0] == stat), [])
        label = stat + (f" (= {', '.join(same)})" if same else "")
        for m in (m for m in a.correlation_costs if m.metric not in ("qps", "speedup")):  # work, not timing
            c, w = a.correlations.get((stat, m.key)), r.within.get((stat, m.key))
            across = "—" if c is None or c.rho is None else f"{num(c.rho, 2, True)} {interval_text(c.low, c.high, 2)}"
            if w is None or w.pearson is None:
                within = "—"
            else:
                within = f"{num(w.pearson, 2, True)} " + (
                    interval_text(w.pearson_low, w.pearson_high, 2) if w.pearson_low is not None else "no interval")
            resolved = "—" if w is None or w.pearson_low is None else ("yes" if w.resolved else "no")
            rows.append((label, m.label, across, within, resolved))
    return Section(f"Geometry vs index cost within one {r.within_factor}", (
        f"Over all cells a geometry statistic and an index cost both move with {r.within_factor}, so their "
        f"correlation mostly restates {r.within_factor}: association across {r.within_factor}, not a mechanism. "
        f"Within one {r.within_factor} (each value's mean removed: the partial correlation controlling for it, "
        "Pearson, with a bootstrap over cells inside each group) the question is whether cells with, say, more "
        "compact clusters cost less to search other things equal. Statistics whose ranks over the cells are "
        "identical are shown once (named in brackets).",
        Table(("geometry statistic", "index cost", "ρ over all cells", f"r within {r.within_factor}",
               "within resolved"), tuple(rows), (False, False, True, True, False))))


def hardness_section(a: StudyAnalysis, r: Resolving) -> Section | None:
    """Per-query hardness per variant and its paired difference from the baseline."""
    if not r.hardness:
        return None
    rows = []
    for (key, algorithm), values in sorted(r.hardness.items(), key=lambda kv: (kv[0][1], str(kv[0][0]))):
        v = next(x for x in a.variants if x.key == key)
        s = hardness_summary(values)
        paired = r.hardness_paired.get((key, algorithm))
        if paired is None:
            diff = "(baseline)" if v is a.baseline else "—"
        elif isinstance(paired, str):
            diff = f"not computed: {paired}"
        else:
            diff = (f"{num(100 * paired.mean, 3, True)} {interval_text(100 * paired.low, 100 * paired.high, 3)}"
                    + (" resolved" if paired.resolved else ""))
        rows.append((algorithm, v.label, _percent(s["median"]), _percent(s["p90"]), _percent(s["unreached"], 1),
                     diff))
    return Section("Per-query hardness", (
        f"Empirical hardness of a query (Hephaestus, KDD 2025): the share of the corpus's distance computations the "
        f"index needs, at its cheapest setting, to find {HARDNESS_RHO:.0%} of that query's true neighbours — 1 % "
        "means it computed 1 % of what exhaustive search does. Median and 90th percentile over every seed's "
        f"queries; 'never' is the share no setting reached {HARDNESS_RHO:.0%} for. Δ is the paired difference from "
        "the baseline in percentage points over the queries every cell reaches, by the two-level bootstrap (seeds, "
        "then queries).",
        Table(("index", "variant", "median", "90th percentile", "never", "Δ vs baseline (points)"), tuple(rows),
              (False, False, True, True, True, True))))


def _percent(value: float, decimals: int = 3) -> str:
    return "—" if value is None or math.isnan(value) else f"{100 * value:.{decimals}f} %"


def resolving_sections(a: StudyAnalysis, r: Resolving) -> list[Section]:
    """The sections above that apply (a study of format-2 cells gets the corrections and the within-factor table)."""
    found = [estimand_section(a, r), two_level_section(a, r), hardness_section(a, r), within_section(a, r)]
    return [s for s in found if s is not None] + ([corrections_section(a, r)] if a.others else [])
