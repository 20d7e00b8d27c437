"""The index-aware losses of issue 19 (plugins/losses/cell_assign.py, cell_balance.py, adaptive.py): values on
hand-made batches, gradients, the centroid refresh tied to the model miner's encodings, the adaptive weights' bounds,
and a tiny study with each loss."""

from __future__ import annotations

import io
import json
import logging
import math
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT
from training_fixtures import tiny_study_roots, tiny_train_config, write_recipe_plugin, write_tiny_training

from topobench.core.centroids import kmeans, nearest_centroid, unit_rows
from topobench.core.losses import check_loss, info_nce, positive_cosine
from topobench.core.registry import get_registry
from topobench.training.trainer import Trainer
from topobench.training.variants import parse_variant

torch = pytest.importorskip("torch")

NAMES = ("cell_assign", "cell_balance", "adaptive")
E2 = math.exp(-2.0)
S = 1.0 + E2  # the soft-assignment normaliser of the hand-made batch below


def make(name: str, **options):
    return get_registry().create("losses", name, **options)


def with_centroids(loss, centroids):
    """``loss`` given the centroids as a resumed run would (its own state), without k-means."""
    loss.load_state_dict({"centroids": torch.tensor(centroids, dtype=torch.float64), "refreshes": 1})
    return loss


def hand_batch():
    """B = 2 in 2-d: q₁ = (1, 0), d₁⁺ = (0, 1); q₂ = (0, 1), d₂⁺ = (−1, 0); cells c₁ = (1, 0), c₂ = (0, 1)."""
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    p = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    return q, p, [[1.0, 0.0], [0.0, 1.0]]


# InfoNCE at τ = 1 on the hand batch: the logits q·d are [[0, −1], [1, 0]], targets on the diagonal, so
# InfoNCE = ½ (log(1 + e⁻¹) + log(1 + e)) = ½ (0.313262 + 1.313262) = 0.813262.
HAND_INFONCE = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.e))


def test_hand_batch_infonce_is_what_the_helper_computes():
    q, p, _ = hand_batch()
    assert HAND_INFONCE == pytest.approx(0.813262, abs=1e-6)
    assert float(info_nce(q, p, None, temperature=1.0)) == pytest.approx(HAND_INFONCE, abs=1e-12)


def test_cell_assign_on_a_hand_made_batch():
    # τ_a = 1; for unit x, ‖x − c‖² = 2 − 2 x·c. Soft assignments (S = 1 + e⁻²):
    #   a(q₁) = (1, e⁻²)/S, a(d₁⁺) = (e⁻², 1)/S, a(q₂) = (e⁻², 1)/S, a(d₂⁺) = softmax(−4, −2) = (e⁻², 1)/S.
    # CE₁ = −Σ a(d₁⁺) log a(q₁) = (e⁻²/S)·log S + (1/S)·(2 + log S) = log S + 2/S        = 1.888522
    # CE₂ = H(a(q₂))               = log S + 2e⁻²/S                                        = 0.365333
    # mean = log S + 1 = 1.126928; loss = InfoNCE + 0.5 · mean = 0.813262 + 0.563464 = 1.376726.
    q, p, centroids = hand_batch()
    loss = with_centroids(make("cell_assign", weight=0.5, temperature=1.0, assign_temperature=1.0), centroids)
    out = loss(q, p)
    assert float(out["cell"]) == pytest.approx(math.log(S) + 1.0, abs=1e-12)
    assert float(out["cell"]) == pytest.approx(1.126928, abs=1e-6)
    assert float(out["loss"]) == pytest.approx(HAND_INFONCE + 0.5 * (math.log(S) + 1.0), abs=1e-12)
    assert float(out["loss"]) == pytest.approx(1.376726, abs=1e-6)
    assert out["w"] == 0.5 and float(out["infonce"]) == pytest.approx(HAND_INFONCE, abs=1e-12)
    assert not out["cell"].requires_grad and not out["infonce"].requires_grad


