"""The trainer on a tiny BERT and a synthetic corpus: checkpoints, negatives, the model miner's cache, resume, CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT
from training_fixtures import tiny_train_config, write_beir_zip, write_tiny_training

from topobench.backends.embedding_cache import EmbeddingCache
from topobench.cli.train import train_main, train_parser
from topobench.core.errors import ConfigError
from topobench.core.registry import get_registry
from topobench.corpus.corpora import load_corpus
from topobench.datasets.store import load_dataset
from topobench.training import recipes
from topobench.training.config import Stage, TrainConfig
from topobench.training.data import drawn_positives, duplicate_free_batches, training_set
from topobench.training.trainer import Trainer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    return write_tiny_training(tmp_path_factory.mktemp("training"))


tiny_config = tiny_train_config


# Configuration and data.


def test_stage_spec_round_trip_and_errors():
    stage = Stage.parse("bm25:epochs=0.5,negatives=2,depth=20,k1=1.2")
    assert (stage.miner, stage.epochs, stage.negatives, stage.miner_args) == ("bm25", 0.5, 2, {"depth": 20, "k1": 1.2})
    assert Stage.parse(stage.spec()) == stage
    for bad in ("", ":epochs=1", "bm25:epochs", "bm25:epochs=0", "model:negatives=-1"):
        with pytest.raises(ConfigError):
            Stage.parse(bad)
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(corpus="c", encoder="e", batch_size=1)


def test_batches_have_no_repeated_query_or_document():
    examples = [("q1", "a"), ("q1", "b"), ("q2", "a"), ("q3", "c"), ("q4", "d"), ("q2", "e"), ("q5", "a")]
    batches = duplicate_free_batches(examples, np.arange(len(examples)), size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(examples)))
    for batch in batches:
        queries = [examples[i][0] for i in batch]
        docs = [examples[i][1] for i in batch]
        assert len(set(queries)) == len(queries) and len(set(docs)) == len(docs) and len(batch) <= 3
    distinct = [("q1", "a"), ("q2", "b"), ("q3", "c"), ("q4", "d")]
    assert duplicate_free_batches(distinct, np.arange(4), size=3) == [[0, 1, 2]]  # a lone 4th has no negative


def test_dev_queries_are_held_out_of_training(tiny):
    corpus = load_corpus(f"local:{tiny['corpus']}")
    data = training_set(corpus, dev_queries=6, seed=1)
    assert len(data.dev_query_ids) == 6 and data.dev_source == "held-out training queries"
    assert not set(data.dev_query_ids) & set(data.mining.query_ids)
    assert {q for q, _ in data.examples} == set(data.mining.query_ids)
    assert training_set(corpus, dev_queries=6, seed=1).dev_query_ids == data.dev_query_ids


def test_a_draw_of_positives_per_query_keeps_every_positive_for_mining():
    positives = {"q1": {"a", "b", "c", "d"}, "q2": {"e"}, "q3": {"f", "g", "h"}}
    assert drawn_positives(["q1", "q2", "q3"], positives, 13, None) == {
        "q1": ["a", "b", "c", "d"], "q2": ["e"], "q3": ["f", "g", "h"]}
    one = drawn_positives(["q1", "q2", "q3"], positives, 13, 1)
    assert one["q2"] == ["e"] and all(len(d) == 1 and set(d) <= positives[q] for q, d in one.items())
    assert drawn_positives(["q1", "q2", "q3"], positives, 13, 1) == one  # one seed, one draw
    two = drawn_positives(["q1", "q2", "q3"], positives, 13, 3)
    assert two["q3"] == ["f", "g", "h"] and len(two["q1"]) == 3  # a query with at most k keeps them all
    draws = {tuple(drawn_positives(["q1"], positives, seed, 1)["q1"]) for seed in range(20)}
    assert len(draws) > 1  # the seed draws


def test_positives_per_query_shapes_the_examples_not_the_mining(tiny):
    corpus = load_corpus(f"local:{tiny['corpus']}")
    every = training_set(corpus, dev_queries=0, seed=1)
    one = training_set(corpus, dev_queries=0, seed=1, positives_per_query=1)
    assert len(one.examples) == len(one.mining.query_ids) < len(every.examples)  # the fixture judges 2 a query
    assert set(one.examples) <= set(every.examples)
    assert one.mining.positives == every.mining.positives  # no other positive is ever mined as a negative
    config = TrainConfig(corpus="c", encoder="toy")
    assert "positives_per_query" not in config.to_dict()  # every run before the field keeps its fingerprint
    drawn = TrainConfig(corpus="c", encoder="toy", positives_per_query=1)
    assert drawn.to_dict()["positives_per_query"] == 1 and drawn.fingerprint() != config.fingerprint()
    with pytest.raises(ConfigError, match="positives_per_query must be at least 1"):
        TrainConfig(corpus="c", encoder="toy", positives_per_query=0)


# Training.


def test_training_keeps_the_best_checkpoints_loadable_by_both_libraries(tiny, tmp_path):
    summary = Trainer(tiny_config(tiny), tmp_path / "run").run()
    kept = sorted(p.name for p in (tmp_path / "run").glob("step-*"))
    assert 1 <= len(summary["kept"]) <= 2 and kept == sorted(f"step-{e['step']:06d}" for e in summary["kept"])
    scores = [e["ndcg@10"] for e in summary["evaluations"]]
    assert summary["kept"][0]["ndcg@10"] == max(scores)
    assert summary["evaluations"][0]["step"] == 5  # after stage 1, then at every re-mining and the end
    assert [e["step"] for e in summary["evaluations"]] == [5, 8, 11, 15]  # no re-mining 1 step before the end
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "step" in r and "event" not in r]
    assert len(steps) == summary["total_steps"] == 15
    assert {"loss", "infonce", "topology", "lr", "grad_norm"} <= set(steps[0])
    assert not (tmp_path / "run" / "resume.pt").exists()

    from sentence_transformers import SentenceTransformer

    best = Path(summary["best"])
    texts = ["t1 t2 t3", "t40 t41"]
    ours = get_registry().get("encoders", "minilm").cls(checkpoint=best, progress=False).encode(texts)
    theirs = SentenceTransformer(str(best), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert Trainer(tiny_config(tiny), tmp_path / "run").run()["best"] == summary["best"]  # done: reused


def test_the_trainer_tells_the_loss_its_stage_and_step(tiny, tmp_path):
    config = tiny_config(tiny, loss_args={"weight": 0.6, "stage_weights": "0.1+0.9", "weight_warmup": 0.2},
                         eval_steps=0, dev_queries=0)
    Trainer(config, tmp_path / "run").run()
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "step" in r and "event" not in r]
    # 15 steps: stage 1 is steps 1-5 (w 0.1), stage 2 steps 6-15 (w 0.9); w rises over the first 3 steps (20 %).
    expected = [(0.1 if r["step"] <= 5 else 0.9) * min(1.0, (r["step"] - 1) / 3) for r in steps]
    assert [r["w"] for r in steps] == pytest.approx(expected, abs=1e-6)


def test_sampled_negatives_are_never_positives(tiny, tmp_path):
    config = tiny_config(tiny, stages=[Stage.parse("model:epochs=3,negatives=4,depth=3,skip=0")])
    trainer = Trainer(config, tmp_path / "run")
    trainer._setup()
    trainer._write_config()
    trainer._mine(trainer.plans[0], 0)
    data = trainer.data
    assert trainer.pools and all(len(pool) == 3 for pool in trainer.pools.values())
    rng = np.random.default_rng(0)
    for query in data.mining.query_ids:
        for _ in range(5):  # 4 wanted from a pool of 3: one random fill each time
            picks = trainer._sample_negatives(query, 4, rng)
            assert len(set(picks)) == 4 and not set(picks) & data.mining.positives[query]


def test_model_miner_follows_the_weights_and_caches_per_weights(tiny):
    corpus = load_corpus(f"local:{tiny['corpus']}")
    data = training_set(corpus, dev_queries=0, seed=0).mining
    encoder = get_registry().get("encoders", "minilm").cls(checkpoint=tiny["model"], progress=False)
    miner = get_registry().get("miners", "model").cls(depth=5, skip=0)
    miner.embedding_cache = cache = EmbeddingCache()
    first = miner.mine(data, encoder)
    assert all(not set(pool) & data.positives[q] for q, pool in first.items())
    encodes = cache.encodes
    assert miner.mine(data, encoder) == first and cache.encodes == encodes  # same weights: no new encoding
    with torch.no_grad():
        for param in encoder.torch_module().parameters():
            param.add_(torch.randn_like(param) * 0.5)
    second = miner.mine(data, encoder)
    assert cache.encodes == encodes + 2  # corpus and queries encoded again under the new weights
    assert second != first


def _train_command(tiny, output: Path) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), "--corpus", f"local:{tiny['corpus']}", "--encoder", "minilm",
            "--encoder-args", f"checkpoint={tiny['model']},progress=false", "--loss", "topology",
            "--stage", "in_batch:epochs=2", "--stage", "model:epochs=3,negatives=1,refresh_steps=4,depth=5",
            "--batch-size", "8", "--lr", "1e-3", "--dev-queries", "6", "--save-steps", "3", "--output", str(output)]


def test_resume_after_sigkill_ends_with_the_same_weights(tiny, tmp_path):
    whole = subprocess.run(_train_command(tiny, tmp_path / "whole"), capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]

    killed = subprocess.Popen(_train_command(tiny, tmp_path / "killed"), stderr=subprocess.PIPE, text=True)
    for line in killed.stderr:
        if "saved the resume state at step 6" in line:  # in stage 1, before the model miner's first round
            killed.send_signal(signal.SIGKILL)
            break
    killed.wait(timeout=60)
    killed.stderr.close()
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "training.json").exists() and (tmp_path / "killed" / "resume.pt").exists()

    resumed = subprocess.run(_train_command(tiny, tmp_path / "killed"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr
    a = json.loads((tmp_path / "whole" / "training.json").read_text())
    b = json.loads((tmp_path / "killed" / "training.json").read_text())
    def scores(summary):
        return [(e["step"], e["ndcg@10"]) for e in summary["evaluations"]]

    assert scores(a) == scores(b)
    assert a["kept"] == b["kept"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()
             if "event" not in json.loads(line)]
    assert steps == list(range(1, a["total_steps"] + 1))  # steps redone after the kill are logged once
    # The summary says what the last invocation did (a study cell's cost subtracts only that from its own time).
    assert a["last_session"]["from_step"] == 0 and a["last_session"]["train_seconds"] == a["train_seconds"]
    assert b["last_session"]["from_step"] >= 6 and b["last_session"]["train_seconds"] <= b["train_seconds"]
    from safetensors.torch import load_file

    for entry in a["kept"]:
        name = f"step-{entry['step']:06d}/model.safetensors"
        left, right = load_file(tmp_path / "whole" / name), load_file(tmp_path / "killed" / name)
        assert left.keys() == right.keys()
        assert all(torch.equal(left[k], right[k]) for k in left)


# Recipes and the command line.


def test_recipe_variant_is_trained_then_encoded_as_a_dataset(tiny, tmp_path, monkeypatch):
    write_beir_zip(tmp_path / "mirror", "synthetic", test_queries=8)
    monkeypatch.setenv("TOPOBENCH_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("TOPOBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOPOBENCH_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.setenv(recipes.CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    small = {"stages": ["in_batch:epochs=1", "model:epochs=1,negatives=1,depth=5"], "batch_size": 8,
             "lr": 1e-3, "dev_queries": 6, "encoder_args": {"checkpoint": str(tiny["model"]), "progress": False}}
    monkeypatch.setitem(recipes.RECIPES, "tiny", {**small, "loss": "topology", "loss_args": {"weight": 0.6}})
    dataset = load_dataset("synthetic-minilm-tiny")
    config = recipes.recipe_config("synthetic", "minilm", "tiny")
    run = tmp_path / "checkpoints" / f"synthetic-minilm-{config.fingerprint()}"
    summary = json.loads((run / "training.json").read_text())
    assert dataset.attrs["recipe"] == "tiny" and dataset.attrs["training_fingerprint"] == summary["fingerprint"]
    # Another spelling of the same configuration is the same dataset: nothing is trained or encoded again.
    assert load_dataset("synthetic-minilm-tiny@weight=0.6").name == "synthetic-minilm-tiny"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [run.name]
    assert dataset.attrs["encoder_checkpoint"] == summary["best"]
    assert dataset.train.shape == (48, 32) and len(dataset.test) == 8 and dataset.geometry


def test_unknown_recipe_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOBENCH_DATASETS", str(tmp_path))
    with pytest.raises(Exception, match="unknown training recipe 'nope'.*infonce, infonce-inbatch, topo"):
        load_dataset("scifact-minilm-nope")


def test_train_help_names_every_knob():
    text = train_parser().format_help()
    for field in TrainConfig.__dataclass_fields__:
        flag = "--stage" if field == "stages" else "--" + field.replace("_", "-")
        assert flag in text, flag


def test_train_cli_errors_are_one_line(tiny, tmp_path, capsys):
    base = ["--corpus", f"local:{tiny['corpus']}", "--encoder", "minilm", "--output", str(tmp_path / "x"), "-q"]
    assert train_main([*base, "--loss", "nope"]) == 2
    assert "unknown loss 'nope'" in capsys.readouterr().err
    assert train_main([*base, "--loss-args", "temperature"]) == 2
    assert "not key=value" in capsys.readouterr().err
    assert train_main([*base, "--stage", "bm25:depth=5,colour=red"]) == 2
    assert "miner 'bm25' cannot be built with" in capsys.readouterr().err
    assert train_main(["--encoder", "minilm"]) == 2
    assert "--corpus and --encoder are required" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # a refused run leaves nothing behind


@pytest.mark.gpu
def test_training_on_cuda_with_mixed_precision_and_gpu_mining(tiny, tmp_path, monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    summary = Trainer(tiny_config(tiny, device="cuda"), tmp_path / "run").run()
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "step" in r and "event" not in r]
    assert len(steps) == summary["total_steps"] == 15
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["grad_norm"]) for r in steps)
    cls = get_registry().get("encoders", "minilm").cls
    vectors = cls(checkpoint=summary["best"], device="cpu", progress=False).encode(["t1 t2 t3", "t40 t41"])
    assert np.isfinite(vectors).all()

    from topobench.core.distances import GPU_ENV

    data = training_set(load_corpus(f"local:{tiny['corpus']}"), dev_queries=0, seed=0).mining
    encoder = cls(checkpoint=summary["best"], device="cuda", progress=False)
    on_gpu = get_registry().get("miners", "model").cls(depth=5, skip=0).mine(data, encoder)
    monkeypatch.setenv(GPU_ENV, "0")
    on_cpu = get_registry().get("miners", "model").cls(depth=5, skip=0).mine(data, encoder)
    same = np.mean([on_gpu[q] == on_cpu[q] for q in on_cpu])
    assert same >= 0.9, same  # exact search either way; fp ties may swap a neighbour
