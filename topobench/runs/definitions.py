"""``algos.yaml`` → run definitions, in ann-benchmarks' grammar, validated before anything runs.

Grammar (as ann-benchmarks' classic single file)::

    float:                      # point type
      any:                      # or a distance: angular | euclidean | ip — entries there override `any`
        hnsw:                   # a registered algorithm name
          disabled: false
          base-args: []         # optional, prepended to every args combination
          run-groups:
            M-16:
              args: [[16], [200]]                 # list: cartesian product of the alternatives, positional
              query-args: [[10, 20, 40, 80]]      # each combination → one set_query_arguments(*qargs) call
        ivf:                    # a single group may sit on the entry itself
          args: [[256, 1024]]
          query-args: [[1, 5, 10]]

An entry or a run group may name ``memory: 64m`` (or ``2g``…): the container memory limit of its builds under
``run.py --docker`` (default ``--memory``); the group's wins over the entry's. Without ``--docker`` it is not used.

An element that is not a list is a single alternative. A mapping instead of a list (``args: {M: [16, 32]}``) expands to
one dict per combination, passed as one argument. ``@metric``, ``@count`` and ``@dimension`` are substituted anywhere.
The index is constructed as ``cls(metric, *base_args, *args)``.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from topobench.core.arguments import check_ranges, check_values
from topobench.core.errors import ConfigError
from topobench.core.safe_yaml import BoundedLoader, load_text, read_config_text

logger = logging.getLogger(__name__)

DISTANCE_KEYS = ("any", "angular", "euclidean", "ip")
ENTRY_KEYS = {"disabled", "base-args", "run-groups", "args", "query-args", "docker-tag", "module", "constructor",
              "memory"}
GROUP_KEYS = {"args", "query-args", "memory"}
# A grid beyond this many points (build args × query-args groups over the whole file) is almost certainly a typo; each
# point is a result file and a measurement (the shipped algos.yaml has a few hundred). --force-large allows more.
MAX_GRID_POINTS = 10_000
MAX_FORCED_GRID_POINTS = 2_000_000
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: Any) -> int:
    """``64m``, ``2g``, ``1.5G``, ``512k`` or a number of bytes → bytes (binary units, as ``docker run --memory``);
    ValueError for anything else."""
    found = SIZE.match(str(text))
    if isinstance(text, bool) or not found:
        raise ValueError(f"expected a size such as 64m or 2g, got {text!r}")
    value = int(float(found.group(1)) * SIZE_UNITS[found.group(2).lower()])
    if value <= 0:
        raise ValueError(f"expected a size above 0, got {text!r}")
    return value


def format_size(size: int) -> str:
    """Bytes as the shortest exact ``docker run --memory`` spelling (``64m``, ``2g``), else in MiB (``1536m``)."""
    for unit in ("t", "g", "m", "k"):
        if size % SIZE_UNITS[unit] == 0:
            return f"{size // SIZE_UNITS[unit]}{unit}"
    return f"{size}b" if size < SIZE_UNITS["m"] else f"{size / SIZE_UNITS['m']:.0f}m"


@dataclass(frozen=True)
class Definition:
    """One index build (``arguments``) and the query-argument groups swept over it."""

    algorithm: str
    run_group: str
    arguments: tuple[Any, ...]
    query_argument_groups: tuple[tuple[Any, ...], ...]
    disabled: bool
    source: str
    memory: int | None = None  # bytes: the container memory limit of run.py --docker for this build (algos.yaml)

    def __str__(self) -> str:
        return f"{self.algorithm}{list(self.arguments)} ({self.source})"


class _LineLoader(BoundedLoader):
    """A bounded YAML loader (:mod:`topobench.core.safe_yaml`: no alias bombs, no duplicate keys) whose mappings
    remember the line they start on, for error messages."""


class _LineDict(dict):
    line: int = 0


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    mapping = _LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _normalise_keys(entry: dict) -> _LineDict:
    out = _LineDict({str(k).replace("_", "-"): v for k, v in entry.items()})
    out.line = getattr(entry, "line", 0)
    return out


def _checked_keys(mapping: dict, allowed: set[str], where: str) -> _LineDict:
    """``mapping`` with ``_`` spelt ``-`` in its keys; a key outside ``allowed`` is a ConfigError naming it."""
    mapping = _normalise_keys(mapping)
    unknown = set(mapping) - allowed
    if unknown:
        names, known = ", ".join(sorted(unknown)), ", ".join(sorted(allowed))
        raise ConfigError(f"{where}: unknown key(s) {names}; allowed: {known}")
    return mapping


def load_yaml(path: Path) -> dict:
    """Parse the file (a regular file of bounded size, see :mod:`topobench.core.safe_yaml`); a YAML syntax error, an
    alias bomb or a key given twice becomes a ConfigError naming the file and line."""
    text = read_config_text(path, "algorithm grid", "pass an algos.yaml file with --definitions")
    data = load_text(text, str(path), _LineLoader)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of point types (e.g. 'float:') at the top level")
    return data


def _combinations(value: Any) -> int:
    """How many combinations :func:`_expand` makes of ``value``, counted without making them."""
    if isinstance(value, list):
        return math.prod(len(el) if isinstance(el, list) else 1 for el in value)
    if isinstance(value, dict):
        return math.prod(len(v) if isinstance(v, list) else 1 for v in value.values())
    return 1


class _Budget:
    """The grid points (build args × query-args groups) a file may still expand to; beyond, a ConfigError."""

    def __init__(self, path: Path, limit: int | None) -> None:
        self.path, self.limit, self.used = path, limit, 0

    def take(self, points: int, where: str) -> None:
        self.used += points
        if self.limit is not None and self.used > self.limit:
            fix = ("make the grid smaller" if self.limit >= MAX_FORCED_GRID_POINTS else
                   f"make the grid smaller, or pass --force-large to allow up to {MAX_FORCED_GRID_POINTS:,}")
            raise ConfigError(f"{where}: {self.path} expands to more than {self.limit:,} points (build args × "
                              f"query-args, all entries; this group alone {points:,}): {fix}")


def _expand(value: Any, where: str, what: str) -> list[Any]:
    """ann-benchmarks' combination rule: a list → product of its elements; a mapping → product of its values."""
    if value is None:
        return [[]]
    if isinstance(value, list):
        axes = [el if isinstance(el, list) else [el] for el in value]
        if any(len(axis) == 0 for axis in axes):
            raise ConfigError(f"{where}: {what} has an empty list of alternatives")
        return [list(combo) for combo in itertools.product(*axes)]
    if isinstance(value, dict):
        keys = list(value)
        axes = [value[k] if isinstance(value[k], list) else [value[k]] for k in keys]
        return [[dict(zip(keys, combo, strict=True))] for combo in itertools.product(*axes)]
    raise ConfigError(f"{where}: {what} must be a list or a mapping, got {type(value).__name__} {value!r}")


