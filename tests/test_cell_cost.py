"""What a training run spends its time on, and the evaluations it no longer runs: the trainer's schedule matches what
it does, every logged step and event carries its wall and CPU seconds, and skipping the evaluation of a stage end that
no miner encodes the corpus for leaves the trained weights exactly as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_fixtures import tiny_train_config, write_tiny_training

from topobench.training.config import Stage, TrainConfig
from topobench.training.trainer import Trainer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    return write_tiny_training(tmp_path_factory.mktemp("cell-cost"))


def config(tiny, **overrides) -> TrainConfig:
    """Warm-up → a second in-batch stage (no encoding: its start is not evaluated) → model mining, re-mined."""
    stages = [Stage.parse("in_batch:epochs=1"), Stage.parse("in_batch:epochs=1"),
              Stage.parse("model:epochs=2,negatives=1,refresh_steps=3,depth=5,skip=1")]
    return tiny_train_config(tiny, **{"stages": stages, "save_steps": 4, **overrides})


class EveryStageEnd(Trainer):
    """The trainer as it was: an evaluation at the end of every stage, whatever mines next."""

    def _events_after(self, plan, step):
        evaluate, mine = super()._events_after(plan, step)
        return evaluate or step == plan.end, mine


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def final_weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.module.state_dict().items()}


def test_skipping_an_encoding_free_stage_end_leaves_the_weights_and_the_schedule_as_run(tiny, tmp_path):
    now = Trainer(config(tiny), tmp_path / "now")
    summary = now.run()
    was = EveryStageEnd(config(tiny), tmp_path / "was")
    old = was.run()
    # The same weights, bit for bit: evaluating reads the weights and draws no random numbers.
    a, b = final_weights(now), final_weights(was)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [e["ndcg@10"] for e in summary["evaluations"]] == [e["ndcg@10"] for e in old["evaluations"][1:]]
    # Stage 1 (5 steps) ends before another in-batch stage: no evaluation; stage 2 ends before model mining: one.
    assert [e["step"] for e in old["evaluations"]] == [5, 10, 13, 16, 20]
    assert [e["step"] for e in summary["evaluations"]] == [10, 13, 16, 20]
    # The schedule, computed without a model, is what the run did.
    schedule = Trainer(config(tiny), tmp_path / "unused").schedule()
    assert [e["step"] for e in schedule if e["event"] == "eval"] == [e["step"] for e in summary["evaluations"]]
    mined = [(r["stage"], r["step"]) for r in records(tmp_path / "now") if r.get("event") == "mine"]
    assert [(e["stage"], e["step"]) for e in schedule if e["event"] == "mine"] == mined == [(3, 10), (3, 13), (3, 16)]
    assert [(e["stage"], e["steps"]) for e in schedule if e["event"] == "steps"] == [(1, 5), (2, 5), (3, 10)]
    assert not (tmp_path / "unused").exists()


def test_every_step_and_event_is_timed_in_wall_and_cpu_seconds(tiny, tmp_path):
    summary = Trainer(config(tiny, stages=["in_batch:epochs=1", "model:epochs=1,negatives=1,depth=5"]),
                      tmp_path / "run").run()
    log = records(tmp_path / "run")
    assert log and all(r["seconds"] >= 0 and r["cpu_seconds"] >= 0 for r in log)
    kinds = [r.get("event", "step") for r in log]
    assert kinds.count("step") == summary["total_steps"] == 10
    assert {"eval", "mine", "save"} <= set(kinds)
    # The evaluation before model mining encodes the corpus and the dev queries; the miner reuses the corpus.
    evaluation = next(r for r in log if r.get("event") == "eval")
    mining = next(r for r in log if r.get("event") == "mine")
    assert evaluation["step"] == mining["step"] == 5
    assert (evaluation["encodings"], mining["encodings"]) == (2, 1)
    saves = [r["step"] for r in log if r.get("event") == "save"]
    assert saves == [4, 5, 8]  # every save_steps and after the event; none after the last step
