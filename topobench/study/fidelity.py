"""Does a fast-profile study give its exact twin's answers? The report section of a study with ``fidelity_of``.

Estimand, per measure and per non-baseline variant: the difference of the two profiles' effects, seed by seed,

    Δ_s = (fast_v,s − fast_base,s) − (exact_v,s − exact_base,s)

over the seeds both studies trained, with its Student t interval (the same seed draws the same data order, negatives
and dropout masks in both profiles, so the pairing removes the seed's share of the spread). Variants are matched on
every factor except ``variant`` (whose text names the profile): ``weight=0.6`` of the fast study with ``weight=0.6``
of the exact one. A measure enters only where both studies have it (format-2 cells lack the estimands of format 3).

Beside Δ stand the two effects themselves and whether they resolve the same way: both resolved with one sign, both
unresolved, or not the same — the conclusion the fast profile preserves or changes. Each row is a separate 95 %
interval; Holm's correction over the rows is reported with them, since many measures are tested at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from topobench.study import stats
from topobench.study.analysis import Measure, StudyAnalysis, VariantCells, paired_values
from topobench.study.multiplicity import holm, interval_p, resolved_after
from topobench.study.tables import PERCENT, Section, Table, interval_text, num

AGREE, DIFFER = "same", "not the same"


@dataclass(frozen=True)
class FidelityRow:
    """One measure and variant: the exact effect, the fast effect and their per-seed difference Δ."""

    measure: Measure
    variant: str
    exact: stats.PairedDifference
    fast: stats.PairedDifference
    delta: stats.Interval
    seeds: tuple[int, ...]

    @property
    def agreement(self) -> str:
        """``same``: both effects resolved with one sign, or both unresolved; ``not the same`` otherwise."""
        e, f = self.exact.diff, self.fast.diff
        if e.resolved != f.resolved:
            return DIFFER
        return AGREE if not e.resolved or (e.mean > 0) == (f.mean > 0) else DIFFER


def _match_key(v: VariantCells, factors: Sequence[str]) -> tuple[Any, ...]:
    return tuple(value for name, value in zip(factors, v.key, strict=True) if name != "variant")


def fidelity_rows(fast: StudyAnalysis, exact: StudyAnalysis) -> list[FidelityRow]:
    """Every (measure both studies have, variant both have apart from the baselines) with seeds in all four cells."""
    exact_by_key = {_match_key(v, exact.factors): v for v in exact.variants}
    base_exact = exact_by_key.get(_match_key(fast.baseline, fast.factors))
    if base_exact is None:
        return []
    exact_measures = {m.key for m in exact.measures}
    rows = []
    for m in (m for m in fast.measures if m.key in exact_measures):
        for v in fast.others:
            twin = exact_by_key.get(_match_key(v, fast.factors))
            if twin is None or twin is base_exact:
                continue
            fv, fb = paired_values(v, fast.baseline, m)
            ev, eb = paired_values(twin, base_exact, m)
            seeds = tuple(sorted(set(fv) & set(fb) & set(ev) & set(eb)))
            if len(seeds) < 2:
                continue
            f_eff = stats.paired_difference({s: fv[s] for s in seeds}, {s: fb[s] for s in seeds})
            e_eff = stats.paired_difference({s: ev[s] for s in seeds}, {s: eb[s] for s in seeds})
            deltas = [(fv[s] - fb[s]) - (ev[s] - eb[s]) for s in seeds]
            if f_eff is not None and e_eff is not None:
                rows.append(FidelityRow(m, v.label, e_eff, f_eff, stats.mean_interval(deltas), seeds))
    return rows


def _effect(p: stats.PairedDifference, decimals: int) -> str:
    d = p.diff
    return f"{num(d.mean, decimals, signed=True)} {interval_text(d.low, d.high, decimals)}"


def fidelity_section(rows: Sequence[FidelityRow], fast_name: str, exact_name: str) -> Section:
    """The report section: one row per measure and variant, then what the rows say, Holm-corrected."""
    if not rows:
        return Section(f"Fidelity: {fast_name} against {exact_name}", (
            f"No measure and variant that both studies have on two or more shared seeds yet: run more cells of "
            f"{fast_name} (or of {exact_name}).",))
    ps = [interval_p(r.delta) for r in rows]
    adjusted = holm([1.0 if p is None else p for p in ps])
    after = resolved_after(adjusted)
    table = Table(
        ("measure", "variant", f"{exact_name} effect", f"{fast_name} effect", "Δ = fast − exact effect",
         "conclusion", "Δ resolved (Holm)"),
        tuple((r.measure.label, r.variant, _effect(r.exact, r.measure.decimals), _effect(r.fast, r.measure.decimals),
               f"{num(r.delta.mean, r.measure.decimals, signed=True)} "
               f"{interval_text(r.delta.low, r.delta.high, r.measure.decimals)}", r.agreement,
               "yes" if ok else "no")
              for r, ok in zip(rows, after, strict=True)),
        (False, False, True, True, True, False, False))
    same = sum(r.agreement == AGREE for r in rows)
    shifted = [r for r, ok in zip(rows, after, strict=True) if ok]
    seeds = sorted({s for r in rows for s in r.seeds})
    lines = (
        f"{same} of {len(rows)} effects resolve the same way in both profiles (both resolved with one sign, or both "
        "unresolved at this interval).",
        (f"Δ is resolved after Holm's correction over the {len(rows)} rows for: "
         + "; ".join(f"{r.measure.label} ({r.variant})" for r in shifted) + "." if shifted else
         f"No Δ is resolved after Holm's correction over the {len(rows)} rows: no measured difference between the "
         "profiles' effects, within the widths shown."),
    )
    return Section(f"Fidelity: {fast_name} against {exact_name}", (
        f"Each effect is variant − baseline, paired by seed, in its own study; Δ is, seed by seed, the fast effect "
        f"minus the exact effect (seeds {', '.join(map(str, seeds))}), with its {PERCENT} % t interval. "
        "The conclusion column compares what each profile's interval resolves; a Δ interval that excludes 0 means "
        "the fast profile moves the effect itself.", table, lines))
