"""Checking a cell file against the ``format: 2`` / ``format: 3`` schema of docs/STUDIES.md before any statistic reads
it.

Why: a study's conclusions are computed from the committed cell files alone, and the statistics skip a missing value
(null) where an algorithm or a level has none. Without a check, a NaN or an Infinity planted in a file (JSON readers
accept both) or a number written as text would be skipped the same way, silently, and a conclusion could flip; a cell
file copied from another study, or renamed, would be counted as a cell of this one. So every cell is checked when it
is read (:func:`topobench.study.cells.read_cell`) and before one is written:

* every number anywhere in the file is finite, and every field the schema declares a number holds a number (or null
  where the schema allows it), never text or a boolean;
* the file's place and name agree with what it says it is: ``studies/<study>/cells/<cell>.json`` holds ``"study":
  "<study>"`` and ``"cell": "<cell>"``, the cell name is the one its encoder, recipe and overrides make, its dataset
  the one its corpus and cell name make, its seed and factors those of its overrides.

A violation is a ``ConfigError`` naming the file and the field, which the CLI prints as one line (exit 2).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from topobench.core.errors import ConfigError

ZEROSHOT = "zeroshot"

# Fields the schema declares numbers, as paths of keys ("*": any key, "[]": any list item) → may it be null?
COST = ("qps", "distcomps", "hops", "lists_probed", "reached", "level")
NUMBERS: list[tuple[tuple[str, ...], bool]] = [
    (("format",), False), (("count",), False), (("seed",), True),
    (("exact", "*"), True), (("positive_cosines", "[]"), False),
    (("geometry", "*"), True), (("cost_seconds", "*"), False), (("benchmark_load", "*"), True),
    *((("training", key), True) for key in ("steps", "seconds", "eval_seconds", "evaluations", "best_step")),
    (("training", "dev", "*"), True),
    *((("algorithms", "*", "at_knn", "*", key), True) for key in COST),
    *((("algorithms", "*", "at_ndcg", key), True) for key in COST),
    (("algorithms", "*", "frontier", "[]", "[]"), True), (("algorithms", "*", "task", "*"), True),
    (("algorithms", "*", "points"), False),
    # Format 3: every point whole (topobench.study.settings).
    *((("algorithms", "*", "settings", "[]", key), nullable) for key, nullable in (
        ("k-nn", True), ("qps", False), ("build_seconds", False))),
    (("algorithms", "*", "settings", "[]", "latency_ms", "*"), False),
    (("algorithms", "*", "settings", "[]", "counters", "*"), False),
    (("algorithms", "*", "settings", "[]", "per_query", "*", "[]"), False),
]
INTEGERS = {("format",), ("count",), ("seed",), ("algorithms", "*", "points")}
# Fields that must be objects (null where allowed), so a number in their place is not taken for "no value".
OBJECTS: list[tuple[tuple[str, ...], bool]] = [
    (("exact",), False), (("per_query",), True), (("geometry",), False), (("cost_seconds",), True),
    (("factors",), False), (("overrides",), False), (("algorithms",), False), (("training",), True),
    (("algorithms", "*"), True), (("algorithms", "*", "at_knn"), False), (("algorithms", "*", "at_knn", "*"), True),
    (("algorithms", "*", "at_ndcg"), True), (("algorithms", "*", "task"), True),
    (("algorithms", "*", "settings", "[]"), False), (("algorithms", "*", "settings", "[]", "counters"), False),
    (("algorithms", "*", "settings", "[]", "per_query"), False),
]
TEXTS = ("study", "cell", "dataset", "corpus", "encoder")


class _SchemaNode:
    """One step of the schema's paths: the rules of the fields that end here and the steps below ("*", "[]" or a
    key). ``rules`` are (order, kind, nullable, integer): kind 0 a number, 1 an object; order keeps the schema's."""

    __slots__ = ("children", "rules")

    def __init__(self) -> None:
        self.children: dict[str, _SchemaNode] = {}
        self.rules: list[tuple[int, int, bool, bool]] = []


def _schema_tree() -> _SchemaNode:
    root = _SchemaNode()
    patterns = [(pattern, 0, nullable, pattern in INTEGERS) for pattern, nullable in NUMBERS]
    patterns += [(pattern, 1, nullable, False) for pattern, nullable in OBJECTS]
    for order, (pattern, kind, nullable, integer) in enumerate(patterns):
        node = root
        for key in pattern:
            node = node.children.setdefault(key, _SchemaNode())
        node.rules.append((order, kind, nullable, integer))
    return root


SCHEMA = _schema_tree()
FIX = "restore the file from git (`git checkout -- FILE`) or delete it and run the cell again"


def _field(path: tuple[str, ...]) -> str:
    return "".join(k if k.startswith("[") else f".{k}" for k in path).lstrip(".") or "(the file)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _below(nodes: list[_SchemaNode], key: str) -> list[_SchemaNode]:
    """The schema nodes a child named ``key`` ("[i]" for a list item) reaches: its own name, or the wildcard —
    "*" for any name, "[]" for any item."""
    wildcard = "[]" if key.startswith("[") else "*"
    names = (key,) if key == wildcard else (key, wildcard)
    return [node.children[name] for node in nodes for name in names if name in node.children]


