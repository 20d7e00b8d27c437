"""``python train.py``: every TrainConfig field is a flag; ``--recipe`` starts from a named recipe.

    python train.py --corpus scifact --encoder minilm --recipe topo            # = what scifact-minilm-topo trains
    python train.py --corpus scifact --encoder minilm --loss topology --loss-args weight=0.3 \\
        --stage in_batch:epochs=1 --stage model:epochs=2,negatives=2,refresh_epochs=0.5 --output runs/w03

A killed run resumes when the same command is run again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from topobench.cli.common import add_verbosity, guarded
from topobench.cli.options import OneLineParser, finite_float, integer
from topobench.core.errors import ConfigError
from topobench.core.names import is_safe_name
from topobench.core.paths import check_writable_dir
from topobench.training.config import TrainConfig, parse_assignments

DICT_FIELDS = ("loss_args", "encoder_args")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def train_parser() -> argparse.ArgumentParser:
    from topobench.training.recipes import all_recipes

    p = OneLineParser(prog="train.py", description="Fine-tune an encoder through a hard-negative curriculum.",
                      epilog="Flags override the recipe; the recipe overrides the defaults shown.")
    p.add_argument("--recipe", choices=sorted(all_recipes()),
                   help="start from this named recipe (topobench/training/recipes.py, or one a plugin declares)")
    p.add_argument("--output", type=Path, help="run folder (default: checkpoints/<corpus>-<encoder>-<recipe|loss>)")
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        help_text = field.metadata.get("help", "")
        default = _default(field)
        shown = f" (default: {default})" if default is not None else ""
        if field.name == "stages":
            p.add_argument("--stage", dest="stages", action="append", metavar="MINER:K=V,...",
                           help=f"{help_text}; repeat per stage (default: {' '.join(default)})")
        elif field.name in DICT_FIELDS:
            p.add_argument(_flag(field.name), metavar="K=V,...", help=help_text + shown)
        elif hints[field.name] is bool:
            p.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction, default=None,
                           help=help_text + shown)
        else:
            p.add_argument(_flag(field.name), type=_scalar_type(hints[field.name]), help=help_text + shown,
                           required=False)
    add_verbosity(p)
    return p


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _scalar_type(hint: Any) -> Any:
    """The argparse type of a scalar field: whole and finite numbers are checked here, ranges by TrainConfig."""
    options = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    return {int: integer, float: finite_float}.get(options[0], options[0])


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults ← recipe ← flags, as a checked TrainConfig."""
    from topobench.training.recipes import recipe_values

    values: dict[str, Any] = {}
    if args.recipe:
        values.update(recipe_values(args.recipe))
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name, None)
        if given is None:
            continue
        values[field.name] = parse_assignments(given, _flag(field.name)) if field.name in DICT_FIELDS else given
    if not values.get("corpus") or not values.get("encoder"):
        raise ConfigError("--corpus and --encoder are required (e.g. --corpus scifact --encoder minilm)")
    return TrainConfig(**values)


def default_output(root: Path, config: TrainConfig, label: str) -> Path:
    """The run folder when ``--output`` is left out: ``root/<corpus>-<encoder>-<label>``, one folder inside ``root``
    whatever the corpus is called (``--corpus /abs/folder`` or ``local:../x`` must not put checkpoints beside the
    corpus or above ``root``): every character outside letters, digits, ``.``, ``_`` and ``-`` becomes ``_``."""
    name = re.sub(r"[^\w.-]+", "_", f"{config.corpus}-{config.encoder}-{label}").lstrip(".") or "run"
    return root / name


def _train(args: argparse.Namespace) -> int:
    from topobench.training.recipes import checkpoints_dir
    from topobench.training.trainer import train

    config = config_from_args(args)
    output = args.output or default_output(checkpoints_dir(), config, args.recipe or config.loss)
    output = check_writable_dir(output, "run folder (--output)", "pass --output with a writable folder")
    summary = train(config, output)
    best = summary["kept"][0] if summary["kept"] else {}
    print(json.dumps({"best": summary["best"], **{k: v for k, v in best.items() if k != "step"},
                      "steps": summary["total_steps"], "train_seconds": summary["train_seconds"]}))
    name, dataset = Path(output).name, f"{config.corpus}-{config.encoder}-checkpoint@name={Path(output).name}"
    if is_safe_name(dataset):
        logging.getLogger("topobench").info("to benchmark it: ln -s %s models/%s && python run.py --dataset %s",
                                            Path(output).resolve(), name, dataset)
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    return guarded(_train, train_parser(), argv)
