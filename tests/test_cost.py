"""Honest cost (issue 11): peak memory per phase and machine facts in every result, repeats kept with their spread,
throughput from several threads."""

from __future__ import annotations

import pytest

from topobench.metrics.registry import evaluate
from topobench.runs import memory
from topobench.runs import results as res
from topobench.runs.runner import RunConfig, run_sweep

MIB = 1 << 20

HOG_GRID = """\
float:
  any:
    hog:
      args: [[64], [32]]
      query-args: [[1]]
"""


def config(workspace, dataset, text, **kw):
    path = workspace / "algos.yaml"
    path.write_text(text)
    return RunConfig(dataset=dataset, definitions_file=path, runs=kw.pop("runs", 1), **kw)


def only_result(workspace, dataset, folder):
    paths = sorted((workspace / "results" / dataset / "10" / folder).glob("*.hdf5"))
    assert len(paths) == 1, paths
    return res.read_result(paths[0])


def test_peak_memory_of_build_and_search_is_each_phase_s_own(workspace, tiny_dataset):
    """A build that keeps 64 MiB and a query group that touches 32 MiB more: the build's peak is the loaded process
    plus the 64 MiB, the search phase's the index plus the 32 MiB; both as metrics, beside the index size."""
    report = run_sweep(config(workspace, tiny_dataset, HOG_GRID))
    assert report.ran == 1 and not report.failed
    result = only_result(workspace, tiny_dataset, "hog")
    m = result.memory
    assert m["method"] == "VmHWM" and m["build_peak_reset"] and m["search_peak_reset"]
    assert m["build_peak_bytes"] - m["loaded_rss_bytes"] >= 60 * MIB
    assert m["search_peak_bytes"] - m["loaded_rss_bytes"] >= (64 + 30) * MIB
    assert m["build_peak_bytes"] < m["search_peak_bytes"] < m["build_peak_bytes"] + 64 * MIB  # reset in between
    assert m["container_peak_bytes"] is None  # not run in a container
    values = evaluate(None, result, ["buildmem", "searchmem", "containermem", "indexsize"])
    assert values["buildmem"] == m["build_peak_bytes"] / 1e6 and values["searchmem"] == m["search_peak_bytes"] / 1e6
    assert values["containermem"] is None
    from topobench.report.export import cost_rows

    (row,) = cost_rows(tiny_dataset)
    assert (row["algorithm"], row["args"], row["points"], row["runs"]) == ("hog", "[64, 32]", 1, 1)
    assert row["buildmem"] == values["buildmem"] and row["searchmem"] == values["searchmem"]


def test_phase_reset_gives_each_phase_its_own_peak():
    import mmap

    with memory.Phase() as big:
        ballast = mmap.mmap(-1, 48 * MIB)  # anonymous pages straight from the kernel, whatever the allocator
        for offset in range(0, 48 * MIB, 4096):
            ballast[offset] = 1  # touch every page
        ballast.close()  # unmapped: resident memory falls back
    with memory.Phase() as small:
        pass
    assert big.reset and small.reset
    assert big.peak - small.peak >= 40 * MIB


def test_every_result_records_the_machine(workspace, tiny_dataset):
    run_sweep(config(workspace, tiny_dataset, HOG_GRID.replace("64], [32", "1], [1")))
    machine = only_result(workspace, tiny_dataset, "hog").machine
    assert machine["cpu"] and machine["cores"] >= 1 and machine["memory_bytes"] > 0
    assert machine["in_docker"] is False and machine["docker_image"] is None
    assert {"topobench", "numpy", "h5py"} <= set(machine["versions"])


PID_GRID = """\
float:
  any:
    pid:
      args: []
    hnsw:
      args: [[8], [40]]
      query-args: [[10, 40]]
"""


def test_repeat_runs_each_point_in_fresh_processes_and_keeps_every_run(workspace, tiny_dataset):
    cfg = config(workspace, tiny_dataset, PID_GRID, repeat=3)
    report = run_sweep(cfg)
    assert report.ran == 3 and not report.failed
    folder = workspace / "results" / tiny_dataset / "10"
    pid_runs = res.read_repeats(next((folder / "pid").glob("*.hdf5")))
    assert len(pid_runs) == 3 and len({r.stats["pid"] for r in pid_runs}) == 3  # three processes
    for path in (folder / "hnsw").glob("*.hdf5"):
        runs = res.read_repeats(path)
        assert len(runs) == 3 and res.read_result(path).repeats == 3
        assert all(r.neighbors.shape == (20, 10) and r.memory and r.machine for r in runs)
    # Done means every run is there: the same command runs nothing, one more --repeat adds one run to each point.
    again = run_sweep(cfg)
    assert again.ran == 0 and again.skipped == 3
    more = run_sweep(RunConfig(**{**cfg.__dict__, "repeat": 4}), ["pid"])
    assert more.ran == 1 and more.skipped == 0
    runs = res.read_repeats(next((folder / "pid").glob("*.hdf5")))
    assert len(runs) == 4 and runs[0].stats == pid_runs[0].stats  # earlier runs kept as they were


