"""The README's w-sweep table states what the committed cell files hold: one row per cell, every number recomputed
from the cell with the study report's own measures. A cell added, rerun or removed without updating the README
fails here."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from topobench.study.analysis import Measure

ROOT = Path(__file__).resolve().parent.parent
CELLS = ROOT / "studies" / "w-sweep" / "cells"
HEADER = "| w | seed | exact nDCG@10 |"


def readme_rows() -> dict[tuple[float, int], list[str]]:
    """(w, seed) → the row's remaining cells as written, from the table that starts with :data:`HEADER`."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADER))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        w, seed, *rest = (part.strip() for part in line.strip("|").split("|"))
        rows[(float(re.match(r"[0-9.]+", w)[0]), int(seed))] = rest
    return rows


def cell_row(cell: dict) -> list[str]:
    """The README row of ``cell`` (after w and seed), formatted as the README writes it."""
    geometry = cell["geometry"]
    return [f"{Measure('ndcg@10').value(cell):.4f}", f"{Measure('recall@100').value(cell):.4f}",
            f"{Measure('distcomps', 'hnsw').value(cell):.0f}", f"{Measure('speedup', 'hnsw').value(cell):.2f}",
            f"{Measure('lists_probed', 'ivf').value(cell):.1f}", f"{geometry['kmeans_inertia_rel']:.3f}",
            f"{geometry['pq_error_rel']:.3f}", f"{statistics.mean(cell['positive_cosines']):.3f}"]


def test_the_readme_table_is_the_committed_cells():
    cells = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(CELLS.glob("*.json"))]
    expected = {(float(c["factors"]["weight"]), int(c["seed"])): cell_row(c) for c in cells}
    assert readme_rows() == expected
