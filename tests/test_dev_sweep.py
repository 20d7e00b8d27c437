"""The index-aware losses' dev sweep (docs/STUDIES.md, issue 19) on a tiny random BERT and the 300-document synthetic
corpus: dev lists probed is the smallest nprobe reaching the level (checked against every nprobe), nlist is clamped
as the cells' geometry clamps it, a trained run's dev numbers are read and recomputed from its best checkpoint, the
rule picks as the docs say (ties, none kept), and scripts/dev_sweep.py lists, refuses and writes its result."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from helpers import ROOT
from training_fixtures import tiny_study_roots, write_recipe_plugin

from topobench.core.registry import get_registry
from topobench.training import dev_cost
from topobench.training.checkpoints import read_summary
from topobench.training.recipes import run_folder
from topobench.training.variants import parse_variant

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("faiss")

SCRIPT = ROOT / "scripts" / "dev_sweep.py"
TINY = {"loss": "topology", "loss_args": {"weight": 0.6, "temperature": 0.05}, "stages": ["in_batch:epochs=1"],
        "batch_size": 16, "lr": 1e-3, "dev_queries": 8, "max_length": 32, "save_steps": 2}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The tiny studies' roots, a ``tiny`` recipe (topology loss, one in-batch epoch) and its run on ``synthetic``,
    trained once for the module and scored by ``dev_scores``."""
    root = tmp_path_factory.mktemp("dev-sweep")
    with pytest.MonkeyPatch.context() as mp:
        model = tiny_study_roots(root, mp)
        recipe = {**TINY, "encoder_args": {"checkpoint": str(model), "progress": False}}
        mp.setenv("TOPOBENCH_PLUGIN_DIRS", str(write_recipe_plugin(root, "tiny", recipe)))
        get_registry.cache_clear()
        config = parse_variant("synthetic-minilm-tiny").config()
        scores = dev_cost.dev_scores(config)
        yield {"root": root, "config": config, "scores": scores}
    get_registry.cache_clear()


def test_dev_scores_read_the_best_checkpoint_and_measure_its_lists(world):
    scores, config = world["scores"], world["config"]
    summary = read_summary(run_folder(config))
    assert scores["ndcg@10"] == summary["kept"][0]["ndcg@10"] and scores["best_step"] == summary["kept"][0]["step"]
    assert scores["checkpoint"] == summary["best"] and scores["fingerprint"] == config.fingerprint()
    # Loaded at the training max_length, the checkpoint scores what the trainer's dev evaluation recorded.
    assert scores["ndcg@10_recomputed"] == pytest.approx(scores["ndcg@10"], abs=1e-4)
    assert scores["queries"] == 8 and scores["docs"] == 300
    assert scores["nlist"] == 75  # 256 lists clamped to a quarter of the 300 documents, as index_geometry does
    assert 1 <= scores["lists_probed"] <= scores["nlist"] and scores["recall"] >= dev_cost.DEV_LEVEL


def test_lists_probed_is_the_smallest_nprobe_reaching_the_level(world):
    from topobench.backends.embedding_cache import EmbeddingCache
    from topobench.corpus.corpora import load_corpus
    from topobench.training.data import config_training_set

    config = world["config"]
    data = config_training_set(load_corpus(config.corpus), config)
    encoder = dev_cost.checkpoint_encoder(config, world["scores"]["checkpoint"])
    cache = EmbeddingCache()
    docs = cache.encode(encoder, data.mining.doc_texts, "doc")
    queries = cache.encode(encoder, data.dev_query_texts, "query")
    ivf = dev_cost.DevIVF(docs, queries, encoder.distance)
    assert ivf.nlist == 75 and ivf.k == 10
    curve = [ivf.recall(p) for p in range(1, ivf.nlist + 1)]
    assert curve == sorted(curve), "recall fell as nprobe grew"
    assert curve[-1] == 1.0  # every list: exact search
    assert curve[0] < dev_cost.DEV_LEVEL  # so the level below is not met at once
    for level in (0.0, 0.3, 0.6, 0.9, 0.95, 1.0):
        probed, recall = ivf.lists_probed(level)
        assert 1 <= probed <= ivf.nlist and recall == curve[probed - 1] >= level
        assert probed == 1 or curve[probed - 2] < level
        assert probed == next(p for p, r in enumerate(curve, 1) if r >= level)  # the linear scan agrees
    assert ivf.lists_probed(0.0) == (1, curve[0])
    out = dev_cost.dev_lists_probed(encoder, data, level=0.0, cache=cache)
    assert out["lists_probed"] == 1 and out["nlist"] == 75 and (out["queries"], out["docs"]) == (8, 300)
    assert dev_cost.dev_lists_probed(encoder, data, cache=cache)["lists_probed"] == world["scores"]["lists_probed"]
    assert cache.encodes == 2  # the corpus and the queries, once each


def test_nlist_is_clamped_as_the_cells_geometry_clamps_it():
    assert dev_cost.clamp_nlist(256, 300) == 75
    assert dev_cost.clamp_nlist(256, 5183) == 256
    assert dev_cost.clamp_nlist(256, 3) == 1


def _row(weight: Any, ndcg: float | None, probed: int) -> dict[str, Any]:
    return {"weight": weight, "ndcg@10": ndcg, "lists_probed": probed}


