"""The README's "Add an index" and "Add a loss" examples, copied as written into an empty folder outside the
repository, run end to end without touching the project (every command reads only the repository's code and writes
only under the folder's roots): a tiny variant trained with the new loss (and with
``loss=`` on another recipe), benchmarked on the new index, plotted and exported with the index's own counter, a
two-variant tiny study run and reported, and the shared contract test run on the new index with its declared
settings — once with the folder named in ``TOPOBENCH_PLUGIN_DIRS``, once installed as a package with an entry point.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, cli

README = ROOT / "README.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w.-]+) -->\n```\w*\n(?P<body>.*?)```", re.S)
DATASET = "tinyqa-tinybert-align"


def readme_examples() -> dict[str, str]:
    """The README's example files, by name, exactly as written there."""
    return {m["name"]: m["body"] for m in EXAMPLE.finditer(README.read_text(encoding="utf-8"))}


OUTPUT_FOLDERS = ("datasets/", "results/", "checkpoints/", "models/", "plots/", "indexes/", "studies/")


def _outputs_in_project() -> set[str]:
    """Files git does not track in the project's output folders: a run that wrote into the repository instead of
    the roots it was given would add some."""
    command = ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--", *OUTPUT_FOLDERS]
    status = subprocess.run(command, cwd=ROOT, capture_output=True, text=True).stdout
    return {line for line in status.splitlines() if line.startswith(("??", "!!"))}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """An empty folder holding the README's four example files, and an environment whose every root is inside it."""
    root = tmp_path_factory.mktemp("myplugins")
    for name, body in readme_examples().items():
        (root / name).write_text(body, encoding="utf-8")
    env = {"TOPOBENCH_PLUGIN_DIRS": str(root), "TOPOBENCH_PLUGINS": ""}
    for var, sub in (("TOPOBENCH_DATASETS", "datasets"), ("TOPOBENCH_RESULTS", "results"),
                     ("TOPOBENCH_CHECKPOINTS", "checkpoints"), ("TOPOBENCH_STUDIES", "studies"),
                     ("TOPOBENCH_CACHE", "cache"), ("TOPOBENCH_MODELS", "models"), ("TOPOBENCH_INDEXES", "indexes")):
        env[var] = str(root / sub)
    return root, env


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_the_readme_holds_the_four_example_files():
    assert set(readme_examples()) == {"my_index.py", "my-algos.yaml", "my_loss.py", "my-studies.yaml"}


def test_the_readme_examples_run_end_to_end_from_a_plugin_folder(folder):
    root, env = folder
    before = _outputs_in_project()
    listed = _ok(cli("run.py", "--list", env=env, cwd=root)).stdout
    for line in ("loss      align_uniform", "recipe    align", "algorithm int8_scan", "metric    bytes_read"):
        assert line in listed, listed

    _ok(cli("run.py", "--dataset", DATASET, "--algorithm", "int8_scan,flat", "--definitions", "my-algos.yaml",
            "--runs", "1", env=env, cwd=root, timeout=600))
    trained = json.loads(next((root / "checkpoints").glob("tinyqa-tinybert-*/config.json")).read_text())
    assert trained["loss"] == "align_uniform" and trained["loss_args"] == {"alpha": 1.0}
    log = (next((root / "checkpoints").glob("tinyqa-tinybert-*/log.jsonl"))).read_text()
    assert '"uniformity"' in log  # the loss's own components reach the trainer's log

    # loss= on another recipe, with the new loss's own option; the recipe's other loss options are dropped.
    _ok(cli("run.py", "--dataset", "tinyqa-tinybert-topo@loss=align_uniform,alpha=2", "--algorithm", "int8_scan",
            "--definitions", "my-algos.yaml", "--runs", "1", env=env, cwd=root, timeout=600))
    assert (root / "datasets" / "tinyqa-tinybert-topo@alpha=2.0,loss=align_uniform.hdf5").is_file()

    _ok(cli("plot.py", "--dataset", DATASET, "-x", "k-nn", "-y", "bytes_read", "-o", "align.png", env=env, cwd=root))
    assert (root / "align.png").stat().st_size > 10_000
    _ok(cli("export.py", "--dataset", DATASET, "-o", "align.csv", env=env, cwd=root))
    rows = list(csv.DictReader((root / "align.csv").open()))
    scan = [r for r in rows if r["algorithm"] == "int8_scan"]
    assert scan and float(scan[0]["bytes_read"]) == 600 * 32  # 600 documents × 32 int8 dimensions, per query
    assert all(r["bytes_read"] == "" for r in rows if r["algorithm"] == "flat")  # not its counter: empty, never 0

    _ok(cli("study.py", "--studies", "my-studies.yaml", "run", "align-vs-infonce", env=env, cwd=root, timeout=900))
    cells = sorted((root / "studies" / "align-vs-infonce" / "cells").glob("*.json"))
    assert len(cells) == 4
    cell = json.loads(cells[0].read_text())
    assert cell["algorithms"]["int8_scan"]["at_knn"]["0.9"]["bytes_read"] == 600 * 32
    _ok(cli("study.py", "--studies", "my-studies.yaml", "report", "align-vs-infonce", env=env, cwd=root))
    report = (root / "studies" / "align-vs-infonce" / "report" / "report.md").read_text()
    assert "int8_scan bytes_read" in report

    contract = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "int8_scan",
                               str(ROOT / "tests" / "test_index_contract.py")], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, **env}, timeout=300)
    assert contract.returncode == 0 and re.search(r"\b3 passed\b", contract.stdout), contract.stdout[-2000:]
    assert _outputs_in_project() == before, "the example wrote into the project instead of its own folder"


def test_the_same_plugins_installed_as_a_package_with_an_entry_point(folder, tmp_path):
    root, env = folder
    package = tmp_path / "src"
    (package / "myplugins").mkdir(parents=True)
    for name in ("my_index.py", "my_loss.py"):
        shutil.copy(root / name, package / "myplugins" / name)
    (package / "myplugins" / "__init__.py").write_text("")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "myplugins"\nversion = "0.1"\n\n'
        '[project.entry-points.topobench]\nmy_index = "myplugins.my_index"\nmy_loss = "myplugins.my_loss"\n')
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, capture_output=True, text=True)
    installed = {**env, "TOPOBENCH_PLUGIN_DIRS": "", "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    installed.pop("TOPOBENCH_PLUGINS")
    listed = _ok(cli("run.py", "--list", env=installed, cwd=root)).stdout
    assert "my_loss  (entry point myplugins.my_loss)" in listed and "recipe    align" in listed
    # The dataset the first test trained is found by its name; the benchmark runs again on the installed index.
    _ok(cli("run.py", "--dataset", DATASET, "--algorithm", "int8_scan", "--definitions", "my-algos.yaml",
            "--runs", "1", "--force", env=installed, cwd=root, timeout=600))
    _ok(cli("plot.py", "--dataset", DATASET, "-y", "bytes_read", "-o", "installed.png", env=installed, cwd=root))
