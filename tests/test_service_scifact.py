"""The service on real data (slow): SciFact encoded by MiniLM, an hnsw index saved by ``run_sweep(save_index=True)``,
served over HTTP with the real encoder. A SciFact test query finds its relevant document in the top 10; text queries
encoded by the service land where the dataset's own query vectors do; a bounded concurrent load has no errors.

Needs ``datasets/scifact-minilm.hdf5`` (``TOPOBENCH_SLOW_DATASETS`` moves it), which the slow MTEB check in
test_corpus_datasets.py builds, and the MiniLM weights in the Hugging Face cache.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from topobench.core.registry import get_registry
from topobench.datasets.store import load_dataset
from topobench.datasets.texts import dataset_texts
from topobench.runs.runner import RunConfig, run_sweep
from topobench.service.app import create_app
from topobench.service.core import RetrievalService
from topobench.service.load import run_load
from topobench.service.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("TOPOBENCH_SLOW_DATASETS", ROOT / "datasets"))
MIRROR = Path(os.environ.get("TOPOBENCH_MIRROR", ROOT.parent / "shared" / "mirror"))
_MINILM = get_registry().get("encoders", "minilm").unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_MINILM is not None, reason=f"minilm unavailable: {_MINILM}")]
GRID = "float:\n  any:\n    hnsw:\n      args: [[32], [200]]\n      query-args: [[40, 80]]\n"
QUERY = "0-dimensional biomaterials show inductive properties."  # SciFact test query 1
RELEVANT = "31715818"


def _post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_scifact_service_end_to_end(tmp_path, monkeypatch):
    if not (DATASETS / "scifact-minilm.hdf5").exists():  # checked when the test runs: the MTEB check builds it first
        pytest.skip(f"no {DATASETS / 'scifact-minilm.hdf5'}: build it with `python run.py --dataset scifact-minilm "
                    "--algorithm flat`")
    monkeypatch.setenv("TOPOBENCH_DATASETS", str(DATASETS))
    monkeypatch.setenv("TOPOBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("TOPOBENCH_INDEXES", str(tmp_path / "indexes"))
    monkeypatch.setenv("TOPOBENCH_MIRROR", str(MIRROR))
    (tmp_path / "algos.yaml").write_text(GRID)
    report = run_sweep(RunConfig(dataset="scifact-minilm", definitions_file=tmp_path / "algos.yaml", runs=1,
                                 save_index=True))
    assert len(report.saved) == 1 and not report.failed

    dataset = load_dataset("scifact-minilm", build=False)
    queries = dataset_texts(dataset)[1]
    service = RetrievalService.load("scifact-minilm", ["hnsw"])
    try:
        with BackgroundServer(create_app(service)) as server:
            answer = _post(server.url, "/search", {"query": QUERY, "k": 10})
            assert RELEVANT in answer["ids"], answer["ids"]

            # The service's encoding of a query text is the dataset's query vector (same encoder, same settings).
            encoded = np.array(_post(server.url, "/encode", {"texts": queries[:32], "kind": "query"})["vectors"])
            cosine = np.sum(encoded * dataset.test[:32], axis=1)
            assert cosine.min() > 0.999, cosine.min()

            # Text search over the first 100 queries: top 10 ≈ the exact top 10, and a relevant document is often in it.
            relevant: dict[int, set[str]] = {}
            for q, d, grade in dataset.qrels:
                if grade > 0:
                    relevant.setdefault(int(q), set()).add(dataset.doc_ids[d])
            overlap, hits = [], 0
            for i, text in enumerate(queries[:100]):
                ids = _post(server.url, "/search", {"query": text, "k": 10})["ids"]
                exact = {dataset.doc_ids[r] for r in dataset.neighbors[i, :10]}
                overlap.append(len(exact & set(ids)) / 10)
                hits += bool(relevant.get(i, set()) & set(ids))
            assert np.mean(overlap) > 0.95 and hits >= 70, (np.mean(overlap), hits)

            bodies = [{"vector": v.tolist(), "k": 10} for v in dataset.test]
            load = run_load(server.url, "/search", bodies, requests=2000, concurrency=8, max_seconds=240)
            assert load.sent == 2000 and load.errors == 0, load.error_examples
    finally:
        service.close()
