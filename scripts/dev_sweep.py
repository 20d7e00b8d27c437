#!/usr/bin/env python3
"""Choose an index-aware loss's weight on the dev split (docs/STUDIES.md, "The index-aware losses (issue 19)").

    python scripts/dev_sweep.py cell_assign              # trains the missing candidates (resumable), then chooses
    python scripts/dev_sweep.py adaptive --dry-run       # the candidates, and which are trained already
    python scripts/dev_sweep.py cell_balance --profile fast  # the same sweep in the fast profile (≈ 0.6× a training)

For the loss's candidates (the docs' table: ``SWEEPS`` below) and the reference ``<corpus>-<encoder>-topo`` at the
same seed: the best checkpoint (trained first when missing, as ``run.py`` would: ``recipes.trained_checkpoint``), its
dev nDCG@10 (the run's summary) and its dev lists probed (:func:`topobench.training.dev_cost.dev_lists_probed`), then
the rule (:func:`topobench.training.dev_cost.choose`). Prints one row per candidate and the chosen value, and writes
everything to ``$TOPOBENCH_STUDIES/index-aware/dev-sweep-<loss>.json`` (default studies/). Run from the repository
root. Writing the chosen value into the loss's recipe is left to the reader of the result. ``--profile fast`` runs the
reference and every candidate in the fast profile (``@profile=fast``, issue 23): a cheaper search whose choice the
study then answers in exact arithmetic (the fidelity study found no fast-vs-exact difference resolved); the result
file says which profile chose.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from topobench.cli.common import add_verbosity, guarded
from topobench.cli.options import OneLineParser, integer
from topobench.core.atomic import atomic_path
from topobench.core.errors import ConfigError
from topobench.core.machine import machine_facts, versions
from topobench.core.paths import check_output_file, expand, writing
from topobench.study.cells import studies_dir
from topobench.training import dev_cost
from topobench.training.checkpoints import read_summary
from topobench.training.config import EXACT, PROFILES, TrainConfig
from topobench.training.recipes import recipe_values, run_folder
from topobench.training.variants import format_value, parse_variant

logger = logging.getLogger("dev_sweep")

# The docs' table: the swept values of each loss, in order (the smaller weight first); the rest stays the recipe's.
SWEEPS: dict[str, tuple[dict[str, float], ...]] = {
    "cell_assign": ({"weight": 0.05}, {"weight": 0.2}, {"weight": 0.5}, {"weight": 1.0}),
    "cell_balance": ({"balance": 0.03}, {"balance": 0.1}, {"balance": 0.3}),
    "adaptive": ({"w_min": 0.2, "w_max": 1.0}, {"w_min": 0.2, "w_max": 1.4}, {"w_min": 0.4, "w_max": 1.2}),
}
REFERENCE = "topo"
STUDY = "index-aware"


@dataclass(frozen=True)
class Candidate:
    """One trained configuration of the sweep: its variant name, the swept values (None: the reference) and config."""

    name: str
    values: dict[str, float] | None
    config: TrainConfig

    @property
    def label(self) -> str:
        return ",".join(f"{k}={format_value(v)}" for k, v in self.values.items()) if self.values else REFERENCE


def variant(corpus: str, encoder: str, recipe: str, values: dict[str, float] | None, seed: int,
            profile: str = EXACT) -> Candidate:
    """The candidate ``<corpus>-<encoder>-<recipe>@<values>[,seed=S][,profile=P]`` (the seed named only when it is
    not the recipe's, the profile only when it is not exact), checked as ``run.py`` checks a dataset name; ``values``
    None: the reference (the recipe as it is)."""
    items = {**(values or {}), **({"seed": seed} if seed != recipe_values(recipe)["seed"] else {}),
             **({"profile": profile} if profile != EXACT else {})}
    name = f"{corpus}-{encoder}-{recipe}" + ("@" + ",".join(f"{k}={format_value(v)}" for k, v in items.items())
                                             if items else "")
    parsed = parse_variant(name)
    if parsed is None or not parsed.trains:
        raise ConfigError(f"{name!r} is not a <corpus>-<encoder>-<recipe> name: is {encoder!r} a registered encoder?")
    return Candidate(name, None if values is None else dict(values), parsed.config())


def candidates(loss: str, corpus: str, encoder: str, seed: int,
               profile: str = EXACT) -> tuple[Candidate, list[Candidate]]:
    """The reference (topo, same seed and profile) and the loss's candidates, in the table's order."""
    return (variant(corpus, encoder, REFERENCE, None, seed, profile),
            [variant(corpus, encoder, loss, values, seed, profile) for values in SWEEPS[loss]])


def trained(candidate: Candidate) -> bool:
    return read_summary(run_folder(candidate.config)) is not None


def score(candidate: Candidate) -> dict[str, Any]:
    """The candidate's row: name, swept values, weight (the values in order, for the rule) and its dev numbers."""
    logger.info("%s: dev nDCG@10 and dev lists probed (training first when it is not trained)", candidate.name)
    row: dict[str, Any] = {"name": candidate.name, "values": candidate.values}
    if candidate.values is not None:
        row["weight"] = list(candidate.values.values())
    return {**row, **dev_cost.dev_scores(candidate.config)}


def sweep(loss: str, reference: Candidate, rows: Sequence[Candidate]) -> dict[str, Any]:
    """Score the reference and every candidate, apply the rule: the result file's content."""
    ref = score(reference)
    scored = [score(c) for c in rows]
    equal = dev_cost.kept(scored, ref["ndcg@10"])
    for row in scored:
        row["kept"] = any(row is e for e in equal)
    choice = dev_cost.choose(scored, ref["ndcg@10"])
    return {
        "loss": loss, "study": STUDY, "profile": reference.config.profile,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rule": {"text": dev_cost.RULE, "tolerance": dev_cost.TOLERANCE,
                 "ndcg_floor": ref["ndcg@10"] - dev_cost.TOLERANCE, "nlist": dev_cost.DEV_NLIST,
                 "knn_level": dev_cost.DEV_LEVEL, "k": dev_cost.DEV_K, "ivf_seed": dev_cost.IVF_SEED,
                 "none_kept": not equal},
        "reference": ref, "candidates": scored,
        "choice": {"name": choice["name"], "values": choice["values"],
                   "recipe_values": {k: recipe_values(loss)["loss_args"].get(k) for k in choice["values"]}},
        "machine": machine_facts(), "versions": versions(),
    }


