"""run.py --docker (issue 11): each definition in its own container, pinned, memory-limited, without network; the same
result files as without Docker; a memory-limit kill and a timeout recorded while the rest finish; bad input refused.

Marked ``docker``: skipped, with the reason, where no Docker daemon answers (scripts/docker-daemon.sh starts one) or
the Docker SDK is missing. One image is built per session (the base image is kept between sessions, as a cache) and
removed at the end.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from helpers import TEST_PLUGIN_DIRS, cli, toy_hnsw_grid

from topobench.core.errors import ConfigError
from topobench.runs import results as res
from topobench.runs.definitions import format_size, parse_size
from topobench.runs.runner import RunConfig, run_sweep

pytestmark = pytest.mark.docker

GRID = toy_hnsw_grid()

FAULTS = """\
float:
  any:
    toy:
      args: []
    hog:
      memory: 64m
      args: [[256], [0]]
      query-args: [[1]]
    hang:
      args: []
      query-args: [[ok, hang]]
"""


@pytest.fixture(scope="session")
def docker_image(tmp_path_factory):
    """A benchmark image built from this checkout for the session; removed (and dangling layers pruned) after."""
    try:
        from topobench.runs.executors.docker import build_image, connect
    except ImportError as exc:  # pragma: no cover - the module itself needs nothing beyond the project
        pytest.skip(f"cannot import the Docker executor: {exc}")
    try:
        client = connect()
    except ConfigError as exc:
        pytest.skip(str(exc))
    tag = f"topobench-test:{os.getpid()}"
    try:
        build_image(tag, work=tmp_path_factory.mktemp("docker-build"))
    except ConfigError as exc:  # what this machine lacks to build one (root for debootstrap, debootstrap itself)
        pytest.skip(f"cannot build the image here: {exc}")
    yield tag
    try:
        client.images.remove(tag, force=True)
        client.containers.prune(filters={"label": "topobench"})
        client.images.prune(filters={"dangling": True})
    except Exception as exc:  # noqa: BLE001 - clean-up only: a daemon gone by now must not fail the last test
        warnings.warn(f"could not remove the test image {tag}: {exc}", stacklevel=1)


@pytest.fixture
def image_without_python(tmp_path):
    """An image of one text file (``docker import``): Docker creates a container of it, then refuses to start it
    (``python3`` is not in it), which is what a runtime refusal at start looks like."""
    import io
    import tarfile

    try:
        from topobench.runs.executors.docker import connect
        client = connect()
    except (ImportError, ConfigError) as exc:
        pytest.skip(str(exc))
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("README")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    tag = f"topobench-test-empty:{os.getpid()}"
    client.api.import_image_from_data(data.getvalue(), repository=tag.split(":")[0], tag=tag.split(":")[1])
    yield client, tag
    client.images.remove(tag, force=True)


def sweep(workspace, dataset, grid, results, executor=None, **kw):
    path = workspace / "algos.yaml"
    path.write_text(grid)
    os.environ["TOPOBENCH_RESULTS"] = str(workspace / results)
    return run_sweep(RunConfig(dataset=dataset, definitions_file=path, runs=1, **kw), None, executor)


def test_docker_sweep_writes_the_same_points_as_a_local_one(workspace, tiny_dataset, docker_image, monkeypatch):
    from topobench.runs.executors.docker import DockerExecutor

    monkeypatch.setenv("TOPOBENCH_RESULTS", str(workspace / "local"))
    local = sweep(workspace, tiny_dataset, GRID, "local")
    limit = parse_size("512m")
    boxed = sweep(workspace, tiny_dataset, GRID, "docker", DockerExecutor(docker_image, limit))
    assert local.ran == boxed.ran == 3 and not local.failed and not boxed.failed
    names = {root: sorted(p.relative_to(workspace / root) for p in (workspace / root).rglob("*.hdf5"))
             for root in ("local", "docker")}
    assert names["local"] == names["docker"] and len(names["local"]) == 3
    for rel in names["docker"]:
        here, there = res.read_result(workspace / "local" / rel), res.read_result(workspace / "docker" / rel)
        assert here.parameters == there.parameters and here.neighbors.shape == there.neighbors.shape
        if here.algorithm == "toy":  # exact: the very same answers
            assert np.array_equal(here.neighbors, there.neighbors)
        machine = there.machine
        assert machine["in_docker"] and machine["docker_image"].startswith(f"{docker_image} (sha256:")
        assert machine["cores"] == 1
        assert machine["memory_limit_bytes"] == limit and not here.machine["in_docker"]
        assert there.memory["container_peak_bytes"] > 0 and there.memory["build_peak_reset"]
    again = sweep(workspace, tiny_dataset, GRID, "docker", DockerExecutor(docker_image, limit))
    assert again.ran == 0 and again.skipped == 3


def test_memory_limit_kill_and_timeout_are_recorded_and_the_rest_finish(workspace, tiny_dataset, docker_image):
    from topobench.runs.executors.docker import DockerExecutor

    report = sweep(workspace, tiny_dataset, FAULTS, "docker", DockerExecutor(docker_image, parse_size("1g")),
                   timeout=8)
    assert report.ran == 2  # toy and hang[ok]
    folder = workspace / "docker" / tiny_dataset / "10"
    failures = {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/*.failed.json")}
    assert failures["hog"]["status"] == "killed: memory limit 64m"
    assert failures["hog"]["container"]["memory_limit"] == "64m"
    assert failures["hang"]["status"] == "timeout: no result after 8 s (--timeout)"
    assert sorted(line.split(":")[0] for line in report.failed) == ["hang [] ['hang']", "hog [256, 0] [1]"]
    assert res.read_result(next((folder / "toy").glob("*.hdf5"))).machine["memory_limit_bytes"] == 1 << 30


def test_bad_docker_input_is_one_line_exit_2_and_writes_nothing(workspace, tiny_dataset, docker_image):
    env = {"TOPOBENCH_PLUGIN_DIRS": TEST_PLUGIN_DIRS}
    (workspace / "algos.yaml").write_text(GRID)
    base = ["run.py", "--dataset", tiny_dataset, "--definitions", str(workspace / "algos.yaml"), "--docker"]
    cases = [
        (base + ["--image", docker_image], {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
         "no Docker daemon answers"),
        (base + ["--image", "topobench-missing:0"], {}, "is missing: build it with"),
        (base + ["--image", docker_image, "--memory", "100k"], {}, "is below"),
        (base + ["--image", docker_image, "--threads", "0"], {}, "thread counts are 1 or more"),
        (["run.py", "--dataset", tiny_dataset, "--memory", "1g"], {}, "--memory needs --executor docker"),
    ]
    for args, extra, needle in cases:
        out = cli(*args, env={**env, **extra}, cwd=workspace)
        # (a colleague editing the checkout mid-session makes the session's image stale: warned about, not an error)
        lines = [line for line in out.stderr.strip().splitlines() if "was built from other sources" not in line]
        assert out.returncode == 2 and len(lines) == 1 and needle in lines[0], out.stderr
    assert not (workspace / "results").exists()


def test_sizes_read_and_print_as_docker_spells_them():
    assert parse_size("64m") == 64 << 20 and parse_size("2G") == 2 << 30 and parse_size("1.5g") == 1536 << 20
    assert format_size(64 << 20) == "64m" and format_size(2 << 30) == "2g" and format_size(1536 << 20) == "1536m"
    for bad in ("", "12x", "-1m", "0", True):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_memory_of_an_entry_or_a_run_group_in_algos_yaml(tmp_path):
    from topobench.runs.definitions import parse_definitions

    path = tmp_path / "algos.yaml"
    path.write_text("float:\n  any:\n    hnsw:\n      memory: 2g\n      run-groups:\n        small:\n"
                    "          memory: 64m\n          args: [[8], [40]]\n        big:\n          args: [[32], [40]]\n"
                    "    ivf:\n      args: [[8]]\n")
    found = {(d.algorithm, d.run_group): d.memory for d in parse_definitions(path, "float", "angular", 10, 8)}
    assert found == {("hnsw", "small"): 64 << 20, ("hnsw", "big"): 2 << 30, ("ivf", "default"): None}
    path.write_text("float:\n  any:\n    ivf:\n      memory: lots\n      args: [[8]]\n")
    with pytest.raises(ConfigError, match=r"algos.yaml:4 \(ivf\): memory: expected a size such as 64m or 2g"):
        parse_definitions(path, "float", "angular", 10, 8)


def test_a_container_docker_refuses_to_start_is_removed(workspace, tiny_dataset, image_without_python):
    """Created, then refused at start: the point is recorded as Docker's refusal and no container of the run is
    left (``docker ps -a``), where it used to stay in Created."""
    from topobench.runs.executors.docker import DockerExecutor

    client, tag = image_without_python
    ours = f"-{os.getpid()}-"  # the executor names each container topobench-<algorithm>-<pid>-<ns>
    before = {c.id for c in client.containers.list(all=True)}
    report = sweep(workspace, tiny_dataset, GRID, "docker", DockerExecutor(tag, parse_size("256m")))
    assert report.ran == 0 and len(report.failed) == 3, report.failed
    failures = [json.loads(p.read_text()) for p in (workspace / "docker").rglob("*.failed.json")]
    assert len(failures) == 3 and all(f["status"].startswith("error: Docker refused the container") for f in failures)
    assert all("python3" in f["status"] for f in failures), failures
    left = [c.name for c in client.containers.list(all=True) if c.id not in before or ours in c.name]
    assert left == []
