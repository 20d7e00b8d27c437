"""Studies end to end on a tiny random BERT and a 300-document synthetic corpus: cells trained, encoded, benchmarked
and written; a rerun trains nothing; status; bad study files are one line; a cell file of another configuration is
refused; one of an older format is remeasured from the results."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import training_fixtures as fixtures
from helpers import ROOT
from training_fixtures import tiny_study_roots, write_beir_zip

from topobench.cli.study import study_main
from topobench.core.registry import get_registry
from topobench.runs.runner import RunConfig, run_sweep
from topobench.study.cells import read_cell
from topobench.study.measure import frontier
from topobench.study.qps_runs import median_points, recall_agreement, rerun_algorithms, write_runs
from topobench.study.readme_tables import analysis_of
from topobench.study.report import back_to_back, read_cells
from topobench.study.spec import get_study

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("faiss")

ALGOS = """\
float:
  any:
    flat:
      args: []
    hnsw:
      run-groups:
        M-8:
          args: [[8], [40]]
          query-args: [[10, 20, 80]]
"""

STUDY = """\
tiny-sweep:
  description: "a tiny w-sweep"
  corpus: synthetic
  encoders: [minilm]
  variants: [tiny]
  grid: {{weight: [0.0, 1.0]}}
  seeds: [1, 2]
  baseline: {{weight: 0.0}}
  algorithms: [flat, hnsw]
  count: 10
  runs: 1
  definitions: {algos}
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Iterator[Path]:
    model = tiny_study_roots(tmp_path, monkeypatch)
    tiny = {"loss": "topology", "loss_args": {"weight": 0.6, "temperature": 0.05},
            "stages": ["in_batch:epochs=1", "model:epochs=1,negatives=1,depth=5"], "batch_size": 16, "lr": 1e-3,
            "dev_queries": 8, "encoder_args": {"checkpoint": str(model), "progress": False}}
    # The recipe comes from a plugin, as a user's would: every process (study.py, bench/study_qps.py) finds it.
    monkeypatch.setenv("TOPOBENCH_PLUGIN_DIRS", str(tmp_path / "plugins"))
    write_tiny_recipe(tmp_path, tiny)
    (tmp_path / "algos.yaml").write_text(ALGOS)
    (tmp_path / "studies.yaml").write_text(STUDY.format(algos=tmp_path / "algos.yaml"))
    yield tmp_path
    get_registry.cache_clear()


def write_tiny_recipe(folder: Path, recipe: dict) -> None:
    """The plugin declaring ``recipe`` as ``tiny`` (and its dict beside it, for tests that change it)."""
    fixtures.write_recipe_plugin(folder, "tiny", recipe)
    (folder / "tiny_recipe.json").write_text(json.dumps(recipe))
    get_registry.cache_clear()