def test_spread_over_repeats_is_tabulated_and_drawn(workspace, tiny_dataset):
    from topobench.report.export import load_points, summary_rows, summary_table
    from topobench.report.plotting import figure

    run_sweep(config(workspace, tiny_dataset, PID_GRID, repeat=3), ["hnsw"])
    points = load_points(tiny_dataset, ["k-nn", "qps"])
    assert all(p.repeats == 3 and len(p.per_repeat) == 3 for p in points)
    for p in points:
        qps = sorted(run["qps"] for run in p.per_repeat)
        assert p.values["qps"] == qps[1] and p.spread("qps") == (qps[0], qps[2])
    rows = summary_rows([tiny_dataset], levels=(0.9,))
    assert rows[0]["runs"] == 3 and rows[0]["qps_min"] <= rows[0]["qps_median"] <= rows[0]["qps_max"]
    assert "qps min / median / max over runs" in summary_table(tiny_dataset)[1]
    ax = figure([tiny_dataset]).axes[0]
    assert "bars min-max" in ax.get_title() and ax.collections  # the error bars


def test_threads_mode_answers_every_query_each_round_from_every_thread(workspace, tiny_dataset):
    """--threads N: its own results folder per level, every call's latency kept, the answers those of one query at a
    time; single-query and batch listings leave it out."""
    import numpy as np
    from helpers import TEST_PLUGIN_DIRS, cli

    from topobench.datasets.store import load_dataset
    from topobench.report.export import result_sections, threads_sections, threads_table

    cfg = config(workspace, tiny_dataset, PID_GRID.replace("pid:", "toy:"), rounds=3)
    for level in (1, 3):
        report = run_sweep(RunConfig(**{**cfg.__dict__, "threads": level}))
        assert report.ran == 3 and not report.failed
    folder = workspace / "results" / tiny_dataset / "10"
    assert sorted(p.name for p in folder.iterdir()) == ["hnsw-threads1", "hnsw-threads3", "toy-threads1",
                                                        "toy-threads3"]
    ds = load_dataset(tiny_dataset)
    exact = only_result(workspace, tiny_dataset, "toy-threads3")
    assert exact.threads == 3 and exact.rounds == 3 and exact.latencies.shape == (3 * 20,)
    assert np.all(exact.latencies > 0) and exact.times.shape == (20,)
    assert np.array_equal(np.sort(exact.neighbors, axis=1), np.sort(ds.neighbors[:, :10], axis=1))
    values = evaluate(ds, exact, ["k-nn", "qps", "p999"])
    assert values["k-nn"] == 1.0 and values["qps"] == 1.0 / exact.best_search_time
    assert values["p999"] == np.percentile(exact.latencies, 99.9) * 1000.0
    assert list(res.iter_results(tiny_dataset)) == [] and len(list(res.iter_results(tiny_dataset, threads=3))) == 3
    assert result_sections(tiny_dataset) == [] and threads_sections(tiny_dataset) == {10: [1, 3]}
    table = threads_table(tiny_dataset, levels=[1, 3])
    assert table[1].split()[:5] == ["algorithm", "level", "threads", "k-nn", "qps"]
    assert any(line.split()[:3] == ["toy", "0.99", "3"] for line in table)
    # Bad input: one line, exit 2, nothing written.
    for args, needle in ((["--threads", "0"], "thread counts are 1 or more"),
                         (["--threads", "2", "--batch"], "two different modes")):
        out = cli("run.py", "--dataset", "random-xs-8-euclidean", *args,
                  env={"TOPOBENCH_PLUGIN_DIRS": TEST_PLUGIN_DIRS}, cwd=workspace)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr
    assert not (workspace / "datasets" / "random-xs-8-euclidean.hdf5").exists()


def test_repeat_and_threads_through_the_ray_executor(workspace, tiny_dataset, capsys):
    """The runs of --repeat and the folders of --threads come out of a Ray sweep as out of a local one (the driver
    appends a later run to the point's file instead of replacing it)."""
    pytest.importorskip("ray")
    from topobench.cli.main import run_main

    (workspace / "algos.yaml").write_text(PID_GRID.replace("pid:", "toy:"))
    argv = ["--dataset", tiny_dataset, "--algorithm", "toy", "--runs", "1", "--definitions",
            str(workspace / "algos.yaml"), "--executor", "ray", "--repeat", "2", "--threads", "1,2", "-q"]
    assert run_main(argv) == 0, capsys.readouterr().err
    folder = workspace / "results" / tiny_dataset / "10"
    for level in (1, 2):
        runs = res.read_repeats(next((folder / f"toy-threads{level}").glob("*.hdf5")))
        assert len(runs) == 2 and all(r.threads == level and r.rounds == 10 for r in runs)
