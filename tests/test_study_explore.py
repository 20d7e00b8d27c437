"""``explore.html``, the study's interactive page: the data it embeds is every point of the cells, value for value;
it references nothing outside itself; the report writes and links it with the QPS the report used; and, in headless
Chromium (marked ``slow``; skipped with the install command where Chromium is missing), it draws every point without
an error, its hover and toggles work, and a screenshot shows a drawn page."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_study_report import SPEC, sweep

from topobench.study.analysis import analyse
from topobench.study.explore import FILE, embed_json, write_explore
from topobench.study.qps_runs import write_runs
from topobench.study.report import read_cells, study_spec, write_study_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "chromium is not installed: apt-get install -y chromium (see README)"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"]
ROOT = Path(__file__).resolve().parents[1]
ALGORITHMS = [*SPEC["algorithms"], "bm25"]
GRIDS = {"hnsw": [([m, 40], [ef]) for m in (8, 16) for ef in (10, 20, 40, 80)],
         "ivf": [([64], [nprobe]) for nprobe in (1, 2, 4, 8, 16)], "flat": [([], [])]}
COUNTERS = {"hnsw": ("distcomps", "hops"), "ivf": ("distcomps", "lists_probed"), "flat": ("distcomps",)}


def _point(rng: np.random.Generator, algo: str, build: list, query: list, queries: int = 6) -> dict:
    """One format-3 point as topobench.study.settings writes it, with made-up numbers."""
    recall = 1.0 if algo == "flat" else round(float(rng.uniform(0.5, 1.0)), 6)
    counters = {name: round(float(rng.uniform(5, 3000)), 3) for name in COUNTERS[algo]}
    return {"build": build, "query": query, "k-nn": recall, "qps": round(float(rng.uniform(40, 9000)), 3),
            "latency_ms": {"p50": 0.1, "p95": 0.2, "p99": round(float(rng.uniform(0.2, 1)), 4)},
            "build_seconds": 1.5, "counters": counters,
            "per_query": {"hits": [int(h) for h in rng.integers(0, 11, queries)],
                          **{name: [int(v) for v in rng.integers(1, 3000, queries)] for name in counters}}}


def format3_cells() -> list[dict]:
    """Hand-made cells: 2 weights × 2 seeds with every point kept (format 3), BM25 in one of them (a text index:
    no k-NN recall, so not drawable), and one more variant's cell of format 2 (its frontier only)."""
    cells = sweep(weights=(0.0, 1.0), seeds=(13, 14))
    rng = np.random.default_rng(5)
    for cell in cells:
        for algo, entry in cell["algorithms"].items():
            entry["settings"] = [_point(rng, algo, b, q) for b, q in GRIDS[algo]]
    cells[0]["algorithms"]["bm25"] = {"at_knn": {}, "frontier": [], "points": 1, "settings": [
        {"build": ["default"], "query": [], "k-nn": None, "qps": 800.0, "latency_ms": {"p50": 1.0},
         "build_seconds": 2.0, "counters": {}, "per_query": {}}]}
    legacy = sweep(weights=(0.5,), seeds=(13,))[0]
    legacy["format"] = 2
    return [*cells, legacy]


def _analysis(cells: list[dict]):
    return analyse(cells, SPEC["baseline"], SPEC["factors"], ALGORITHMS, SPEC["name"], resamples=50)


def embedded(page: Path) -> dict:
    """The JSON of ``<script id="study-data">`` in ``page``."""
    found = re.search(r'<script type="application/json" id="study-data">(.*?)</script>', page.read_text(), re.S)
    assert found, "no embedded study data"
    return json.loads(found[1])


def expected_points(cell: dict, algo: str) -> list[dict]:
    """What the page must draw for ``algo`` of ``cell``: every kept point but its per-query lists, or the frontier's
    triples of a cell without kept points."""
    entry = cell["algorithms"].get(algo) or {}
    if entry.get("settings"):
        return [{k: v for k, v in p.items() if k != "per_query"} for p in entry["settings"]]
    return [{"build": None, "query": None, "k-nn": r, "qps": q, "counters": {"distcomps": d}}
            for r, q, d in entry.get("frontier") or []]


def drawable(cells: list[dict], algorithms: list[str]) -> tuple[int, int]:
    """(points with a k-NN recall and a positive QPS, all points) over ``cells`` for ``algorithms``."""
    points = [p for c in cells for algo in algorithms for p in expected_points(c, algo)]
    ok = [p for p in points if isinstance(p["k-nn"], (int, float)) and math.isfinite(p["k-nn"]) and p["qps"] > 0]
    return len(ok), len(points)


