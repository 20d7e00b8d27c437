"""The Ray executor on a real cluster: a head and a second node on 127.0.0.1 (one CPU each), started for this module
and stopped at its end. The same sweep through the local and the Ray executor gives the same points and the same
recall; a hang, a worker crash and an exception are each recorded while the rest finish; bad input is one line.

Runs in the default suite when Ray is installed (the ``ray`` extra, in ``all``); skipped otherwise."""

from __future__ import annotations

import json
import os
import sys

import pytest
from faults import assert_one_error, call, files_under
from helpers import FAULTY_GRID, TEST_PLUGIN_DIRS, TESTS, toy_hnsw_grid
from ray_cluster import free_port, ray_cluster

from topobench.cli.main import run_main
from topobench.core.registry import get_registry
from topobench.core.signal_handlers import handler_addresses
from topobench.report.export import load_points
from topobench.runs import results as res

ray = pytest.importorskip("ray")

GRID = toy_hnsw_grid(m=(8, 16))
FAULTY = FAULTY_GRID + "    kill_worker:\n      args: []\n"  # the Ray worker itself dies too
DATASET = "random-xs-20-angular"


def _grid(workspace, text: str) -> str:
    path = workspace / "algos.yaml"
    path.write_text(text)
    return str(path)


def _recalls(dataset: str) -> dict[tuple[str, str], float]:
    return {(p.algorithm, p.parameters): p.values["k-nn"] for p in load_points(dataset, ["k-nn"])}


# --- without a cluster (these run before the module's cluster is started) ---------------------------------------------

def test_without_an_address_a_local_runtime_is_started_and_stopped(workspace, tiny_dataset, capsys):
    handlers = handler_addresses()  # Ray's calls must leave them as found (a JVM in this process depends on SIGSEGV's)
    argv = ["--dataset", tiny_dataset, "--algorithm", "toy", "--runs", "1", "--definitions", _grid(workspace, GRID),
            "--executor", "ray", "-q"]
    code, lines = call(run_main, argv, capsys)
    assert code == 0, lines
    assert res.read_result(res.result_path(tiny_dataset, 10, "toy", False, [], [])).threads == 1
    assert not ray.is_initialized()
    assert handler_addresses() == handlers


def test_bad_input_is_one_line_and_nothing_is_written(workspace, capsys, monkeypatch):
    base = ["--dataset", DATASET, "--runs", "1", "--definitions", _grid(workspace, GRID)]
    unreachable = f"127.0.0.1:{free_port()}"  # nothing listens there
    assert_one_error(*call(run_main, [*base, "--executor", "ray", "--ray-address", unreachable], capsys),
                     f"cannot reach the Ray cluster at {unreachable}")
    assert_one_error(*call(run_main, [*base, "--ray-address", unreachable], capsys), "needs --executor ray")
    assert_one_error(*call(run_main, [*base, "--executor", "ray", "--save-index"], capsys), "--save-index")
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    assert_one_error(*call(run_main, [*base, "--executor", "ray"], capsys), "pip install 'topobench[ray]'")
    assert files_under(workspace / "results") == [] and files_under(workspace / "datasets") == []


def test_a_cluster_without_a_cpu_for_the_tasks_is_refused(workspace, tmp_path_factory, capsys):
    with ray_cluster([0], tmp_path_factory.mktemp("ray-logs-0")) as address:  # a head that takes no tasks
        argv = ["--dataset", DATASET, "--definitions", _grid(workspace, GRID), "--executor", "ray",
                "--ray-address", address]
        assert_one_error(*call(run_main, argv, capsys), "has no node with a CPU")
    assert files_under(workspace / "results") == [] and files_under(workspace / "datasets") == []


# --- on a two-node cluster --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ray_cluster([1, 1], tmp_path_factory.mktemp("ray-logs")) as address:
        yield address


