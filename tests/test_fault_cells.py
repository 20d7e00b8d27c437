"""Fault tests of study cells: a cell file is checked before any statistic reads it (issue 21, row 2).

The committed w-sweep cells are copied into a temporary studies folder (the committed files are never touched) and
damaged there: a NaN, an Infinity, an overflowing number or a number written as text where the schema says a number,
a cell of another study, a renamed cell. Each is one ``error:`` line from ``study.py report`` naming the file and the
field, exit 2, and no report written — never a silent drop. The first test shows why: the very value the NaN replaces,
simply missing, flips a conclusion of the report.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import shutil
from pathlib import Path

import pytest
from faults import assert_one_error, call, files_under
from helpers import ROOT

from topobench.cli.study import study_main
from topobench.study.readme_tables import analysis_of
from topobench.study.tables import resolution_sentences

CELLS = ROOT / "studies" / "w-sweep" / "cells"
PLANTED = "minilm-topo@seed=14,weight=0.2"  # one of the three seeds of w = 0.2
FIELD = ("algorithms", "hnsw", "at_knn", "0.95", "distcomps")
# A field whose loss flips a conclusion: without seed 14's IVF distance computations at w = 0.6 the two seeds left
# resolve a fall that three do not.
FLIP_CELL = "minilm-topo@seed=14"
FLIP_FIELD = ("algorithms", "ivf", "at_knn", "0.95", "distcomps")
CONCLUSION = re.compile(r"topo weight=0\.6 vs topo weight=0\.0, ivf distcomps@0\.95: .* over (\d) seeds — "
                        r"(resolved|not resolved) at 95 %")


@pytest.fixture
def studies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A studies folder holding a copy of the committed w-sweep cells."""
    root = tmp_path / "studies"
    shutil.copytree(CELLS, root / "w-sweep" / "cells")
    monkeypatch.setenv("TOPOBENCH_STUDIES", str(root))
    return root


def _report(studies: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], Path]:
    out = studies.parent / "report"
    code, err = call(study_main, ["--studies", str(ROOT / "studies.yaml"), "-q", "report", "w-sweep", "-o",
                                  str(out)], capsys)
    return code, err, out


def _conclusion(studies: Path) -> tuple[str, str]:
    """The report's sentence on IVF distance computations at w = 0.6 — from the analysis ``study.py report`` makes of
    the cells (figures, the slow part of a report, left out)."""
    match = CONCLUSION.search("\n".join(resolution_sentences(analysis_of("w-sweep", studies))))
    assert match, "the report states no conclusion on ivf distcomps at w = 0.6"
    return match[1], match[2]


def _planted(studies: Path, literal: str, cell: str = PLANTED, field: tuple[str, ...] = FIELD) -> Path:
    """Write ``literal`` (JSON text, e.g. ``NaN``) as the value of ``field`` in ``cell``'s file; return the file."""
    path = studies / "w-sweep" / "cells" / f"{cell}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    target = data
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = "@@PLANTED@@"
    path.write_text(json.dumps(data, indent=1, sort_keys=True).replace('"@@PLANTED@@"', literal), encoding="utf-8")
    return path


def test_a_planted_nan_that_would_flip_a_conclusion_is_refused_naming_the_file_and_field(studies, capsys):
    assert _conclusion(studies) == ("3", "not resolved")
    _planted(studies, "null", FLIP_CELL, FLIP_FIELD)  # simply missing (what a dropped NaN became): the conclusion flips
    assert _conclusion(studies) == ("2", "resolved")

    path = _planted(studies, "NaN", FLIP_CELL, FLIP_FIELD)
    code, err, out = _report(studies, capsys)
    assert_one_error(code, err, f"{path}: field algorithms.ivf.at_knn.0.95.distcomps is NaN, not a finite number")
    assert not out.exists()


@pytest.mark.parametrize(("literal", "field", "message"), [
    ("Infinity", FIELD, "field algorithms.hnsw.at_knn.0.95.distcomps is Infinity, not a finite number"),
    ("-Infinity", ("exact", "ndcg@10"), "field exact.ndcg@10 is -Infinity, not a finite number"),
    ("1e999", ("geometry", "lid_mle"), "field geometry.lid_mle is Infinity, not a finite number"),
    ('"330.8"', FIELD, "field algorithms.hnsw.at_knn.0.95.distcomps is '330.8', not a number or null"),
    ("true", ("algorithms", "ivf", "task", "ndcg@10"), "field algorithms.ivf.task.ndcg@10 is True, not a number"),
    ("NaN", ("per_query", "ndcg@10", 7), "field per_query.ndcg@10[7] is NaN, not a finite number"),
    ('"x"', ("positive_cosines", 0), "field positive_cosines[0] is 'x', not a number"),
    ("2.5", ("algorithms", "hnsw", "points"), "field algorithms.hnsw.points is 2.5, not a whole number"),
    ("12", ("exact",), "field exact is 12, not an object"),
    ("15", ("seed",), "field seed is 15, but its overrides say seed 14"),
    ('"scifact-minilm-topo@seed=14,weight=0.4"', ("dataset",), "field dataset is"),
    ("0.4", ("factors", "weight"), "field factors.weight is 0.4, but the cell's overrides say 0.2"),
])
def test_a_damaged_cell_is_one_error_naming_the_file_and_field(studies, capsys, literal, field, message):
    path = _planted(studies, literal, field=field)
    code, err, out = _report(studies, capsys)
    assert_one_error(code, err, f"{path}: {message}")
    assert not out.exists()


