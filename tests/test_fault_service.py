"""Fault tests of the service: no client input gets a 5xx. Odd inputs one by one (non-finite numbers in any field, lone
surrogates, wrong JSON types), then a property-based fuzz over the request schema (Hypothesis, a bounded number of
examples, derandomised so a run is repeatable), each answer a 2xx or a 4xx whose body is valid JSON with a one-line
``detail``; the server is healthy afterwards."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_service import DATASET, LIMITS, server, service, space  # noqa: F401 - the module's fixtures

from topobench.core.errors import ConfigError
from topobench.datasets.store import load_dataset
from topobench.service.core import RetrievalService

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
    ("not UTF-8", "/search", b'{"query": "\xff\xfe"}', 400, "could not be read as JSON"),
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
