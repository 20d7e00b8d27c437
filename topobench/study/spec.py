"""``studies.yaml``: a study names a corpus, encoders, variants crossed with a grid of overrides, seeds, algorithms.

Every cell (one variant × grid point × seed) is resolved to its canonical dataset name when the file is read, so a
misspelt recipe, an unknown override key or a value of the wrong type is one error line naming the file, the study and
the fix — before anything is trained. The grammar is in docs/STUDIES.md.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topobench.core.errors import ConfigError, TopobenchError
from topobench.core.safe_yaml import load_text, read_config_text
from topobench.training.config import EXACT
from topobench.training.variants import Variant, format_value, parse_variant

KEYS = {"description", "corpus", "encoders", "variants", "grid", "seeds", "baseline", "algorithms", "count", "runs",
        "definitions", "fidelity_of"}
REQUIRED = ("corpus", "encoders", "variants", "algorithms")
STUDIES_FILE = Path("studies.yaml")


@dataclass(frozen=True)
class Cell:
    """One (encoder, variant, grid point, seed) of a study, with its canonical dataset."""

    study: str
    variant: Variant
    factors: dict[str, Any]  # encoder, variant (as written in the study) and the grid's values
    seed: int | None  # None for a variant that trains nothing

    @property
    def name(self) -> str:
        """``minilm-topo@seed=14,weight=0.8``: the canonical dataset name without the corpus (a file name)."""
        return f"{self.variant.encoder}-{self.variant.suffix}"

    @property
    def dataset(self) -> str:
        return self.variant.name


@dataclass
class Study:
    """A parsed study of ``studies.yaml``."""

    name: str
    file: Path
    corpus: str
    encoders: list[str]
    variants: list[str]
    grid: dict[str, list[Any]]
    seeds: list[int]
    baseline: dict[str, Any]
    algorithms: list[str]
    count: int = 100
    runs: int = 3
    description: str = ""
    definitions: Path | None = None
    fidelity_of: str | None = None  # the exact study whose effects a fast-profile study's report sets its own beside
    cells: list[Cell] = field(default_factory=list)

    def factor_names(self) -> list[str]:
        return ["encoder", "variant", *self.grid]

    def summary_spec(self) -> dict[str, Any]:
        """What the report needs to know about the study (name, baseline, factors, algorithms)."""
        return {"name": self.name, "description": self.description, "baseline": self.baseline,
                "factors": self.factor_names(), "grid": self.grid, "algorithms": self.algorithms,
                **({"fidelity_of": self.fidelity_of} if self.fidelity_of else {})}

    @property
    def profile(self) -> str:
        """The arithmetic profile of every cell (``exact`` or ``fast``; a model that trains nothing is exact)."""
        return cell_profile(self.cells[0]) if self.cells else EXACT


def load_studies(path: Path = STUDIES_FILE) -> dict[str, dict[str, Any]]:
    """The raw mapping of ``path``, read as algos.yaml is (:mod:`topobench.core.safe_yaml`: a regular file of bounded
    size, an alias budget, no key given twice); unreadable or malformed files are one ConfigError naming the file and
    line."""
    text = read_config_text(path, "studies file", "pass a studies.yaml file with --studies")
    data = load_text(text, str(path))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path}: expected a mapping of study names to mappings (see docs/STUDIES.md)")
    return data


def get_study(name: str, path: Path = STUDIES_FILE) -> Study:
    """The study ``name`` of ``path``, every cell resolved and checked."""
    studies = load_studies(path)
    if name not in studies:
        raise ConfigError(f"unknown study {name!r} in {path}; known studies: {', '.join(sorted(studies)) or 'none'}")
    return parse_study(name, studies[name], path)


def parse_study(name: str, raw: dict[str, Any], path: Path) -> Study:
    where = f"{path}: study {name!r}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise ConfigError(f"{where}: a study name uses letters, digits, '-', '_' and '.' only; rename it")
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(KEYS))}")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise ConfigError(f"{where}: {missing[0]!r} is missing; add it (see docs/STUDIES.md)")
    study = Study(
        name=name, file=path, corpus=_string(raw["corpus"], where, "corpus"),
        encoders=_strings(raw["encoders"], where, "encoders"), variants=_strings(raw["variants"], where, "variants"),
        grid=_grid(raw.get("grid") or {}, where), seeds=_seeds(raw.get("seeds", [13]), where),
        baseline=dict(raw.get("baseline") or {}), algorithms=_strings(raw["algorithms"], where, "algorithms"),
        count=_positive_int(raw.get("count", 100), where, "count"),
        runs=_positive_int(raw.get("runs", 3), where, "runs"),
        description=str(raw.get("description", "")),
        definitions=Path(raw["definitions"]) if raw.get("definitions") else None,
        fidelity_of=_string(raw["fidelity_of"], where, "fidelity_of") if raw.get("fidelity_of") else None,
    )
    study.cells = _cells(study, where)
    _check_baseline(study, where)
    _check_profiles(study, where)
    return study


def cell_profile(cell: Cell) -> str:
    """``exact`` or ``fast``: the training configuration's profile; a variant that trains nothing is exact."""
    return cell.variant.config().profile if cell.variant.trains else EXACT


