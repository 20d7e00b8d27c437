"""The README's study tables state what the committed cell files hold: every `<!-- study-table STUDY KIND -->` block
is recomputed here from `studies/<study>/cells/` with the study report's own analysis. A cell added, rerun (format 3)
or removed without `python scripts/readme_tables.py` fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_study_report import SPEC, sweep

from topobench.study.analysis import analyse
from topobench.study.readme_tables import ReadmeTableError, analysis_of, column_label, render, studies_in

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_the_readme_tables_are_the_committed_cells():
    text = README.read_text(encoding="utf-8")
    assert {"w-sweep", "groups"} <= set(studies_in(text))  # the tables cannot be dropped from the check silently
    assert render(text, lambda study: analysis_of(study, ROOT / "studies")) == text


def _synthetic(study: str):
    if study != "w-sweep":
        raise ReadmeTableError(f"no cells for {study}")
    return analyse(sweep(), SPEC["baseline"], SPEC["factors"], SPEC["algorithms"], SPEC["name"], resamples=50)


def test_a_block_is_regenerated_and_the_words_around_it_are_kept():
    text = ("Words before.\n<!-- study-table w-sweep cells -->\n| stale |\n<!-- /study-table -->\nWords between.\n"
            "<!-- study-table w-sweep trends -->\n<!-- /study-table -->\nWords after.\n")
    out = render(text, _synthetic)
    assert out.startswith("Words before.\n<!-- study-table w-sweep cells -->\n| weight | seed | nDCG@10 |")
    assert "| stale |" not in out and "Words between.\n" in out
    assert out.endswith("<!-- /study-table -->\nWords after.\n")
    rows = [line for line in out.split("Words between.")[0].splitlines() if line.startswith("| 0.6 |")]
    assert [row.split(" | ")[1] for row in rows] == ["13", "14", "15"]  # one row per cell, seed order
    assert "| HNSW distcomps @ 0.95 | 3 |" in out  # the trend of the synthetic sweep's HNSW cost
    assert render(out, _synthetic) == out  # regenerating is a fixed point


def test_paired_rows_bold_exactly_the_resolved_differences():
    out = render("<!-- study-table w-sweep paired -->\n<!-- /study-table -->\n", _synthetic)
    a = _synthetic("w-sweep")
    lines = out.splitlines()
    headers = [h.strip() for h in lines[1].strip("|").split("|")]
    checked = 0
    for m in a.measures:
        if column_label(m) not in headers:
            continue
        column = headers.index(column_label(m))
        for v in a.others:
            row = next(line for line in lines if line.startswith(f"| {v.label} |"))
            cell = [c.strip() for c in row.strip("|").split("|")][column]
            assert cell.startswith("**") == a.paired[(v.key, m.key)].diff.resolved, (v.label, m.label)
            checked += 1
    assert checked == 2 * 3  # nDCG@10, HNSW distcomps, IVF lists probed (format 2: no hull) × w 0.6, 1.0


def test_unknown_kind_and_a_study_without_cells_are_one_clear_error(tmp_path):
    with pytest.raises(ReadmeTableError, match="kind 'cels'.*use one of cells, trends"):
        render("<!-- study-table w-sweep cels -->\n<!-- /study-table -->\n", _synthetic)
    with pytest.raises(ReadmeTableError, match="no cells in .*study.py run nope"):
        render("<!-- study-table nope cells -->\n<!-- /study-table -->\n", lambda s: analysis_of(s, tmp_path))


# ivf_imbalance by hand: w = 0 (baseline), 0.6 and 1.0 over seeds 13, 14, 15.
IMBALANCE = {0.0: (1.20, 1.22, 1.21), 0.6: (1.21, 1.20, 1.23), 1.0: (1.10, 1.11, 1.12)}


def _with_imbalance(study: str):
    cells = sweep()
    for cell in cells:
        cell["geometry"]["ivf_imbalance"] = IMBALANCE[cell["factors"]["weight"]][cell["seed"] - 13]
    return analyse(cells, SPEC["baseline"], SPEC["factors"], SPEC["algorithms"], SPEC["name"], resamples=50)


def test_balance_rows_put_the_ivf_imbalance_beside_lists_probed():
    """Mean ± t half-width over seeds and the seed-paired difference, by hand: w = 1.0 − w = 0 is −0.10, −0.11,
    −0.09 (sd 0.01, half-width 4.3027·0.01/√3 = 0.0248: resolved, bold); w = 0.6 − w = 0 is +0.01, −0.02, +0.02
    (mean +0.0033, sd 0.0208, half-width 0.0517: not)."""
    out = render("<!-- study-table w-sweep balance -->\n<!-- /study-table -->\n", _with_imbalance)
    lines = out.splitlines()
    assert lines[1] == ("| variant | cells | IVF lists probed @ 0.95 | IVF imbalance | IVF imbalance vs topo "
                        "weight=0.0 |")
    lists = _with_imbalance("w-sweep").intervals
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in lines[3:-1]}
    assert rows["topo weight=0.0 (baseline)"][2:] == ["1.210 ± 0.025", "(baseline) |"]
    assert rows["topo weight=0.6"][2:] == ["1.213 ± 0.038", "+0.003 [−0.048, +0.055] |"]
    assert rows["topo weight=1.0"][2:] == ["1.110 ± 0.025", "**−0.100 [−0.125, −0.075]** |"]
    base = lists[(("minilm", "topo", 0.0), "ivf lists_probed")]
    assert rows["topo weight=0.0 (baseline)"][:2] == ["3", f"{base.mean:.2f} ± {base.half_width:.2f}"]


def test_a_balance_block_without_the_imbalance_is_one_clear_error():
    with pytest.raises(ReadmeTableError, match="no ivf_imbalance in their geometry: remove its balance block"):
        render("<!-- study-table w-sweep balance -->\n<!-- /study-table -->\n", _synthetic)
