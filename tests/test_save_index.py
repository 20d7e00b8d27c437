"""Saved indexes: every index that can save answers the same after a save/load round trip, and ``run.py --save-index``
keeps the chosen build on disk with its dataset, encoder and parameters recorded beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, toy_hnsw_grid, write_tiny_dataset

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see test_index_contract.py: sleeping OpenMP waiters

from topobench.core.indexes import Index  # noqa: E402
from topobench.core.registry import build_registry  # noqa: E402
from topobench.datasets.store import load_dataset, make_blobs  # noqa: E402
from topobench.runs import index_store  # noqa: E402
from topobench.runs.runner import RunConfig, run_sweep  # noqa: E402

TOY_DIR = Path(__file__).resolve().parent / "plugins"
REGISTRY = build_registry(extra_dirs=[TOY_DIR])
# Query args far from the defaults (nprobe 1, ef 16 / 10), so a load that ignored them would answer differently.
SETTINGS = {"ivf": ((16,), (5,)), "ivf_pq": ((16, 6), (5,)), "hnsw": ((4, 20), (150,)), "hnswlib": ((4, 20), (150,)),
            "pq": ((6,), ()), "lsh": ((64,), ())}  # m=6 does not divide 16: the padded transform is saved too
SAVABLE = [n for n in REGISTRY.names("indexes") if (r := REGISTRY.get("indexes", n)).cls.can_save
           and not r.cls.needs_texts and r.unavailable_reason() is None]
K = 10
GRID = toy_hnsw_grid(m=(8, 12), ef_search=(10, 30))


def test_the_builtin_indexes_can_save():
    assert {"toy", "flat", "lsh", "pq", "ivf", "ivf_pq", "hnsw", "hnswlib", "bm25"} <= {
        n for n in REGISTRY.names("indexes") if REGISTRY.get("indexes", n).cls.can_save}


@pytest.mark.parametrize("metric", ["angular", "euclidean"])
@pytest.mark.parametrize("name", SAVABLE)
def test_loaded_index_answers_like_the_built_one(name, metric, tmp_path):
    cls = REGISTRY.get("indexes", name).cls
    args, query_args = SETTINGS.get(name, ((), ()))
    X = make_blobs(1100, 16, centers=10, seed=3)
    train, test = X[:1000], X[1000:]
    built = cls(metric, *args)
    built.fit(train)
    built.save(tmp_path)  # saved with the default query args
    assert any(tmp_path.iterdir())
    built.set_query_arguments(*query_args)
    loaded = cls(metric, *args)
    loaded.set_query_arguments(*query_args)  # set before load: load must apply it
    loaded.load(tmp_path)
    loaded.set_threads(1)
    for q in test:
        np.testing.assert_array_equal(loaded.query(q, K), built.query(q, K))
    built.batch_query(test, K)
    loaded.batch_query(test, K)
    np.testing.assert_array_equal(loaded.get_batch_results(), built.get_batch_results())
    assert loaded.index_size() == built.index_size()
    built.done()
    loaded.done()


BM25_ROUND_TRIP = """
import sys
from pathlib import Path
from topobench.core.registry import build_registry
cls = build_registry().get("indexes", "bm25").cls
docs = ["aspirin inhibits platelets", "zebrafish regenerate heart tissue", "telomerase in cancer cells"]
built = cls("angular", 0.9, 0.4)
built.fit_texts(docs)
built.save(Path(sys.argv[1]))
built.done()  # removes the build's temporary directory, not the saved copy
loaded = cls("angular", 0.9, 0.4)
loaded.load(Path(sys.argv[1]))
rows, scores = loaded.query_text("zebrafish heart", 3)
loaded.done()
print(rows.tolist(), float(scores[0]))
"""


def test_bm25_round_trip_opens_the_saved_lucene_directory(tmp_path):
    # In a process of its own, as the runner and the service run it: a JVM (Pyserini) in a test process that has
    # loaded torch, faiss, Ray and the rest once crashed the whole test run with a segmentation fault here.
    import subprocess
    import sys

    cls = REGISTRY.get("indexes", "bm25").cls
    reason = cls.unavailable_reason()
    if reason:
        pytest.skip(f"bm25 unavailable: {reason}")
    done = subprocess.run([sys.executable, "-c", BM25_ROUND_TRIP, str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows, score = done.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert rows == "[1]" and float(score) > 0
    assert (tmp_path / "lucene").is_dir()


class _Unsavable(Index):
    def fit(self, X):
        self.X = X

    def query(self, q, k):
        return np.arange(min(k, len(self.X)))


class _BrokenSave(_Unsavable):
    can_save = True

    def save(self, folder):
        (folder / "half-written").write_bytes(b"x")
        raise OSError("disk full")


def test_default_save_is_refused_and_a_failed_save_leaves_no_folder(workspace, tiny_dataset, monkeypatch):
    monkeypatch.setenv(index_store.INDEXES_DIR_ENV, str(workspace / "indexes"))
    index = _Unsavable("euclidean")
    assert not _Unsavable.can_save
    with pytest.raises(NotImplementedError, match="cannot save"):
        index.save(workspace)
    dataset = load_dataset(tiny_dataset)
    with pytest.raises(OSError, match="disk full"):
        index_store.save_index(_BrokenSave("euclidean"), dataset, "broken", [], [], 0.1)
    assert list((workspace / "indexes" / tiny_dataset / "broken").iterdir()) == []  # no folder, no temporary


def _config(workspace, dataset, **kw):
    path = workspace / "algos.yaml"
    path.write_text(GRID)
    return RunConfig(dataset=dataset, definitions_file=path, runs=1, **kw)


def test_save_index_keeps_the_chosen_build_with_its_record(workspace, tiny_dataset, monkeypatch):
    monkeypatch.setenv(index_store.INDEXES_DIR_ENV, str(workspace / "indexes"))
    report = run_sweep(_config(workspace, tiny_dataset, save_index=True, save_args=(12, 40)))
    folder = index_store.index_folder(tiny_dataset, "hnsw", [12, 40])
    assert folder.parent == workspace / "indexes" / tiny_dataset / "hnsw" and folder.name.startswith("12_40-")
    assert report.saved == [folder] and report.ran == 2 and not report.failed  # only the chosen build ran
    assert [p.name for p in (workspace / "indexes" / tiny_dataset / "hnsw").iterdir()] == [folder.name]
    record = json.loads((folder / "index.json").read_text())
    dataset = load_dataset(tiny_dataset)
    assert record["dataset"]["sha256"] == index_store.file_sha256(dataset.path)
    assert record["dataset"]["distance"] == "euclidean" and record["dataset"]["n_docs"] == 600
    assert record["encoder"] is None  # blob data: no encoder made these vectors
    assert record["build_args"] == [12, 40] and record["query_args"] == [[10], [30]]
    assert record["index_size_bytes"] > 0 and record["build_time"] > 0

    saved = index_store.find_saved(tiny_dataset, "hnsw")
    index = saved.load()
    index.set_query_arguments(30)
    exact = dataset.neighbors[:, :K]
    found = [index.query(q, K) for q in dataset.test]
    recall = np.mean([len(set(f.tolist()) & set(t.tolist())) / K for f, t in zip(found, exact, strict=True)])
    assert recall > 0.9

    again = run_sweep(_config(workspace, tiny_dataset, save_index=True, save_args=(12, 40)))
    assert again.ran == 0 and again.saved == []  # saved and measured: nothing to do


def test_finished_points_are_built_again_only_to_save(workspace, tiny_dataset, monkeypatch):
    monkeypatch.setenv(index_store.INDEXES_DIR_ENV, str(workspace / "indexes"))
    first = run_sweep(_config(workspace, tiny_dataset), ["toy"])
    assert first.ran == 1 and first.saved == []
    second = run_sweep(_config(workspace, tiny_dataset, save_index=True), ["toy"])
    assert second.ran == 0 and second.skipped == 1
    assert second.saved == [index_store.index_folder(tiny_dataset, "toy", [])]
    with pytest.raises(index_store.IndexStoreError, match="no saved hnsw index .* --save-index"):
        index_store.find_saved(tiny_dataset, "hnsw")


def test_several_saved_builds_need_params(workspace, tiny_dataset, monkeypatch):
    monkeypatch.setenv(index_store.INDEXES_DIR_ENV, str(workspace / "indexes"))
    run_sweep(_config(workspace, tiny_dataset, save_index=True), ["hnsw"])
    with pytest.raises(index_store.IndexStoreError, match=r"2 saved hnsw indexes .* --params ARGS \(one of: 12,40; "):
        index_store.find_saved(tiny_dataset, "hnsw")
    assert index_store.find_saved(tiny_dataset, "hnsw", [8, 40]).build_args == [8, 40]
    with pytest.raises(index_store.IndexStoreError, match=r"with args \[16, 40\] .*saved: 12,40; 8,40\)"):
        index_store.find_saved(tiny_dataset, "hnsw", [16, 40])


def test_cli_save_index_with_unknown_args_is_one_error_line(tmp_path):
    write_tiny_dataset(tmp_path / "datasets")
    (tmp_path / "algos.yaml").write_text(GRID)
    env = {"TOPOBENCH_DATASETS": str(tmp_path / "datasets"), "TOPOBENCH_RESULTS": str(tmp_path / "results"),
           "TOPOBENCH_INDEXES": str(tmp_path / "indexes"), "TOPOBENCH_PLUGIN_DIRS": str(TOY_DIR)}
    out = cli("run.py", "--dataset", "tiny-16-euclidean", "--definitions", str(tmp_path / "algos.yaml"),
              "--algorithm", "hnsw", "--save-index", "99,40", env=env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "error: --save-index 99,40: no selected build has these args; builds: hnsw 12,40; hnsw 8,40")
    assert not (tmp_path / "indexes").exists() and not (tmp_path / "results").exists()