def _check_profiles(study: Study, where: str) -> None:
    """A study compares its cells with each other, so they must share one arithmetic profile; the fast profile's
    answers are checked against the exact ones by a study of their own (``fidelity_of``), never mixed in one."""
    profiles: dict[str, str] = {}
    for cell in study.cells:
        profiles.setdefault(cell_profile(cell), cell.name)
    if len(profiles) > 1:
        named = " and ".join(f"{p} ({c})" for p, c in profiles.items())
        raise ConfigError(f"{where}: mixes the profiles {named}; a study compares cells of one profile only: put "
                          "the profile=fast variants in a study of their own with fidelity_of: <the exact study>")
    if study.fidelity_of is not None and study.fidelity_of == study.name:
        raise ConfigError(f"{where}: fidelity_of names the study itself; name the exact study it checks")

def _string(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _strings(value: Any, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {key} must be a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: {key} lists a name twice; keep one")
    return list(value)


def _positive_int(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: {key} must be a positive integer, got {value!r}")
    return value


def _seeds(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: seeds must be a non-empty list of integers, got {value!r}")
    for seed in value:
        _positive_int(seed, where, "each seed")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: seeds lists a seed twice; keep one")
    return list(value)


def _grid(value: Any, where: str) -> dict[str, list[Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: grid must map override keys to lists of values, e.g. {{weight: [0, 0.6]}}")
    out = {}
    for key, values in value.items():
        if key == "seed":
            raise ConfigError(f"{where}: grid: seeds go under 'seeds', not in the grid")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: grid: {key} must be a non-empty list of values, got {values!r}")
        for v in values:
            if isinstance(v, float) and not math.isfinite(v) or not isinstance(v, int | float | str | bool):
                raise ConfigError(f"{where}: grid: {key} has {v!r}; give finite numbers, booleans or strings")
        out[str(key)] = list(values)
    return out


def _cells(study: Study, where: str) -> list[Cell]:
    cells: dict[str, Cell] = {}
    keys = list(study.grid)
    for encoder, variant, values in itertools.product(study.encoders, study.variants,
                                                      itertools.product(*study.grid.values())):
        base = f"{study.corpus}-{encoder}-{variant}"
        stock = _resolve(base, where)
        factors = {"encoder": stock.encoder, "variant": variant, **dict(zip(keys, values, strict=True))}
        if not stock.trains:
            if keys:
                raise ConfigError(f"{where}: variant {variant!r} trains nothing, so the grid cannot apply to it; "
                                  "put it in a study without a grid")
            cells.setdefault(Cell(study.name, stock, factors, None).name, Cell(study.name, stock, factors, None))
            continue
        overrides = [f"{k}={format_value(v)}" for k, v in zip(keys, values, strict=True)]
        for seed in study.seeds:
            name = base + ("," if "@" in variant else "@") + ",".join([*overrides, f"seed={seed}"])
            cell = Cell(study.name, _resolve(name, where), factors, seed)
            cells.setdefault(cell.name, cell)
    return list(cells.values())


def _resolve(name: str, where: str) -> Variant:
    """The variant ``name`` denotes, its full configuration checked (types, ranges); errors name the study."""
    try:
        parsed = parse_variant(name)
        if parsed is not None and parsed.trains:
            parsed.config()
    except TopobenchError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if parsed is None or parsed.recipe is None:
        raise ConfigError(f"{where}: {name!r} is not <corpus>-<encoder>-<recipe>; check encoders and variants")
    return parsed


def _check_baseline(study: Study, where: str) -> None:
    unknown = sorted(set(study.baseline) - set(study.factor_names()))
    if unknown:
        raise ConfigError(f"{where}: baseline names {unknown[0]!r}, which is not a factor; factors: "
                          f"{', '.join(study.factor_names())}")
    if study.baseline and not any(matches(c, study.baseline) for c in study.cells):
        raise ConfigError(f"{where}: no cell has the baseline's factors {study.baseline}; pick values of the grid")


def matches(cell: Cell, factors: dict[str, Any]) -> bool:
    return all(cell.factors.get(k) == v for k, v in factors.items())
