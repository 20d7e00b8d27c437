"""The retrieval service over real HTTP: uvicorn on a loopback port, urllib requests, every bad-input class refused
with a 4xx and a message, a bounded concurrent load with zero errors, and ``serve.py`` started as a user would.

The dataset is a small corpus encoded by the reference plugin's trigram encoder (``docs-toy``: encoder ``toy``), so no
model weights are needed; its indexes are saved by ``run_sweep(save_index=True)``, which also leaves results behind
for the service to pick its default query args from.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, TEST_PLUGIN_DIRS, toy_hnsw_grid, write_tiny_dataset

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see test_index_contract.py

from topobench.core.distances import exact_knn  # noqa: E402
from topobench.core.errors import TopobenchError  # noqa: E402
from topobench.core.registry import get_registry  # noqa: E402
from topobench.datasets.store import load_dataset, write_dataset  # noqa: E402
from topobench.report.export import load_points  # noqa: E402
from topobench.runs import index_store  # noqa: E402
from topobench.runs.index_store import IndexStoreError  # noqa: E402
from topobench.runs.runner import RunConfig, run_sweep  # noqa: E402
from topobench.service.app import create_app  # noqa: E402
from topobench.service.core import Limits, RetrievalService  # noqa: E402
from topobench.service.load import run_load  # noqa: E402
from topobench.service.server import BackgroundServer, bind  # noqa: E402

DOCS = [f"{subject} {verb} {obj}" for subject in ("aspirin", "insulin", "telomerase", "microglia", "zebrafish")
        for verb in ("inhibits", "regulates", "protects", "damages") for obj in ("platelets", "the heart", "neurons")]
QUERIES = ["aspirin inhibits platelets", "microglia damage neurons", "zebrafish heart", "insulin regulation"]
GRID = toy_hnsw_grid(ef_search=(10, 30))
LIMITS = Limits(max_texts=4, max_text_chars=200, max_k=50)
DATASET = "docs-toy"


def _write_docs_dataset(folder: Path) -> None:
    encoder = get_registry().get("encoders", "toy").cls()
    train, test = encoder.encode(DOCS, kind="doc"), encoder.encode(QUERIES, kind="query")
    neighbors, distances = exact_knn(train, test, "angular", 20, progress=False)
    write_dataset(folder / f"{DATASET}.hdf5", train=train, test=test, distance="angular", neighbors=neighbors,
                  distances=distances, doc_ids=[f"d{i}" for i in range(len(DOCS))],
                  query_ids=[f"q{i}" for i in range(len(QUERIES))], qrels=np.array([[0, 0, 1], [1, 43, 1]]),
                  attrs={"encoder_encoder": "toy-trigram-hash", "encoder_name": "toy"})


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """A workspace with ``docs-toy``, its results, and saved toy and hnsw indexes (module-wide: built once)."""
    root = tmp_path_factory.mktemp("service")
    with pytest.MonkeyPatch.context() as mp:
        for env, sub in (("TOPOBENCH_DATASETS", "datasets"), ("TOPOBENCH_RESULTS", "results"),
                         ("TOPOBENCH_INDEXES", "indexes")):
            mp.setenv(env, str(root / sub))
        mp.setenv("TOPOBENCH_PLUGIN_DIRS", TEST_PLUGIN_DIRS)
        get_registry.cache_clear()
        (root / "datasets").mkdir()
        _write_docs_dataset(root / "datasets")
        (root / "algos.yaml").write_text(GRID)
        report = run_sweep(RunConfig(dataset=DATASET, definitions_file=root / "algos.yaml", runs=1, save_index=True))
        assert len(report.saved) == 2 and not report.failed
        yield root
    get_registry.cache_clear()


@pytest.fixture(scope="module")
def service(space):
    service = RetrievalService.load(DATASET, ["toy", "hnsw"], limits=LIMITS)
    yield service
    service.close()


@pytest.fixture(scope="module")
def server(service):
    with BackgroundServer(create_app(service)) as running:
        yield running.url


def call(url: str, path: str, body: object | None = None, raw: bytes | None = None) -> tuple[int, dict]:
    """One real HTTP request; returns (status, decoded JSON body) for successes and errors alike."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_indexes_and_openapi(server, service):
    status, health = call(server, "/health")
    assert status == 200 and health["status"] == "ok" and health["dataset"] == DATASET
    assert health["indexes"] == ["toy/default", "hnsw/8_40"] and health["encoder"] == "toy"
    status, listing = call(server, "/indexes")
    hnsw = next(i for i in listing["indexes"] if i["algorithm"] == "hnsw")
    assert hnsw["build_args"] == [8, 40] and hnsw["n_docs"] == len(DOCS) and hnsw["distance"] == "angular"
    points = [p for p in load_points(DATASET, ["k-nn", "qps"]) if p.algorithm == "hnsw"]
    fastest = max((p for p in points if p.values["k-nn"] >= 0.95), key=lambda p: p.values["qps"])
    assert hnsw["query_args"] == json.loads(fastest.parameters)["query_args"]
    assert "fastest stored result with k-nn >= 0.95" in hnsw["query_args_reason"]
    status, schema = call(server, "/openapi.json")
    assert status == 200 and {"/encode", "/search", "/health", "/indexes"} <= set(schema["paths"])
    with urllib.request.urlopen(server + "/docs", timeout=30) as response:
        assert response.status == 200 and b"swagger" in response.read().lower()


