"""A back-to-back QPS run in progress is kept round by round and goes on only with its own plan on its own machine."""

from __future__ import annotations

import json

import pytest

from topobench.core.errors import ConfigError
from topobench.study.qps_unfinished import UnfinishedRun, unfinished_path

PLAN = {"cells": ["a", "b"], "algorithms": ["flat", "hnsw"], "rounds": 3}
FACTS = {"cpu": "AMD EPYC", "cores": 2, "versions": {"faiss-cpu": "1.15.1"}, "command": "bench/study_qps.py s"}


def a_round(n: int) -> dict:
    return {"order": ["a", "b"] if n % 2 == 0 else ["b", "a"], "load_1min": 1.0, "started": f"t{n}",
            "finished": f"t{n}+", "points": {"a": {"flat": [[[], [], 1.0, 100.0 + n]]}}}


@pytest.fixture
def studies(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOBENCH_STUDIES", str(tmp_path))
    return tmp_path


def test_finished_rounds_are_kept_and_a_new_run_goes_on_after_them(studies):
    run = UnfinishedRun.open("s", PLAN, FACTS)
    assert run.rounds == [] and not unfinished_path("s").exists()
    run.add(a_round(0))
    run.add(a_round(1))
    assert unfinished_path("s") == studies / "s" / "qps" / "unfinished" / "run.json"
    # Started again the same way (another command line is the same machine): the two rounds, as written.
    again = UnfinishedRun.open("s", PLAN, {**FACTS, "command": "bench/study_qps.py s --rounds 3"})
    assert again.rounds == [a_round(0), a_round(1)]
    again.add(a_round(2))
    assert json.loads(unfinished_path("s").read_text())["rounds"] == [a_round(0), a_round(1), a_round(2)]
    again.discard()
    assert not (studies / "s" / "qps" / "unfinished").exists() and (studies / "s" / "qps").is_dir()
    assert UnfinishedRun.open("s", PLAN, FACTS).rounds == []


@pytest.mark.parametrize(("plan", "facts", "message"), [
    ({**PLAN, "rounds": 5}, FACTS, "with other rounds: rerun with the same cells and --rounds to finish it"),
    ({**PLAN, "cells": ["a"]}, FACTS, "with other cells: rerun"),
    ({**PLAN, "algorithms": ("hnsw", "flat")}, FACTS, "with other algorithms: rerun"),
    (PLAN, {**FACTS, "cores": 16}, "measured on another machine (cores differ)"),
    (PLAN, {**FACTS, "versions": {"faiss-cpu": "1.16.0"}}, "measured on another machine (versions differ)"),
])
def test_another_plan_or_machine_is_refused_in_one_line_and_fresh_discards(studies, plan, facts, message):
    UnfinishedRun.open("s", PLAN, FACTS).add(a_round(0))
    with pytest.raises(ConfigError) as raised:
        UnfinishedRun.open("s", plan, facts)
    text = str(raised.value)
    assert text.startswith(str(unfinished_path("s"))) and message in text and "\n" not in text
    assert text.endswith("--fresh to discard it")
    assert len(json.loads(unfinished_path("s").read_text())["rounds"]) == 1  # a refusal changes nothing
    assert UnfinishedRun.open("s", plan, facts, fresh=True).rounds == []
    assert not unfinished_path("s").exists()


def test_a_tuple_plan_is_the_list_it_is_saved_as(studies):
    UnfinishedRun.open("s", {**PLAN, "algorithms": ("flat", "hnsw")}, FACTS).add(a_round(0))
    assert len(UnfinishedRun.open("s", PLAN, FACTS).rounds) == 1


@pytest.mark.parametrize("text", ["{", "[]", '{"plan": [], "machine": {}, "rounds": []}', '{"plan": {}}'])
def test_an_unreadable_unfinished_run_is_named(studies, text):
    path = unfinished_path("s")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"run\.json is not a readable unfinished QPS run .*pass --fresh"):
        UnfinishedRun.open("s", PLAN, FACTS)
    assert UnfinishedRun.open("s", PLAN, FACTS, fresh=True).rounds == [] and not path.exists()