def _memory(mapping: dict, where: str) -> int | None:
    """The optional ``memory`` of an entry or run group (a size: ``64m``, ``2g``) in bytes."""
    if mapping.get("memory") is None:
        return None
    try:
        return parse_size(mapping["memory"])
    except ValueError as exc:
        raise ConfigError(f"{where}: memory: {exc}") from None


def _substitute(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str) and value in variables:
        return variables[value]
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    return value


def _definitions_for_entry(path: Path, algorithm: str, entry: Any, variables: dict[str, Any],
                           budget: _Budget) -> list[Definition]:
    line = getattr(entry, "line", 0)
    where = f"{path}:{line} ({algorithm})"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: an algorithm entry must be a mapping with run-groups or args")
    entry = _checked_keys(entry, ENTRY_KEYS, where)
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ConfigError(f"{where}: 'disabled' must be true or false, got {disabled!r}")
    entry_memory = _memory(entry, where)
    base_args = entry.get("base-args", [])
    if not isinstance(base_args, list):
        raise ConfigError(f"{where}: 'base-args' must be a list")
    groups = entry.get("run-groups")
    if groups is None:
        groups = {"default": {k: entry[k] for k in GROUP_KEYS if k in entry}}
    elif "args" in entry or "query-args" in entry:
        raise ConfigError(f"{where}: use either run-groups or args/query-args on the entry, not both")
    if not isinstance(groups, dict) or not groups:
        raise ConfigError(f"{where}: 'run-groups' must be a non-empty mapping of group name → args/query-args")
    definitions = []
    for group_name, group in groups.items():
        gline = getattr(group, "line", line)
        gwhere = f"{path}:{gline} ({algorithm}/{group_name})"
        if not isinstance(group, dict):
            raise ConfigError(f"{gwhere}: a run group must be a mapping with 'args' and optionally 'query-args'")
        group = _checked_keys(group, GROUP_KEYS, gwhere)
        memory = _memory(group, gwhere) or entry_memory
        budget.take(_combinations(group.get("args")) * _combinations(group.get("query-args")), gwhere)
        expanded_queries = _expand(group.get("query-args"), gwhere, "query-args")
        query_groups = tuple(tuple(_substitute(q, variables)) for q in expanded_queries)
        for args in _expand(group.get("args"), gwhere, "args"):
            arguments = tuple(_substitute(list(base_args) + list(args), variables))
            definitions.append(Definition(algorithm, str(group_name), arguments, query_groups, disabled, gwhere,
                                          memory))
    return definitions


