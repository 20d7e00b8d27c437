"""Plotting and CSV export over result files written into a temporary results folder."""

from __future__ import annotations

import csv
import logging

import h5py
import numpy as np
import pytest

from topobench.cli.main import plot_main
from topobench.core.errors import DatasetError, NoResultsError, UnknownNameError
from topobench.datasets.store import DATA_DIR_ENV, dataset_path, write_dataset
from topobench.metrics.registry import get_metric
from topobench.report.export import export_csv, summary_rows, summary_table
from topobench.report.plotting import figure, pareto_frontier, plot
from topobench.runs.results import RESULTS_DIR_ENV, Result, result_path, write_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
POINTS_PER_ALGORITHM = 3


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """Two small datasets (``ds-a`` with qrels, ``ds-b`` without) and six results on each."""
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path / "results"))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "datasets"))
    rng = np.random.default_rng(0)
    for name, qrels in (("ds-a", np.array([[0, 1, 2], [1, 3, 1], [2, 5, 0]])), ("ds-b", None)):
        train, test = rng.standard_normal((60, 4)), rng.standard_normal((6, 4))
        dist = np.linalg.norm(test[:, None, :] - train[None, :, :], axis=2)
        neighbors = np.argsort(dist, axis=1)[:, :20]
        write_dataset(dataset_path(name), train=train, test=test, distance="euclidean", neighbors=neighbors,
                      distances=np.take_along_axis(dist, neighbors, axis=1), qrels=qrels)
        for algorithm, noise in (("exact", 0), ("rough", 3)):
            for i in range(POINTS_PER_ALGORITHM):
                lost = noise + i  # later points swap more true neighbours for farther ones
                rows = neighbors[:, :10].copy()
                rows[:, 10 - lost:] = neighbors[:, 10:10 + lost]
                write_result(result_path(name, 10, algorithm, False, [i], [noise]), Result(
                    dataset=name, algorithm=algorithm, name=f"{algorithm}({i})", count=10, batch=False,
                    distance="euclidean", build_args=[i], query_args=[noise], build_time=0.1 * (i + 1),
                    index_size_bytes=1000 * (i + 1), best_search_time=1e-3 / (i + 1 + noise), run_count=1, threads=1,
                    times=np.full(6, 1e-3), neighbors=rows, distances=np.take_along_axis(dist, rows, axis=1),
                    stats={"distcomps": 50.0 * (i + 1)}))
    return tmp_path


def test_pareto_frontier_hand_case():
    recall, qps, p99 = get_metric("k-nn"), get_metric("qps"), get_metric("p99")
    points = [(0.5, 1000.0, "a"), (0.8, 500.0, "b"), (0.7, 400.0, "c"), (0.9, 100.0, "d"), (0.85, 50.0, "e"),
              (0.9, 80.0, "f"), (0.4, 900.0, "g")]
    assert [p[2] for p in pareto_frontier(points, recall, qps)] == ["a", "b", "d"]
    # x lower-is-better: (p99 ms, qps) — the fastest-latency point, then trade latency for throughput
    points = [(2.0, 100.0, "a"), (1.0, 50.0, "b"), (3.0, 90.0, "c"), (0.5, 10.0, "d")]
    assert [p[2] for p in pareto_frontier(points, p99, qps)] == ["a", "b", "d"]
    assert pareto_frontier([], recall, qps) == []


def test_plot_one_dataset_writes_png_with_log_qps(bench):
    out = plot(["ds-a"], out=bench / "plots" / "a.png", raw=True)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    ax = figure(["ds-a"]).axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.get_xlabel().startswith(get_metric("k-nn").description)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["exact", "rough"]


def test_plot_two_datasets_names_them_in_the_legend(bench):
    out = plot(["ds-a", "ds-b"], x="build", y="p99", out=bench / "ab.png")
    assert out.read_bytes().startswith(PNG_MAGIC)
    ax = figure(["ds-a", "ds-b"]).axes[0]
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
        "exact (ds-a)", "exact (ds-b)", "rough (ds-a)", "rough (ds-b)"]
    assert "ds-a, ds-b" in ax.get_title()


def test_plot_one_algorithm_across_datasets_colours_by_dataset(bench):
    """Comparing trained variants: ``only`` keeps one algorithm, and each dataset gets its own colour."""
    ax = figure(["ds-a", "ds-b"], only=["rough"]).axes[0]
    lines = {t.get_text(): line for t, line in zip(ax.get_legend().get_texts(), ax.get_legend().get_lines(),
                                                   strict=True)}
    assert sorted(lines) == ["rough (ds-a)", "rough (ds-b)"]
    assert lines["rough (ds-a)"].get_color() != lines["rough (ds-b)"].get_color()
    with pytest.raises(NoResultsError, match="--algorithm hnsw"):
        figure(["ds-a"], only=["hnsw"])