def test_a_tiny_study_runs_end_to_end_and_resumes(workspace, capsys):
    studies = str(workspace / "studies.yaml")
    study = get_study("tiny-sweep", workspace / "studies.yaml")
    assert [c.name for c in study.cells] == ["minilm-tiny@seed=1,weight=0.0", "minilm-tiny@seed=2,weight=0.0",
                                             "minilm-tiny@seed=1,weight=1.0", "minilm-tiny@seed=2,weight=1.0"]
    first = study.cells[0].name
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", first]) == 0
    out = capsys.readouterr().out
    assert "1 done, 0 running, 3 missing of 4 cells" in out
    cell = json.loads((workspace / "studies" / "tiny-sweep" / "cells" / f"{first}.json").read_text())
    assert cell["fingerprint"] == study.cells[0].variant.config().fingerprint() and cell["seed"] == 1
    assert cell["factors"] == {"encoder": "minilm", "variant": "tiny", "weight": 0.0}
    assert set(cell["algorithms"]) == {"flat", "hnsw"} and cell["algorithms"]["flat"]["at_knn"]["0.99"]["qps"] > 0
    assert cell["algorithms"]["flat"]["task"]["ndcg@10"] == pytest.approx(cell["exact"]["ndcg@10"], abs=1e-9)
    assert 0 <= cell["exact"]["ndcg@10"] <= 1 and len(cell["per_query"]["ndcg@10"]) == 24
    assert len(cell["positive_cosines"]) >= 24 and cell["training"]["steps"] > 0
    assert cell["geometry"]["kmeans_inertia_rel"] > 0 and cell["geometry"]["pq_error_rel"] > 0
    assert cell["provenance"]["machine"]["cores"] >= 1 and cell["provenance"]["corpus_files"][0]["sha256"]
    assert cell["benchmark_load"]["cores"] >= 1 and cell["benchmark_load"]["load_1min"] >= 0
    # Format 3: every point whole, per query: the hnsw grid's 1 build × 3 efSearch, each with hits and counters —
    # packed in the file (zlib + base64 int32), lists again once read.
    assert cell["format"] == 3
    path = workspace / "studies" / "tiny-sweep" / "cells" / f"{first}.json"
    assert cell["algorithms"]["hnsw"]["settings"][0]["per_query"]["hits"].startswith("zi4:")
    cell = read_cell(path)
    hnsw = cell["algorithms"]["hnsw"]["settings"]
    assert [(p["build"], p["query"]) for p in hnsw] == [([8, 40], [10]), ([8, 40], [20]), ([8, 40], [80])]
    for point in hnsw:
        assert set(point["per_query"]) == {"hits", "distcomps", "hops"} and len(point["per_query"]["hits"]) == 24
        assert sum(point["per_query"]["hits"]) / (24 * 10) == pytest.approx(point["k-nn"])
        assert sum(point["per_query"]["distcomps"]) / 24 == pytest.approx(point["counters"]["distcomps"])
    assert cell["algorithms"]["flat"]["settings"][0]["per_query"]["distcomps"] == [300] * 24

    # Another spelling of the cell's variant is the same dataset and the same results: nothing runs again.
    again = run_sweep(RunConfig(dataset="synthetic-minilm-tiny@temperature=0.05,weight=0,seed=1", count=10, runs=1,
                                definitions_file=workspace / "algos.yaml"), ["flat"])
    assert again.ran == 0 and again.skipped == 1

    # The whole study: only the three missing cells are trained; a rerun trains and writes nothing.
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep"]) == 0
    assert "4 done, 0 running, 0 missing" in capsys.readouterr().out
    runs = sorted(p.name for p in (workspace / "checkpoints").iterdir())
    assert len(runs) == 4
    stamps = {p.name: p.stat().st_mtime_ns for p in (workspace / "studies" / "tiny-sweep" / "cells").iterdir()}
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep"]) == 0
    assert "0 cells run" in capsys.readouterr().out
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (workspace / "studies" / "tiny-sweep" / "cells").iterdir()}

    # The report is rebuilt from the cell files alone, the same bytes each time.
    assert study_main(["-q", "--studies", studies, "report", "tiny-sweep"]) == 0
    report = workspace / "studies" / "tiny-sweep" / "report"
    first_text = (report / "report.md").read_text()
    assert "Paired differences vs tiny weight=0.0" in first_text and (report / "task.png").is_file()
    # Format-3 cells: the three estimands as measures of their own, the equal-parameter ratios, both noise sources,
    # per-query hardness, and the corrections for the number of tests.
    for text in ("hnsw distcomps@0.95 (hull)", "hnsw distcomps@0.95 (per build)", "## Index cost at k-NN 0.95: three "
                 "estimands", "## Both noise sources: seeds, then queries", "## Per-query hardness",
                 "## Corrections for the number of tests", "resolved after Holm"):
        assert text in first_text, text
    assert (report / "hardness.png").is_file() and "hardness.png" in first_text
    assert study_main(["-q", "--studies", studies, "report", "tiny-sweep"]) == 0
    assert (report / "report.md").read_text() == first_text
    capsys.readouterr()

    # A cell file of the older format (index counters read along the QPS frontier) is refused with the way out, and
    # `remeasure` recomputes its index measures from the results here, keeping the rest of the file.
    path = workspace / "studies" / "tiny-sweep" / "cells" / f"{first}.json"
    original = json.loads(path.read_text())
    hnsw = {**original["algorithms"]["hnsw"], "at_knn": {}}
    path.write_text(json.dumps({**original, "format": 1, "algorithms": {**original["algorithms"], "hnsw": hnsw}}))
    assert study_main(["-q", "--studies", studies, "report", "tiny-sweep"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a format-1 cell file" in err[0] and "study.py remeasure tiny-sweep" in err[0]
    assert study_main(["-q", "--studies", studies, "remeasure", "tiny-sweep"]) == 0
    assert "study tiny-sweep: 4 cells remeasured" in capsys.readouterr().out
    remeasured = json.loads(path.read_text())
    assert remeasured.pop("remeasured") and remeasured == original
    # Results that are not those the cell was measured from (a point gone) are refused; the file stays as it was.
    dataset = study.cells[0].dataset
    next((workspace / "results" / dataset / "10" / "hnsw").rglob("*.hdf5")).unlink()
    before = path.read_bytes()
    assert study_main(["-q", "--studies", studies, "remeasure", "tiny-sweep", "--cells", first]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not the results it was measured from" in err[0] and path.read_bytes() == before

    # A cell file that is not its configuration's is refused with one line.
    path.write_text(json.dumps({**cell, "fingerprint": "0123456789ab"}))
    assert study_main(["-q", "--studies", studies, "status", "tiny-sweep"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fingerprint 0123456789ab" in err[0] and "delete the file" in err[0]


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("variants: [tiny]", "variants: [nope]"), "unknown training recipe 'nope'"),
    (lambda s: s.replace("{weight:", "{wieght:"), "unknown override 'wieght'"),
    (lambda s: s.replace("seeds: [1, 2]", "seeds: [1, x]"), "each seed must be a positive integer"),
    (lambda s: s.replace("count: 10", "count: -1"), "count must be a positive integer"),
    (lambda s: s.replace("baseline: {weight: 0.0}", "baseline: {weight: 0.5}"), "no cell has the baseline"),
    (lambda s: s.replace("runs: 1", "runz: 1"), "unknown key 'runz'"),
    (lambda s: s.replace("grid: {weight: [0.0, 1.0]}", "grid: {weight: [0.0, 1.0]"), "malformed YAML"),
    (lambda s: s.replace("weight: [0.0, 1.0]", "weight: [0.0, abc]"), "weight=abc is not a float"),
])
def test_bad_study_files_are_one_line_and_write_nothing(workspace, capsys, edit, message):
    path = workspace / "studies.yaml"
    path.write_text(edit(path.read_text()))
    assert study_main(["-q", "--studies", str(path), "run", "tiny-sweep"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and str(path) in err[0], err
    assert not (workspace / "studies").exists() and not (workspace / "checkpoints").exists()


def test_unknown_study_and_cell_are_one_line(workspace, capsys):
    studies = str(workspace / "studies.yaml")
    assert study_main(["-q", "--studies", studies, "status", "nope"]) == 2
    assert "unknown study 'nope'" in capsys.readouterr().err
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", "minilm-tiny@weight=9"]) == 2
    assert "has no cell 'minilm-tiny@weight=9'" in capsys.readouterr().err


def test_unwritable_outputs_are_one_line(workspace, capsys, monkeypatch):
    studies = str(workspace / "studies.yaml")
    (workspace / "a-file").write_text("x")
    assert study_main(["-q", "--studies", studies, "report", "tiny-sweep", "-o", str(workspace / "a-file")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0]
    monkeypatch.setenv("TOPOBENCH_STUDIES", str(workspace / "a-file"))
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "studies folder" in err[0] and "TOPOBENCH_STUDIES" in err[0]
    assert not (workspace / "checkpoints").exists()


def test_bm25_beside_the_variants_reports_recall_at_100_at_count_10(workspace, capsys):
    """A study at count 10 runs BM25 (which searches the texts: its task metrics come from its own results) once more
    at depth 100, so its row has Recall@100; the dense algorithms' rows are unchanged by it."""
    from topobench.core.registry import get_registry

    if get_registry().unavailable_reason("indexes", "bm25"):
        pytest.skip("bm25 unavailable here")
    text = (workspace / "studies.yaml").read_text().replace("tiny-sweep:", "tiny-bm25:")
    text = text.replace("algorithms: [flat, hnsw]", "algorithms: [flat, bm25]").replace("seeds: [1, 2]", "seeds: [1]")
    text = text.replace("grid: {weight: [0.0, 1.0]}", "grid: {weight: [0.0]}")
    (workspace / "studies.yaml").write_text(text)
    algos = (workspace / "algos.yaml").read_text() + "    bm25:\n      args: [[0.9], [0.4]]\n"
    (workspace / "algos.yaml").write_text(algos)
    study = get_study("tiny-bm25", workspace / "studies.yaml")
    assert study_main(["-q", "--studies", str(workspace / "studies.yaml"), "run", "tiny-bm25"]) == 0
    capsys.readouterr()
    cell = json.loads((workspace / "studies" / "tiny-bm25" / "cells" / f"{study.cells[0].name}.json").read_text())
    bm25, flat = cell["algorithms"]["bm25"], cell["algorithms"]["flat"]
    assert bm25["task"]["recall@100"] is not None and 0 < bm25["task"]["recall@100"] <= 1
    assert bm25["task"]["ndcg@10"] > 0 and bm25["points"] == 1  # the summary itself stays at the study's count
    assert flat["task"]["ndcg@10"] == pytest.approx(cell["exact"]["ndcg@10"], abs=1e-9)
    assert sorted(p.name for p in (workspace / "results" / study.cells[0].dataset).iterdir()) == ["10", "100"]
    assert [p.name for p in (workspace / "results" / study.cells[0].dataset / "100").iterdir()] == ["bm25"]


def test_a_study_killed_mid_cell_resumes_that_cell_and_loses_or_repeats_none(workspace, capsys, caplog):
    """SIGKILL ``study.py run`` while the second cell trains; the rerun keeps the first cell's file as it was, resumes
    the second cell's training from its last resume state, and ends with every cell once."""
    import signal
    import subprocess
    import sys

    from helpers import ROOT

    studies = str(workspace / "studies.yaml")
    write_tiny_recipe(workspace, {**json.loads((workspace / "tiny_recipe.json").read_text()), "save_steps": 1})
    script = ("import sys; from topobench.cli.study import study_main; "
              f"sys.exit(study_main(['--studies', {studies!r}, 'run', 'tiny-sweep']))")
    killed = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    cells_written = 0
    for line in killed.stderr:
        cells_written += "written to" in line
        if cells_written == 1 and "saved the resume state at step 2" in line:  # the second cell, mid-training
            killed.send_signal(signal.SIGKILL)
            break
    killed.wait(timeout=120)
    killed.stderr.close()
    assert killed.returncode == -signal.SIGKILL
    study = get_study("tiny-sweep", workspace / "studies.yaml")
    cells = workspace / "studies" / "tiny-sweep" / "cells"
    first, second = (cells / f"{c.name}.json" for c in study.cells[:2])
    assert first.is_file() and not second.exists()
    stamp = first.stat().st_mtime_ns

    assert study_main(["-q", "--studies", studies, "status", "tiny-sweep"]) == 0
    status = capsys.readouterr().out
    assert "1 done, 0 running, 3 missing" in status  # the killed run's marker names a dead process
    assert re.search(rf"{re.escape(study.cells[1].name)}\s+missing\s+.*trained to step [2-9]", status), status

    with caplog.at_level(logging.INFO, logger="topobench"):
        assert study_main(["-q", "--studies", studies, "run", "tiny-sweep"]) == 0
    assert sum("resuming" in r.getMessage() for r in caplog.records) == 1  # the second cell, and only it
    assert first.stat().st_mtime_ns == stamp and second.is_file()
    assert sorted(p.name for p in cells.iterdir()) == sorted(f"{c.name}.json" for c in study.cells)
    assert len(list((workspace / "checkpoints").iterdir())) == 4
    assert not list((workspace / "studies" / "tiny-sweep" / "running").glob("*.json"))


def test_upgrade_reruns_older_format_cells_and_checks_they_reproduce(workspace, capsys):
    studies = str(workspace / "studies.yaml")
    study = get_study("tiny-sweep", workspace / "studies.yaml")
    first = study.cells[0].name
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", first]) == 0
    path = workspace / "studies" / "tiny-sweep" / "cells" / f"{first}.json"
    old = json.loads(path.read_text())
    old["format"] = 2  # as the committed cells before format 3: no points kept whole
    for summary in old["algorithms"].values():
        summary.pop("settings")
    path.write_text(json.dumps(old))
    capsys.readouterr()
    assert study_main(["-q", "--studies", studies, "status", "tiny-sweep", "--cells", first]) == 0
    assert "old" in capsys.readouterr().out
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", first]) == 0
    assert json.loads(path.read_text())["format"] == 2  # a plain run leaves finished cells alone
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", first, "--upgrade"]) == 0
    new = json.loads(path.read_text())
    assert new["format"] == 3 and new["algorithms"]["hnsw"]["settings"]
    # Training reproduces bit for bit: the rerun's task metrics and geometry equal the old file's.
    assert new["previous"]["format"] == 2 and all(new["previous"]["reproduced"].values())
    assert new["exact"] == old["exact"]


def test_back_to_back_qps_runs_are_kept_and_the_report_uses_them(workspace, capsys):
    studies = str(workspace / "studies.yaml")
    study = get_study("tiny-sweep", workspace / "studies.yaml")
    two = [c.name for c in study.cells[:2]]
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", *two]) == 0
    bench = subprocess.run([sys.executable, str(ROOT / "bench" / "study_qps.py"), "tiny-sweep", "--studies", studies,
                            "--rounds", "2"], capture_output=True, text=True, cwd=workspace, timeout=600)
    assert bench.returncode == 0, bench.stderr[-2000:]
    runs = list((workspace / "studies" / "tiny-sweep" / "qps").glob("*.json"))
    assert len(runs) == 1
    record = json.loads(runs[0].read_text())
    assert len(record["rounds"]) == 2 and record["machine"]["cores"] >= 1
    assert [r["order"] for r in record["rounds"]] == [two, two[::-1]]  # the order rotates
    hnsw = record["rounds"][0]["points"][two[0]]["hnsw"]
    assert [p[:2] for p in hnsw] == [[[8, 40], [10]], [[8, 40], [20]], [[8, 40], [80]]] and all(p[3] > 0 for p in hnsw)
    # A run written before is summarised again without benchmarking anything.
    again = subprocess.run([sys.executable, str(ROOT / "bench" / "study_qps.py"), "tiny-sweep", "--studies", studies,
                            "--summarise", str(runs[0])], capture_output=True, text=True, cwd=workspace, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"summary of {runs[0]} (2 rounds" in again.stdout and "2 cells × 2 rounds back to back" in again.stdout
    assert again.stdout.splitlines()[-1] == bench.stdout.splitlines()[-1]  # the same study_qps line
    # Rebuilt datasets that reproduce the cells' vectors give every point its cell's recall: 2 cells × 2 rounds ×
    # (hnsw's 3 points and flat's), each compared with the cell's own.
    compared = 2 * sum(len(points) for points in record["rounds"][0]["points"][two[0]].values()) * 2
    assert bench.stdout.splitlines()[-1].endswith(f"recall_equal={compared}/{compared}")
    assert f"recall check: Every rerun point's k-NN recall equals its cell's own ({compared} of {compared}" \
        in bench.stdout
    assert list((workspace / "studies" / "tiny-sweep" / "qps").glob("*.json")) == runs  # nothing new written

    assert study_main(["-q", "--studies", studies, "report", "tiny-sweep"]) == 0
    report = (workspace / "studies" / "tiny-sweep" / "report" / "report.md").read_text()
    assert f"median over 2 rounds of all cells benchmarked back to back in rotated order (qps/{runs[0].name}" in report
    assert "Timing noise, per cell: read off one round alone, QPS at k-NN 0.95 is lower in the slowest round" in report
    # The README's tables take the same QPS as the report (a README QPS÷flat is the report's).
    readme = analysis_of("tiny-sweep", workspace / "studies", workspace / "studies.yaml")
    cells = {c["cell"]: c for c in readme.cells}
    assert sorted(cells) == sorted(two) and {c["qps_source"] for c in cells.values()} == {"back to back"}
    assert cells[two[0]]["algorithms"]["hnsw"]["frontier"] == [
        [p.values["k-nn"], p.values["qps"], None] for p in frontier(median_points(record, two[0], "hnsw"))]

    assert f"Every rerun point's k-NN recall equals its cell's own ({compared} of {compared}, all rounds)" in report
    # A rerun on other vectors shows: one point of one round with another recall is counted and named in the report.
    own = record["rounds"][1]["points"][two[0]]["hnsw"][0][2]
    record["rounds"][1]["points"][two[0]]["hnsw"][0][2] = own - 0.125
    runs[0].write_text(json.dumps(record))
    agreement = recall_agreement(read_cells(workspace / "studies" / "tiny-sweep" / "cells"), record)
    assert (agreement.equal, agreement.compared, agreement.largest_difference) == (compared - 1, compared, 0.125)
    assert study_main(["-q", "--studies", studies, "report", "tiny-sweep"]) == 0
    report = (workspace / "studies" / "tiny-sweep" / "report" / "report.md").read_text()
    assert f"1 of {compared} rerun points have a k-NN recall other than their cell's (largest difference 0.1250)" \
        in report

    # A NaN planted in the run is refused by name, never dropped.
    record["rounds"][1]["points"][two[0]]["hnsw"][0][3] = float("nan")
    runs[0].write_text(json.dumps(record))
    capsys.readouterr()
    assert study_main(["-q", "--studies", studies, "report", "tiny-sweep"]) == 2
    assert "qps is nan, not a finite number" in capsys.readouterr().err

    # A run killed after its first round goes on from the second: the kept round is written as it was measured.
    first = record["rounds"][0]
    assert first["started"] <= first["finished"] and first["started"].endswith("+00:00")
    unfinished = workspace / "studies" / "tiny-sweep" / "qps" / "unfinished" / "run.json"
    unfinished.parent.mkdir()
    unfinished.write_text(json.dumps({"plan": {"cells": two, "algorithms": ["flat", "hnsw"], "rounds": 2},
                                      "machine": record["machine"], "rounds": [first]}))
    resumed = subprocess.run([sys.executable, str(ROOT / "bench" / "study_qps.py"), "tiny-sweep", "--studies",
                              studies, "--rounds", "2"], capture_output=True, text=True, cwd=workspace, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"going on with {unfinished}: 1 of 2 rounds done (the first started {first['started']})" in resumed.stdout
    assert "round 1/2 done" not in resumed.stdout and "round 2/2 done" in resumed.stdout
    written = {p for p in (workspace / "studies" / "tiny-sweep" / "qps").glob("*.json")} - set(runs)
    assert len(written) == 1 and not unfinished.parent.exists()
    rounds = json.loads(written.pop().read_text())["rounds"]
    assert rounds[0] == first and rounds[1]["order"] == two[::-1] and rounds[1]["started"] >= first["finished"]
    # Rounds planned otherwise are not mixed in: one line, nothing benchmarked or written.
    unfinished.parent.mkdir()
    unfinished.write_text(json.dumps({"plan": {"cells": two, "algorithms": ["flat", "hnsw"], "rounds": 3},
                                      "machine": record["machine"], "rounds": [first]}))
    refused = subprocess.run([sys.executable, str(ROOT / "bench" / "study_qps.py"), "tiny-sweep", "--studies",
                              studies, "--rounds", "2"], capture_output=True, text=True, cwd=workspace, timeout=600)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
        f"error: {unfinished} holds an unfinished run of tiny-sweep with other rounds: rerun with the same cells and "
        "--rounds to finish it, or pass --fresh to discard it"]
    assert len(list((workspace / "studies" / "tiny-sweep" / "qps").glob("*.json"))) == 2


def test_an_interleaved_run_times_every_cell_at_a_setting_before_the_next(workspace, monkeypatch):
    from topobench.study import qps_interleaved
    from topobench.study.runner import load_cells

    studies = str(workspace / "studies.yaml")
    study = get_study("tiny-sweep", workspace / "studies.yaml")
    two = [c.name for c in study.cells[:2]]
    assert study_main(["-q", "--studies", studies, "run", "tiny-sweep", "--cells", *two]) == 0
    cells = [c for c in load_cells("tiny-sweep") if c["cell"] in two]
    names = {c["dataset"]: c["cell"] for c in cells}
    timed = []
    measure = qps_interleaved.measure_single

    def spy(index, queries, k, runs):
        timed.append((id(index), queries.tobytes()))  # which index object, and which cell's queries
        return measure(index, queries, k, runs)

    monkeypatch.setattr(qps_interleaved, "measure_single", spy)
    order = [1, 0]
    rnd = qps_interleaved.interleaved_round(cells, ["flat", "hnsw"], study.count, 1, workspace / "scratch", order,
                                            study.definitions)
    # flat's one setting, then hnsw's three (ef 10, 20, 80 on one build): each setting times both cells before the
    # next, who goes first alternating from one setting to the next; each cell has its own index object per build.
    cell_of = {}
    for _, queries in timed:
        cell_of.setdefault(queries, len(cell_of))
    assert len(timed) == 8 and len({index for index, _ in timed}) == 4  # flat: 2 indexes; hnsw: 2 indexes
    assert [cell_of[queries] for _, queries in timed] == [0, 1, 1, 0, 0, 1, 1, 0]
    assert rnd["design"] == "interleaved" and rnd["order"] == [names[cells[i]["dataset"]] for i in order]
    # Scored as the cells were: every point has its cell's own k-NN recall.
    record = {"rounds": [rnd]}
    agreement = recall_agreement(cells, record)
    assert agreement.compared == 8 and agreement.equal == 8

    bench = subprocess.run([sys.executable, str(ROOT / "bench" / "study_qps.py"), "tiny-sweep", "--studies", studies,
                            "--rounds", "2", "--interleave"], capture_output=True, text=True, cwd=workspace,
                           timeout=600)
    assert bench.returncode == 0, bench.stderr[-2000:]
    [run] = (workspace / "studies" / "tiny-sweep" / "qps").glob("*.json")
    written = json.loads(run.read_text())
    assert [r["design"] for r in written["rounds"]] == ["interleaved"] * 2
    assert [r["order"] for r in written["rounds"]] == [two, two[::-1]]
    assert bench.stdout.splitlines()[-1].endswith("recall_equal=16/16")
    assert study_main(["-q", "--studies", studies, "report", "tiny-sweep"]) == 0
    report = (workspace / "studies" / "tiny-sweep" / "report" / "report.md").read_text()
    assert ("median over 2 rounds of all cells benchmarked interleaved (at each setting every cell timed in turn, the "
            f"order rotated) (qps/{run.name}") in report


def test_a_back_to_back_run_leaves_text_search_out(tmp_path, monkeypatch):
    # BM25 searches the same texts in every cell and has no k-NN recall: rerunning it would measure only the machine.
    assert rerun_algorithms(["hnsw", "bm25", "ivf", "flat"]) == (["hnsw", "ivf", "flat"], ["bm25"])
    assert rerun_algorithms(["flat", "no-such-index"]) == (["flat", "no-such-index"], [])
    # … and the report says that BM25's QPS is each cell's own.
    monkeypatch.setenv("TOPOBENCH_STUDIES", str(tmp_path))
    cells = [{"cell": "a", "study": "s", "algorithms": {}}]
    write_runs("s", [{"order": ["a"], "load_1min": 0.1, "points": {"a": {}}}], {"cpu": "test"})
    _, note = back_to_back(cells, {"name": "s", "algorithms": ["hnsw", "bm25"]})
    assert note.endswith("not the QPS each cell measured when it finished. No rerun point has a k-NN recall its cell "
                         "recorded to compare with. bm25 (text search, not rerun) keeps each cell's own QPS.")


def test_a_transfer_cell_trains_on_one_corpus_and_is_benchmarked_on_another(workspace):
    # The tiny recipe trained on `synthetic`, encoded and benchmarked on `other` (never trained on): the cell is keyed
    # by both corpora and reuses the checkpoint a `synthetic` cell of the same configuration trains.
    write_beir_zip(workspace / "mirror", "other", docs=120, queries=16, test_queries=20, seed=9)  # < 256: PQ fewer bits
    (workspace / "studies.yaml").write_text(STUDY.format(algos=workspace / "algos.yaml") + (
        "transfer:\n  corpus: other\n  encoders: [minilm]\n  variants: [\"tiny@train_corpus=synthetic\"]\n"
        "  seeds: [1]\n  algorithms: [flat, hnsw]\n  count: 10\n  runs: 1\n"
        f"  definitions: {workspace / 'algos.yaml'}\n"))
    studies = str(workspace / "studies.yaml")
    assert study_main(["-q", "--studies", studies, "run", "transfer"]) == 0
    [path] = (workspace / "studies" / "transfer" / "cells").glob("*.json")
    cell = json.loads(path.read_text())
    assert cell["cell"] == "minilm-tiny@seed=1,train_corpus=synthetic" and cell["corpus"] == "other"
    assert cell["dataset"] == "other-minilm-tiny@seed=1,train_corpus=synthetic"
    assert cell["config"]["corpus"] == "synthetic" and cell["overrides"]["train_corpus"] == "synthetic"
    assert cell["exact"]["ndcg@10"] > 0 and len(cell["per_query"]["ndcg@10"]) == 20  # other's 20 test queries
    # The same configuration on its own corpus trains nothing more: the one checkpoint folder serves both datasets.
    trained = sorted(p.name for p in (workspace / "checkpoints").iterdir())
    assert len(trained) == 1
    report = run_sweep(RunConfig(dataset="synthetic-minilm-tiny@seed=1", count=10, runs=1,
                                 definitions_file=workspace / "algos.yaml"), ["flat"])
    assert report.ran == 1 and sorted(p.name for p in (workspace / "checkpoints").iterdir()) == trained
