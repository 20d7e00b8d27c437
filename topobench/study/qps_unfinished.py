"""A back-to-back run in progress, kept round by round, so that a killed run goes on where it stopped.

``bench/study_qps.py`` benchmarks every cell of a study in rounds (one round of the w-sweep's 18 cells takes about 8
minutes on 2 cores, and a session that ends kills the run). After each round the rounds done so far are written,
atomically, to ``studies/<study>/qps/unfinished/run.json`` — ignored by git and read by no report — with the run's
plan (the cells in order, the algorithms, the number of rounds) and the machine's facts. The next run of the same plan
on the same machine (same CPU, cores, memory, platform, library versions) continues after the last finished round. A
round is the unit: one cut short is measured again whole, so every round still compares all cells under one state of
the machine, and each round says when it started and finished, so the written run shows rounds measured apart.
Another plan or another machine is refused in one line; ``fresh`` discards the unfinished run instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path
from topobench.core.errors import ConfigError
from topobench.study.qps_runs import runs_dir

logger = logging.getLogger(__name__)

FOLDER = "unfinished"
NOT_COMPARED = ("command",)  # how the run was started says nothing about the machine


def unfinished_path(study: str, studies: Path | None = None) -> Path:
    """``<studies>/<study>/qps/unfinished/run.json``."""
    return runs_dir(study, studies) / FOLDER / "run.json"


class UnfinishedRun:
    """The finished rounds of a run in progress: :meth:`open` one, :meth:`add` each round as it ends, :meth:`discard`
    once the whole run is written (:func:`topobench.study.qps_runs.write_runs`)."""

    def __init__(self, path: Path, plan: Mapping[str, Any], facts: Mapping[str, Any], rounds: list[dict]) -> None:
        self.path = path
        self.plan = dict(plan)
        self.facts = dict(facts)
        self.rounds = rounds

    @classmethod
    def open(cls, study: str, plan: Mapping[str, Any], facts: Mapping[str, Any],
             fresh: bool = False) -> UnfinishedRun:
        """The unfinished run of ``study`` to go on with, or a new one (``fresh``: the old one is discarded).

        Refused with a ConfigError naming the file: an unfinished run that cannot be read, or of another ``plan``
        (``{"cells": [...], "algorithms": [...], "rounds": n}``) or another machine (``facts`` other than the
        command line differ)."""
        path = unfinished_path(study)
        if fresh or not path.exists():
            run = cls(path, plan, facts, [])
            if path.exists():
                run.discard()
                logger.info("discarded the unfinished back-to-back run %s", path)
            return run
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            rounds, saved_plan, saved_facts = saved["rounds"], saved["plan"], saved["machine"]
            if not (isinstance(saved_plan, dict) and isinstance(saved_facts, dict) and isinstance(rounds, list)):
                raise ValueError("plan and machine must be objects, rounds a list")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a readable unfinished QPS run ({exc}); delete it or pass --fresh") \
                from None
        differs = _differing(saved_plan, plan)
        if differs:
            raise ConfigError(f"{path} holds an unfinished run of {study} with other {differs}: rerun with the same "
                              f"cells and --rounds to finish it, or pass --fresh to discard it")
        differs = _differing(_compared(saved_facts), _compared(facts))
        if differs:
            raise ConfigError(f"{path} holds an unfinished run of {study} measured on another machine ({differs} "
                              f"differ): its rounds do not compare with this machine's; pass --fresh to discard it")
        logger.info("going on with the unfinished back-to-back run %s: %d of %d rounds done (the first started %s)",
                    path, len(rounds), plan.get("rounds"), rounds[0].get("started") if rounds else "-")
        return cls(path, plan, facts, rounds)

    def add(self, finished_round: Mapping[str, Any]) -> None:
        """Keep one more finished round (written before this returns)."""
        self.rounds.append(dict(finished_round))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"plan": self.plan, "machine": self.facts, "rounds": self.rounds}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    def discard(self) -> None:
        """Remove the unfinished run (its folder too, once empty)."""
        self.path.unlink(missing_ok=True)
        if self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
            self.path.parent.rmdir()


def _compared(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The machine facts two rounds must share to be compared."""
    return {k: v for k, v in facts.items() if k not in NOT_COMPARED}


def _differing(saved: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """The keys whose values differ between ``saved`` (read back from JSON) and ``now`` (compared as JSON gives it
    back: tuples are lists), comma-separated; empty when they agree."""
    now = json.loads(json.dumps(dict(now)))
    return ", ".join(k for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k))