def test_cell_balance_on_a_hand_made_batch():
    # Alignment: cos(q₁, d₁⁺) = cos(q₂, d₂⁺) = 0, so mean(1 − cos) = 1.
    # Balance over the documents d₁⁺, d₂⁺: both assigned (e⁻², 1)/S, so ā = (e⁻², 1)/S and
    # KL(ā ‖ U) = log 2 − H(ā) = log 2 − (log S + 2e⁻²/S) = 0.693147 − 0.365333 = 0.327814.
    # loss = 0.813262 + 0.6 · 1 + 0.5 · 0.327814 = 1.577169.
    q, p, centroids = hand_batch()
    loss = with_centroids(make("cell_balance", weight=0.6, balance=0.5, temperature=1.0, assign_temperature=1.0),
                          centroids)
    out = loss(q, p)
    kl = math.log(2) - (math.log(S) + 2 * E2 / S)
    assert float(out["balance"]) == pytest.approx(kl, abs=1e-12) and kl == pytest.approx(0.327814, abs=1e-6)
    assert float(out["alignment"]) == pytest.approx(1.0, abs=1e-12)
    assert float(out["loss"]) == pytest.approx(HAND_INFONCE + 0.6 + 0.5 * kl, abs=1e-12)
    assert float(out["loss"]) == pytest.approx(1.577169, abs=1e-6)
    assert (out["w"], out["balance_w"]) == (0.6, 0.5)
    # alignment=cell: the cell_assign cross-entropy in place of 1 − cos (mean log S + 1, as above).
    cell = with_centroids(make("cell_balance", weight=0.6, balance=0.5, alignment="cell", temperature=1.0,
                               assign_temperature=1.0), centroids)(q, p)
    assert float(cell["loss"]) == pytest.approx(HAND_INFONCE + 0.6 * (math.log(S) + 1.0) + 0.5 * kl, abs=1e-12)


def adaptive_batch():
    """B = 2, one hard negative each, in 2-d: q₁ = (1, 0), d₁⁺ = (0.6, 0.8), n₁ = (0, 1); q₂ = (0, 1), d₂⁺ = (1, 0),
    n₂ = (0, 1). Candidates of both queries: d₁⁺, d₂⁺, n₁, n₂.
    q₁ scores them (0.6, 1, 0, 0): cos⁺ = 0.6, rivals ≥ 0.6: d₂⁺ → rank 1 of 3, margin 0.6 − 1 = −0.4.
    q₂ scores them (0.8, 0, 1, 1): cos⁺ = 0, rivals ≥ 0: all 3 → rank 3 of 3, margin 0 − 1 = −1."""
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    p = torch.tensor([[0.6, 0.8], [1.0, 0.0]], dtype=torch.float64)
    n = torch.tensor([[[0.0, 1.0]], [[0.0, 1.0]]], dtype=torch.float64)
    return q, p, n


# InfoNCE at τ = 1: q₁ → log(e^0.6 + e + 2) − 0.6 = 1.277998; q₂ → log(e^0.8 + 1 + 2e) = 2.158958; mean 1.718478.
ADAPTIVE_INFONCE = 0.5 * (math.log(math.exp(0.6) + math.e + 2) - 0.6 + math.log(math.exp(0.8) + 1 + 2 * math.e))


