"""Fault tests of the service: no client input gets a 5xx. Odd inputs one by one (non-finite numbers in any field, lone
surrogates, wrong JSON types), then a property-based fuzz over the request schema (Hypothesis, a bounded number of
examples, derandomised so a run is repeatable), each answer a 2xx or a 4xx whose body is valid JSON with a one-line
``detail``; the server is healthy afterwards."""

from __future__ import annotations

import http.client
import json
import logging
import math
import shutil
import socket
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from faults import assert_one_error, call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_service import DATASET, DOCS, LIMITS, QUERIES, server, service, space  # noqa: F401 - the module's fixtures

from topobench.cli.serve import serve_main
from topobench.core.errors import ConfigError
from topobench.datasets.store import load_dataset
from topobench.service.app import create_app
from topobench.service.core import MAX_K, Limits, RetrievalService
from topobench.service.load import run_load
from topobench.service.logs import Truncate
from topobench.service.server import BackgroundServer

DIMENSION = 64


def post(url: str, path: str, raw: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url + path, data=raw, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_answer(status: int, body: bytes) -> dict:
    """Not a 5xx; the body is JSON (parsed strictly: no NaN literals); an error's detail is one line."""
    assert status < 500, body
    answer = json.loads(body, parse_constant=lambda name: pytest.fail(f"{name} in a response: {body[:200]!r}"))
    if status >= 400:
        assert isinstance(answer["detail"], str) and "\n" not in answer["detail"] and answer["detail"], answer
    return answer


ODD = [
    ("k NaN", "/search", b'{"query": "aspirin", "k": NaN}', 422, "k: Input should be a valid integer"),
    ("k Infinity", "/search", b'{"query": "aspirin", "k": -Infinity}', 422, "k: Input should be a valid integer"),
    ("k overflowing float", "/search", b'{"query": "aspirin", "k": 1e400}', 422, "k:"),
    ("k huge", "/search", b'{"query": "aspirin", "k": 123456789012345678901234567890}', 422, "out of range"),
    ("k string", "/search", b'{"query": "aspirin", "k": "10"}', 422, "k: Input should be a valid integer"),
    ("k bool", "/search", b'{"query": "aspirin", "k": true}', 422, "k: Input should be a valid integer"),
    ("unknown field NaN", "/search", b'{"query": "aspirin", "depth": NaN}', 422, "depth: Extra inputs"),
    ("vector Infinity", "/search", b'{"vector": [Infinity' + b", 0.0" * 63 + b"]}", 422, "NaN or infinite"),
    ("vector overflow", "/search", b'{"vector": [1e400' + b", 0.0" * 63 + b"]}", 422, "NaN or infinite"),
    ("vector strings", "/search", b'{"vector": ["0.1"]}', 422, "vector.0: Input should be a valid number"),
    ("vector bools", "/search", b'{"vector": [true' + b", 0.0" * 63 + b"]}", 422, "vector.0"),
    ("vector nested", "/search", b'{"vector": [[0.1]]}', 422, "vector.0"),
    ("query surrogate", "/search", b'{"query": "\\ud800 aspirin"}', 422, "text 0 is not valid Unicode"),
    ("texts surrogate", "/encode", b'{"texts": ["ok", "\\udfff"]}', 422, "text 1 is not valid Unicode"),
    ("surrogate key", "/search", b'{"query": "a", "\\ud83d": 1}', 422, "body"),
    ("surrogate index", "/search", b'{"query": "a", "index": "\\ud800"}', 404, "unknown index"),
    ("newline key", "/search", b'{"query": "a", "x\\ny": 1}', 422, "x y: Extra inputs are not permitted"),
    ("texts not a list", "/encode", b'{"texts": "aspirin"}', 422, "texts: Input should be a valid list"),
    ("texts of numbers", "/encode", b'{"texts": [1]}', 422, "texts.0: Input should be a valid string"),
    ("kind number", "/encode", b'{"texts": ["a"], "kind": 1}', 422, "kind"),
    ("index number", "/search", b'{"query": "a", "index": 3}', 422, "index: Input should be a valid string"),
    ("index path", "/search", b'{"query": "a", "index": "../../etc/passwd"}', 404, "unknown index"),
    ("null body", "/search", b"null", 422, "body"),
    ("empty body", "/encode", b"", 422, "body"),
    ("not UTF-8", "/search", b'{"query": "\xff\xfe"}', 400, "the request body is not UTF-8 text (byte 11)"),
    ("deep nesting", "/search", b"[" * 5000 + b"]" * 5000, 400, "could not be read as JSON"),
]


@pytest.mark.parametrize(("case", "path", "raw", "status", "message"), ODD, ids=[c[0] for c in ODD])
def test_odd_input_gets_a_4xx_with_one_json_line(server, case, path, raw, status, message):  # noqa: F811
    got, body = post(server, path, raw)
    answer = check_answer(got, body)
    assert got == status and message in answer["detail"], answer


JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(st.characters(codec=None), max_size=30))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
TEXTS = st.text(st.characters(codec=None), max_size=250)  # lone surrogates included; some past --max-text-chars
VECTORS = (st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=DIMENSION, max_size=DIMENSION)
           | st.lists(st.floats(-1, 1, width=32), min_size=DIMENSION, max_size=DIMENSION)
           | st.lists(JSON_SCALARS, max_size=70))