def test_encode_returns_the_encoders_vectors(server, service):
    # ``progress`` is a declared setting of every encoder (topobench.core.encoders.Encoder); the service turns it off.
    assert type(service.encoder).progress is True and service.encoder.progress is False
    texts = ["aspirin inhibits platelets", "zebrafish"]
    status, body = call(server, "/encode", {"texts": texts, "kind": "doc"})
    assert status == 200 and body["dimension"] == 64 and body["encode_ms"] >= 0
    expected = get_registry().get("encoders", "toy").cls().encode(texts, kind="doc")
    np.testing.assert_allclose(np.array(body["vectors"]), expected, rtol=1e-6, atol=1e-7)


def test_text_search_finds_the_matching_document(server):
    status, body = call(server, "/search", {"query": "telomerase protects neurons", "k": 5})
    assert status == 200 and body["index"] == "toy/default" and body["k"] == 5
    assert body["ids"][0] == f"d{DOCS.index('telomerase protects neurons')}" and body["scores"][0] == pytest.approx(1.0)
    assert body["ids"] == [f"d{r}" for r in body["rows"]] and len(body["ids"]) == 5
    assert all(a >= b - 1e-6 for a, b in zip(body["scores"], body["scores"][1:], strict=False))
    assert body["search_ms"] > 0 and body["encode_ms"] > 0


def test_vector_search_matches_exact_ground_truth(server, space):
    dataset = load_dataset(DATASET, build=False)
    for index in ("toy", "hnsw/8_40"):
        status, body = call(server, "/search", {"vector": dataset.test[1].tolist(), "k": 10, "index": index})
        assert status == 200 and body["encode_ms"] == 0
        assert body["rows"] == dataset.neighbors[1, :10].tolist(), index
        np.testing.assert_allclose(body["scores"], 1.0 - dataset.distances[1, :10], atol=1e-5)


BAD_INPUTS = [
    ("malformed JSON", "/search", b'{"query": "aspirin", "k": ', 400, "not valid JSON"),
    ("wrong vector dimension", "/search", {"vector": [0.1, 0.2, 0.3]}, 422, "vector has 3 dimensions; the index "
                                                                            "expects 64"),
    ("k too small", "/search", {"query": "aspirin", "k": 0}, 422, "k=0 is out of range: use 1 <= k <= 50"),
    ("k too large", "/search", {"query": "aspirin", "k": 51}, 422, "k=51 is out of range"),
    ("k not a number", "/search", {"query": "aspirin", "k": "many"}, 422, "k: Input should be a valid integer"),
    ("too many texts", "/encode", {"texts": ["a"] * 5}, 413, "5 texts in one request; the limit is 4"),
    ("no texts", "/encode", {"texts": []}, 422, "texts is empty"),
    ("too long text", "/encode", {"texts": ["x" * 201]}, 413, "text 0 has 201 characters; the limit is 200"),
    ("too long query", "/search", {"query": "x" * 201}, 413, "text 0 has 201 characters"),
    ("unknown index", "/search", {"query": "aspirin", "index": "ivf"}, 404,
     "unknown index 'ivf'; loaded: toy/default, hnsw/8_40"),
    ("query and vector", "/search", {"query": "aspirin", "vector": [0.0] * 64}, 422, "exactly one of 'query'"),
    ("neither", "/search", {"k": 3}, 422, "exactly one of 'query'"),
    ("bad kind", "/encode", {"texts": ["a"], "kind": "passage"}, 422, "kind: Input should be 'query' or 'doc'"),
    ("unknown field", "/search", {"query": "a", "topk": 3}, 422, "topk: Extra inputs are not permitted"),
    ("NaN in vector", "/search", b'{"vector": [NaN' + b", 0.0" * 63 + b"]}", 422, "NaN or infinite"),
    ("body not an object", "/search", [1, 2], 422, "Input should be a valid dictionary"),
]


