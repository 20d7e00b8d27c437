"""The card's dataset names reach their results from every entry point, and a loss that cannot train is refused.

``run.py`` stores results under a variant's canonical name (``nq-bge-topo`` → ``nq-bge-small-topo``, options sorted,
defaults dropped, ``-zeroshot`` → the stock name); ``plot.py``, ``export.py`` and ``run.py``'s own closing summary
must find them under the name the user typed. A loss that is not torch, returns a non-scalar, carries no gradient or
fails is one line naming the problem, exit 2, before the run folder is written. A plugin folder that does not exist
is a warning naming it.
"""

from __future__ import annotations

import csv
import logging

import pytest
from faults import assert_one_error, call
from helpers import cli, write_tiny_dataset

from topobench.cli.train import train_main
from topobench.core.registry import EXTRA_DIRS_ENV, build_registry

GRID = "float:\n  any:\n    flat:\n      args: []\n"

# (stored under, typed by the user)
SPELLINGS = [
    ("nq-bge-small-topo", "nq-bge-topo"),  # the card's spelling: bge is an alias of bge-small
    ("nq-bge-small-topo@seed=14,weight=0.8", "nq-bge-topo@weight=0.8,seed=14"),  # options in another order
    ("nq-bge-small-topo@seed=14", "nq-bge-small-topo@weight=0.6,seed=14"),  # a recipe default spelt out
    ("nq-bge-small", "nq-bge-zeroshot"),  # the stock model
]


@pytest.mark.parametrize(("stored", "typed"), SPELLINGS)
def test_every_entry_point_finds_the_results_under_the_typed_name(tmp_path, stored, typed):
    # A hand-made dataset file under the canonical name (the BGE weights are not cached here, so nothing is built).
    write_tiny_dataset(tmp_path / "datasets", name=stored, distance="angular")
    (tmp_path / "algos.yaml").write_text(GRID)
    env = {"TOPOBENCH_DATASETS": str(tmp_path / "datasets"), "TOPOBENCH_RESULTS": str(tmp_path / "results")}

    run = cli("run.py", "--dataset", typed, "--runs", "1", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [p.name for p in (tmp_path / "results").iterdir() if not p.name.startswith(".")] == [stored]
    assert f"dataset {typed} is stored as {stored}" in run.stderr
    assert "flat       0.95   1.0000" in run.stdout  # the closing summary read the results it wrote

    plot = cli("plot.py", "--dataset", typed, "-o", "p.png", env=env, cwd=tmp_path)
    assert plot.returncode == 0 and (tmp_path / "p.png").is_file(), plot.stderr[-2000:]
    assert plot.stdout.count("wrote ") == 1  # each file reported once
    export = cli("export.py", "--dataset", typed, "-o", "r.csv", env=env, cwd=tmp_path)
    assert export.returncode == 0, export.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert rows and {r["dataset"] for r in rows} == {stored}


def test_plot_writes_its_own_files_into_out_dir(tmp_path):
    write_tiny_dataset(tmp_path / "datasets", name="tiny-16-angular", distance="angular")
    (tmp_path / "algos.yaml").write_text(GRID)
    env = {"TOPOBENCH_DATASETS": str(tmp_path / "datasets"), "TOPOBENCH_RESULTS": str(tmp_path / "results")}
    assert cli("run.py", "--dataset", "tiny-16-angular", "--runs", "1", env=env, cwd=tmp_path).returncode == 0
    plot = cli("plot.py", "--out-dir", "figures", env=env, cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr[-2000:]
    assert [p.name for p in (tmp_path / "figures").iterdir()] == ["tiny-16-angular_k-nn_qps_10.png"]
    assert not (tmp_path / "plots").exists() and plot.stdout.count("wrote ") == 1


BAD_LOSSES = '''
import numpy as np
from topobench.core.hookspecs import hookimpl
from topobench.core.losses import Loss


class NumpyLoss(Loss):
    def __call__(self, queries, positives, negatives=None):
        q, p = np.asarray(queries.detach()), np.asarray(positives.detach())
        return {"loss": float(np.mean(1.0 - (q * p).sum(-1)))}


class PerExample(Loss):
    def __call__(self, queries, positives, negatives=None):
        return {"loss": 1.0 - (queries * positives).sum(-1)}


class Detached(Loss):
    def __call__(self, queries, positives, negatives=None):
        return {"loss": (queries * positives).sum().detach()}


class Raises(Loss):
    def __call__(self, queries, positives):  # no negatives parameter: the trainer passes three
        return {"loss": (queries * positives).sum()}


class NoDict(Loss):
    def __call__(self, queries, positives, negatives=None):
        return (queries * positives).sum()


@hookimpl
def register_losses(register):
    for name, cls in (("numpy_loss", NumpyLoss), ("per_example", PerExample), ("detached", Detached),
                      ("raises", Raises), ("no_dict", NoDict)):
        register(name, cls)
'''


@pytest.mark.parametrize(("loss", "message"), [
    ("numpy_loss", "returned 'loss' as float, not a torch tensor"),
    ("per_example", "returned 'loss' of shape (4,): reduce it to a scalar"),
    ("detached", "does not depend on the embeddings"),
    ("raises", "fails on a 4-example batch (TypeError"),
    ("no_dict", "returned Tensor without a 'loss' entry"),
])
def test_a_loss_that_cannot_train_is_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys, loss,
                                                                         message):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "bad_losses.py").write_text(BAD_LOSSES)
    monkeypatch.setenv(EXTRA_DIRS_ENV, str(tmp_path / "plugins"))
    from topobench.core import registry

    registry.get_registry.cache_clear()
    try:
        out = tmp_path / "run"
        code, err = call(train_main, ["--corpus", "tinyqa", "--encoder", "tinybert", "--loss", loss,
                                      "--output", str(out)], capsys)
    finally:
        registry.get_registry.cache_clear()
    assert_one_error(code, err, message)
    assert not (out / "config.json").exists()


