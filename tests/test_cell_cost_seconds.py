"""A study cell's ``cost_seconds``: which seconds this invocation paid, for a fresh, a resumed and a reused training."""

import datetime
import os
from types import SimpleNamespace

import pytest

from topobench.study import cells

STARTED_AT = "2026-12-05T15:30:00+00:00"


def _summary(last_session=None):
    """A training of 1271.7 s of optimiser steps and three 62 s dev evaluations (an NFCorpus cell's figures)."""
    summary = {"total_steps": 243, "train_seconds": 1271.7, "best_step": 243, "kept": [],
               "evaluations": [{"event": "eval", "step": s, "seconds": 62.0} for s in (162, 203, 243)]}
    return {**summary, "last_session": last_session} if last_session else summary


def _session(from_step, train_seconds, finished_at):
    return {"from_step": from_step, "train_seconds": train_seconds, "eval_seconds": 186.0, "finished_at": finished_at}


def _cost(monkeypatch, summary, build_seconds, recorded_build=0.0, path=None):
    monkeypatch.setattr(cells, "_summary", lambda cell: summary)
    dataset = SimpleNamespace(attrs={"build_seconds": recorded_build}, path=path)
    return cells._cost(SimpleNamespace(), dataset, build_seconds, 17.3, STARTED_AT)


def test_a_training_resumed_in_this_cell_is_charged_whole_and_only_its_last_session_leaves_the_build(monkeypatch):
    """Killed at step 120 and resumed here: this invocation's 1128 s build holds steps 121–243 (749.3 s) and all three
    evaluations (186 s); the rest, 192.7 s, was encoding. Train counts every session."""
    session = _session(120, 749.3, "2026-12-05T15:50:00+00:00")
    cost = _cost(monkeypatch, _summary(session), 1128.0)
    assert cost == {"train": 1457.7, "encode": 192.7, "benchmark": 17.3, "total": pytest.approx(1667.7)}


def test_a_training_run_whole_in_this_cell_leaves_the_rest_of_the_build_as_encoding(monkeypatch):
    session = _session(0, 1271.7, "2026-12-05T15:59:00+00:00")
    cost = _cost(monkeypatch, _summary(session), 1640.0)
    assert cost == {"train": 1457.7, "encode": 182.3, "benchmark": 17.3, "total": pytest.approx(1657.3)}


def test_a_training_finished_before_the_cell_started_is_not_charged_to_it(monkeypatch):
    """A transfer cell or a rerun reuses a checkpoint: its build was all encoding, and the total leaves training out."""
    session = _session(0, 1271.7, "2026-12-04T09:00:00+00:00")
    cost = _cost(monkeypatch, _summary(session), 300.0)
    assert cost == {"train": 1457.7, "encode": 300.0, "benchmark": 17.3, "total": pytest.approx(317.3)}


def test_a_summary_without_sessions_falls_back_on_comparing_the_build_with_the_training(monkeypatch):
    assert _cost(monkeypatch, _summary(), 1640.0)["encode"] == 182.3  # longer than the training: trained here
    assert _cost(monkeypatch, _summary(), 300.0)["encode"] == 300.0  # shorter: a reused checkpoint


def test_a_variant_that_does_not_train_costs_its_build_and_benchmark(monkeypatch):
    assert _cost(monkeypatch, None, 0.5, recorded_build=210.0) == {"train": 0.0, "encode": 210.0, "benchmark": 17.3,
                                                                   "total": pytest.approx(227.3)}


def test_a_dataset_built_earlier_charges_the_training_its_own_build_paid(monkeypatch, tmp_path):
    """A rerun finds the dataset (written 16:10 after a 1128 s build that began 15:51:12): a training that finished
    inside that build was paid by it; one that finished before it was not."""
    path = tmp_path / "dataset.hdf5"
    path.write_bytes(b"")
    written = datetime.datetime(2026, 12, 5, 16, 10, tzinfo=datetime.timezone.utc).timestamp()
    os.utime(path, (written, written))
    inside = _session(120, 749.3, "2026-12-05T16:06:00+00:00")
    cost = _cost(monkeypatch, _summary(inside), 0.2, recorded_build=1128.0, path=path)
    assert cost == {"train": 1457.7, "encode": 192.7, "benchmark": 17.3, "total": pytest.approx(1667.7)}
    before = _session(0, 1271.7, "2026-12-05T15:40:00+00:00")
    cost = _cost(monkeypatch, _summary(before), 0.2, recorded_build=1128.0, path=path)
    assert cost == {"train": 1457.7, "encode": 1128.0, "benchmark": 17.3, "total": pytest.approx(1145.3)}
