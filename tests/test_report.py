"""``plot.py --report OUT/``: an index page and a page per dataset with every applicable plot (PNG files that exist
and decode), the summary table, the geometry table; written whole or not at all, never over a folder that is not a
report. The browser check (headless Chromium) is in test_report_browser.py, marked slow."""

from __future__ import annotations

import os
import re
from html import escape

import pytest
from helpers import TEST_PLUGIN_DIRS, cli
from matplotlib.image import imread
from report_fixtures import DATASET, write_benchmark

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see test_index_contract.py

from topobench.core.errors import NoResultsError, TopobenchError  # noqa: E402
from topobench.core.registry import get_registry  # noqa: E402
from topobench.report.export import summary_rows  # noqa: E402
from topobench.report.html_report import write_report  # noqa: E402

# bytes_scanned: the toy plugin's own counter, declared as a metric, drawn like distcomps.
EXPECTED_PLOTS = ["knn-qps", "ndcg10-qps", "distcomps-knn", "build-knn", "indexsize-knn", "buildmem-knn",
                  "searchmem-knn", "bytes_scanned-knn", "nprobe-knn"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A workspace with the benchmark's dataset and results (module-wide: the sweep runs once)."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOPOBENCH_DATASETS", str(root / "datasets"))
        mp.setenv("TOPOBENCH_RESULTS", str(root / "results"))
        mp.setenv("TOPOBENCH_STUDIES", str(root / "studies"))  # not the checkout's committed studies/
        mp.setenv("TOPOBENCH_PLUGIN_DIRS", TEST_PLUGIN_DIRS)
        get_registry.cache_clear()
        write_benchmark(root)
        yield root
    get_registry.cache_clear()


@pytest.fixture(scope="module")
def report(bench):
    out = bench / "report"
    assert write_report(out) == [out / "index.html", out / f"{DATASET}.html"]
    return out


def test_report_has_every_applicable_plot_the_summary_and_geometry(report):
    out = report
    html = (out / f"{DATASET}.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sources == [f"img/{DATASET}-10-{slug}.png" for slug in EXPECTED_PLOTS]
    for src in sources:
        image = imread(out / src)
        assert image.shape[0] > 300 and image.shape[1] > 500 and image.std() > 0.05, src  # a drawn plot
    assert sorted(p.name for p in (out / "img").iterdir()) == sorted(src.removeprefix("img/") for src in sources)

    # Not drawn, with the reason: recall@100 needs count 100, acc@20 answers.
    assert "Not drawn:" in html
    assert re.search(r"<li>qps vs recall@100: metric &#x27;recall@100&#x27; applies to none", html)
    assert re.search(r"<li>qps vs acc@20: metric &#x27;acc@20&#x27; applies to none", html)

    # The summary table: each algorithm and level, with the QPS and parameters of the best point.
    rows = summary_rows([DATASET], 10, False)
    assert {r["algorithm"] for r in rows} == {"toy", "hnsw", "ivf"}
    for row in rows:
        assert row["qps"] is not None  # every algorithm reaches 0.99 here (toy and ivf nprobe=16 are exact)
        cells = (f"<td>{row['algorithm']}</td><td class=num>{row['level']:g}</td><td class=num>{row['k-nn']:.4f}"
                 f"</td><td class=num>{row['qps']:.1f}</td><td>{escape(row['parameters'])}</td>")
        assert cells in html, cells
    assert "<td>lid_mean</td><td class=num>7.5</td>" in html and "<td>hubness_skew</td>" in html

    index = (out / "index.html").read_text()
    assert f'<a href="{DATASET}.html">{DATASET}</a>' in index and "best QPS at k-NN recall ≥ 0.95" in index


def test_plot_py_report_replaces_an_earlier_report_but_never_another_folder(bench, report):
    (report / "img" / "stale.png").write_bytes(b"old")
    env = {k: os.environ[k] for k in ("TOPOBENCH_DATASETS", "TOPOBENCH_RESULTS", "TOPOBENCH_PLUGIN_DIRS")}
    out = cli("plot.py", "--report", str(report), env=env)  # every dataset with results: the one here
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"wrote 2 pages to {report}: index.html, {DATASET}.html"
    assert not (report / "img" / "stale.png").exists() and (report / "img" / f"{DATASET}-10-knn-qps.png").exists()

    other = bench / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(TopobenchError, match="is not a topobench report: choose a new or empty folder"):
        write_report(other)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_report_without_results_leaves_nothing(workspace):
    with pytest.raises(NoResultsError, match="no results under .* to report on: run `python run.py --dataset NAME`"):
        write_report(workspace / "report")
    with pytest.raises(NoResultsError, match="no results for dataset 'nothing-here'"):
        write_report(workspace / "report", ["nothing-here"])
    assert not (workspace / "report").exists()
    assert not [p for p in workspace.iterdir() if p.name.startswith(".report")]