def test_plot_errors_name_the_fix(bench):
    with pytest.raises(NoResultsError, match=r"run `python run.py --dataset ds-c` first"):
        plot(["ds-c"], out=bench / "c.png")
    with pytest.raises(NoResultsError, match=r"--count 5"):
        plot(["ds-a"], count=5, out=bench / "c.png")
    with pytest.raises(UnknownNameError, match="known metrics"):
        plot(["ds-a"], y="qpss", out=bench / "c.png")
    with pytest.raises(NoResultsError, match="recall@10.*qrels"):
        plot(["ds-b"], x="recall@10", out=bench / "c.png")
    dataset_path("ds-b").unlink()
    with pytest.raises(DatasetError, match="ds-b.hdf5 back"):
        plot(["ds-b"], out=bench / "c.png")
    assert plot(["ds-b"], x="build", y="qps", out=bench / "c.png").exists()  # needs no dataset file


def test_plot_without_dataset_draws_each_dataset_with_results(bench, monkeypatch, capsys):
    monkeypatch.chdir(bench)
    # ds-c has batch results only, at count 20: drawn in batch mode at its own count.
    with h5py.File(dataset_path("ds-a")) as f:
        rows = f["neighbors"][:, :20]
        write_dataset(dataset_path("ds-c"), train=f["train"][:], test=f["test"][:], distance="euclidean",
                      neighbors=f["neighbors"][:], distances=f["distances"][:])
        write_result(result_path("ds-c", 20, "exact", True, [], []), Result(
            dataset="ds-c", algorithm="exact", name="exact()", count=20, batch=True, distance="euclidean",
            build_args=[], query_args=[], build_time=0.1, index_size_bytes=1000, best_search_time=1e-4, run_count=1,
            threads=2, times=np.full(6, 1e-4), neighbors=rows, distances=f["distances"][:, :20]))
    assert plot_main([]) == 0
    printed = capsys.readouterr().out.splitlines()
    expected = ["plots/ds-a_k-nn_qps_10.png", "plots/ds-b_k-nn_qps_10.png", "plots/ds-c_k-nn_qps_20.png"]
    assert printed == [f"wrote {path}" for path in expected]
    for path in expected:
        assert (bench / path).read_bytes().startswith(PNG_MAGIC)
    assert "batch" in figure(["ds-c"], count=20, batch=True).axes[0].get_title()
    # A metric that applies to one dataset only: the others are skipped with the reason, the command succeeds.
    assert plot_main(["-y", "ndcg@10", "-x", "qps", "--count", "10"]) == 0
    assert capsys.readouterr().out.splitlines() == ["wrote plots/ds-a_qps_ndcg@10_10.png"]
    # -o names one file: refused without --dataset, before anything is drawn.
    assert plot_main(["-o", "one.png"]) == 2
    assert "without --dataset plot.py draws one PNG per dataset" in capsys.readouterr().err
    assert not (bench / "one.png").exists()


def test_plot_without_dataset_and_without_results_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path / "results"))
    monkeypatch.chdir(tmp_path)
    assert plot_main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no results under") and "python run.py --dataset" in err[0]
    assert not (tmp_path / "plots").exists() or not any((tmp_path / "plots").iterdir())


def test_export_csv_header_and_rows(bench):
    out = bench / "export" / "all.csv"
    assert export_csv(out) == 2 * 2 * POINTS_PER_ALGORITHM
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["dataset", "algorithm", "parameters", "count", "batch", "repeats", "k-nn", "epsilon",
                       "recall@10", "recall@100", "mrr@10", "ndcg@10", "qps", "p50", "p95", "p99", "p999", "build",
                       "indexsize", "buildmem", "searchmem", "containermem", "distcomps", "hops", "lists_probed",
                       "candidates", "acc@20", "acc@100"]
    assert len(rows) == 1 + 12
    table = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    exact = next(r for r in table if r["dataset"] == "ds-a" and r["algorithm"] == "exact" and '"args": [0]' in
                 r["parameters"])
    assert float(exact["k-nn"]) == 1.0 and exact["count"] == "10" and exact["batch"] == "False"
    assert exact["recall@100"] == "" and exact["hops"] == ""  # does not apply: empty, never 0
    assert exact["recall@10"] != "" and float(exact["qps"]) == pytest.approx(1000.0)
    assert all(r["recall@10"] == "" for r in table if r["dataset"] == "ds-b")  # no qrels


def test_export_skips_missing_dataset_with_warning(bench, caplog):
    dataset_path("ds-a").unlink()
    with caplog.at_level(logging.WARNING, logger="topobench.report.export"):
        assert export_csv(bench / "b.csv", count=10, batch=False) == 2 * POINTS_PER_ALGORITHM
    assert "ds-a" in caplog.text
    with pytest.raises(NoResultsError):
        export_csv(bench / "none.csv", datasets=["ds-a"])
    assert not (bench / "none.csv").exists()