def test_the_page_embeds_every_point_of_every_cell_and_nothing_external(tmp_path):
    cells = format3_cells()
    page = write_explore(_analysis(cells), tmp_path, ["QPS as each cell measured it."])
    assert page == tmp_path / FILE
    data = embedded(page)
    assert data["study"] == "w-sweep" and data["level"] == 0.95
    assert data["variants"] == ["topo weight=0.0", "topo weight=0.5", "topo weight=1.0"]
    assert data["seeds"] == ["seed 13", "seed 14"]
    assert data["notes"][0] == "QPS as each cell measured it."
    assert "1 of 5 cells are format 2" in data["notes"][1]
    assert [a["name"] for a in data["algorithms"]] == ["hnsw", "ivf", "flat", "bm25"]
    assert data["algorithms"][0]["counters"] == ["distcomps", "hops"]
    assert data["algorithms"][1]["counters"] == ["distcomps", "lists_probed"]
    by_name = {c["cell"]: c for c in cells}
    seen = set()
    for algo in data["algorithms"]:
        for drawn in algo["cells"]:
            cell = by_name[drawn["cell"]]
            assert data["variants"][drawn["variant"]] == f"topo weight={cell['factors']['weight']}"
            assert data["seeds"][drawn["seed"]] == f"seed {cell['seed']}"
            assert drawn["source"] == ("settings" if cell["format"] == 3 else "frontier")
            assert drawn["points"] == expected_points(cell, algo["name"])  # every point, every value
            seen.add((drawn["cell"], algo["name"]))
    assert seen == {(c["cell"], a) for c in cells for a in ALGORITHMS if expected_points(c, a)}

    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(//|[a-z]+:)""", html, re.I)
    assert "<img" not in html and "@import" not in html and "url(" not in html
    assert page.stat().st_size < 40_000 + 400 * drawable(cells, ALGORITHMS)[1]  # no per-query lists


def test_the_page_is_the_same_bytes_for_the_same_cells(tmp_path):
    cells = format3_cells()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_explore(_analysis(cells), tmp_path / "a")
    second = write_explore(_analysis(list(reversed(cells))), tmp_path / "b")  # any cell order
    assert first.read_bytes() == second.read_bytes()
    assert str(tmp_path) not in first.read_text()


def test_embedded_json_cannot_end_its_script():
    text = embed_json({"cell": "</script><!-- x", "n": 1})
    assert "<" not in text and json.loads(text) == {"cell": "</script><!-- x", "n": 1}


def test_the_report_writes_and_links_the_page_with_its_back_to_back_qps(workspace):
    """With a back-to-back QPS run covering every cell, the page draws each kept point at its median QPS over the
    rounds (the QPS the report's frontiers use), and says where that QPS comes from."""
    cells = format3_cells()[:4]
    rounds = []
    for r in range(3):
        points = {c["cell"]: {algo: [[p["build"], p["query"], p["k-nn"], p["qps"] * (r + 1)]
                                     for p in entry["settings"]] for algo, entry in c["algorithms"].items()}
                  for c in cells}
        rounds.append({"order": [c["cell"] for c in cells], "load_1min": 0.5, "points": points})
    write_runs("w-sweep", rounds, {"cpu": "Test CPU", "cores": 2})

    files = write_study_report(cells, SPEC, workspace / "report")
    assert files[-1] == workspace / "report" / FILE and files[-1].exists()
    assert f'href="{FILE}"' in (workspace / "report" / "index.html").read_text()
    assert f"]({FILE})" in (workspace / "report" / "report.md").read_text()
    data = embedded(files[-1])
    assert "median over 3 rounds" in data["notes"][0]
    by_name = {c["cell"]: c for c in cells}
    for algo in data["algorithms"]:
        for drawn in algo["cells"]:
            mine = by_name[drawn["cell"]]["algorithms"][algo["name"]]["settings"]
            assert [p["qps"] for p in drawn["points"]] == pytest.approx([2 * p["qps"] for p in mine])  # the median
            assert [p["k-nn"] for p in drawn["points"]] == [p["k-nn"] for p in mine]


# --- in headless Chromium ------------------------------------------------------------------------------------------


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=False)


def page_check(page: Path) -> dict[str, str]:
    """The attributes the page's own check set on ``<body>`` in the DOM Chromium rendered."""
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r"<body([^>]*)>", dom.stdout)
    assert found, dom.stdout[:500]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', found[1]))


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=INSTALL)
def test_the_page_draws_every_point_in_headless_chromium(tmp_path):
    cells = format3_cells()
    page = write_explore(_analysis(cells), tmp_path)
    check = page_check(page)
    points, total = drawable(cells, ALGORITHMS)
    assert check["errors"] == "0" and check["self-check"] == "ok", check  # hover fills the tooltip; toggles hide
    assert int(check["drawn-points"]) == points and int(check["skipped-points"]) == total - points == 1
    counter_points = sum(1 for c in cells for a in SPEC["algorithms"] for p in expected_points(c, a)
                         for v in p["counters"].values() if v > 0)
    assert int(check["drawn-circles"]) == points + counter_points

    shot = tmp_path / "shot.png"
    result = _chromium("--window-size=1400,1600", f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (1600, 1400) and pixels[..., :3].std() > 0.05  # drawn, not blank

    broken = tmp_path / "broken.html"  # the check does count an error: the data cut short
    broken.write_text(page.read_text().replace('"study":', '"study":,', 1))
    assert page_check(broken)["errors"] != "0"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=INSTALL)
@pytest.mark.parametrize("study", ["w-sweep", "groups"])
def test_the_committed_study_pages_draw_every_point_of_their_cells(study):
    page = ROOT / "studies" / study / "report" / FILE
    if not page.exists():
        pytest.skip(f"{page} not written yet: python study.py report {study}")
    cells = read_cells(ROOT / "studies" / study / "cells")
    algorithms = [a["name"] for a in embedded(page)["algorithms"]]
    spec_algorithms = study_spec(study, cells, ROOT / "studies.yaml").get("algorithms")
    assert spec_algorithms is None or set(algorithms) <= set(spec_algorithms)
    check = page_check(page)
    assert check["errors"] == "0" and check["self-check"] == "ok", check
    assert int(check["drawn-points"]) == drawable(cells, algorithms)[0]