def test_the_rule_keeps_equal_quality_then_takes_the_fewest_lists():
    rows = [_row(0.05, 0.700, 30), _row(0.2, 0.695, 22), _row(0.5, 0.640, 10), _row(1.0, 0.689, 25)]
    assert dev_cost.choose(rows, reference_ndcg=0.70) is rows[1]  # 0.5 probes fewer, but loses 0.06 nDCG@10
    assert [r["weight"] for r in dev_cost.kept(rows, 0.70)] == [0.05, 0.2]  # 0.689 < 0.70 − 0.01
    assert dev_cost.choose(rows, 0.70, tolerance=0.1) is rows[2]
    assert dev_cost.choose([_row(0.2, 0.69, 22)], 0.70) == _row(0.2, 0.69, 22)  # exactly on the floor: kept


def test_the_rule_breaks_ties_and_falls_back_to_the_smallest_weight():
    tie = [_row(1.0, 0.71, 20), _row(0.5, 0.70, 20), _row(0.2, 0.72, 24)]
    assert dev_cost.choose(tie, 0.70) is tie[1]  # equal lists probed: the smaller weight
    low = [_row(0.5, 0.50, 5), _row(0.05, 0.40, 50), _row(0.2, None, 1)]
    assert dev_cost.choose(low, 0.70) is low[1]  # none kept: the smallest weight, whatever it costs
    pairs = [_row([0.4, 1.2], 0.70, 18), _row([0.2, 1.4], 0.70, 18), _row([0.2, 1.0], 0.60, 12)]
    assert dev_cost.choose(pairs, 0.70) is pairs[1]  # (w_min, w_max) compared in order
    assert dev_cost.choose(pairs, 0.90) is pairs[2]
    with pytest.raises(ValueError):
        dev_cost.choose([], 0.70)


def _script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/dev_sweep.py as a module (in ``sys.modules`` while the test runs, as its dataclass needs)."""
    spec = importlib.util.spec_from_file_location("dev_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "dev_sweep", module)
    spec.loader.exec_module(module)
    return module


def test_the_script_lists_the_docs_candidates_and_refuses_in_one_line(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)

    listed = run("adaptive", "--dry-run", "--out", str(tmp_path / "x.json"))
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()[:-1]]
    assert names == ["scifact-minilm-topo", "scifact-minilm-adaptive@w_min=0.2,w_max=1.0",
                     "scifact-minilm-adaptive@w_min=0.2,w_max=1.4", "scifact-minilm-adaptive@w_min=0.4,w_max=1.2"]
    assert "to train" in listed.stdout and not (tmp_path / "x.json").exists()
    seeded = run("cell_balance", "--seed", "14", "--dry-run")
    assert seeded.returncode == 0 and "scifact-minilm-cell_balance@balance=0.1,seed=14" in seeded.stdout
    fast = run("cell_assign", "--profile", "fast", "--dry-run")
    assert fast.returncode == 0, fast.stderr
    assert [line.split()[0] for line in fast.stdout.splitlines()[:2]] == [
        "scifact-minilm-topo@profile=fast", "scifact-minilm-cell_assign@weight=0.05,profile=fast"]
    assert fast.stdout.splitlines()[-1].endswith("index-aware/dev-sweep-cell_assign-fast.json")
    for args in (["nope"], ["cell_assign", "--encoder", "nope", "--dry-run"], ["adaptive", "--profile", "bf16"]):
        refused = run(*args)
        assert refused.returncode == 2 and refused.stdout == ""
        assert len(refused.stderr.strip().splitlines()) == 1 and refused.stderr.startswith("error: ")


def test_the_script_scores_every_candidate_chooses_and_writes(world, monkeypatch, capsys):
    script = _script(monkeypatch)
    # The tiny recipe's topology weight swept against the tiny recipe itself: the script's own path, end to end.
    monkeypatch.setattr(script, "SWEEPS", {"tiny": ({"weight": 0.0}, {"weight": 1.0})})
    monkeypatch.setattr(script, "REFERENCE", "tiny")
    out = world["root"] / "sweep.json"
    assert script.main(["tiny", "--corpus", "synthetic", "-q", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    result = json.loads(out.read_text())
    assert [c["name"] for c in result["candidates"]] == ["synthetic-minilm-tiny@weight=0.0",
                                                         "synthetic-minilm-tiny@weight=1.0"]
    assert result["reference"]["ndcg@10"] == world["scores"]["ndcg@10"]  # the module's run, reused
    floor = result["reference"]["ndcg@10"] - 0.01
    assert result["rule"]["ndcg_floor"] == pytest.approx(floor) and result["rule"]["nlist"] == 256
    for row in result["candidates"]:
        assert row["kept"] == (row["ndcg@10"] >= floor - 1e-12) and 1 <= row["lists_probed"] <= 75
    expected = dev_cost.choose(result["candidates"], result["reference"]["ndcg@10"])
    assert result["choice"]["name"] == expected["name"] and result["choice"]["values"] == expected["values"]
    assert result["choice"]["recipe_values"] == {"weight": 0.6}
    assert result["profile"] == "exact"
    assert result["machine"]["cores"] >= 1 and "numpy" in result["versions"]
    assert len(printed) == 7 and printed[1].startswith("synthetic-minilm-tiny ")
    assert printed[4].startswith(f"chosen tiny: weight={expected['values']['weight']!r}")
    assert printed[-1] == f"written: {out}"