SEARCH = st.fixed_dictionaries({}, optional={
    "query": TEXTS | JSON_VALUES, "vector": VECTORS | JSON_VALUES,
    "k": st.integers(-3, LIMITS.max_k + 3) | JSON_SCALARS,
    "index": st.sampled_from(["toy", "hnsw", "hnsw/8_40", "toy/default", "ivf", "../x"]) | JSON_SCALARS,
    "extra": JSON_VALUES})
ENCODE = st.fixed_dictionaries({}, optional={
    "texts": st.lists(TEXTS, max_size=LIMITS.max_texts + 2) | JSON_VALUES,
    "kind": st.sampled_from(["query", "doc", "passage"]) | JSON_SCALARS})
REQUESTS = st.one_of(st.tuples(st.just("/search"), SEARCH | JSON_VALUES),
                     st.tuples(st.just("/encode"), ENCODE | JSON_VALUES),
                     st.tuples(st.sampled_from(["/search", "/encode"]), st.binary(max_size=60)))


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(request=REQUESTS)
def test_fuzzed_requests_never_get_a_5xx(server, request):  # noqa: F811
    path, body = request
    raw = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
    check_answer(*post(server, path, raw))


def test_the_server_is_healthy_after_the_fuzz(server, space):  # noqa: F811
    status, body = post(server, "/search", json.dumps({"query": "aspirin inhibits platelets", "k": 3}).encode())
    answer = check_answer(status, body)
    assert status == 200 and len(answer["ids"]) == 3 and all(math.isfinite(s) for s in answer["scores"])
    dataset = load_dataset(DATASET, build=False)
    status, body = post(server, "/search", json.dumps({"vector": dataset.test[0].tolist(), "k": 5}).encode())
    assert status == 200 and check_answer(status, body)["rows"] == dataset.neighbors[0, :5].tolist()
    request = urllib.request.Request(server + "/health")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and json.loads(response.read())["status"] == "ok"


@pytest.mark.parametrize(("query_args", "message"), [
    (["many"], "efSearch='many' should be of type int"),
    ([10, 20], "too many positional arguments"),
])
def test_query_args_that_do_not_fit_the_index_are_refused_at_start(space, query_args, message):  # noqa: F811
    with pytest.raises(ConfigError, match=message):
        RetrievalService.load(DATASET, ["hnsw"], query_args=query_args)


# --- bodies, k and logs (issue 21, row 5) ----------------------------------------------------------------------------

SMALL_BODY = 64 << 10  # --max-body of the services below: oversize bodies stay cheap to send
GUARDED = Limits(max_texts=4, max_text_chars=200, max_k=MAX_K, max_body=SMALL_BODY)


@pytest.fixture(scope="module")
def guarded(space):  # noqa: F811
    """A server whose --max-k is the largest allowed (k is then bounded by the index) and --max-body 64 KiB."""
    guarded_service = RetrievalService.load(DATASET, ["toy", "hnsw"], limits=GUARDED)
    with BackgroundServer(create_app(guarded_service)) as running:
        yield running.url
    guarded_service.close()