def test_adaptive_on_a_hand_made_batch():
    q, p, n = adaptive_batch()
    assert ADAPTIVE_INFONCE == pytest.approx(1.718478, abs=1e-6)
    assert float(info_nce(q, p, n, temperature=1.0)) == pytest.approx(ADAPTIVE_INFONCE, abs=1e-12)
    gaps = (0.4, 1.0)  # 1 − cos⁺
    # rank, [0.2, 1.0]: w = 0.2 + 0.8 · r/3 = (0.466667, 1.0); term = (0.466667·0.4 + 1.0·1)/2 = 0.593333.
    out = make("adaptive", w_min=0.2, w_max=1.0, difficulty="rank", temperature=1.0)(q, p, n)
    w = (0.2 + 0.8 / 3, 1.0)
    assert float(out["loss"]) == pytest.approx(ADAPTIVE_INFONCE + (w[0] * gaps[0] + w[1] * gaps[1]) / 2, abs=1e-12)
    assert float(out["loss"]) == pytest.approx(2.311811, abs=1e-6)
    assert (float(out["w_low"]), float(out["w_high"])) == pytest.approx(w, abs=1e-12)
    # margin, scale 0.5: w = 0.2 + 0.8 · σ(−m/0.5) = 0.2 + 0.8 · (σ(0.8), σ(2)) = (0.751980, 0.904638);
    # term = (0.751980·0.4 + 0.904638·1)/2 = 0.602715; loss = 2.321193.
    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    out = make("adaptive", w_min=0.2, w_max=1.0, margin_scale=0.5, temperature=1.0)(q, p, n)
    w = (0.2 + 0.8 * sigmoid(0.8), 0.2 + 0.8 * sigmoid(2.0))
    assert float(out["loss"]) == pytest.approx(ADAPTIVE_INFONCE + (w[0] * gaps[0] + w[1] * gaps[1]) / 2, abs=1e-12)
    assert float(out["loss"]) == pytest.approx(2.321193, abs=1e-6)
    assert float(out["topology"]) == pytest.approx(0.7, abs=1e-12) and float(out["w"]) == pytest.approx(sum(w) / 2)
    # Equal bounds are the topology loss at that weight.
    same = make("adaptive", w_min=0.6, w_max=0.6, temperature=1.0)(q, p, n)
    topology = make("topology", weight=0.6, temperature=1.0)(q, p, n)
    assert float(same["loss"]) == pytest.approx(float(topology["loss"]), abs=1e-12)


# Gradients.


def random_batch(seed: int, batch: int = 3, negatives: int = 2, dim: int = 4):
    generator = torch.Generator().manual_seed(seed)
    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True)

    return draw(batch, dim), draw(batch, dim), draw(batch, negatives, dim)


def fitted(name: str, dim: int = 4, **options):
    """A cell loss whose centroids come from k-means of a random 40-row corpus, as after a model-miner encoding."""
    loss = make(name, clusters=3, assign_temperature=0.5, temperature=0.5, **options)
    loss.corpus_embeddings(np.random.default_rng(7).normal(size=(40, dim)).astype(np.float32))
    return loss


@pytest.mark.parametrize("name, options", [("cell_assign", {"detach_target": False}),
                                           ("cell_balance", {"alignment": "cosine"})])
def test_gradcheck_on_double_inputs(name, options):
    loss = fitted(name, **options)
    q, p, n = random_batch(0)
    assert torch.autograd.gradcheck(lambda a, b, c: loss(a, b, c)["loss"], (q, p, n))


@pytest.mark.parametrize("name, options", [("cell_assign", {}), ("cell_balance", {"alignment": "cell"})])
def test_gradcheck_with_the_detached_target(name, options):
    """With the positive's assignment detached, finite differences in the positives would see the target move: the
    gradient is checked in the queries and negatives, and the positives' gradient is InfoNCE's (+ the balance)."""
    loss = fitted(name, **options)
    q, p, n = random_batch(1)
    assert torch.autograd.gradcheck(lambda a, c: loss(a, p, c)["loss"], (q, n))
    (grad,) = torch.autograd.grad(loss(q, p, n)["loss"], p)
    if name == "cell_assign":
        (expected,) = torch.autograd.grad(info_nce(q, p, n, temperature=0.5), p)
    else:
        (expected,) = torch.autograd.grad(info_nce(q, p, n, temperature=0.5) + 0.1 * loss.balance_term(p, n), p)
    assert torch.allclose(grad, expected, atol=1e-12)


def test_gradcheck_adaptive():
    q, p, n = random_batch(2)
    rank = make("adaptive", difficulty="rank", temperature=0.5)  # piecewise constant w: the full loss checks
    assert torch.autograd.gradcheck(lambda a, b, c: rank(a, b, c)["loss"], (q, p, n))
    margin = make("adaptive", margin_scale=0.1, temperature=0.5)
    w = margin.weights(q, p, n)
    assert not w.requires_grad

    def fixed(a, b, c):  # the loss with this point's weights held: what the detached w_i makes the gradient
        return info_nce(a, b, c, temperature=0.5) + (w * (1 - positive_cosine(a, b))).mean()

    assert torch.autograd.gradcheck(fixed, (q, p, n))
    ours = torch.autograd.grad(margin(q, p, n)["loss"], (q, p, n))
    theirs = torch.autograd.grad(fixed(q, p, n), (q, p, n))
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(ours, theirs, strict=True))


