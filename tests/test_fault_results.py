"""Fault tests of results: only a complete, readable result is "done"; failed points are retried; damaged files are
reported and rerun; distinct parameters never share a file; results of earlier versions and of ann-benchmarks are
still read, and their points told apart."""

from __future__ import annotations

import json
import logging

import h5py
import numpy as np
import pytest

from topobench.cli.main import run_main
from topobench.report.export import export_csv
from topobench.runs import results as res
from topobench.runs.runner import RunConfig, run_sweep

GRID = """\
float:
  any:
    toy:
      args: []
    raises:
      args: []
"""
# Three query args whose old file names ("ok") were the same: 'ok', 'ok!' and 'ok?' differ only in punctuation.
COLLIDING = """\
float:
  any:
    hang:
      args: []
      query-args: [[ok, "ok!", "ok?"]]
"""


def _config(workspace, dataset, text=GRID, **kw):
    path = workspace / "algos.yaml"
    path.write_text(text)
    return RunConfig(dataset=dataset, definitions_file=path, runs=1, **kw)


def _toy_path(workspace, dataset):
    return res.result_path(dataset, 10, "toy", False, [], [])


def test_cli_retries_failed_points_and_exits_nonzero_while_any_point_has_no_result(workspace, tiny_dataset, capsys,
                                                                                    caplog):
    (workspace / "algos.yaml").write_text(GRID)
    argv = ["--dataset", tiny_dataset, "--runs", "1", "--definitions", str(workspace / "algos.yaml"), "-q"]
    assert run_main(argv) == 1
    first = capsys.readouterr()
    assert first.out.splitlines()[0] == f"{tiny_dataset}: 1 points run, 0 already done, 0 retried, 1 failed"
    assert any(line.startswith("failed: raises [] []: error: RuntimeError") for line in first.err.splitlines())
    assert run_main([*argv, "--skip-failed"]) == 1  # still no valid result for `raises`: never exit 0
    skipped = capsys.readouterr()
    assert skipped.out.splitlines()[0] == f"{tiny_dataset}: 0 points run, 1 already done, 0 retried, 1 failed"
    assert "not retried (--skip-failed)" in skipped.err
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert run_main(argv) == 1
    retried = capsys.readouterr()
    assert retried.out.splitlines()[0] == f"{tiny_dataset}: 0 points run, 1 already done, 1 retried, 1 failed"
    assert "1 point failed before, retrying (--skip-failed skips them): raises [] []" in caplog.text


def test_a_point_fixed_since_it_failed_is_rerun(workspace, tiny_dataset):
    cfg = _config(workspace, tiny_dataset)
    path = _toy_path(workspace, tiny_dataset)
    res.write_failure(path, {"status": "crashed: exit code 3"})  # as a crash (or a full disk) leaves it
    report = run_sweep(cfg, ["toy"])
    assert report.ran == 1 and report.retried == 1 and not report.failed
    assert res.result_problem(path, 10, 20, [], []) is None and not res.failure_path(path).exists()


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path):
    path.write_bytes(b"\x00garbage" * 100)


def _empty(path):
    path.write_bytes(b"")


def _drop_neighbors(path):
    with h5py.File(path, "a") as f:
        del f["neighbors"]


def _wrong_count(path):
    with h5py.File(path, "a") as f:
        f.attrs["count"] = 5


def _other_point(path):
    with h5py.File(path, "a") as f:
        f.attrs["parameters"] = json.dumps({"args": [1], "query_args": []})


def _short_arrays(path):
    with h5py.File(path, "a") as f:
        data = f["neighbors"][:5]
        del f["neighbors"]
        f.create_dataset("neighbors", data=data)


def _no_parameters(path):
    with h5py.File(path, "a") as f:
        del f.attrs["parameters"]


DAMAGE = [_truncate, _garbage, _empty, _drop_neighbors, _wrong_count, _other_point, _short_arrays, _no_parameters]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__.strip("_") for d in DAMAGE])
def test_a_damaged_result_file_is_reported_and_rerun(workspace, tiny_dataset, damage, caplog):
    cfg = _config(workspace, tiny_dataset)
    assert run_sweep(cfg, ["toy"]).ran == 1
    path = _toy_path(workspace, tiny_dataset)
    damage(path)
    assert res.result_problem(path, 10, 20, [], []) is not None
    with caplog.at_level(logging.WARNING):
        report = run_sweep(cfg, ["toy"])
    assert report.ran == 1 and report.retried == 1 and report.skipped == 0 and not report.failed
    assert f"result file {path} is unusable" in caplog.text
    assert res.result_problem(path, 10, 20, [], []) is None