def test_a_cell_of_another_study_is_refused_not_counted(studies, capsys):
    foreign = ROOT / "studies" / "groups" / "cells" / "minilm-topo@seed=14.json"
    planted = studies / "w-sweep" / "cells" / foreign.name
    planted.unlink()  # the w-sweep's own cell of that name makes way for the groups study's
    shutil.copy(foreign, planted)
    code, err, out = _report(studies, capsys)
    assert_one_error(code, err, f"{planted}: field study is 'groups', but the file is in the cells of study "
                                "'w-sweep'")
    assert not out.exists()

    planted.unlink()
    shutil.copy(foreign, studies / "w-sweep" / "cells" / "minilm-topo@seed=16.json")  # under a name of its own
    code, err, out = _report(studies, capsys)
    assert_one_error(code, err, "field study is 'groups'")
    assert files_under(out) == []


def test_a_renamed_cell_is_refused(studies, capsys):
    cells = studies / "w-sweep" / "cells"
    (cells / f"{PLANTED}.json").rename(cells / "minilm-topo@seed=16,weight=0.2.json")
    code, err, _ = _report(studies, capsys)
    assert_one_error(code, err, f"field cell is '{PLANTED}', but the file is named "
                                "'minilm-topo@seed=16,weight=0.2.json'")


def test_the_committed_cells_pass_the_check():
    from topobench.study.cells import read_cell

    files = sorted((ROOT / "studies").glob("*/cells/*.json"))
    assert files
    for path in files:
        read_cell(path)  # raises on any violation


def _walk(value, keys=()):
    """Every (keys, value) of a JSON tree in file order, containers included; list positions as ints."""
    yield keys, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _walk(item, (*keys, key))


def _first_violation_by_definition(data: dict) -> tuple[str, ...] | None:
    """The schema's definition, checked the slow way: every field of the file, in order, against every path the
    schema names (cell_check walks the schema's paths down the file instead, and takes lists of numbers in bulk); the
    place of the first violation, or None."""
    from topobench.study.cell_check import INTEGERS, NUMBERS, OBJECTS

    def matches(where, pattern):
        return len(where) == len(pattern) and all(
            p == k or (p == "*" and not k.startswith("[")) or (p == "[]" and k.startswith("["))
            for k, p in zip(where, pattern, strict=True))

    for keys, value in _walk(data):
        where = tuple(f"[{k}]" if isinstance(k, int) else str(k) for k in keys)
        if isinstance(value, float) and not math.isfinite(value):
            return where
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        for pattern, nullable in NUMBERS:
            if matches(where, pattern) and not ((value is None and nullable) or (
                    number and (pattern not in INTEGERS or isinstance(value, int)))):
                return where
        for pattern, nullable in OBJECTS:
            if matches(where, pattern) and not (isinstance(value, dict) or (value is None and nullable)):
                return where
    return None


def test_the_check_finds_the_first_violation_the_schema_defines():
    """Random damage anywhere in a committed cell (its long lists cut to three items so the slow definition runs
    quickly): the check refuses exactly where the definition does, and passes exactly what it passes."""
    from topobench.core.errors import ConfigError
    from topobench.study.cell_check import check_values
    from topobench.study.settings import unpack_per_query

    def cut(value):
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        return [cut(v) for v in value[:3]] if isinstance(value, list) else value

    path = CELLS / f"{PLANTED}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    unpack_per_query(data["algorithms"], str(path))  # as read_cell checks it: per-query lists unpacked
    cell = cut(data)
    spots = [keys for keys, _ in _walk(cell)][1:]
    damage = [math.nan, math.inf, "x", True, None, {}, [], 3, 2.5, [1.0, "a"], [None, 2], {"a": -math.inf}]
    rng = random.Random(21)
    refused = 0
    for _ in range(400):
        data, where = copy.deepcopy(cell), rng.choice(spots)
        target = data
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = rng.choice(damage)
        expected = _first_violation_by_definition(data)
        try:
            check_values(path, data)
            found = None
        except ConfigError as exc:
            found = str(exc)
        assert (found is None) == (expected is None), (where, expected, found)
        if expected is not None:
            refused += 1
            field = "".join(k if k.startswith("[") else f".{k}" for k in expected).lstrip(".")
            assert f"{path}: field {field} is " in found, (expected, found)
    assert 100 < refused < 400  # both kinds of damage were tried