def raw_post(url: str, path: str, body: bytes, content_type: str | None) -> tuple[int, bytes]:
    """One POST over a fresh connection with exactly the given content type (None: no such header)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("POST", path)
        if content_type is not None:
            conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def declared_oversize(url: str, path: str = "/search", length: int = 50_000_000) -> tuple[int, bytes]:
    """Announce a ``length``-byte body, send only its first bytes, and read the answer: a 413 that comes back at
    all was given before the body was read."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode() + b'{"query": "' + b"a" * 1000)
        return _read_response(sock)


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(
        b"content-length")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, body
        body += chunk
    return int(head.split()[1]), body


NOT_UTF8 = b'{"query": "\xff\xfe aspirin", "k": 3}'


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None, "application/json",
                                          "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_utf8_is_a_400_whatever_its_content_type(guarded, content_type):
    status, body = raw_post(guarded, "/search", NOT_UTF8, content_type)
    assert status == 400 and "not UTF-8 text (byte 11)" in check_answer(status, body)["detail"]
    status, body = raw_post(guarded, "/encode", b"\x80" * 100, content_type)
    assert status == 400, body
    status, body = raw_post(guarded, "/search", b'{"query": "aspirin", "k": 3', content_type)
    assert status == 400 and "not valid JSON" in check_answer(status, body)["detail"]


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_a_json_body_is_read_as_json_whatever_its_content_type(guarded, content_type):
    status, body = raw_post(guarded, "/search", b'{"query": "aspirin inhibits platelets", "k": 3}', content_type)
    assert status == 200 and len(check_answer(status, body)["ids"]) == 3