def test_summary_rows(bench):
    rows = summary_rows(["ds-a"], levels=(0.9,))
    best = {r["algorithm"]: r for r in rows}
    # exact(1) misses one neighbour in ten (k-nn 0.9) and is twice as fast as exact(0); rough never reaches 0.9
    assert best["exact"]["dataset"] == "ds-a" and best["exact"]["name"] == "exact(1)"
    assert best["exact"]["qps"] == pytest.approx(2000.0) and best["exact"]["k-nn"] == pytest.approx(0.9)
    assert best["rough"]["qps"] is None and best["rough"]["parameters"] is None


def test_summary_table_lines(bench):
    lines = summary_table("ds-a", count=10)
    assert lines[0] == "best qps at k-nn >= level: ds-a (count 10, single query)"
    assert lines[1].split() == ["algorithm", "level", "k-nn", "qps", "parameters"]
    assert lines[2].split()[:4] == ["exact", "0.9", "0.9000", "2000.0"]
    assert lines[-1].split() == ["rough", "0.99", "-", "-", "(not", "reached)"]
    assert "no result" in summary_table("ds-c")[1]


def test_geometry_table_compares_datasets(workspace):
    """Datasets built by name carry geometry statistics; export.py --geometry puts them side by side."""
    from helpers import cli

    from topobench.datasets.store import load_dataset
    from topobench.report.export import export_geometry

    for name in ("random-xs-8-angular", "random-xs-8-euclidean"):
        geometry = load_dataset(name).geometry
        assert {"anisotropy", "effective_dim", "lid_mle", "hubness_skew", "ivf_imbalance"} <= set(geometry)
    lines = export_geometry(workspace / "g.csv", ["random-xs-8-angular", "random-xs-8-euclidean"])
    assert "random-xs-8-angular" in lines[0] and any(line.startswith("lid_mle") for line in lines)
    header = (workspace / "g.csv").read_text().splitlines()[0]
    assert header == "statistic,random-xs-8-angular,random-xs-8-euclidean"
    result = cli("export.py", "--geometry", "-o", str(workspace / "g2.csv"), "--dataset", "random-xs-8-angular")
    assert result.returncode == 0 and "effective_dim" in result.stdout, result.stderr


def test_comparison_rows_per_dataset(bench):
    """export.py --compare: exact-search task metrics from the dataset, best QPS and fewest distance computations
    among the algorithm's points at the recall level (fixture: k-nn 1.0, 0.9, 0.8 at qps 1000, 2000, 3000)."""
    from helpers import cli

    from topobench.datasets.store import load_dataset
    from topobench.report.comparison import comparison_rows
    from topobench.report.export import load_points

    rows = {r["dataset"]: r for r in comparison_rows(["ds-a", "ds-b"], algorithm="exact", level=0.85)}
    a = rows["ds-a"]
    assert a["exact_points"] == 3 and a["exact_points_at_level"] == 2
    assert a["exact_qps"] == pytest.approx(2000) and a["exact_qps_k-nn"] == pytest.approx(0.9)
    assert a["exact_distcomps"] == 50 and a["exact_distcomps_k-nn"] == pytest.approx(1.0)
    exact_point = next(p for p in load_points("ds-a", ["ndcg@10", "k-nn"], 10) if p.values["k-nn"] == 1.0)
    assert a["exact_ndcg@10"] == pytest.approx(exact_point.values["ndcg@10"])
    assert rows["ds-b"]["exact_ndcg@10"] is None  # no qrels
    ds = load_dataset("ds-b")  # the same vectors judged by hand: q0's exact first hit, q1's exact fourth
    qrels = np.array([[0, ds.neighbors[0, 0], 1], [1, ds.neighbors[1, 3], 1]])
    write_dataset(dataset_path("ds-c"), train=ds.train, test=ds.test, distance=ds.distance, neighbors=ds.neighbors,
                  distances=ds.distances, qrels=qrels)
    ndcg = comparison_rows(["ds-c"], algorithm="exact")[0]["exact_ndcg@10"]
    assert ndcg == pytest.approx((1.0 + 1.0 / np.log2(5)) / 2)
    assert "exact_qps" not in comparison_rows(["ds-a"], algorithm="exact", level=1.01)[0]  # level not reached
    out = bench / "compare.csv"
    env = {"TOPOBENCH_RESULTS": str(bench / "results"), "TOPOBENCH_DATASETS": str(bench / "datasets")}
    result = cli("export.py", "--compare", "--algorithm", "exact", "--level", "0.85", "--dataset", "ds-a",
                 "--dataset", "ds-b", "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    with out.open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["dataset"] for r in table] == ["ds-a", "ds-b"] and float(table[0]["exact_qps"]) == pytest.approx(2000)
    refused = cli("export.py", "--compare", "-o", str(out), env=env)
    assert refused.returncode == 2 and "--compare needs the datasets" in refused.stderr