def parse_definitions(path: Path, point_type: str, distance: str, count: int, dimension: int,
                      max_points: int | None = MAX_GRID_POINTS) -> list[Definition]:
    """Every definition that applies to a dataset of this point type and distance, validating the whole file.

    A file expanding to more than ``max_points`` points (every entry's build args × query-args groups) is refused
    before anything is expanded (``run.py --force-large`` passes :data:`MAX_FORCED_GRID_POINTS`)."""
    data = load_yaml(path)
    budget = _Budget(path, max_points)
    variables = {"@metric": distance, "@count": count, "@dimension": dimension}
    selected: dict[str, Any] = {}
    for ptype, by_distance in data.items():
        if not isinstance(by_distance, dict):
            raise ConfigError(f"{path}: point type {ptype!r} must map distances (any, angular, …) to algorithms")
        for dist_key, algorithms in by_distance.items():
            if dist_key not in DISTANCE_KEYS:
                raise ConfigError(
                    f"{path}:{getattr(by_distance, 'line', 0)}: unknown distance {dist_key!r} under {ptype!r}; "
                    f"use one of {', '.join(DISTANCE_KEYS)}"
                )
            if not isinstance(algorithms, dict):
                raise ConfigError(f"{path}: {ptype}/{dist_key} must be a mapping of algorithm name → entry")
            for algorithm, entry in algorithms.items():
                defs = _definitions_for_entry(path, str(algorithm), entry, variables, budget)  # validates every entry
                if ptype == point_type and dist_key in ("any", distance):
                    if dist_key == "any" and algorithm in selected and selected[algorithm][0] != "any":
                        continue  # a distance-specific entry overrides `any`
                    selected[str(algorithm)] = (dist_key, defs)
    return [d for _, defs in selected.values() for d in defs]


def check_signatures(definitions: Iterable[Definition], classes: dict[str, type], metric: str) -> None:
    """Reject, before anything runs, args that the index constructor cannot take: too many or too few, values of
    the wrong type for its annotations (``M: sixteen`` for ``M: int``, ``.nan`` for a float), or numbers outside the
    ranges the index declares (``arg_ranges``, ``query_arg_ranges``: ``M: -4``) or beyond a machine integer."""
    for d in definitions:
        cls = classes.get(d.algorithm)
        if cls is None:
            continue
        where = f"{d.source}: args {list(d.arguments)} do not fit {cls.__name__}"
        check_values(cls, where, metric, *d.arguments)
        check_ranges(cls, cls.arg_ranges, where, metric, *d.arguments)
        for qargs in d.query_argument_groups:
            where = f"{d.source}: query-args {list(qargs)} do not fit {cls.__name__}.set_query_arguments"
            check_values(cls.set_query_arguments, where, None, *qargs)
            check_ranges(cls.set_query_arguments, cls.query_arg_ranges, where, None, *qargs)
