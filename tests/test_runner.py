"""The runner: build once per args, sweep query args, isolation (timeout, crash, exception), resume, result layout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from helpers import FAULTY_GRID, ROOT, TEST_PLUGIN_DIRS, cli, write_tiny_dataset

from topobench.runs import results as res
from topobench.runs.runner import RunConfig, run_sweep

TOY_GRID = """\
float:
  any:
    toy:
      args: []
    flat:
      args: []
    hnsw:
      args: [[8], [40]]
      query-args: [[10, 40]]
"""


def config(workspace, dataset, text, **kw):
    path = workspace / "algos.yaml"
    path.write_text(text)
    return RunConfig(dataset=dataset, definitions_file=path, runs=kw.pop("runs", 2), **kw)


def test_sweep_writes_ann_benchmarks_result_files(workspace, tiny_dataset):
    report = run_sweep(config(workspace, tiny_dataset, TOY_GRID))
    assert report.ran == 4 and not report.failed
    files = sorted((workspace / "results" / tiny_dataset / "10").glob("*/*.hdf5"))
    assert len(files) == 4
    for path in files:
        with h5py.File(path) as f:
            for attr in ("build_time", "index_size", "best_search_time", "candidates", "name", "run_count", "distance",
                         "count", "batch_mode"):
                assert attr in f.attrs, attr
            assert f["neighbors"].shape == (20, 10) and f["distances"].shape == (20, 10) and f["times"].shape == (20,)
        result = res.read_result(path)
        assert result.threads == 1 and not result.batch and len(result.search_times) == 2
        assert result.best_search_time == pytest.approx(min(result.search_times))
        assert result.best_search_time == pytest.approx(result.times.mean())
    exact = res.read_result(next(p for p in files if p.parent.name == "toy"))
    from topobench.datasets.store import load_dataset

    ds = load_dataset(tiny_dataset)
    assert np.allclose(exact.distances, ds.distances[:, :10], atol=1e-4)
    hnsw = [res.read_result(p) for p in files if p.parent.name == "hnsw"]
    assert {tuple(r.query_args) for r in hnsw} == {(10,), (40,)}
    assert all(r.stats["distcomps"] > 0 for r in hnsw)
    # Each counter per query (an untimed pass after the timed ones): its mean is the point's counter, query by query
    # the exact index compares every stored vector, and HNSW's work differs from query to query.
    for r in hnsw:
        assert set(r.query_stats) == {"distcomps", "hops"} and r.query_stats["distcomps"].shape == (20,)
        for key, values in r.query_stats.items():
            assert values.mean() == pytest.approx(r.stats[key]), key
    assert len(set(hnsw[0].query_stats["distcomps"].tolist())) > 1
    assert set(exact.query_stats["distcomps"].tolist()) == {float(len(ds.train))}


def test_rerun_skips_finished_points_and_force_reruns(workspace, tiny_dataset):
    cfg = config(workspace, tiny_dataset, TOY_GRID, runs=1)
    run_sweep(cfg)
    again = run_sweep(cfg)
    assert again.ran == 0 and again.skipped == 4
    forced = run_sweep(RunConfig(**{**cfg.__dict__, "force": True}), ["toy"])
    assert forced.ran == 1


def test_batch_mode_goes_to_its_own_folder(workspace, tiny_dataset):
    report = run_sweep(config(workspace, tiny_dataset, TOY_GRID, batch=True, runs=1), ["hnsw"])
    assert report.ran == 2
    result = res.read_result(next((workspace / "results" / tiny_dataset / "10" / "hnsw-batch").glob("*.hdf5")))
    assert result.batch and result.threads == (os.cpu_count() or 1)


def test_hang_crash_and_exception_are_recorded_and_the_sweep_goes_on(workspace, tiny_dataset):
    cfg = config(workspace, tiny_dataset, FAULTY_GRID, runs=1, timeout=8)
    start = time.monotonic()
    report = run_sweep(cfg)
    assert time.monotonic() - start < 60
    assert report.ran == 2  # hang[ok] and toy
    assert len(report.failed) == 4  # hang[hang], hang[ok2], crash, raises
    folder = workspace / "results" / tiny_dataset / "10"
    statuses = {p.parent.name + ":" + json.loads(p.read_text())["status"].split(":")[0]
                for p in folder.glob("*/*.failed.json")}
    assert statuses == {"hang:timeout", "crash:crashed", "raises:error"}
    # a recorded failure is not "done": --skip-failed leaves it alone but still reports it; a plain rerun retries it
    skipped = run_sweep(RunConfig(**{**cfg.__dict__, "skip_failed": True}))
    assert skipped.ran == 0 and skipped.skipped == 2 and skipped.retried == 0 and len(skipped.failed) == 4
    assert all("not retried (--skip-failed)" in line for line in skipped.failed)
    retried = run_sweep(cfg, ["crash", "raises", "toy"])
    assert retried.ran == 0 and retried.skipped == 1 and retried.retried == 2
    assert sorted(line.split(":")[0] for line in retried.failed) == ["crash [] []", "raises [] []"]
    assert "deliberate failure while building" in retried.failed[1]


SLOW_GRID = """\
float:
  any:
    slow:
      args: []
      query-args: [[0.02, 0.021, 0.022, 0.023, 0.024, 0.025, 0.026, 0.027]]