def test_distinct_parameters_never_share_a_file(workspace, tiny_dataset):
    report = run_sweep(_config(workspace, tiny_dataset, COLLIDING))
    assert report.ran == 3 and not report.failed
    files = sorted((workspace / "results" / tiny_dataset / "10" / "hang").glob("*.hdf5"))
    assert len(files) == 3 and all(p.name.startswith("ok-") for p in files)
    assert sorted(res.read_result(p).query_args[0] for p in files) == ["ok", "ok!", "ok?"]
    assert res.legacy_params_slug([], ["ok"]) == res.legacy_params_slug([], ["ok!"])  # what used to collide
    slugs = {res.params_slug([0.9, 0.4], []), res.params_slug([0, 9, 0, 4], []), res.params_slug(["0_9_0_4"], [])}
    assert len(slugs) == 3


def test_results_named_by_earlier_versions_are_adopted_not_rerun(workspace, tiny_dataset):
    cfg = _config(workspace, tiny_dataset, COLLIDING)
    run_sweep(cfg)
    folder = workspace / "results" / tiny_dataset / "10" / "hang"
    new = {res.read_result(p).query_args[0]: p for p in folder.glob("*.hdf5")}
    legacy = res.legacy_result_path(tiny_dataset, 10, "hang", False, [], ["ok!"])
    new["ok!"].rename(legacy)  # as an earlier version named it: 'ok.hdf5'
    new["ok"].unlink()  # 'ok' itself is missing: the legacy file is not its result, it must run
    report = run_sweep(cfg)
    assert report.ran == 1 and report.skipped == 2  # 'ok!' adopted, 'ok?' done, 'ok' measured
    assert not legacy.exists() and new["ok!"].exists() and new["ok"].exists()
    assert sorted(r.query_args[0] for r in res.iter_results(tiny_dataset)) == ["ok", "ok!", "ok?"]


def _ann_benchmarks_result(path, name, neighbors, extra=None):
    """A result file exactly as ann-benchmarks writes it: no ``parameters``, ``name`` carries the point."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        attrs = {"build_time": 1.0, "index_size": 10.0, "algo": "faiss-ivf", "dataset": "tiny-16-euclidean",
                 "best_search_time": 1e-3, "candidates": 10.0, "expect_extra": False, "name": name, "run_count": 1,
                 "distance": "euclidean", "count": 10, "batch_mode": False, **(extra or {})}
        for key, value in attrs.items():
            f.attrs[key] = value
        f.create_dataset("times", data=np.full(len(neighbors), 1e-3))
        f.create_dataset("neighbors", data=neighbors)
        f.create_dataset("distances", data=np.zeros(neighbors.shape, np.float32))


def test_ann_benchmarks_results_are_told_apart_by_their_name(workspace, tiny_dataset):
    from topobench.datasets.store import load_dataset

    dataset = load_dataset(tiny_dataset)
    folder = workspace / "results" / tiny_dataset / "10" / "faiss-ivf"
    _ann_benchmarks_result(folder / "1024_1.hdf5", "FaissIVF(n_list=1024, n_probe=1)", dataset.neighbors[:, :10])
    _ann_benchmarks_result(folder / "1024_10.hdf5", "FaissIVF(n_list=1024, n_probe=10)", dataset.neighbors[:, :10])
    _ann_benchmarks_result(folder / "64_2.hdf5", "FaissIVF(n_list=64, n_probe=2)", dataset.neighbors[:, :10],
                           {"args": json.dumps([64]), "query_args": np.array([2])})
    found = sorted(res.iter_results(tiny_dataset), key=lambda r: r.name)
    parameters = [json.loads(r.parameters) for r in found]
    assert len({r.parameters for r in found}) == 3
    assert parameters[0] == {"name": "FaissIVF(n_list=1024, n_probe=1)", "args": [], "query_args": []}
    assert parameters[2] == {"name": "FaissIVF(n_list=64, n_probe=2)", "args": [64], "query_args": [2]}
    out = workspace / "out.csv"
    export_csv(out, [tiny_dataset])
    rows = out.read_text().splitlines()[1:]
    assert len(rows) == 3 and len({row.split(",faiss-ivf,")[1].split('",')[0] for row in rows}) == 3


def test_a_folder_where_a_result_belongs_is_one_clear_error(workspace, tiny_dataset):
    from topobench.core.errors import TopobenchError

    path = _toy_path(workspace, tiny_dataset)
    (path / "inside").mkdir(parents=True)
    with pytest.raises(TopobenchError, match=f"cannot remove the unusable result {path} .*remove it yourself"):
        run_sweep(_config(workspace, tiny_dataset), ["toy"])
