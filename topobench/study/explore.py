"""``explore.html``: the study's benchmark points in one interactive page, beside the report's fixed PNGs.

The PNGs show one seed's frontier per variant; a reader who doubts a curve needs every point behind it — which
variant, which seed, which build and query arguments, what recall, QPS and counters — and the other seeds. This page
draws, per algorithm, k-NN recall vs QPS (log axis) and recall vs each counter, every point of every cell coloured by
variant, each cell's Pareto frontier as a line dashed by seed; hovering a point shows what it is, a checkbox per
variant and per seed hides or shows it.

The page is one self-contained file (inline CSS, vanilla JavaScript and SVG, no external script, font or stylesheet),
so it opens offline from disk. Its data is embedded as JSON in ``<script type="application/json" id="study-data">``:
for a format-3 cell every point of ``algorithms.<alg>.settings`` (without the per-query lists), for a format-2 cell
the points of its ``frontier`` (``[recall, QPS, distcomps]``, no parameters kept), which the page says. Once drawn, the
page marks ``<body>`` with ``data-drawn-points`` (points drawn on the recall–QPS panels), ``data-drawn-circles`` (all
panels), ``data-skipped-points`` (no recall or QPS to place) and ``data-errors`` (errors caught while drawing), which a
headless browser's ``--dump-dom`` reads back. The bytes depend on the cells alone (sorted keys, report order).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from topobench.study.analysis import KNN_LEVEL, StudyAnalysis
from topobench.study.explore_script import SCRIPT, STYLE

logger = logging.getLogger(__name__)

FILE = "explore.html"
COUNTER_ORDER = ("distcomps", "lists_probed", "hops")  # the counters a reader looks for first; others follow by name
SETTINGS = "settings"  # a format-3 cell: every point kept
FRONTIER = "frontier"  # a format-2 cell: only its recall–QPS Pareto frontier


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def cell_points(entry: Mapping[str, Any] | None) -> tuple[str, list[dict[str, Any]]]:
    """The points of one algorithm's entry in a cell, and where they come from: every point of ``settings``
    (format 3) without its ``per_query`` lists, else each ``frontier`` triple as ``{"k-nn", "qps", "counters":
    {"distcomps"}}`` with no build or query arguments (format 2)."""
    entry = entry or {}
    if entry.get(SETTINGS):
        return SETTINGS, [{k: v for k, v in p.items() if k != "per_query"} for p in entry[SETTINGS]]
    points = []
    for triple in entry.get(FRONTIER) or []:
        recall, qps, distcomps = (list(triple) + [None, None, None])[:3]
        points.append({"build": None, "query": None, "k-nn": recall, "qps": qps,
                       "counters": {} if distcomps is None else {"distcomps": distcomps}})
    return FRONTIER, points


def _counters(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    found = {k for c in cells for p in c["points"] for k in (p.get("counters") or {})}
    return [k for k in COUNTER_ORDER if k in found] + sorted(found - set(COUNTER_ORDER))


def explore_data(a: StudyAnalysis, notes: Sequence[str] = ()) -> dict[str, Any]:
    """What the page draws: the variants (report order), the seeds, and per algorithm of the study each cell's
    points (:func:`cell_points`) with its variant and seed; ``notes`` are shown under the title."""
    seeds = sorted({c.get("seed") for c in a.cells}, key=lambda s: (s is None, s if s is not None else 0))
    algorithms = []
    for algo in a.algorithms:
        cells = []
        for i, v in enumerate(a.variants):
            for c in v.cells:
                entry = (c.get("algorithms") or {}).get(algo)
                if not entry:
                    continue
                source, points = cell_points(entry)
                if points:
                    cells.append({"cell": str(c.get("cell")), "variant": i, "seed": seeds.index(c.get("seed")),
                                  "source": source, "points": points})
        if cells:
            algorithms.append({"name": algo, "counters": _counters(cells), "cells": cells})
    legacy = sorted({c["cell"] for algo in algorithms for c in algo["cells"] if c["source"] == FRONTIER})
    notes = list(notes)
    if legacy:
        notes.append(f"{len(legacy)} of {len(a.cells)} cells are format 2 (their points were not kept): they are drawn "
                     "from their recall–QPS Pareto frontier alone ([recall, QPS, distcomps] per point), without build "
                     "or query arguments, latency or other counters.")
    return _finite({"study": a.name, "level": float(KNN_LEVEL), "notes": notes,
                    "variants": [v.label for v in a.variants],
                    "seeds": ["no seed (stock model)" if s is None else f"seed {s}" for s in seeds],
                    "algorithms": algorithms})


def embed_json(data: Any) -> str:
    """``data`` as JSON safe inside a ``<script>`` element: every ``<`` escaped, so no ``</script>`` or ``<!--`` can
    end or change it; ``JSON.parse`` reads the same values back."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).replace("<", "\\u003c")


def render_explore(data: Mapping[str, Any]) -> str:
    """The whole page: the data, the controls' and panels' containers, the tooltip, the style and the script."""
    title = f"topobench study: {data['study']} — explore"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n"
            f"<h1>Study: {escape(str(data['study']))} — every benchmark point</h1>\n"
            '<p><a href="index.html">← the report</a></p>\n'
            '<div id="notes"></div><div id="controls"></div><div id="panels"></div>'
            '<div id="tip" role="tooltip" hidden></div>\n'
            f'<script type="application/json" id="study-data">{embed_json(data)}</script>\n'
            f"<script>{SCRIPT}</script>\n</body></html>\n")


def write_explore(a: StudyAnalysis, out_dir: Path, notes: Sequence[str] = ()) -> Path:
    """Write ``explore.html`` for the cells of ``a`` (the ones the report analysed, back-to-back QPS included) into
    ``out_dir``; ``notes``: sentences shown under the title (e.g. where the QPS comes from). Returns the file."""
    data = explore_data(a, notes)
    path = out_dir / FILE
    path.write_text(render_explore(data), encoding="utf-8")
    drawn = sum(len(c["points"]) for algo in data["algorithms"] for c in algo["cells"])
    logger.info("study %s: %s with %d points of %d algorithms", a.name, FILE, drawn, len(data["algorithms"]))
    return path