"""


def test_sigkill_mid_sweep_then_rerun_keeps_finished_points(workspace, tiny_dataset):
    (workspace / "algos.yaml").write_text(SLOW_GRID)
    env = {**os.environ, "TOPOBENCH_PLUGIN_DIRS": TEST_PLUGIN_DIRS}
    args = [sys.executable, str(ROOT / "run.py"), "--dataset", tiny_dataset, "--runs", "1", "--definitions",
            str(workspace / "algos.yaml")]
    proc = subprocess.Popen(args, env=env, cwd=workspace, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = workspace / "results" / tiny_dataset / "10" / "slow"
    deadline = time.monotonic() + 120
    while len(list(folder.glob("*.hdf5"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the child dies with its parent (PR_SET_PDEATHSIG)
    done = sorted(folder.glob("*.hdf5"))
    assert 2 <= len(done) < 8
    for path in done:
        res.read_result(path)  # every file that exists is complete
    mtimes = {p: p.stat().st_mtime_ns for p in done}
    rerun = cli("run.py", *args[2:], env=env, cwd=workspace)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{8 - len(done)} points run, {len(done)} already done" in rerun.stdout
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
    assert len([p for p in folder.iterdir() if not p.name.endswith(".hdf5")]) == 0


def test_cli_errors_are_one_line_and_nonzero(workspace, tiny_dataset):
    env = {"TOPOBENCH_PLUGIN_DIRS": TEST_PLUGIN_DIRS}
    bad_yaml = workspace / "bad.yaml"
    bad_yaml.write_text("float:\n  any:\n    hnsw:\n      args: [[8]\n")
    for args, needle in [
        (["--dataset", tiny_dataset, "--definitions", str(bad_yaml)], "malformed YAML"),
        (["--dataset", "no-such-dataset"], "unknown dataset 'no-such-dataset'"),
        (["--dataset", tiny_dataset, "--algorithm", "hnsww"], "unknown algorithm 'hnsww'"),
    ]:
        result = cli("run.py", *args, env=env, cwd=workspace)
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr


def test_unknown_dataset_leaves_nothing_behind(workspace):
    result = cli("run.py", "--dataset", "random-q-8-angular", cwd=workspace)
    assert result.returncode == 2
    assert not (workspace / "datasets").exists() or not list((workspace / "datasets").iterdir())


def test_synthetic_dataset_is_deterministic_with_exact_ground_truth(workspace):
    from topobench.datasets.store import load_dataset

    a = load_dataset("random-xs-8-euclidean")
    assert a.train.shape == (10_000, 8) and a.test.shape == (1_000, 8) and a.neighbors.shape == (1_000, 100)
    first = a.train.copy()
    a.path.unlink()
    b = load_dataset("random-xs-8-euclidean")
    assert np.array_equal(first, b.train)
    q = b.test[3]
    d = np.sqrt(((b.train - q) ** 2).sum(axis=1))
    assert np.array_equal(np.sort(np.argsort(d)[:10]), np.sort(b.neighbors[3, :10]))
    assert np.allclose(np.sort(d)[:100], b.distances[3], atol=1e-3)


def test_ann_benchmarks_file_is_read_unchanged(workspace):
    """A file laid out exactly as ann-benchmarks writes it (no extras) runs as is."""
    path = workspace / "datasets"
    path.mkdir()
    X = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    with h5py.File(path / "tiny-ann-angular.hdf5", "w") as f:
        f.attrs["type"] = "dense"
        f.attrs["distance"] = "angular"
        f.attrs["dimension"] = 8
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=X[:280])
        f.create_dataset("test", data=X[280:])
        f.create_dataset("neighbors", data=np.zeros((20, 100), np.int32))
        f.create_dataset("distances", data=np.zeros((20, 100), np.float32))
    from topobench.datasets.store import load_dataset

    ds = load_dataset("tiny-ann-angular")
    assert ds.distance == "angular" and ds.doc_ids is None and ds.qrels is None


def test_write_tiny_dataset_helper_matches_format(workspace):
    path = write_tiny_dataset(workspace / "datasets", name="t2", distance="angular")
    with h5py.File(path) as f:
        assert f.attrs["distance"] == "angular" and f.attrs["dimension"] == 16
