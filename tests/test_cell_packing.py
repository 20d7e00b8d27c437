"""Per-query lists in a cell file are packed (zlib + base64 int32) to keep a committed cell under 1 MB, and read back
exactly; a packed value that does not decode is one error naming the file and the field."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from helpers import ROOT

from topobench.core.errors import ConfigError
from topobench.study.cells import read_cell
from topobench.study.settings import PACKED, pack_per_query, unpack_per_query

CELL = ROOT / "studies" / "transfer-nfcorpus" / "cells" / "minilm-zeroshot.json"


def test_packing_round_trips_and_leaves_other_lists_alone():
    algorithms = {"hnsw": {"settings": [{"per_query": {"hits": [10, 9, 0], "distcomps": [301, 2**31 - 1, 5],
                                                      "ratio": [0.5, 1.0], "hops": []}}]}, "bm25": None}
    packed = pack_per_query(copy.deepcopy(algorithms))
    per_query = packed["hnsw"]["settings"][0]["per_query"]
    assert per_query["hits"].startswith(PACKED) and per_query["distcomps"].startswith(PACKED)
    assert per_query["ratio"] == [0.5, 1.0]  # not whole numbers: kept as they are
    assert unpack_per_query(packed, "x") == algorithms


@pytest.mark.skipif(not CELL.exists(), reason="the committed transfer cell is not in this checkout")
def test_a_committed_cell_is_packed_and_a_damaged_pack_is_refused_by_name(tmp_path):
    raw = json.loads(CELL.read_text())
    assert raw["algorithms"]["hnsw"]["settings"][0]["per_query"]["hits"].startswith(PACKED)
    assert CELL.stat().st_size < 1_000_000
    cell = read_cell(CELL)
    assert len(cell["algorithms"]["hnsw"]["settings"][0]["per_query"]["hits"]) == len(cell["per_query"]["query_ids"])
    copy_path = tmp_path / "transfer-nfcorpus" / "cells" / CELL.name
    copy_path.parent.mkdir(parents=True)
    shutil.copy(CELL, copy_path)
    raw["algorithms"]["hnsw"]["settings"][2]["per_query"]["distcomps"] = PACKED + "not base64!"
    copy_path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"algorithms\.hnsw\.settings\[2\]\.per_query\.distcomps does not decode"):
        read_cell(copy_path)
