"""Fault tests of inputs: every boundary (datasets, numeric options of every script, algos.yaml values, stage and
training options, output paths, names that select files) refuses bad input before any work starts, with one error line,
exit status 2 and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from faults import assert_one_error, call, files_under
from helpers import ROOT, write_tiny_dataset

from topobench.cli.main import export_main, plot_main, run_main
from topobench.cli.serve import serve_main
from topobench.cli.train import train_main
from topobench.core.errors import ConfigError
from topobench.runs.runner import RunConfig, run_sweep

TOY_GRID = "float:\n  any:\n    toy:\n      args: []\n"


def _mutate(key, fn):
    def apply(path):
        with h5py.File(path, "a") as f:
            data = fn(f[key][:])
            del f[key]
            f.create_dataset(key, data=data)
    apply.__name__ = f"{key}:{fn.__name__}"
    return apply


def nan_row(X):
    X = X.astype(np.float32)
    X[3, 2] = np.nan
    return X


def inf_row(X):
    X = X.astype(np.float32)
    X[0, 0] = np.inf
    return X


def no_rows(X):
    return X[:0]


def other_dimension(X):
    return X[:, :8]


def fewer_rows(X):
    return X[:5]


def out_of_corpus(X):
    X = X.copy()
    X[0, 0] = 10_000
    return X


def fractional(X):
    return X.astype(np.float32) + 0.5


def _set_dimension(path):
    with h5py.File(path, "a") as f:
        f.attrs["dimension"] = 32


BAD_DATASETS = [
    (_mutate("train", nan_row), "NaN or infinite values in 'train' row 3"),
    (_mutate("test", inf_row), "NaN or infinite values in 'test' row 0"),
    (_mutate("train", no_rows), "empty or malformed 'train' array"),
    (_mutate("test", no_rows), "empty or malformed 'test' array"),
    (_mutate("test", other_dimension), "16-d 'train' vectors but 8-d 'test' vectors"),
    (_mutate("neighbors", fewer_rows), "expected 20 rows (one per query)"),
    (_mutate("neighbors", out_of_corpus), "outside the corpus rows 0..599"),
    (_mutate("distances", fewer_rows), "'distances' of shape (5, 100) but 'neighbors' of shape (20, 100)"),
    (_mutate("neighbors", fractional), "of type float32 that are not whole row numbers"),
    (_mutate("neighbors", nan_row), "not whole row numbers"),
    (_set_dimension, "says dimension 32 but its vectors are 16-d"),
]


@pytest.mark.parametrize(("damage", "message"), BAD_DATASETS, ids=[d[0].__name__ for d in BAD_DATASETS])
def test_a_bad_dataset_is_one_error_before_any_build(workspace, capsys, damage, message):
    path = write_tiny_dataset(workspace / "datasets")
    damage(path)
    (workspace / "algos.yaml").write_text(TOY_GRID)
    code, err = call(run_main, ["--dataset", "tiny-16-euclidean", "--definitions", str(workspace / "algos.yaml")],
                     capsys)
    assert_one_error(code, err, message)
    assert str(path) in err[-1] and "delete the file and build it again" in err[-1]
    assert files_under(workspace / "results") == []


def test_count_beyond_the_ground_truth_is_refused_with_the_fix(workspace, tiny_dataset, capsys):
    (workspace / "algos.yaml").write_text(TOY_GRID)
    code, err = call(run_main, ["--dataset", tiny_dataset, "--count", "101", "--definitions",
                                str(workspace / "algos.yaml")], capsys)
    assert_one_error(code, err, "--count 101 is more than the 100 neighbours the ground truth of 'tiny-16-euclidean' "
                                "holds: use --count 100 or less")
    assert files_under(workspace / "results") == []


NUMERIC = [
    (run_main, ["--dataset", "d", "--count", "0"], "argument --count: expected a whole number >= 1, got '0'"),
    (run_main, ["--dataset", "d", "--count", "-3"], "argument --count"),
    (run_main, ["--dataset", "d", "--count", "ten"], "argument --count: expected a whole number >= 1, got 'ten'"),
    (run_main, ["--dataset", "d", "--runs", "0"], "argument --runs"),
    (run_main, ["--dataset", "d", "--timeout", "nan"], "argument --timeout: expected a number of seconds > 0"),
    (run_main, ["--dataset", "d", "--timeout", "inf"], "argument --timeout"),
    (run_main, ["--dataset", "d", "--timeout", "-1"], "argument --timeout"),
    (run_main, ["--dataset", "d", "--timeout", "1e300"], "argument --timeout: expected a number of seconds > 0 and <="),
    (plot_main, ["--dataset", "d", "--count", "0"], "argument --count"),
    (export_main, ["-o", "x.csv", "--count", "-1"], "argument --count"),
    (export_main, ["-o", "x.csv", "--compare", "--level", "nan"], "argument --level: expected a number between 0"),
    (export_main, ["-o", "x.csv", "--compare", "--level", "1.5"], "argument --level"),
    (serve_main, ["--dataset", "d", "--algorithm", "a", "--port", "70000"], "argument --port: expected a port"),
    (serve_main, ["--dataset", "d", "--algorithm", "a", "--port", "-1"], "argument --port"),
    (serve_main, ["--dataset", "d", "--algorithm", "a", "--max-k", "0"], "argument --max-k"),
    (serve_main, ["--dataset", "d", "--algorithm", "a", "--max-texts", "nan"], "argument --max-texts"),
    (serve_main, ["--dataset", "d", "--algorithm", "a", "--max-text-chars", "1e9"], "argument --max-text-chars"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--lr", "nan"], "argument --lr: expected a finite number"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--batch-size", "2.5"], "argument --batch-size"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--lr", "-1"], "lr > 0"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--seed", "-1"], "seed must be at least 0"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--warmup", "1.5"], "warmup must be in [0, 1)"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--dev-queries", "-1"], "dev_queries must be at least 0"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--keep-best", "0"], "keep_best must be at least 1"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--max-train-queries", "0"], "max_train_queries must be"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--weight-decay", "-0.1"], "weight_decay must be at least 0"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--device", "gpu0"], "device 'gpu0' is not one of cpu"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--stage", "toy:epochs=abc"],
     "stage 'toy': epochs='abc' should be of type float"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--stage", "toy:epochs=nan"], "epochs=nan should be of type"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--stage", "toy:negatives=-1"], "negatives and refresh_* >= 0"),
    (train_main, ["--corpus", "c", "--encoder", "toy", "--stage", "toy:negatives=0.5"], "negatives=0.5 should be"),
]


@pytest.mark.parametrize(("main", "argv", "message"), NUMERIC, ids=[" ".join(c[1][-2:]) for c in NUMERIC])
def test_numeric_options_are_checked_before_anything_runs(workspace, capsys, main, argv, message):
    code, err = call(main, argv, capsys)
    assert_one_error(code, err, message)
    assert files_under(workspace) == []


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--stage", "toy:depth=abc", "miner 'toy': depth='abc' should be of type int"),
    ("--loss-args", "margin=abc", "loss 'toy': margin='abc' should be of type float"),
    ("--loss-args", "margin=inf", "loss 'toy': margin=inf should be of type float and finite"),
])
def test_component_options_of_the_wrong_type_stop_training_before_it_starts(workspace, capsys, option, value,
                                                                            message):
    out = workspace / "run"
    code, err = call(train_main, ["--corpus", "nowhere", "--encoder", "toy", "--loss", "toy", "--stage",
                                  "toy:epochs=1", option, value, "--output", str(out)], capsys)
    assert_one_error(code, err, message)
    assert not out.exists()


@pytest.mark.parametrize(("grid", "message"), [
    ("hnsw:\n      args: [[sixteen], [40]]", "M='sixteen' should be of type int"),
    ("hnsw:\n      args: [[8], [40]]\n      query-args: [[.nan]]", "efSearch=nan should be of type int"),
    ("hnsw:\n      args: [[8], [1e3]]", "efConstruction='1e3' should be of type int"),
    ("ivf:\n      args: [[true]]", "nlist=True should be of type int"),
    ("hnsw:\n      args: [[8], [40]]\n      query-args: [[20.5]]", "efSearch=20.5 should be of type int"),
])
def test_algos_yaml_values_are_checked_against_the_constructors_types(workspace, tiny_dataset, grid, message):
    path = workspace / "algos.yaml"
    path.write_text("float:\n  any:\n    " + grid + "\n")
    with pytest.raises(ConfigError, match=message):
        run_sweep(RunConfig(dataset=tiny_dataset, definitions_file=path))
    assert files_under(workspace / "results") == []


def test_output_paths_are_checked_before_work(workspace, tiny_dataset, capsys, monkeypatch):
    (workspace / "algos.yaml").write_text(TOY_GRID)
    a_file = workspace / "a-file"
    a_file.write_text("not a folder")
    folder = workspace / "a-folder"
    folder.mkdir()
    monkeypatch.setenv("TOPOBENCH_RESULTS", str(a_file))
    code, err = call(run_main, ["--dataset", tiny_dataset, "--definitions", str(workspace / "algos.yaml")], capsys)
    assert_one_error(code, err, f"results folder {a_file} is a file, not a folder: set TOPOBENCH_RESULTS")
    monkeypatch.setenv("TOPOBENCH_RESULTS", str(a_file / "results"))
    code, err = call(run_main, ["--dataset", tiny_dataset, "--definitions", str(workspace / "algos.yaml")], capsys)
    assert_one_error(code, err, f"{a_file} is a file, not a folder")
    code, err = call(export_main, ["-o", str(folder)], capsys)
    assert_one_error(code, err, f"output file (-o) {folder} is a folder: name a file inside it")
    code, err = call(export_main, ["-o", str(a_file / "x.csv")], capsys)
    assert_one_error(code, err, f"output file (-o) {a_file / 'x.csv'} cannot be created: {a_file} is a file")
    code, err = call(plot_main, ["--dataset", tiny_dataset, "-o", str(folder)], capsys)
    assert_one_error(code, err, "is a folder")
    code, err = call(plot_main, ["--dataset", tiny_dataset, "-o", str(workspace / "plot.xyz")], capsys)
    assert_one_error(code, err, "'xyz' is not an image format matplotlib writes")
    code, err = call(plot_main, ["--report", str(a_file)], capsys)
    assert_one_error(code, err, f"report folder (--report) {a_file} is a file, not a folder")
    code, err = call(train_main, ["--corpus", "c", "--encoder", "toy", "--output", str(a_file)], capsys)
    assert_one_error(code, err, f"run folder (--output) {a_file} is a file, not a folder")
    assert a_file.read_text() == "not a folder" and list(folder.iterdir()) == []


def test_home_is_expanded_in_output_paths(workspace, tiny_dataset, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(workspace / "home"))
    monkeypatch.chdir(workspace)
    (workspace / "home").mkdir()
    (workspace / "algos.yaml").write_text(TOY_GRID)
    assert run_main(["--dataset", tiny_dataset, "--runs", "1", "--definitions", str(workspace / "algos.yaml"),
                     "-q"]) == 0
    assert export_main(["-o", "~/out.csv", "-q"]) == 0
    assert (workspace / "home" / "out.csv").is_file() and not (workspace / "~").exists()


@pytest.mark.parametrize(("main", "argv", "message"), [
    (serve_main, ["--dataset", "tiny-16-euclidean", "--algorithm", "../../etc", "--no-build", "--port", "0"],
     "invalid algorithm name '../../etc'"),
    (serve_main, ["--list", "--dataset", "../.."], "invalid dataset name '../..'"),
    (serve_main, ["--dataset", "../tiny", "--algorithm", "toy"], "invalid dataset name '../tiny'"),
    (plot_main, ["--dataset", "../../etc/passwd"], "invalid dataset name"),
    (export_main, ["-o", "x.csv", "--dataset", "../x"], "invalid dataset name '../x'"),
    (run_main, ["--dataset", "../tiny-16-euclidean"], "invalid dataset name"),
    (run_main, ["--dataset", "tiny-16-euclidean", "--algorithm", "../toy"], "unknown algorithm '../toy'"),
])
def test_names_that_select_files_stay_inside_their_folder(workspace, tiny_dataset, capsys, monkeypatch, main, argv,
                                                          message):
    monkeypatch.setenv("TOPOBENCH_INDEXES", str(workspace / "indexes"))
    monkeypatch.chdir(workspace)
    code, err = call(main, argv, capsys)
    assert_one_error(code, err, message)


def test_a_malformed_grid_or_unknown_algorithm_stops_before_a_dataset_is_built(workspace, capsys):
    bad = workspace / "bad.yaml"
    bad.write_text("float:\n  any:\n    hnsw:\n      args: [[8]]\n      querry-args: [[10]]\n")
    code, err = call(run_main, ["--dataset", "random-xs-8-angular", "--definitions", str(bad)], capsys)
    assert_one_error(code, err, "unknown key(s) querry-args")
    (workspace / "algos.yaml").write_text(TOY_GRID)
    code, err = call(run_main, ["--dataset", "random-xs-8-angular", "--definitions", str(workspace / "algos.yaml"),
                                "--algorithm", "hnsww"], capsys)
    assert_one_error(code, err, "unknown algorithm 'hnsww'")
    assert files_under(workspace / "datasets") == [] and files_under(workspace / "results") == []


@pytest.mark.parametrize("command", [["run.py", "--list"], ["study.py", "list"]])
def test_a_reader_that_closed_the_pipe_ends_the_command_quietly(command):
    """``run.py --list | head -1``: the reader is gone before the output is written; no traceback, status 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, *command], cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