# Bounds, checks, off-before-refresh, state.


@pytest.mark.parametrize("difficulty", ["margin", "rank"])
def test_adaptive_weights_stay_within_their_bounds(difficulty):
    rng = np.random.default_rng(19)
    for trial in range(300):
        batch, negatives, dim = int(rng.integers(1, 9)), int(rng.integers(0, 4)), int(rng.integers(1, 9))
        low = float(rng.choice([0.0, rng.uniform(0, 2)]))
        high = low + float(rng.choice([0.0, rng.uniform(0, 3)]))
        scale = float(10 ** rng.uniform(-4, 1))
        loss = make("adaptive", w_min=low, w_max=high, difficulty=difficulty, margin_scale=scale)
        q = torch.tensor(rng.normal(size=(batch, dim)) * 10 ** rng.uniform(-3, 3))
        p = q + torch.tensor(rng.normal(size=(batch, dim))) * float(rng.choice([0.0, 1e-6, 1.0]))  # ties too
        n = torch.tensor(rng.normal(size=(batch, negatives, dim))) if negatives else None
        w = loss.weights(q, p, n)
        assert w.shape == (batch,) and bool(torch.isfinite(w).all()), trial
        assert bool(((w >= low) & (w <= high)).all()), (trial, w, low, high)
        if batch == 1 and n is None:
            assert float(w[0]) == low  # no candidate: the easiest weight


def test_check_loss_accepts_each_before_and_after_centroids():
    for name in NAMES:
        loss = make(name)
        check_loss(loss, name)
        if loss.uses_corpus_embeddings:
            loss.corpus_embeddings(np.random.default_rng(0).normal(size=(30, 8)))  # check_loss's batch is 8-d
            check_loss(loss, name)
    assert not make("adaptive").uses_corpus_embeddings and not make("infonce").uses_corpus_embeddings


def test_before_the_first_refresh_the_cell_terms_are_off():
    q, p, n = random_batch(3)
    assigned = make("cell_assign", weight=0.5)(q, p, n)
    assert torch.equal(assigned["loss"].detach(), info_nce(q, p, n, temperature=0.05).detach())  # exactly InfoNCE
    assert (assigned["w"], assigned["cell"]) == (0.0, 0.0)
    balanced = make("cell_balance", weight=0.6, balance=0.3)(q, p, n)
    topology = make("topology", weight=0.6)(q, p, n)
    assert torch.equal(balanced["loss"].detach(), topology["loss"].detach())  # exactly topology, same operations
    assert (balanced["balance_w"], balanced["balance"]) == (0.0, 0.0)


def test_centroids_survive_the_resume_state_and_kmeans_is_reproducible():
    corpus = np.random.default_rng(3).normal(size=(200, 6))
    first, second = make("cell_assign", clusters=5), make("cell_assign", clusters=5)
    first.corpus_embeddings(corpus)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    second.load_state_dict(torch.load(buffer, weights_only=True))  # tensors only: loads under weights_only too
    np.testing.assert_array_equal(first.centroids, second.centroids)
    q, p, n = random_batch(4, dim=6)
    assert torch.equal(first(q, p, n)["loss"].detach(), second(q, p, n)["loss"].detach())
    again = kmeans(unit_rows(corpus), 5, 10, 0)
    np.testing.assert_array_equal(first.centroids, again)
    labels = nearest_centroid(unit_rows(corpus), again)
    assert set(labels) == set(range(5))  # each of the 5 cells holds rows
    assert kmeans(unit_rows(corpus[:3]), 5, 10, 0).shape == (3, 6)  # k clipped to the corpus size