def _plain_items_pass(items: list[Any], nodes: list[_SchemaNode]) -> bool:
    """Whether every item of a list is a finite number, or a leaf no rule concerns, that ``nodes`` (the schema nodes
    of its items) accept — checked in bulk, since most of a cell is long lists of numbers. False means: look item by
    item (which finds the first violation, if any)."""
    if any(node.children for node in nodes):
        return False
    allowed = {int, float} if nodes else {int, float, str, bool, type(None)}
    for _, kind, nullable, integer in (rule for node in nodes for rule in node.rules):
        if kind == 1:
            return False
        allowed &= {int} if integer else {int, float}
        if nullable:
            allowed.add(type(None))
    kinds = set(map(type, items))
    if not kinds <= allowed:
        return False
    if kinds == {float}:
        return all(map(math.isfinite, items))
    return float not in kinds or all(math.isfinite(x) for x in items if type(x) is float)


def _check_node(path: Path, where: tuple[str, ...], value: Any, nodes: list[_SchemaNode]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: field {_field(where)} is {json.dumps(value)}, not a finite number; {FIX}")
    for _, kind, nullable, integer in sorted(rule for node in nodes for rule in node.rules):
        if kind == 0:
            if not ((value is None and nullable) or (_is_number(value) and (not integer or isinstance(value, int)))):
                wanted = "a whole number" if integer else "a number"
                raise ConfigError(f"{path}: field {_field(where)} is {value!r}, not {wanted}"
                                  f"{' or null' if nullable else ''}; {FIX}")
        elif not (isinstance(value, dict) or (value is None and nullable)):
            raise ConfigError(f"{path}: field {_field(where)} is {value!r:.60}, not an object"
                              f"{' or null' if nullable else ''}; {FIX}")
    if isinstance(value, dict):
        for key, item in value.items():
            key = str(key)
            _check_node(path, (*where, key), item, _below(nodes, key))
    elif isinstance(value, list):
        if all(set(node.children) <= {"[]"} for node in nodes) and _plain_items_pass(
                value, [node.children["[]"] for node in nodes if node.children]):
            return
        for i, item in enumerate(value):
            _check_node(path, (*where, f"[{i}]"), item, _below(nodes, f"[{i}]"))


def check_values(path: Path, data: dict[str, Any]) -> None:
    """Raise a ``ConfigError`` naming ``path`` and the field for a non-finite number anywhere, or a field the schema
    declares a number (an object) that holds something else: the first such field in the file's order.

    The walk follows the schema's paths down the file instead of matching every field against every path, and takes
    a list of plain numbers in bulk: a format-3 cell (~800,000 values once its per-query lists are unpacked)
    is checked in a fraction of a second."""
    _check_node(path, (), data, [SCHEMA])


def expected_name(data: dict[str, Any]) -> str:
    """The cell name a cell's encoder, recipe and overrides make (``minilm-topo@seed=14,weight=0.8``,
    ``minilm-zeroshot``): the canonical dataset name without the corpus."""
    from topobench.training.variants import format_value

    recipe = data.get("recipe")
    if recipe in (None, ZEROSHOT):
        return f"{data.get('encoder')}-{ZEROSHOT}"
    items = ",".join(f"{k}={format_value(v)}" for k, v in sorted(data["overrides"].items()))
    return f"{data.get('encoder')}-{recipe}" + (f"@{items}" if items else "")


def check_identity(path: Path, data: dict[str, Any]) -> None:
    """Raise a ``ConfigError`` naming ``path`` and the field unless the cell is what its place and name say."""
    for key in TEXTS:
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"{path}: field {key} is {data.get(key)!r}, not a name; restore the file from git or "
                              "delete it and run the cell again")
    if path.parent.name == "cells" and data["study"] != path.parent.parent.name:
        raise ConfigError(f"{path}: field study is {data['study']!r}, but the file is in the cells of study "
                          f"{path.parent.parent.name!r}: a cell of another study; move it back to "
                          f"{data['study']}/cells/ or delete it")
    if data["cell"] != path.stem:
        raise ConfigError(f"{path}: field cell is {data['cell']!r}, but the file is named {path.name!r}: rename it "
                          f"to {data['cell']}.json or delete it")
    name = expected_name(data)
    if data["cell"] != name:
        raise ConfigError(f"{path}: field cell is {data['cell']!r}, but its encoder, recipe and overrides make "
                          f"{name!r}; restore the file from git or delete it and run the cell again")
    trains = data.get("recipe") not in (None, ZEROSHOT)
    dataset = f"{data['corpus']}-{name}" if trains else f"{data['corpus']}-{data['encoder']}"
    if data["dataset"] != dataset:
        raise ConfigError(f"{path}: field dataset is {data['dataset']!r}, but cell {name!r} of corpus "
                          f"{data['corpus']!r} is {dataset!r}; restore the file from git or delete it and run the "
                          "cell again")
    overrides = data["overrides"]
    if "seed" in overrides and data.get("seed") != overrides["seed"]:
        raise ConfigError(f"{path}: field seed is {data.get('seed')!r}, but its overrides say seed "
                          f"{overrides['seed']!r}; restore the file from git or delete it and run the cell again")
    for key, value in data["factors"].items():
        own = data["encoder"] if key == "encoder" else overrides.get(key, value)
        if own != value:
            raise ConfigError(f"{path}: field factors.{key} is {value!r}, but the cell's "
                              f"{'encoder' if key == 'encoder' else 'overrides'} say {own!r}; restore the file from "
                              "git or delete it and run the cell again")


def check_cell(path: Path, data: dict[str, Any]) -> None:
    """Both checks of the module docstring: values, then identity."""
    check_values(path, data)
    check_identity(path, data)