def test_same_points_and_recall_as_the_local_executor_and_a_rerun_skips_them(workspace, cluster, capsys,
                                                                              monkeypatch):
    argv = ["--dataset", DATASET, "--runs", "1", "--definitions", _grid(workspace, GRID), "-q"]
    monkeypatch.setenv("TOPOBENCH_RESULTS", str(workspace / "local"))
    code, lines = call(run_main, argv, capsys)
    assert code == 0, lines
    local = _recalls(DATASET)
    monkeypatch.setenv("TOPOBENCH_RESULTS", str(workspace / "ray"))
    capsys.readouterr()
    assert run_main([*argv, "--executor", "ray", "--ray-address", cluster]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{DATASET}: 5 points run, 0 already done, 0 retried, 0 failed"
    on_ray = _recalls(DATASET)
    assert sorted(on_ray) == sorted(local) and len(local) == 5
    for key, recall in local.items():
        # exact for the exact index; an HNSW graph built on more threads may differ by an insertion order
        assert on_ray[key] == pytest.approx(recall, abs=0 if key[0] == "toy" else 0.02), key
    for path in (workspace / "ray").rglob("*.hdf5"):
        result = res.read_result(path)
        assert result.threads == 1 and len(result.times) == 1000
        # measured in a fresh interpreter as locally: none of the Ray worker's memory in the peak figures
        local_result = res.read_result(workspace / "local" / path.relative_to(workspace / "ray"))
        assert abs(result.memory["loaded_rss_bytes"] - local_result.memory["loaded_rss_bytes"]) < 10e6
    assert not list((workspace / "ray").rglob("*.failed.json")) and not list((workspace / "ray").rglob("*.tmp-*"))
    assert run_main([*argv, "--executor", "ray", "--ray-address", cluster]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{DATASET}: 0 points run, 5 already done, 0 retried, 0 failed"


def test_hang_crash_and_exception_are_recorded_and_the_rest_finish(workspace, tiny_dataset, cluster, capsys,
                                                                    monkeypatch):
    monkeypatch.setenv("TOPOBENCH_PLUGIN_DIRS", os.pathsep.join([TEST_PLUGIN_DIRS, str(TESTS / "plugins_ray")]))
    get_registry.cache_clear()
    argv = ["--dataset", tiny_dataset, "--runs", "1", "--timeout", "8", "--definitions", _grid(workspace, FAULTY),
            "--executor", "ray", "--ray-address", cluster, "-q"]
    code, lines = call(run_main, argv, capsys)
    assert code == 1, lines
    folder = workspace / "results" / tiny_dataset / "10"
    records = {p.parent.name + " " + p.name.split("-")[0]: json.loads(p.read_text())
               for p in folder.glob("*/*.failed.json")}
    statuses = {key: record["status"].split(":")[0] for key, record in records.items()}
    assert statuses == {"hang hang": "timeout", "hang ok2": "timeout", "crash default": "crashed",
                        "raises default": "error", "kill_worker default": "crashed"}
    assert records["crash default"]["status"] == "crashed: exit code 3"  # as the local executor records it
    assert "the Ray worker died" in records["kill_worker default"]["status"]
    assert "deliberate failure while building" in records["raises default"]["error"]
    done = sorted(p.parent.name + " " + p.name.split("-")[0] for p in folder.glob("*/*.hdf5"))
    assert done == ["hang ok", "toy default"]  # the point measured before the hang is kept
    assert sum(line.startswith("failed: ") for line in lines) == 5
    # a rerun retries the failed points and skips the finished ones
    code, lines = call(run_main, [*argv[:-1], "--algorithm", "crash,raises,toy", "-q"], capsys)
    assert code == 1 and sum(line.startswith("failed: ") for line in lines) == 2


STUDY = """\
tiny-stock:
  description: "the stock model on a 300-document corpus"
  corpus: synthetic
  encoders: [minilm]
  variants: [zeroshot]
  algorithms: [toy, hnsw]
  count: 10
  runs: 1
  definitions: {algos}
"""


def test_a_study_cell_on_the_cluster_equals_the_local_one(workspace, cluster, capsys, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from training_fixtures import write_beir_zip

    from topobench.cli.study import study_main
    from topobench.datasets.store import load_dataset

    write_beir_zip(workspace / "mirror", "synthetic", docs=300, queries=48, test_queries=24)
    monkeypatch.setenv("TOPOBENCH_MIRROR", str(workspace / "mirror"))
    monkeypatch.setenv("TOPOBENCH_CACHE", str(workspace / "cache"))
    (workspace / "studies.yaml").write_text(STUDY.format(algos=_grid(workspace, GRID)))
    argv = ["-q", "--studies", str(workspace / "studies.yaml"), "run", "tiny-stock"]
    cells, arrays, recalls = {}, {}, {}
    for side in ("local", "ray"):
        for env in ("TOPOBENCH_DATASETS", "TOPOBENCH_RESULTS", "TOPOBENCH_STUDIES", "TOPOBENCH_CHECKPOINTS"):
            monkeypatch.setenv(env, str(workspace / side / env.split("_")[1].lower()))
        extra = ["--executor", "ray", "--ray-address", cluster] if side == "ray" else []
        code, lines = call(study_main, [*argv, *extra], capsys)
        assert code == 0, lines
        (path,) = (workspace / side / "studies" / "tiny-stock" / "cells").glob("*.json")
        cells[side] = json.loads(path.read_text())
        dataset = load_dataset("synthetic-minilm", build=False)
        arrays[side] = (dataset.train, dataset.test, dataset.neighbors)
        recalls[side] = _recalls(dataset.name)
        assert not list((workspace / side / "studies" / "tiny-stock" / "running").glob("*"))
    for a, b in zip(arrays["local"], arrays["ray"], strict=True):
        assert (a == b).all()
    assert sorted(recalls["ray"]) == sorted(recalls["local"])
    for key, recall in recalls["local"].items():
        assert recalls["ray"][key] == pytest.approx(recall, abs=0 if key[0] == "toy" else 0.02), key
    assert cells["ray"]["exact"] == cells["local"]["exact"] and cells["ray"]["dataset"] == cells["local"]["dataset"]


def test_a_corpus_encoded_in_shards_on_the_cluster_equals_the_one_pass_encoding(tmp_path, cluster, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from test_sharded_encoding import assert_same_dataset, encode
    from training_fixtures import write_beir_zip, write_tiny_bert

    from topobench.encoding.sharded import PARTS, SHARD_DOCS_ENV, ShardPlan
    from topobench.runs.executors.ray import RayExecutor

    write_beir_zip(tmp_path / "mirror", "synthetic", docs=300, queries=48, test_queries=24)
    model = str(write_tiny_bert(tmp_path / "model"))
    for env, folder in (("TOPOBENCH_MIRROR", "mirror"), ("TOPOBENCH_CACHE", "cache"),
                        ("TOPOBENCH_DATASETS", "datasets")):
        monkeypatch.setenv(env, str(tmp_path / folder))
    plan = ShardPlan("synthetic-minilm", "minilm", {"checkpoint": model, "progress": False})
    whole = encode(model, plan)
    monkeypatch.setenv(SHARD_DOCS_ENV, "120")
    with RayExecutor(cluster):  # the build's shards go to the cluster's workers (the executor is the active one)
        sharded = encode(model, plan)
    assert_same_dataset(whole, sharded)
    assert len(list((tmp_path / "datasets" / PARTS / "synthetic-minilm").glob("*/*.npz"))) == 3


def test_units_asking_for_a_gpu_are_refused_on_a_cluster_without_one(workspace, cluster):
    from topobench.core.errors import ConfigError
    from topobench.runs.definitions import parse_definitions
    from topobench.runs.executors.base import Unit
    from topobench.runs.executors.ray import RayExecutor
    from topobench.runs.runner import RunConfig

    path = workspace / "algos.yaml"
    path.write_text("float:\n  any:\n    gpu_flat:\n      args: []\n    toy:\n      args: []\n")
    config = RunConfig(dataset=DATASET, definitions_file=path)
    units = [Unit(config, d, (0,), 1000, (workspace / f"{d.algorithm}.hdf5",))
             for d in parse_definitions(path, "float", "angular", 10, 20)]
    with RayExecutor(cluster) as executor:
        assert executor.resources(units[0]) == {"num_cpus": 1, "num_gpus": 1}
        executor.check(units[1:])  # toy: one CPU, which the cluster has
        with pytest.raises(ConfigError, match="gpu_flat asks for a GPU"):
            executor.check(units)


def test_a_killed_driver_leaves_the_cluster_named_by_ray_address_running(workspace, tiny_dataset, cluster):
    """The watchdog that stops a killed driver's local runtime is never started for a cluster the user named."""
    import signal
    import subprocess
    import time

    from helpers import ROOT
    from ray_cluster import _alive_nodes

    slow = "float:\n  any:\n    slow:\n      args: []\n      query-args: [[0.5, 0.51]]\n"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--dataset", tiny_dataset, "--runs", "1",
                             "--definitions", _grid(workspace, slow), "--executor", "ray", "--ray-address", cluster],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # until the driver says its task runs on the cluster
        if "running slow" in line:
            break
    children = subprocess.run(["ps", "-o", "args=", "--ppid", str(proc.pid)], capture_output=True, text=True).stdout
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert "ray_watchdog" not in children, children
    time.sleep(3)  # what a watchdog would have stopped by now
    assert _alive_nodes(cluster) == 2