# The centroid refresh is tied to the model miner's encoding.


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("transformers")
    pytest.importorskip("faiss")
    return write_tiny_training(tmp_path_factory.mktemp("index-aware"))


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def test_centroids_refresh_at_each_model_mining_with_no_encoding_of_their_own(tiny, tmp_path, caplog):
    """In-batch for 5 steps, then the model miner mines at step 5 and re-mines every 3 steps: the loss gets the
    corpus matrix at each model mining, and the run encodes exactly as often as the same run with the topology
    loss (the miner's and the dev evaluations' encodings, nothing more)."""
    caplog.set_level(logging.INFO, logger="topobench.core.centroids")
    trainer = Trainer(tiny_train_config(tiny, loss="cell_assign", loss_args={"weight": 0.5, "clusters": 4}),
                      tmp_path / "cells")
    trainer.run()
    log = records(tmp_path / "cells")
    minings = [r for r in log if r.get("event") == "mine" and r["miner"] == "model"]
    assert len(minings) >= 2 and sum(r["encodings"] for r in minings) >= 1
    refreshes = [r.getMessage() for r in caplog.records if "corpus embeddings (refresh" in r.getMessage()]
    assert trainer.loss.refreshes == len(minings) == len(refreshes)
    corpus_size = len(trainer.data.mining.doc_ids)
    assert all(f"4 cells from {corpus_size} corpus embeddings" in m for m in refreshes)
    # The term is off in the in-batch stage (no corpus encoded yet) and on from the first model mining.
    steps = [r for r in log if "event" not in r]
    first_mining = minings[0]["step"]
    assert all(r["w"] == 0.0 and r["cell"] == 0.0 for r in steps if r["step"] <= first_mining)
    assert all(r["w"] == 0.5 and r["cell"] > 0.0 for r in steps if r["step"] > first_mining)

    baseline = Trainer(tiny_train_config(tiny), tmp_path / "topology")
    baseline.run()
    assert [r["step"] for r in records(tmp_path / "topology") if r.get("event") == "mine"] == \
        [r["step"] for r in log if r.get("event") == "mine"]
    assert trainer.cache.encodes == baseline.cache.encodes  # not one encoding more than the topology run
    assert [r["encodings"] for r in log if r.get("event") in ("mine", "eval")] == \
        [r["encodings"] for r in records(tmp_path / "topology") if r.get("event") in ("mine", "eval")]


def _train_command(tiny, output: Path) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), "--corpus", f"local:{tiny['corpus']}", "--encoder", "minilm",
            "--encoder-args", f"checkpoint={tiny['model']},progress=false", "--loss", "cell_assign",
            "--loss-args", "weight=0.5,clusters=4", "--stage", "in_batch:epochs=2",
            "--stage", "model:epochs=3,negatives=1,refresh_steps=4,depth=5", "--batch-size", "8", "--lr", "1e-3",
            "--dev-queries", "6", "--save-steps", "3", "--output", str(output)]