def test_a_plugin_folder_that_does_not_exist_is_a_warning_naming_it(tmp_path, monkeypatch, caplog):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv(EXTRA_DIRS_ENV, str(missing))
    with caplog.at_level(logging.WARNING, logger="topobench.core.registry"):
        registry = build_registry()
    assert any(str(missing) in r.getMessage() and "not a folder" in r.getMessage() for r in caplog.records)
    assert "flat" in registry.names("indexes")  # everything else still loads


def test_the_tiny_corpus_is_the_same_everywhere():
    from topobench.corpus.corpora import load_corpus

    first, second = load_corpus("tinyqa"), load_corpus("tinyqa")
    assert first.docs == second.docs and first.qrels == second.qrels
    assert (len(first.docs), len(first.queries["train"]), len(first.queries["test"])) == (600, 400, 100)


def test_a_checkpoint_folder_is_a_variant_by_name(tmp_path):
    """``<corpus>-<encoder>-checkpoint@name=NAME``: a model folder under $TOPOBENCH_MODELS (a Hugging Face folder, or
    a ``train.py --output`` run whose best checkpoint is used) encoded and benchmarked, and listed in a study."""
    (tmp_path / "algos.yaml").write_text(GRID)
    env = {var: str(tmp_path / sub) for var, sub in (
        ("TOPOBENCH_DATASETS", "datasets"), ("TOPOBENCH_RESULTS", "results"), ("TOPOBENCH_CACHE", "cache"),
        ("TOPOBENCH_MODELS", "models"), ("TOPOBENCH_CHECKPOINTS", "checkpoints"), ("TOPOBENCH_STUDIES", "studies"))}
    missing = cli("run.py", "--dataset", "tinyqa-tinybert-checkpoint@name=mine", "--runs", "1", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "no model folder" in missing.stderr.splitlines()[-1]
    trained = cli("train.py", "--corpus", "tinyqa", "--encoder", "tinybert", "--loss", "infonce", "--stage",
                  "in_batch:epochs=1", "--output", str(tmp_path / "models" / "mine"), env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "python run.py --dataset tinyqa-tinybert-checkpoint@name=mine" in trained.stderr
    run = cli("run.py", "--dataset", "tinyqa-tinybert-checkpoint@name=mine", "--runs", "1", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    import h5py

    with h5py.File(tmp_path / "datasets" / "tinyqa-tinybert-checkpoint@name=mine.hdf5") as f:
        assert f.attrs["model_folder"].endswith("step-" + f.attrs["model_folder"].rsplit("step-", 1)[1])
        assert f.attrs["recipe"] == "checkpoint" and f.attrs["encoder_name"] == "tinybert"
    (tmp_path / "studies.yaml").write_text(
        "mine:\n  corpus: tinyqa\n  encoders: [tinybert]\n  variants: [zeroshot, checkpoint@name=mine]\n"
        "  seeds: [1]\n  baseline: {variant: zeroshot}\n  algorithms: [flat]\n  definitions: algos.yaml\n"
        "  count: 10\n  runs: 1\n")
    study = cli("study.py", "--studies", "studies.yaml", "run", "mine", env=env, cwd=tmp_path)
    assert study.returncode == 0, study.stderr[-2000:]
    assert len(list((tmp_path / "studies" / "mine" / "cells").glob("*.json"))) == 2


def test_an_unavailable_encoder_is_refused_before_a_corpus_is_fetched(tmp_path):
    # bge-small's weights are not in the offline cache here: the card's nq-bge-topo must stop before NQ (13 GB).
    env = {"TOPOBENCH_DATASETS": str(tmp_path / "datasets"), "TOPOBENCH_CACHE": str(tmp_path / "cache"),
           "TOPOBENCH_MIRROR": str(tmp_path / "mirror"), "HF_HUB_OFFLINE": "1"}
    run = cli("run.py", "--dataset", "nq-bge-topo", "--algorithm", "flat", env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "nq-bge-small-topo needs encoder 'bge-small', which is unavailable" in run.stderr.splitlines()[-1]
    assert not (tmp_path / "cache").exists() and not (tmp_path / "datasets").exists()
