"""Fault tests of output targets: a write only ever replaces a regular file the user named (issue 21, row 1).

``export.py -o /dev/stdout`` used to replace the machine's ``/dev/stdout`` link with a file: the output check looked
only at the folder, then a temporary file was renamed over whatever the path named. Here every kind of non-regular
target — a symbolic link to a file, a dangling link, a link to a folder, a FIFO, a folder — is one the test creates
in its own tmp folder (never the machine's ``/dev`` files): each is refused with one ``error:`` line, exit 2, nothing
written and the target left as it was; ``export.py -o -`` writes the CSV to standard output in place. The same rule
holds in the one atomic writer every writer uses (:mod:`topobench.core.atomic`), checked again just before the rename.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from faults import assert_one_error, call

from topobench.cli.main import export_main, plot_main, run_main
from topobench.cli.study import study_main
from topobench.core.atomic import atomic_path, replace
from topobench.core.errors import ConfigError
from topobench.datasets.store import write_dataset

TOY_GRID = "float:\n  any:\n    toy:\n      args: []\n"


def _snapshot(path: Path) -> tuple:
    """What ``path`` itself is and holds (a link is not followed), to show it was left alone."""
    info = os.lstat(path)
    kind = stat.S_IFMT(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return kind, os.readlink(path)
    if stat.S_ISDIR(info.st_mode):
        return kind, sorted(p.name for p in path.iterdir())
    return kind, path.read_bytes() if stat.S_ISREG(info.st_mode) else None


@pytest.fixture
def targets(tmp_path: Path) -> dict[str, Path]:
    """Non-regular targets made by the test: links (to a file, to a folder, dangling), a FIFO, a folder."""
    own = tmp_path / "targets"
    own.mkdir()
    victim = own / "victim.txt"
    victim.write_text("keep me")
    folder = own / "a-folder"
    folder.mkdir()
    made = {"link to a file": own / "to-file", "dangling link": own / "dangling", "link to a folder": own / "to-dir",
            "FIFO": own / "fifo", "folder": folder}
    made["link to a file"].symlink_to(victim)
    made["dangling link"].symlink_to(own / "nothing-here")
    made["link to a folder"].symlink_to(folder)
    os.mkfifo(made["FIFO"])
    return made


KINDS = ["link to a file", "dangling link", "link to a folder", "FIFO", "folder"]
MESSAGES = {"link to a file": "is a symbolic link to", "dangling link": "is a symbolic link to",
            "link to a folder": "is a symbolic link to", "FIFO": "is a FIFO (named pipe), not a regular file",
            "folder": "is a folder"}


@pytest.mark.parametrize("kind", KINDS)
def test_file_outputs_refuse_a_target_that_is_not_a_regular_file(workspace, tiny_dataset, targets, capsys, kind):
    target = targets[kind]
    before = {name: _snapshot(path) for name, path in targets.items()}
    for main, argv, what in [
        (export_main, ["-o", str(target)], "output file (-o)"),
        (plot_main, ["--dataset", tiny_dataset, "-o", str(target)], "output file (-o)"),
        (export_main, ["--trec", str(target), "--point", str(target)], "TREC run file (--trec)"),
    ]:
        code, err = call(main, argv, capsys)
        assert_one_error(code, err, f"{what} {target}")
        assert MESSAGES[kind] in err[-1], err
    assert {name: _snapshot(path) for name, path in targets.items()} == before
    assert not any(p.name.startswith(".") for p in target.parent.iterdir())  # no temporary file left


@pytest.mark.parametrize("kind", ["link to a folder", "dangling link", "FIFO"])
def test_folder_outputs_refuse_a_target_that_is_not_a_real_folder(workspace, targets, capsys, kind):
    target = targets[kind]
    before = {name: _snapshot(path) for name, path in targets.items()}
    code, err = call(plot_main, ["--report", str(target)], capsys)
    assert_one_error(code, err, f"report folder (--report) {target} exists and is a")
    code, err = call(study_main, ["report", "w-sweep", "-o", str(target)], capsys)
    assert_one_error(code, err, f"report folder {target} exists and is a")
    assert {name: _snapshot(path) for name, path in targets.items()} == before


def test_export_dash_writes_the_csv_to_standard_output(workspace, tiny_dataset, capsys, monkeypatch):
    monkeypatch.chdir(workspace)
    (workspace / "algos.yaml").write_text(TOY_GRID)
    assert run_main(["--dataset", tiny_dataset, "--runs", "1", "--definitions", str(workspace / "algos.yaml"),
                     "-q"]) == 0
    assert export_main(["-o", str(workspace / "file.csv"), "-q"]) == 0
    capsys.readouterr()
    assert export_main(["-o", "-", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.encode() == (workspace / "file.csv").read_bytes()  # the CSV alone, byte for byte
    assert "wrote 1 rows to standard output" in captured.err
    assert not (workspace / "-").exists()
    code, err = call(export_main, ["-o", "-", "--dataset", "nothing-here-16-euclidean"], capsys)
    assert code == 2 and capsys.readouterr().out == ""  # an error writes nothing to standard output


@pytest.mark.parametrize("kind", ["link to a file", "dangling link", "FIFO"])
def test_the_atomic_writer_refuses_before_the_block_runs(targets, kind):
    target = targets[kind]
    before = _snapshot(target)
    ran = []
    with pytest.raises(ConfigError, match=f"{target} exists and is a"), atomic_path(target) as tmp:
        ran.append(tmp)
    assert ran == [] and _snapshot(target) == before


def test_the_atomic_writer_checks_again_before_the_rename(tmp_path, targets):
    """A link planted while the block writes (a race) is refused at the rename; the temporary file is removed."""
    path = tmp_path / "out.txt"
    with pytest.raises(ConfigError, match="is a symbolic link to"), atomic_path(path) as tmp:
        tmp.write_text("data")
        path.symlink_to(targets["link to a file"].resolve())
    assert path.is_symlink() and targets["link to a file"].read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "targets"]


def test_the_atomic_writer_replaces_regular_files_and_real_folders(tmp_path, targets):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with atomic_path(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new"
    folder = tmp_path / "report"
    (folder / "old").mkdir(parents=True)
    with atomic_path(folder) as tmp:
        (tmp / "new").mkdir(parents=True)
    assert [p.name for p in folder.iterdir()] == ["new"]
    with pytest.raises(ConfigError, match="is a folder, not a regular file"), atomic_path(folder) as tmp:
        tmp.write_text("a file over a folder")
    assert [p.name for p in folder.iterdir()] == ["new"]
    moved = tmp_path / "moved"
    moved.write_text("x")
    with pytest.raises(ConfigError, match="FIFO"):
        replace(moved, targets["FIFO"])
    assert moved.read_text() == "x" and stat.S_ISFIFO(os.lstat(targets["FIFO"]).st_mode)


def test_writers_go_through_the_check(targets):
    """A dataset file and a study cell file: both refuse a link where they would write."""
    from topobench.study.cells import write_cell

    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match="is a symbolic link to"):
        write_dataset(targets["link to a file"], train=X, test=X, distance="euclidean",
                      neighbors=np.zeros((4, 1), dtype=np.int64), distances=np.zeros((4, 1), dtype=np.float32))
    assert targets["link to a file"].read_text() == "keep me"
    cells = Path(os.environ["TOPOBENCH_STUDIES"]) / "s" / "cells"
    cells.mkdir(parents=True)
    (cells / "minilm-zeroshot.json").symlink_to(targets["link to a file"].resolve())
    record = {"format": 2, "study": "s", "cell": "minilm-zeroshot", "dataset": "c-minilm", "corpus": "c",
              "encoder": "minilm", "recipe": "zeroshot", "overrides": {}, "factors": {}, "seed": None, "count": 10,
              "exact": {}, "geometry": {}, "algorithms": {}}
    with pytest.raises(ConfigError, match="is a symbolic link to"):
        write_cell("s", "minilm-zeroshot", record)
    assert targets["link to a file"].read_text() == "keep me"


@pytest.mark.parametrize(("argv", "message"), [
    (["--params", "[[["], "--params '[[[': '[[[' is not a value"),
    (["--query-args", "&a [1]"], "--query-args '&a [1]': '&a [1]' is not a plain value but a list"),
])
def test_export_trec_args_that_are_not_plain_values_are_one_error_line(workspace, tmp_path, capsys, argv, message):
    code, err = call(export_main, ["--trec", str(tmp_path / "x.run"), "--dataset", "d", "--algorithm", "hnsw",
                                   *argv], capsys)
    assert_one_error(code, err, message)
    assert not (tmp_path / "x.run").exists()


def test_export_trec_point_that_is_a_folder_or_not_a_result_is_one_error_line(workspace, tmp_path, capsys):
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(b"not hdf5")
    for point, message in [(tmp_path, f"the result file {tmp_path} is a folder"),
                           (tmp_path / "missing.hdf5", "is missing"),
                           (garbage, f"cannot read the result file {garbage} (")]:
        code, err = call(export_main, ["--trec", str(tmp_path / "x.run"), "--point", str(point)], capsys)
        assert_one_error(code, err, message)
        assert len(err) == 1, err
    assert not (tmp_path / "x.run").exists()