def test_a_run_killed_after_a_refresh_resumes_with_its_centroids(tiny, tmp_path):
    """Stage 1 is steps 1-10, the model miner mines at 10 and 14: a run killed at the resume state of step 15
    restarts with the centroids of step 14 (from the resume state, not re-encoded) and ends with the same weights."""
    whole = subprocess.run(_train_command(tiny, tmp_path / "whole"), capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = subprocess.Popen(_train_command(tiny, tmp_path / "killed"), stderr=subprocess.PIPE, text=True)
    for line in killed.stderr:
        if "saved the resume state at step 15" in line:
            killed.send_signal(signal.SIGKILL)
            break
    killed.wait(timeout=60)
    killed.stderr.close()
    assert killed.returncode == -signal.SIGKILL
    resumed = subprocess.run(_train_command(tiny, tmp_path / "killed"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and "resuming" in resumed.stderr, resumed.stderr[-2000:]
    assert "(refresh 2;" in whole.stderr and "(refresh 3;" in whole.stderr
    # The step-14 centroids came back from the resume state; the next mining is the run's third refresh.
    assert "(refresh 2;" not in resumed.stderr and "(refresh 3;" in resumed.stderr
    a = json.loads((tmp_path / "whole" / "training.json").read_text())
    b = json.loads((tmp_path / "killed" / "training.json").read_text())
    assert [(e["step"], e["ndcg@10"]) for e in a["evaluations"]] == [(e["step"], e["ndcg@10"]) for e in
                                                                     b["evaluations"]]
    from safetensors.torch import load_file

    for entry in a["kept"]:
        name = f"step-{entry['step']:06d}/model.safetensors"
        left, right = load_file(tmp_path / "whole" / name), load_file(tmp_path / "killed" / name)
        assert all(torch.equal(left[k], right[k]) for k in left)


# Recipes and a tiny study.


def test_each_loss_has_a_recipe_and_a_variant_name():
    for name in NAMES:
        variant = parse_variant(f"scifact-minilm-{name}")
        assert variant is not None and variant.config().loss == name
    assert parse_variant("scifact-minilm-cell_assign@weight=0.4,seed=14").config().loss_args["weight"] == 0.4
    assert parse_variant("scifact-minilm-adaptive@w_max=1.4").config().loss_args["w_max"] == 1.4


ALGOS = """\
float:
  any:
    flat:
      args: []
    ivf:
      args: [[8]]
      query-args: [[1, 2, 4, 8]]
"""

STUDY = """\
tiny-index-aware:
  description: "each index-aware loss beside the topology loss"
  corpus: synthetic
  encoders: [minilm]
  variants: [tiny, "tiny@loss=cell_assign,clusters=8", "tiny@loss=cell_balance,clusters=8", "tiny@loss=adaptive"]
  seeds: [1]
  baseline: {{variant: tiny}}
  algorithms: [flat, ivf]
  count: 10
  runs: 1
  definitions: {algos}
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Iterator[Path]:
    pytest.importorskip("transformers")
    pytest.importorskip("faiss")
    model = tiny_study_roots(tmp_path, monkeypatch)
    tiny = {"loss": "topology", "loss_args": {"weight": 0.6, "temperature": 0.05},
            "stages": ["in_batch:epochs=1", "model:epochs=1,negatives=1,depth=5,refresh_steps=1"], "batch_size": 16,
            "lr": 1e-3, "dev_queries": 8, "encoder_args": {"checkpoint": str(model), "progress": False}}
    monkeypatch.setenv("TOPOBENCH_PLUGIN_DIRS", str(write_recipe_plugin(tmp_path, "tiny", tiny)))
    get_registry.cache_clear()
    (tmp_path / "algos.yaml").write_text(ALGOS)
    (tmp_path / "studies.yaml").write_text(STUDY.format(algos=tmp_path / "algos.yaml"))
    yield tmp_path
    get_registry.cache_clear()


def test_a_tiny_study_with_each_loss_runs_and_reports(workspace, capsys):
    from topobench.cli.study import study_main

    studies = str(workspace / "studies.yaml")
    assert study_main(["-q", "--studies", studies, "run", "tiny-index-aware"]) == 0
    assert "4 done, 0 running, 0 missing of 4 cells" in capsys.readouterr().out
    cells = {p.stem: json.loads(p.read_text()) for p in (workspace / "studies" / "tiny-index-aware" /
                                                         "cells").glob("*.json")}
    assert len(cells) == 4
    losses = set()
    for cell in cells.values():
        config = json.loads(next((workspace / "checkpoints").glob(f"*{cell['fingerprint']}/config.json"))
                            .read_text())
        losses.add(config["loss"])
        assert cell["algorithms"]["ivf"]["at_knn"] and cell["exact"]["ndcg@10"] >= 0
        assert cell["geometry"]["ivf_imbalance"] >= 1.0  # the imbalance statistic beside the IVF's lists probed
    assert losses == {"topology", *NAMES}
    assert study_main(["-q", "--studies", studies, "report", "tiny-index-aware"]) == 0
    report = (workspace / "studies" / "tiny-index-aware" / "report" / "report.md").read_text()
    assert "ivf lists probed" in report and "ivf_imbalance" in report
    for name in NAMES:
        assert f"loss={name}" in report
