"""Fault tests of the disk: a read-only results folder and a disk that fills up in the middle of a sweep.

Both need a folder the test can make read-only or small: as a normal user, ``chmod``; as root (who ignores file
modes), a tmpfs mounted for the test, where the machine allows mounting. Otherwise the test is skipped, saying why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from faults import assert_one_error, call, files_under
from helpers import write_tiny_dataset

from topobench.cli.main import export_main, plot_main, run_main
from topobench.runs import results as res

TOY_GRID = "float:\n  any:\n    toy:\n      args: []\n"
FLAT_GRID = "float:\n  any:\n    toy:\n      args: []\n    flat:\n      args: []\n"


def _mount(folder: Path, options: str) -> str | None:
    """Mount a tmpfs on ``folder``; None when it worked, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                          text=True)
    return None if done.returncode == 0 else f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}"


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """``folder`` (existing, empty) made read-only for the block: chmod for a user, a read-only tmpfs for root."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    why = _mount(folder, "ro,size=1m")
    if why:
        pytest.skip(why)
    try:
        yield
    finally:
        _umount(folder)


def test_read_only_results_folder_is_one_error_and_nothing_is_written(workspace, tiny_dataset, capsys):
    results = workspace / "results"
    results.mkdir()
    out = workspace / "out"
    out.mkdir()
    (workspace / "algos.yaml").write_text(TOY_GRID)
    with read_only_folder(results):
        code, err = call(run_main, ["--dataset", tiny_dataset, "--definitions", str(workspace / "algos.yaml")],
                         capsys)
        assert_one_error(code, err, f"results folder {results} is not writable")
        assert "set TOPOBENCH_RESULTS to a writable folder" in err[-1]
        assert files_under(results) == []
    with read_only_folder(out):
        code, err = call(export_main, ["-o", str(out / "x.csv")], capsys)
        assert_one_error(code, err, f"output file (-o) {out / 'x.csv'} is not writable")
        code, err = call(plot_main, ["--dataset", tiny_dataset, "-o", str(out / "p.png")], capsys)
        assert_one_error(code, err, f"output file (-o) {out / 'p.png'} is not writable")
        code, err = call(plot_main, ["--report", str(out / "report")], capsys)
        assert_one_error(code, err, "is not writable")
        assert files_under(out) == []


def test_a_disk_that_fills_mid_sweep_fails_the_points_and_a_rerun_after_freeing_space_finishes(workspace, capsys):
    """1,500 queries x count 100 makes each result ~1.8 MB: the first fits in the 3 MiB tmpfs, the second does not.
    The failed point is reported (exit 1), nothing half-written stays; after the disk grows, a plain rerun keeps the
    finished result and retries the failed one."""
    results = workspace / "results"
    results.mkdir()
    why = _mount(results, "size=3m")
    if why:
        pytest.skip(why)
    try:
        write_tiny_dataset(workspace / "datasets", n=600, n_queries=1500)
        (workspace / "algos.yaml").write_text(FLAT_GRID)
        argv = ["--dataset", "tiny-16-euclidean", "--count", "100", "--runs", "1", "--definitions",
                str(workspace / "algos.yaml"), "-q"]
        assert run_main(argv) == 1
        first = capsys.readouterr()
        assert first.out.splitlines()[0] == "tiny-16-euclidean: 1 points run, 0 already done, 0 retried, 1 failed"
        failed = [line for line in first.err.splitlines() if line.startswith("failed: ")]
        assert len(failed) == 1 and ("No space left on device" in failed[0] or "no result written" in failed[0])
        assert "Traceback" not in first.err
        kept = [p for p in files_under(results) if p.suffix == ".hdf5"]
        assert len(kept) == 1 and not [p for p in files_under(results) if ".tmp-" in p.name]
        before = kept[0].stat().st_mtime_ns
        subprocess.run(["mount", "-o", "remount,size=16m", str(results)], check=True)
        assert run_main(argv) == 0
        second = capsys.readouterr()
        assert second.out.splitlines()[0] == "tiny-16-euclidean: 1 points run, 1 already done, 1 retried, 0 failed"
        assert kept[0].stat().st_mtime_ns == before
        assert all(res.result_problem(p, 100, 1500, [], []) is None
                   for p in files_under(results) if p.suffix == ".hdf5")
    finally:
        _umount(results)
