"""Honest cost (issue 11): peak memory per phase and machine facts in every result, repeats kept with their spread,
throughput from several threads."""

from __future__ import annotations

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


def test_phase_reset_gives_each_phase_its_own_peak():
    with memory.Phase() as big:
        ballast = bytearray(48 * MIB)
        ballast[:: 4096] = b"x" * len(ballast[:: 4096])  # touch every page
        del ballast
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
