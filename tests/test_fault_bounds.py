"""Fault tests of bounds and of the inputs issue 21 found taking a traceback, unbounded memory or the wrong folder:
algos.yaml values against the indexes' declared ranges, YAML bombs and oversized or special files, grids beyond the
stated size, run.py's counts, training's numbers and device, names and image references, a file where a result
folder belongs, an empty results variable, a corpus that cannot be read for BM25, and where train.py writes.

Each asserts one ``error:`` line, exit status 2 and nothing written; the resource cases also that the command's peak
resident memory stayed under a bound (measured in a subprocess: ``ru_maxrss`` of its own children)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from faults import assert_one_error, call, files_under
from helpers import ROOT, TESTS
from training_fixtures import write_corpus, write_tiny_training

from topobench.cli.main import run_main
from topobench.cli.train import default_output, train_main
from topobench.core.errors import ConfigError
from topobench.runs import preflight
from topobench.runs.definitions import MAX_GRID_POINTS, parse_definitions
from topobench.training.config import TrainConfig

FIXTURES = TESTS / "fixtures"
PEAK_BOUND_MB = 600  # run.py refusing a bad input: the interpreter, numpy, h5py, faiss's loader, and no more


def grid(entry: str) -> str:
    return "float:\n  any:\n" + entry


def run_args(workspace: Path, text: str, *extra: str) -> list[str]:
    path = workspace / "algos.yaml"
    path.write_text(text)
    return ["--dataset", "tiny-16-euclidean", "--definitions", str(path), "--runs", "1", *extra]


def peak_run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, list[str], float]:
    """Run ``run.py argv`` in a fresh interpreter; its exit status, stderr lines and peak resident memory (MB) of it
    and every process it started (``ru_maxrss`` of the children of a wrapper that ran nothing else)."""
    wrapper = ("import resource, subprocess, sys\n"
               "p = subprocess.run(sys.argv[1:], stderr=subprocess.PIPE, text=True)\n"
               "sys.stderr.write(p.stderr)\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(p.returncode)\n")
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, str(ROOT / "run.py"), *argv], cwd=cwd,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return done.returncode, lines, int(done.stdout.strip().splitlines()[-1]) / 1024


# --- algos.yaml: declared ranges, machine integers, duplicate keys (rows 4, 6, 8) ------------------------------------

@pytest.mark.parametrize(("entry", "message"), [
    ("    hnsw:\n      args: [[-4], [40]]\n", "M=-4 is outside its range 2..1024"),
    ("    hnsw:\n      args: [[99999999999999999999999], [40]]\n",
     "M=99999999999999999999999 is too large for a machine integer"),
    ("    hnsw:\n      args: [[8], [40]]\n      query-args: [[0]]\n", "efSearch=0 is outside its range 1..100000"),
    ("    ivf:\n      args: [[-1]]\n", "nlist=-1 is outside its range"),
    ("    hnswlib:\n      args: [[8]]\n      query-args: [[-10]]\n", "ef=-10 is outside its range"),
    ("    pq:\n      args: [[8], [99]]\n", "nbits=99 is outside its range 1..16"),
])
def test_algos_yaml_values_outside_the_declared_ranges_are_refused(workspace, tiny_dataset, capsys, entry, message):
    code, err = call(run_main, run_args(workspace, grid(entry)), capsys)
    assert_one_error(code, err, message)
    assert "algos.yaml:" in err[-1]
    assert files_under(workspace / "results") == []


def test_a_negative_hnsw_m_is_refused_before_any_child_grows(workspace, tiny_dataset):
    argv = run_args(workspace, grid("    hnsw:\n      args: [[-16], [40]]\n"))
    code, err, peak = peak_run(argv, {}, workspace)
    assert_one_error(code, err, "M=-16 is outside its range")
    assert peak < PEAK_BOUND_MB and files_under(workspace / "results") == []


@pytest.mark.parametrize(("text", "message"), [
    (grid("    hnsw:\n      args: [[8]]\n    hnsw:\n      args: [[16]]\n"),
     "algos.yaml:5: key 'hnsw' is given twice in one mapping (first on line 3)"),
    (grid("    toy:\n      args: []\n      args: [[1]]\n"), "algos.yaml:5: key 'args' is given twice"),
    ("float:\n  any:\n    toy: {args: [], args: []}\n", "key 'args' is given twice"),
])
def test_duplicate_keys_in_algos_yaml_name_the_file_line_and_key(workspace, tiny_dataset, capsys, text, message):
    code, err = call(run_main, run_args(workspace, text), capsys)
    assert_one_error(code, err, message)
    assert files_under(workspace / "results") == []


def test_merge_keys_may_still_override_what_they_merge(tmp_path):
    path = tmp_path / "algos.yaml"
    path.write_text("float:\n  any:\n    hnswlib: &b\n      args: [[8], [40]]\n      query-args: [[10]]\n"
                    "    hnsw:\n      <<: *b\n      query-args: [[20]]\n")
    found = {d.algorithm: d.query_argument_groups for d in parse_definitions(path, "float", "angular", 10, 8)}
    assert found == {"hnswlib": ((10,),), "hnsw": ((20,),)}


# --- YAML size: alias bombs, special and huge files, grids (row 4) ---------------------------------------------------

def bomb(levels: int = 9) -> str:
    """query-args whose nested anchors expand to 10**levels values (a few hundred bytes of YAML)."""
    lines = ["float:", "  any:", "    toy:", "      args: []", "      query-args:",
             "        - &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, levels):
        lines.append(f"        - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_nested_anchors_in_query_args_are_refused_without_expanding_them(workspace, tiny_dataset):
    code, err, peak = peak_run(run_args(workspace, bomb()), {}, workspace)
    assert_one_error(code, err, "expands to more than 200000 values")
    assert peak < PEAK_BOUND_MB and files_under(workspace / "results") == []


def test_more_aliases_than_allowed_are_refused(workspace, tiny_dataset, capsys):
    text = grid("    toy:\n      args: []\n      query-args: [&x 1, " + ", ".join(["*x"] * 1001) + "]\n")
    code, err = call(run_main, run_args(workspace, text), capsys)
    assert_one_error(code, err, "more than 1000 aliases")


@pytest.mark.parametrize("kind", ["device", "folder", "fifo", "huge"])
def test_definitions_are_read_only_from_a_regular_file_of_bounded_size(workspace, tiny_dataset, kind):
    target = {"device": Path("/dev/zero"), "folder": workspace / "folder", "fifo": workspace / "fifo",
              "huge": workspace / "huge.yaml"}[kind]
    if kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "huge":
        with target.open("wb") as f:  # sparse: 5 MB of nothing, past the 4 MB limit
            f.truncate(5 << 20)
    argv = ["--dataset", "tiny-16-euclidean", "--definitions", str(target)]
    code, err, peak = peak_run(argv, {}, workspace)
    message = {"device": "is not a regular file", "folder": "is a folder", "fifo": "is not a regular file",
               "huge": "more than the 4194304 a configuration file may have"}[kind]
    assert_one_error(code, err, message)
    assert peak < PEAK_BOUND_MB and files_under(workspace / "results") == []


def test_a_grid_of_a_million_points_is_refused_unless_forced(workspace, tiny_dataset, capsys):
    values = ", ".join(str(v) for v in range(1, 1001))
    text = grid(f"    toy:\n      args: [[{values}]]\n      query-args: [[{values}]]\n")
    code, err = call(run_main, run_args(workspace, text), capsys)
    assert_one_error(code, err, f"expands to more than {MAX_GRID_POINTS:,} points")
    assert "pass --force-large" in err[-1] and files_under(workspace / "results") == []
    path = workspace / "small.yaml"  # a grid just past the default limit is accepted with --force-large
    path.write_text(grid(f"    hnsw:\n      args: [[8], [40]]\n      query-args: [[{values}], [1, 2, 3, 4, 5, 6, 7, 8, "
                         "9, 10, 11]]\n"))
    with pytest.raises(ConfigError, match="--force-large"):
        parse_definitions(path, "float", "angular", 10, 8, preflight.grid_limit(False))
    assert len(parse_definitions(path, "float", "angular", 10, 8, preflight.grid_limit(True))[0]
               .query_argument_groups) == 11_000


# --- run.py's counts (row 4) -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "value", "message"), [
    ("--threads", "1000000000", "thread counts are at most 1024"),
    ("--repeat", "1000000000", "argument --repeat: expected a whole number from 1 to 1,000"),
    ("--runs", "1000000000", "argument --runs: expected a whole number from 1 to 10,000"),
    ("--rounds", "1000000000", "argument --rounds: expected a whole number from 1 to 100,000"),
])
def test_run_counts_are_bounded(workspace, tiny_dataset, option, value, message):
    extra = [option, value] + (["--threads", "1"] if option == "--rounds" else [])
    argv = ["--dataset", "tiny-16-euclidean", *extra]
    code, err, peak = peak_run(argv, {}, workspace)
    assert_one_error(code, err, message)
    assert peak < PEAK_BOUND_MB and files_under(workspace / "results") == []


def test_rounds_whose_latencies_would_not_fit_in_memory_are_refused():
    with pytest.raises(ConfigError, match=r"--rounds 100000 keeps .* use --rounds \d+ or less"):
        preflight.check_threads_memory(4, 100_000, 100_000_000)
    preflight.check_threads_memory(4, 10, 1000)  # what a real run asks fits
    preflight.check_threads_memory(None, 100_000, 100_000_000)  # not a --threads run


# --- inputs that took a traceback (row 6) and the minor ones (row 8) -------------------------------------------------

@pytest.mark.parametrize(("argv", "message"), [
    (["--algorithm", ","], "--algorithm ',' names no algorithm"),
    (["--algorithm", ""], "names no algorithm"),
    (["--save-index", "[[["], "--save-index '[[[': '[[[' is not a value"),
    (["--docker", "--image", "bad image!!"], "argument --image: 'bad image!!' is not a Docker image name"),
    (["--docker", "--image", "UPPER/Case"], "'UPPER/Case' is not a Docker image name"),
    (["--docker", "--image", ""], "'' is not a Docker image name"),
])
def test_bad_run_options_are_one_line(workspace, tiny_dataset, capsys, argv, message):
    code, err = call(run_main, run_args(workspace, grid("    toy:\n      args: []\n"), *argv), capsys)
    assert_one_error(code, err, message)
    assert files_under(workspace / "results") == []


def test_a_300_character_dataset_name_is_one_line(workspace, capsys):
    code, err = call(run_main, ["--dataset", "a" * 300], capsys)
    assert_one_error(code, err, "at most 200 characters")
    assert files_under(workspace) == []


def test_a_file_where_the_result_folder_belongs_is_found_before_the_build(workspace, tiny_dataset, capsys):
    blocker = workspace / "results" / tiny_dataset / "10"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    code, err = call(run_main, run_args(workspace, grid("    toy:\n      args: []\n")), capsys)
    assert_one_error(code, err, f"{blocker} is a file, not a folder")
    assert files_under(workspace / "results") == [blocker] and blocker.read_text() == "not a folder"
    assert not any("built" in line for line in err)


def test_an_empty_results_variable_means_the_default_folder(workspace, tiny_dataset, monkeypatch):
    monkeypatch.setenv("TOPOBENCH_RESULTS", "")
    cwd = workspace / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert run_main(run_args(workspace, grid("    toy:\n      args: []\n"), "-q")) == 0
    assert (cwd / "results" / tiny_dataset / "10" / "toy").is_dir()
    assert sorted(p.name for p in cwd.iterdir()) == ["results"]  # nothing written into the working directory itself


def beir_zip(path: Path, name: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted((FIXTURES / "beir_local").rglob("*")):
            if file.is_file():
                archive.write(file, f"{name}/{file.relative_to(FIXTURES / 'beir_local').as_posix()}")
    return path


def test_a_corrupt_mirror_zip_for_bm25_is_one_line_before_any_build(workspace, capsys, monkeypatch):
    from topobench.core.registry import get_registry

    reason = get_registry().get("indexes", "bm25").cls.unavailable_reason()
    if reason:
        pytest.skip(f"bm25 unavailable: {reason}")
    mirror, cache = workspace / "mirror", workspace / "cache"
    mirror.mkdir()
    monkeypatch.setenv("TOPOBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("TOPOBENCH_CACHE", str(cache))
    zipped = beir_zip(mirror / "minibeir.zip", "minibeir")
    text = grid("    bm25:\n      args: [[0.9], [0.4]]\n")
    (workspace / "algos.yaml").write_text(text)
    argv = ["--dataset", "minibeir-toy", "--definitions", str(workspace / "algos.yaml"), "--count", "2", "--algorithm",
            "flat", "-q"]
    (workspace / "algos.yaml").write_text(text + "    flat:\n      args: []\n")
    assert run_main(argv) == 0  # builds minibeir-toy from the good zip
    data = bytearray(zipped.read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = b"\xff" * 64  # damage the members, keep the central directory
    zipped.write_bytes(bytes(data))
    shutil.rmtree(cache, ignore_errors=True)
    before = files_under(workspace / "results")
    code, err = call(run_main, [*argv[:-2], "bm25"], capsys)
    assert_one_error(code, err, "minibeir.zip")
    assert files_under(workspace / "results") == before


# --- training: numbers, device, where it writes (rows 3, 4, 6) -------------------------------------------------------

@pytest.mark.parametrize(("argv", "message"), [
    (["--stage", "in_batch:epochs=1e308"], "stage 'in_batch': epochs=1e+308 is more than 1,000"),
    (["--stage", "in_batch:refresh_epochs=1e308"], "refresh_epochs=1e+308 is more than 1,000"),
    (["--max-length", "1000000000"], "max_length=1000000000 is more than 32,768"),
    (["--batch-size", "10000000"], "batch_size=10000000 is more than 65,536"),
    (["--seed", str(1 << 70)], "seed="),
])
def test_training_numbers_are_bounded_before_anything_is_written(workspace, capsys, argv, message):
    out = workspace / "run"
    code, err = call(train_main, ["--corpus", "scifact", "--encoder", "toy", "--output", str(out), *argv], capsys)
    assert_one_error(code, err, message)
    assert not out.exists()


def _minilm_or_skip() -> None:
    from topobench.core.registry import get_registry

    reason = get_registry().get("encoders", "minilm").cls.unavailable_reason()
    if reason:
        pytest.skip(f"minilm unavailable: {reason}")


def test_a_missing_device_stops_training_before_config_json(workspace, capsys):
    import torch

    _minilm_or_skip()
    if torch.cuda.is_available() and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    argv, message = ["--device", "cuda:7"], "device cuda:7:"
    corpus = write_corpus(workspace / "corpus")
    out = workspace / "run"
    code, err = call(train_main, ["--corpus", str(corpus), "--encoder", "minilm", "--output", str(out),
                                  "--stage", "in_batch:epochs=1", "--dev-queries", "1", "--batch-size", "2", *argv],
                     capsys)
    assert_one_error(code, err, message)
    assert not (out / "config.json").exists()


def test_train_without_output_writes_under_the_checkpoints_folder(workspace, monkeypatch):
    root = workspace / "checkpoints"
    for corpus in ("/abs/folder", "local:/abs/folder", "../../up", ".hidden", "scifact"):
        folder = default_output(root, TrainConfig(corpus=corpus, encoder="toy", stages=["toy:epochs=1"]), "topo")
        assert folder.parent == root and not folder.name.startswith("."), folder
    tiny = write_tiny_training(workspace / "data")
    corpus = tiny["corpus"]
    monkeypatch.setenv("TOPOBENCH_CHECKPOINTS", str(root))
    code = train_main(["--corpus", str(corpus), "--encoder", "minilm", "--encoder-args",
                       f"checkpoint={tiny['model']},progress=false", "--stage", "in_batch:epochs=1", "--batch-size",
                       "8", "--dev-queries", "6", "--max-train-queries", "16", "--max-length", "32", "-q"])
    assert code == 0
    runs = list(root.iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-minilm-infonce")
    assert json.loads((runs[0] / "config.json").read_text())["corpus"] == str(corpus)
    assert sorted(p.name for p in (workspace / "data").iterdir()) == ["corpus", "model"]  # nothing beside the corpus
