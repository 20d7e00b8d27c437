"""Fault tests of the files and folders a user hands in (issue 21 rows 3, 4, 1): studies.yaml read as boundedly as
algos.yaml, an empty root variable meaning the default folder (never the working directory), a training run's own
files refused when they are links or FIFOs, and memory-heavy dataset builds estimated before they start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from faults import assert_one_error, call, files_under
from helpers import ROOT
from test_fault_bounds import PEAK_BOUND_MB, bomb

from topobench.cli.study import study_main
from topobench.cli.train import train_main
from topobench.core.errors import ConfigError
from topobench.core.memory_budget import check_fits, exact_knn_bytes
from topobench.datasets.store import random_dataset_bytes
from topobench.training import checkpoints as ckpt


def peak_cli(script: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None
             ) -> tuple[int, list[str], float]:
    """Run ``script argv`` in a fresh interpreter; its exit status, stderr lines and peak resident memory (MB) of it
    and everything it started (``ru_maxrss`` of the children of a wrapper that runs nothing else)."""
    wrapper = ("import resource, subprocess, sys\n"
               "p = subprocess.run(sys.argv[1:], stderr=subprocess.PIPE, text=True)\n"
               "sys.stderr.write(p.stderr)\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(p.returncode)\n")
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, str(ROOT / script), *argv], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return done.returncode, lines, int(done.stdout.strip().splitlines()[-1]) / 1024


# --- studies.yaml: the bounded loader of algos.yaml (row 4) -----------------------------------------------------------

def study_bomb() -> str:
    """A study whose seeds are nested anchors expanding to 10**9 values (a few hundred bytes)."""
    return "w:\n  corpus: tinyqa\n  encoders: [toy]\n  variants: [stock]\n  algorithms: [flat]\n  seeds:\n" + \
        "\n".join(line.replace("        ", "    ", 1) for line in bomb().splitlines()[5:]) + "\n"


def test_an_anchor_bomb_in_studies_yaml_is_one_line_without_expanding_it(workspace):
    (workspace / "studies.yaml").write_text(study_bomb())
    code, err, peak = peak_cli("study.py", ["--studies", "studies.yaml", "list"], workspace)
    assert_one_error(code, err, "expands to more than 200000 values")
    assert peak < PEAK_BOUND_MB and files_under(workspace / "studies") == []


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "huge"])
def test_studies_are_read_only_from_a_regular_file_of_bounded_size(workspace, capsys, kind):
    target = {"fifo": workspace / "fifo", "device": Path("/dev/zero"), "folder": workspace / "folder",
              "huge": workspace / "huge.yaml"}[kind]
    if kind == "fifo":
        os.mkfifo(target)  # reading it would block for ever; refused before it is opened
    elif kind == "folder":
        target.mkdir()
    elif kind == "huge":
        with target.open("wb") as f:
            f.truncate(5 << 20)
    message = {"fifo": "is not a regular file", "device": "is not a regular file", "folder": "is a folder",
               "huge": "more than the 4194304 a configuration file may have"}[kind]
    code, err = call(study_main, ["--studies", str(target), "list"], capsys)
    assert_one_error(code, err, message)
    assert "pass a studies.yaml file with --studies" in err[-1]
    assert files_under(workspace / "studies") == []


def test_a_key_given_twice_in_studies_yaml_is_refused(workspace, capsys):
    path = workspace / "studies.yaml"
    path.write_text("w:\n  corpus: tinyqa\n  corpus: scifact\n")
    assert_one_error(*call(study_main, ["--studies", str(path), "list"], capsys), "studies.yaml:3: key 'corpus' is "
                     "given twice in one mapping (first on line 2)")


# --- roots: an empty variable means the default folder (row 3) ------------------------------------------------------

def test_empty_root_variables_mean_the_default_folders(monkeypatch):
    from topobench.core.environment import cache_dir
    from topobench.study.cells import studies_dir
    from topobench.training.recipes import checkpoints_dir, models_dir

    for variable in ("TOPOBENCH_STUDIES", "TOPOBENCH_CHECKPOINTS", "TOPOBENCH_MODELS", "TOPOBENCH_CACHE"):
        monkeypatch.setenv(variable, "")
    assert studies_dir() == Path("studies") and checkpoints_dir() == Path("checkpoints")
    assert models_dir() == Path("models") and cache_dir() == Path.home() / ".cache" / "topobench"
    monkeypatch.setenv("TOPOBENCH_STUDIES", "  ")  # blank counts as empty too
    assert studies_dir() == Path("studies")


def test_an_empty_plots_variable_writes_under_plots_not_the_working_directory(workspace, tiny_dataset, monkeypatch):
    from topobench.cli.main import plot_main, run_main

    grid = workspace / "algos.yaml"
    grid.write_text("float:\n  any:\n    toy:\n      args: []\n")
    assert run_main(["--dataset", tiny_dataset, "--definitions", str(grid), "--runs", "1", "-q"]) == 0
    cwd = workspace / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TOPOBENCH_PLOTS", "")
    assert plot_main(["--dataset", tiny_dataset, "-q"]) == 0
    assert [p.parent.name for p in files_under(cwd)] == ["plots"]


# --- a training run's own files: never a link or a FIFO (row 1) -----------------------------------------------------

@pytest.mark.parametrize("name", ["log.jsonl", "config.json", "resume.pt", "training.json"])
def test_a_run_file_that_is_a_symbolic_link_is_refused_and_nothing_is_written(workspace, capsys, name):
    out, elsewhere = workspace / "run", workspace / "elsewhere.txt"
    out.mkdir()
    elsewhere.write_text("not the run's\n")
    (out / name).symlink_to(elsewhere)
    code, err = call(train_main, ["--corpus", str(workspace / "corpus"), "--encoder", "toy", "--output", str(out),
                                  "--stage", "in_batch:epochs=1"], capsys)
    assert_one_error(code, err, f"{out / name} is a symbolic link to {elsewhere}, not a regular file")
    assert sorted(p.name for p in out.iterdir()) == [name] and elsewhere.read_text() == "not the run's\n"


def test_append_log_never_follows_a_link_or_blocks_on_a_fifo(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("x\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ckpt.LOG_FILE).symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="is a symbolic link to"):
        ckpt.append_log(tmp_path / "a", {"step": 1})
    assert elsewhere.read_text() == "x\n"
    (tmp_path / "b").mkdir()
    os.mkfifo(tmp_path / "b" / ckpt.LOG_FILE)
    with pytest.raises(ConfigError, match=r"is a FIFO \(named pipe\), not a regular file"):
        ckpt.append_log(tmp_path / "b", {"step": 1})
    (tmp_path / "c").mkdir()
    ckpt.append_log(tmp_path / "c", {"step": 1})
    ckpt.append_log(tmp_path / "c", {"step": 2})
    assert (tmp_path / "c" / ckpt.LOG_FILE).read_text() == '{"step": 1}\n{"step": 2}\n'


# --- memory estimated before a heavy build (row 4) --------------------------------------------------------------------

def test_a_random_dataset_beyond_the_memory_available_is_one_line_before_any_allocation(workspace):
    code, err, peak = peak_cli("run.py", ["--dataset", "random-m-100000-angular", "--algorithm", "flat"], workspace)
    assert_one_error(code, err, "building dataset random-m-100000-angular (1,010,000 × 100,000 floats and its exact "
                     "ground truth) needs about 1,2")
    assert "of memory, more than the" in err[-1] and "choose a smaller size" in err[-1]
    assert peak < PEAK_BOUND_MB and files_under(workspace / "datasets") == []
    assert files_under(workspace / "results") == []


def test_memory_estimates_against_a_small_fake_budget():
    need = random_dataset_bytes("m", 100)  # the blobs alone: 1,010,000 × 100 float32 (404 MB), then ground truth
    assert 404e6 < need < 2e9
    check_fits(need, "x", "fix", available=4 << 30)
    with pytest.raises(ConfigError, match=r"^building x needs about 1\.\d GB of memory, more than the 1\.0 GB "
                                          "available: fix$"):
        check_fits(need, "building x", "fix", available=10**9)
    gt = exact_knn_bytes(5_000_000, 10_000, 768, 100)  # a 5M-document corpus of 768-d vectors: ≈ 30.8 GB
    assert 30e9 < gt < 32e9
    with pytest.raises(ConfigError, match="more than the 16.0 GB available"):
        check_fits(gt, "the exact top-100", "fix", available=16 * 10**9)


def test_exact_ground_truth_is_refused_before_it_copies_anything(monkeypatch):
    from topobench.core import memory_budget
    from topobench.core.distances import exact_knn

    train, test = np.ones((1000, 8), np.float32), np.ones((10, 8), np.float32)
    neighbors, _ = exact_knn(train, test, "euclidean", 5, progress=False)
    assert neighbors.shape == (10, 5)
    monkeypatch.setattr(memory_budget, "memory_available_bytes", lambda: 10_000)  # a machine with 10 kB free
    with pytest.raises(ConfigError, match=r"the exact top-5 of 10 queries over 1,000 vectors of dimension 8 needs "
                                          "about 0.1 MB of memory, more than the 0.0 MB available"):
        exact_knn(train, test, "euclidean", 5, progress=False)
