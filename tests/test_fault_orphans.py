"""Fault tests of processes and concurrent runs (issue 21 row 7): a benchmark child killed with its parent even when
the parent dies while the child is still starting, the local Ray runtime of a killed driver stopped, and two run.py on
the same points measuring each point once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults import files_under
from helpers import ROOT, TEST_PLUGIN_DIRS

SLOW_GRID = "float:\n  any:\n    slow:\n      args: []\n      query-args: [[0.02, 0.021, 0.022]]\n"


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, …)."""
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def maps_hold(pid: int, library: str) -> bool:
    """Whether process ``pid`` has mapped a file whose path contains ``library``."""
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_until(condition, limit: float = 60.0) -> bool:
    """Poll ``condition`` until it holds or ``limit`` seconds pass (a bound against hanging, not a timing)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def start_run(workspace: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "TOPOBENCH_DATASETS": str(workspace / "datasets"),
           "TOPOBENCH_RESULTS": str(workspace / "results"), "TOPOBENCH_PLUGIN_DIRS": TEST_PLUGIN_DIRS}
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--dataset", "tiny-16-euclidean", "--definitions",
                             str(workspace / "algos.yaml"), "--runs", "1", *extra], cwd=workspace, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_child_whose_parent_is_killed_as_it_starts_does_not_run_its_unit(workspace, tiny_dataset):
    """kill -9 of run.py the moment its child exists (the child is still importing, before its parent-death request):
    the child must not go on to build and measure unsupervised."""
    (workspace / "algos.yaml").write_text(SLOW_GRID)
    proc = start_run(workspace)
    # The child has its unit (it is unpickling it: numpy is loading) but has not reached child_main yet.
    assert wait_until(lambda: any(maps_hold(k, "numpy") for k in children(proc.pid)) or proc.poll() is not None)
    kids = children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert kids, "run.py ended before starting a child"
    assert wait_until(lambda: not any(alive(k) for k in kids)), "a child outlived its killed parent"
    assert [p for p in files_under(workspace / "results") if p.suffix == ".hdf5"] == []


def test_a_child_whose_parent_is_killed_mid_unit_dies_with_it(workspace, tiny_dataset):
    (workspace / "algos.yaml").write_text(SLOW_GRID)
    proc = start_run(workspace)
    folder = workspace / "results" / tiny_dataset / "10" / "slow"
    assert wait_until(lambda: any(folder.glob("*.hdf5")) or proc.poll() is not None)  # the child is measuring
    kids = children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_until(lambda: not any(alive(k) for k in kids)), "a child outlived its killed parent"
    written = sorted(folder.glob("*.hdf5"))
    time.sleep(1.0)  # a surviving child would write its next point (0.4 s each) meanwhile
    assert sorted(folder.glob("*.hdf5")) == written and len(written) < 3


def test_a_killed_ray_driver_takes_its_local_runtime_along(workspace, tiny_dataset):
    """kill -9 of ``run.py --executor ray`` while its task measures: the local Ray runtime it started (GCS, raylet,
    agents, workers, the measuring child) and its watchdog are all gone within a generous bound (Ray's agents alone
    used to outlive the driver by about a minute)."""
    pytest.importorskip("ray")
    (workspace / "algos.yaml").write_text(SLOW_GRID.replace("0.02, 0.021, 0.022", "0.5, 0.51, 0.52"))
    proc = start_run(workspace, "--executor", "ray")
    assert wait_until(lambda: any("ray::run_unit_task" in cmdline(k) for k in descendants(proc.pid))
                      or proc.poll() is not None, 180), "the Ray task did not start"
    runtime = descendants(proc.pid)
    names = [cmdline(k) for k in runtime]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert any("raylet" in n for n in names) and any("ray::DashboardAgent" in n for n in names), names
    assert any("ray_watchdog" in n for n in names), names
    assert wait_until(lambda: not any(alive(k) for k in runtime), 15.0), \
        [cmdline(k) for k in runtime if alive(k)]


def test_two_runs_on_the_same_points_measure_each_point_once(workspace, tiny_dataset):
    (workspace / "algos.yaml").write_text(SLOW_GRID)
    first, second = start_run(workspace), start_run(workspace)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    ran = [int(re.search(r"(\d+) points run", out).group(1)) for out, _ in outs]
    done = [int(re.search(r"(\d+) already done", out).group(1)) for out, _ in outs]
    assert sorted(ran) == [0, 3] and sorted(done) == [0, 3], outs  # one measured all three, the other none
    waited = [err for _, err in outs if "another run is measuring points of this sweep" in err]
    assert len(waited) <= 1, outs  # a run that found the points taken said so, in one line, and waited
    results = [p for p in files_under(workspace / "results") if p.suffix == ".hdf5"]
    assert len(results) == 3
