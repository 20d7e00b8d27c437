"""algos.yaml parsing: ann-benchmarks' grammar, substitution, overrides, and clear rejection of malformed entries."""

from __future__ import annotations

import json

import pytest

from topobench.core.errors import ConfigError
from topobench.core.registry import build_registry
from topobench.runs.definitions import check_signatures, parse_definitions

GRID = """\
float:
  any:
    hnsw:
      run-groups:
        M-8:
          args: [[8, 16], [200]]
          query-args: [[10, 20]]
    flat:
      args: []
    ivf:
      disabled: true
      base_args: ['@count']
      args: {nlist: [4, 8]}
      query_args: [[1, 2]]
  euclidean:
    flat:
      args: [['@dimension']]
float16:
  any:
    hnsw:
      args: [[4]]
"""


def parse(tmp_path, text, distance="angular", count=10, dimension=16):
    path = tmp_path / "algos.yaml"
    path.write_text(text)
    return parse_definitions(path, "float", distance, count, dimension)


def test_product_of_args_and_query_args(tmp_path):
    defs = {(d.algorithm, json.dumps(d.arguments)): d for d in parse(tmp_path, GRID)}
    assert set(defs) == {("hnsw", "[8, 200]"), ("hnsw", "[16, 200]"), ("flat", "[]"), ("ivf", '[10, {"nlist": 4}]'),
                         ("ivf", '[10, {"nlist": 8}]')}
    assert defs[("hnsw", "[8, 200]")].query_argument_groups == ((10,), (20,))
    assert defs[("flat", "[]")].query_argument_groups == ((),)
    assert defs[("ivf", '[10, {"nlist": 4}]')].disabled
    assert "algos.yaml:6 (hnsw/M-8)" in defs[("hnsw", "[8, 200]")].source


def test_distance_entry_overrides_any_and_substitutes(tmp_path):
    defs = [d for d in parse(tmp_path, GRID, distance="euclidean", dimension=32) if d.algorithm == "flat"]
    assert [d.arguments for d in defs] == [(32,)]


@pytest.mark.parametrize("text, message", [
    ("float:\n  any:\n    hnsw:\n      args: [[8]\n", r"algos.yaml:\d+: malformed YAML"),
    ("float:\n  anyy:\n    hnsw: {}\n", "unknown distance 'anyy'"),
    ("float:\n  any:\n    hnsw:\n      args: [[8]]\n      querry-args: [[1]]\n",
     r"algos.yaml:4 \(hnsw\): unknown key"),
    ("float:\n  any:\n    hnsw:\n      disabled: maybe\n", "'disabled' must be true or false"),
    ("float:\n  any:\n    hnsw:\n      args: 8\n", "args must be a list or a mapping"),
    ("float:\n  any:\n    hnsw:\n      args: [[]]\n", "empty list of alternatives"),
    ("float:\n  any:\n    hnsw:\n      run-groups:\n        g: [1]\n", r"\(hnsw/g\): a run group must be a mapping"),
    ("- just a list\n", "expected a mapping"),
])
def test_malformed_entries_are_rejected_with_file_and_entry(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        parse(tmp_path, text)


def test_argument_count_is_checked_against_the_index_constructor(tmp_path):
    defs = parse(tmp_path, "float:\n  any:\n    hnsw:\n      args: [[8], [200], [1], [2], [3]]\n")
    classes = {"hnsw": build_registry().get("indexes", "hnsw").cls}
    with pytest.raises(ConfigError, match=r"hnsw.*do not fit"):
        check_signatures(defs, classes, "angular")


def test_shipped_algos_yaml_is_valid_for_every_builtin_index():
    from pathlib import Path

    registry = build_registry()
    root = Path(__file__).resolve().parent.parent
    for distance in ("angular", "euclidean"):
        defs = parse_definitions(root / "algos.yaml", "float", distance, 10, 384)
        classes = {name: registry.get("indexes", name).cls for name in {d.algorithm for d in defs}
                   if name in registry.entries["indexes"]}
        check_signatures(defs, classes, distance)
        enabled = {d.algorithm for d in defs if not d.disabled}
        assert {"flat", "lsh", "pq", "ivf", "ivf_pq", "hnsw", "hnswlib"} <= enabled