@pytest.mark.parametrize(("case", "path", "body", "status", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_4xx_with_a_message(server, case, path, body, status, message):
    raw = body if isinstance(body, bytes) else None
    got, answer = call(server, path, None if raw else body, raw=raw)
    assert got == status, answer
    assert message in answer["detail"]
    assert "\n" not in answer["detail"]


def test_concurrent_load_has_no_errors(server, space):
    dataset = load_dataset(DATASET, build=False)
    bodies = [{"vector": v.tolist(), "k": 10} for v in dataset.test] + [{"query": q, "k": 10} for q in QUERIES]
    report = run_load(server, "/search", bodies, requests=240, concurrency=8, max_seconds=60)
    assert report.sent == 240 and report.errors == 0, report.error_examples
    assert report.throughput > 0 and 0 < report.percentile(50) <= report.percentile(99)
    assert "240 searches at concurrency 8" in report.line(8) and report.line(8).endswith("errors 0")
    broken = run_load(server, "/search", [{"vector": [1.0]}], requests=5, concurrency=2, max_seconds=60)
    assert broken.errors == 5 and "HTTP 422" in broken.error_examples[0]  # the check does count failures


def test_service_without_encoder_searches_vectors_only(workspace, tiny_dataset, monkeypatch):
    monkeypatch.setenv(index_store.INDEXES_DIR_ENV, str(workspace / "indexes"))
    dataset = load_dataset(tiny_dataset)
    index = get_registry().get("indexes", "toy").cls("euclidean")
    index.fit(dataset.train)
    index_store.save_index(index, dataset, "toy", [], [], 0.01)
    service = RetrievalService.load(tiny_dataset, ["toy"])
    assert service.encoder is None and service.health()["encoder"] is None
    answer = service.search(vector=dataset.test[0], k=3)
    assert answer["rows"] == dataset.neighbors[0, :3].tolist() and answer["ids"] == [str(r) for r in answer["rows"]]
    np.testing.assert_allclose(answer["scores"], -dataset.distances[0, :3], rtol=1e-5)  # minus the L2 distance
    with BackgroundServer(create_app(service)) as running:
        status, body = call(running.url, "/search", {"query": "text"})
    assert status == 400 and "records no encoder" in body["detail"]

    write_tiny_dataset(workspace / "datasets", n=601)  # the dataset changes under the saved index
    with pytest.raises(IndexStoreError, match="changed since the toy index .* was saved from it; save it again with "
                       f"`python run.py --dataset {tiny_dataset} --algorithm toy --save-index --force`"):
        RetrievalService.load(tiny_dataset, ["toy"])


def test_bm25_is_served_over_http(space):
    cls = get_registry().get("indexes", "bm25").cls
    reason = cls.unavailable_reason()
    if reason:
        pytest.skip(f"bm25 unavailable: {reason}")
    index = cls("angular", 0.9, 0.4)
    index.fit_texts(DOCS)
    index_store.save_index(index, load_dataset(DATASET, build=False), "bm25", [0.9, 0.4], [], 0.1)
    index.done()
    service = RetrievalService.load(DATASET, ["bm25"], limits=LIMITS)
    try:
        with BackgroundServer(create_app(service)) as running:
            status, body = call(running.url, "/search", {"query": "telomerase damages platelets", "k": 3})
            assert status == 200 and body["index"] == "bm25/0_9_0_4" and body["encode_ms"] == 0
            assert body["ids"][0] == f"d{DOCS.index('telomerase damages platelets')}" and body["scores"][0] > 0
            status, body = call(running.url, "/search", {"vector": [0.0] * 64})
            assert status == 422 and body["detail"] == "index bm25/0_9_0_4 searches texts: send 'query', not 'vector'"
    finally:
        service.close()


def test_busy_port_is_one_clear_error():
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    try:
        with pytest.raises(Exception, match=rf"cannot listen on 127.0.0.1:{port} .*pick another --port"):
            bind("127.0.0.1", port)
    finally:
        sock.close()


def _serve_env(space: Path) -> dict[str, str]:
    return {**os.environ, "TOPOBENCH_DATASETS": str(space / "datasets"), "TOPOBENCH_RESULTS": str(space / "results"),
            "TOPOBENCH_INDEXES": str(space / "indexes"), "TOPOBENCH_PLUGIN_DIRS": TEST_PLUGIN_DIRS}


def test_serve_py_starts_answers_and_stops_on_sigterm(space):
    process = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--dataset", DATASET, "--algorithm", "hnsw",
                                "--port", "0", "-q"], cwd=ROOT, env=_serve_env(space), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert match, line + process.stderr.read() if process.poll() is not None else line
        status, body = call(match[1], "/search", {"query": "zebrafish protects the heart", "k": 3})
        assert status == 200 and body["index"] == "hnsw/8_40"
        assert body["ids"][0] == f"d{DOCS.index('zebrafish protects the heart')}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0  # a graceful stop
        assert process.stdout.read().strip() == "stopped"


def test_serve_py_without_a_saved_index_or_results_is_one_error_line(space):
    out = subprocess.run([sys.executable, str(ROOT / "serve.py"), "--dataset", DATASET, "--algorithm", "ivf",
                          "--port", "0"], cwd=ROOT, env=_serve_env(space), capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: no saved ivf index for '{DATASET}' in {space / 'indexes'}, and no stored ivf result reaches k-nn 0.95 "
        "to choose a build from: pass --params ARGS (build args from algos.yaml) to build one, or save one with "
        f"`python run.py --dataset {DATASET} --algorithm ivf --save-index ARGS`")


def test_a_missing_index_is_built_from_the_build_the_results_favour(workspace, tiny_dataset, monkeypatch):
    monkeypatch.setenv(index_store.INDEXES_DIR_ENV, str(workspace / "indexes"))
    grid = workspace / "algos.yaml"
    grid.write_text(toy_hnsw_grid(m=(8, 12), ef_search=(10, 30)))
    run_sweep(RunConfig(dataset=tiny_dataset, definitions_file=grid, runs=1), ["hnsw"])  # results, nothing saved
    with pytest.raises(IndexStoreError, match="no saved hnsw index"):
        RetrievalService.load(tiny_dataset, ["hnsw"])  # building is opt-in (serve.py: on unless --no-build)

    points = [p for p in load_points(tiny_dataset, ["k-nn", "qps"]) if p.algorithm == "hnsw"]
    favourite = json.loads(max((p for p in points if p.values["k-nn"] >= 0.95),
                               key=lambda p: p.values["qps"]).parameters)["args"]
    other = [12, 40] if favourite == [8, 40] else [8, 40]
    service = RetrievalService.load(tiny_dataset, ["hnsw"], build_missing=True, definitions=grid)
    assert service.get_index("hnsw").saved.build_args == favourite
    assert [s.build_args for s in index_store.list_saved(tiny_dataset, "hnsw")] == [favourite]
    dataset = load_dataset(tiny_dataset)
    assert service.search(vector=dataset.test[0], k=5)["rows"] == dataset.neighbors[0, :5].tolist()
    service.close()

    run_sweep(RunConfig(dataset=tiny_dataset, definitions_file=grid, runs=1, save_index=True,
                        save_args=tuple(other)), ["hnsw"])
    assert len(index_store.list_saved(tiny_dataset, "hnsw")) == 2
    chosen = RetrievalService.load(tiny_dataset, ["hnsw"])  # two saved: the favoured one, no --params needed
    assert chosen.get_index("hnsw").saved.build_args == favourite
    chosen.close()
    picked = RetrievalService.load(tiny_dataset, ["hnsw"], params=other)
    assert picked.get_index("hnsw").saved.build_args == other
    picked.close()
    with pytest.raises(TopobenchError, match="--save-index 16,40: no selected build has these args; builds: hnsw 12"):
        RetrievalService.load(tiny_dataset, ["hnsw"], params=[16, 40], build_missing=True, definitions=grid)