def test_an_oversize_body_is_a_413_before_it_is_read(guarded):
    status, body = declared_oversize(guarded)
    assert status == 413 and check_answer(status, body)["detail"].startswith(
        f"the request body is 50000000 bytes; the limit is {SMALL_BODY} bytes (serve.py --max-body)")
    big = json.dumps({"texts": ["x" * 100] * (SMALL_BODY // 100)}).encode()
    parts = urlsplit(guarded)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:  # chunked: no length up front
        sock.sendall(b"POST /encode HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(big), 8192):
            piece = big[start:start + 8192]
            try:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except OSError:
                break  # the server answered and closed: the rest is never read
        status, body = _read_response(sock)
    assert status == 413 and "more than 65536 bytes" in check_answer(status, body)["detail"]
    status, body = raw_post(guarded, "/encode", json.dumps({"texts": ["ok"]}).encode(), "application/json")
    assert status == 200  # the server is fine afterwards


def test_k_is_bounded_by_the_documents_the_index_holds(guarded):
    for index in ("hnsw", "toy"):
        status, body = raw_post(guarded, "/search", json.dumps({"query": "aspirin", "k": 10**12, "index": index})
                                .encode(), "application/json")
        assert status == 422 and check_answer(status, body)["detail"].startswith(
            f"k=1000000000000 is out of range: use 1 <= k <= {len(DOCS)} (index {index}/"), body
        status, body = raw_post(guarded, "/search", json.dumps({"query": "aspirin", "k": len(DOCS) + 1,
                                                                "index": index}).encode(), None)
        assert status == 422 and f"holds {len(DOCS)} documents" in check_answer(status, body)["detail"]
        status, body = raw_post(guarded, "/search", json.dumps({"query": "aspirin", "k": len(DOCS), "index": index})
                                .encode(), None)
        answer = check_answer(status, body)
        assert status == 200 and 0 < len(answer["rows"]) <= len(DOCS), answer
        assert min(answer["rows"]) >= 0 and len(set(answer["rows"])) == len(answer["rows"])  # no padding rows
        assert answer["ids"] == [f"d{r}" for r in answer["rows"]]


def test_log_lines_are_bounded():
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(handler.format(record))
    handler.addFilter(Truncate(limit=500))
    log = logging.getLogger("topobench.test.truncate")
    log.addHandler(handler)
    try:
        log.error("request body %s", "x" * 5_000_000)
        try:
            raise ValueError("\xff" * 5_000_000)
        except ValueError:
            log.exception("internal error on %s", "\n".join(["POST /search"] * 3))
    finally:
        log.removeHandler(handler)
    assert len(records) == 2 and all(len(line) < 5_000 for record in records for line in record.splitlines())
    assert "more characters]" in records[0] and records[1].startswith("internal error on POST /search POST")


def test_2000_real_requests_at_32_in_flight_beside_a_garbage_client(guarded, space):  # noqa: F811
    dataset = load_dataset(DATASET, build=False)
    bodies = [{"vector": v.tolist(), "k": 10} for v in dataset.test] + [{"query": q, "k": 10} for q in QUERIES]
    garbage = [
        ("not UTF-8, text/plain", lambda: raw_post(guarded, "/search", NOT_UTF8, "text/plain"), {400}),
        ("not UTF-8, octet-stream", lambda: raw_post(guarded, "/encode", b"\xc3\x28" * 50,
                                                     "application/octet-stream"), {400}),
        ("not UTF-8, no type", lambda: raw_post(guarded, "/search", NOT_UTF8, None), {400}),
        ("oversize", lambda: declared_oversize(guarded), {413}),
        ("bad JSON", lambda: raw_post(guarded, "/search", b'{"query": [}', "application/json"), {400}),
        ("huge k", lambda: raw_post(guarded, "/search", b'{"query": "a", "k": 1000000000000}', None), {422}),
        ("k beyond the index", lambda: raw_post(guarded, "/search", b'{"query": "a", "k": 61}', None), {422}),
    ]
    done = threading.Event()
    answers: list[tuple[str, int | str]] = []

    def garbage_client() -> None:
        for i in range(700):  # bounded in count; stops early when the real load is over
            if done.is_set() and i >= len(garbage):
                return
            name, send, _ = garbage[i % len(garbage)]
            try:
                answers.append((name, send()[0]))
            except OSError as exc:
                answers.append((name, f"{type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=garbage_client, name="garbage")
    thread.start()
    try:
        report = run_load(guarded, "/search", bodies, requests=2000, concurrency=32, max_seconds=300)
    finally:
        done.set()
        thread.join(timeout=300)
    assert not thread.is_alive()
    assert report.sent == 2000 and report.errors == 0, report.error_examples
    expected = {name: statuses for name, _, statuses in garbage}
    wrong = [(name, got) for name, got in answers if got not in expected[name]]
    assert len(answers) >= len(garbage) and not wrong, wrong[:5]


def _copy_space(space, tmp_path, monkeypatch):  # noqa: F811
    for sub in ("datasets", "results", "indexes"):
        shutil.copytree(space / sub, tmp_path / sub)
        monkeypatch.setenv(f"TOPOBENCH_{sub.upper()}", str(tmp_path / sub))
    return tmp_path


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_saved_index_at_start_is_one_error_line(space, tmp_path, monkeypatch, capsys, damage):  # noqa: F811
    root = _copy_space(space, tmp_path, monkeypatch)
    (data,) = list((root / "indexes").rglob("index.faiss"))
    content = data.read_bytes()
    data.write_bytes({"truncated": content[: len(content) // 2], "garbage": b"\x00garbage" * 100,
                      "empty": b""}[damage])
    code, err = call(serve_main, ["--dataset", DATASET, "--algorithm", "hnsw", "--port", "0", "--no-build"], capsys)
    assert_one_error(code, err, "cannot load the saved hnsw index in")
    assert "truncated or damaged; save it again with `python run.py --dataset docs-toy --algorithm hnsw " \
           "--save-index 8,40 --force`" in err[-1]


@pytest.mark.parametrize(("argv", "message"), [
    (["--params", "[[["], "--params"),
    (["--query-args", "[[["], "--query-args"),
    (["--max-k", str(10**18)], f"--max-k {10**18} is more than 100,000 results"),
    (["--max-body", "lots"], "--max-body"),
    (["--max-body", "2g"], "2g is not a size from 1k to 1g"),
])
def test_bad_serve_options_are_one_error_line(space, capsys, argv, message):  # noqa: F811
    code, err = call(serve_main, ["--dataset", DATASET, "--algorithm", "hnsw", "--port", "0", "--no-build", *argv],
                     capsys)
    assert_one_error(code, err, message)