def table(result: dict[str, Any]) -> list[str]:
    """The printed lines: one row per candidate (the reference first), then the choice."""
    lines = [f"{'candidate':<56} {'dev nDCG@10':>11} {'lists probed':>12} {'recall':>7} {'nlist':>5}  kept"]
    for row in [result["reference"], *result["candidates"]]:
        kept = "reference" if row is result["reference"] else "yes" if row["kept"] else "no"
        lines.append(f"{row['name']:<56} {row['ndcg@10']:>11.4f} {row['lists_probed']:>12d} {row['recall']:>7.4f} "
                     f"{row['nlist']:>5d}  {kept}")
    choice, rule = result["choice"], result["rule"]
    values = ",".join(f"{k}={format_value(v)}" for k, v in choice["values"].items())
    why = ("no candidate kept (dev nDCG@10 below the floor): the smallest weight" if rule["none_kept"]
           else "fewest dev lists probed among the kept")
    same = choice["values"] == choice["recipe_values"]
    lines.append(f"chosen {result['loss']}: {values} ({choice['name']}; {why}; floor {rule['ndcg_floor']:.4f})")
    lines.append(f"recipe: {'already' if same else 'not yet'} at this value (plugins/losses/{result['loss']}.py, "
                 "register_recipes)")
    return lines


def dev_sweep_main(args: argparse.Namespace) -> int:
    reference, rows = candidates(args.loss, args.corpus, args.encoder, args.seed, args.profile)
    suffix = "" if args.profile == EXACT else f"-{args.profile}"
    out = expand(args.out) if args.out else studies_dir() / STUDY / f"dev-sweep-{args.loss}{suffix}.json"
    if args.dry_run:
        for c in [reference, *rows]:
            print(f"{c.name:<56} {c.label:<24} {c.config.fingerprint()}  {'trained' if trained(c) else 'to train'}")
        print(f"would write {out}")
        return 0
    check_output_file(out, "dev sweep result")  # before hours of training, not after
    missing = [c.name for c in [reference, *rows] if not trained(c)]
    if missing:
        logger.info("%d of %d runs to train first (about ten minutes each on a 2-core CPU): %s", len(missing),
                    len(rows) + 1, ", ".join(missing))
    result = sweep(args.loss, reference, rows)
    with writing(out, "dev sweep result"), atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    for line in table(result):
        print(line)
    print(f"written: {out}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="dev_sweep.py", description="Choose an index-aware loss's weight on the dev split "
                      "(docs/STUDIES.md, the index-aware losses).")
    p.add_argument("loss", choices=sorted(SWEEPS), help="the loss whose weight to choose")
    p.add_argument("--corpus", default="scifact", help="training corpus (default: scifact)")
    p.add_argument("--encoder", default="minilm", help="encoder (default: minilm)")
    p.add_argument("--seed", type=integer, default=13, help="training seed of every candidate (default: 13)")
    p.add_argument("--profile", choices=PROFILES, default=EXACT, help="arithmetic of every run (default: exact; "
                   "fast: bf16, about 0.6x the training time)")
    p.add_argument("--out", type=Path, help="result file (default: $TOPOBENCH_STUDIES/index-aware/"
                   "dev-sweep-<loss>[-fast].json, studies/ when unset)")
    p.add_argument("--dry-run", action="store_true", help="list the candidates and whether each is trained; exit")
    add_verbosity(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(dev_sweep_main, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
