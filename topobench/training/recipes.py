"""Named training recipes: the ``<variant>`` of a ``<corpus>-<encoder>-<variant>`` dataset, every knob in one place.

``scifact-minilm-topo`` means: fine-tune ``minilm`` on SciFact's train split with the ``topo`` recipe below, then
encode SciFact with the best checkpoint. The dataset builder calls :func:`trained_checkpoint`, which trains (or
resumes, or reuses) the run in ``checkpoints/<corpus>-<encoder>-<fingerprint>/`` — one folder per training
configuration, keyed by :meth:`TrainConfig.fingerprint`, so two names that resolve to one configuration share one run
(``$TOPOBENCH_CHECKPOINTS`` overrides the folder) — and ``python run.py --dataset scifact-minilm-topo`` needs no other
command.

Plugins add recipes through the ``register_recipes`` hook (:func:`all_recipes` merges them with the built-ins below);
a recipe is a dict of :class:`TrainConfig` fields over :data:`COMMON`. Two names are not recipes: ``zeroshot`` (the
stock model) and ``checkpoint`` (``<corpus>-<encoder>-checkpoint@name=NAME``: a model folder made elsewhere, see
:func:`model_folder`).

The common curriculum is the issue's: in-batch warm-up → BM25 negatives → model-mined negatives, re-mined halfway
through the last stage. Sized for a 2-core CPU: one epoch per stage, 128 tokens while training (the dataset itself is
encoded at the encoder's own limit, 256 for MiniLM, like the untrained dataset it is compared with).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from topobench.core.errors import DatasetError
from topobench.core.registry import get_registry
from topobench.core.roots import env_folder
from topobench.training.checkpoints import CONFIG_FILE, read_summary
from topobench.training.config import TrainConfig
from topobench.training.trainer import train

logger = logging.getLogger(__name__)

CHECKPOINTS_ENV = "TOPOBENCH_CHECKPOINTS"

CURRICULUM = (
    "in_batch:epochs=1",
    "bm25:epochs=1,negatives=1,depth=30,skip=0",
    "model:epochs=1,negatives=1,refresh_epochs=0.5,depth=30,skip=3",
)

COMMON: dict[str, Any] = {
    "stages": list(CURRICULUM), "batch_size": 32, "grad_accum": 1, "lr": 3e-5, "weight_decay": 0.01, "warmup": 0.1,
    "max_grad_norm": 1.0, "max_length": 128, "encode_batch_size": 64, "dev_queries": 100, "keep_best": 2,
    "save_steps": 10, "seed": 13,
}

ZEROSHOT = "zeroshot"  # the stock model: no training; scifact-minilm-zeroshot is scifact-minilm
IN_BATCH_ONLY = ["in_batch:epochs=3"]  # as many epochs (and steps) as the three-stage curriculum

# The seed's experiment groups. Each entry overrides COMMON; ``zeroshot`` (the stock model) needs no entry.
RECIPES: dict[str, dict[str, Any]] = {
    "infonce": {"loss": "infonce", "loss_args": {"temperature": 0.05}},
    "topo": {"loss": "topology", "loss_args": {"temperature": 0.05, "weight": 0.6}},
    "infonce-inbatch": {"loss": "infonce", "loss_args": {"temperature": 0.05}, "stages": IN_BATCH_ONLY},
    "topo-inbatch": {"loss": "topology", "loss_args": {"temperature": 0.05, "weight": 0.6}, "stages": IN_BATCH_ONLY},
    # The seed's follow-up, "adapt w to the training stage": w grows with the curriculum's difficulty.
    "topo-staged": {"loss": "topology", "loss_args": {"temperature": 0.05, "weight": 0.6,
                                                      "stage_weights": "0.2+0.6+1.0"}},
}


CHECKPOINT = "checkpoint"  # <corpus>-<encoder>-checkpoint@name=NAME: the model folder $TOPOBENCH_MODELS/NAME
MODELS_ENV = "TOPOBENCH_MODELS"
NOT_RECIPE_FIELDS = ("corpus", "encoder")  # a recipe is for any corpus and encoder: the dataset name gives them


def checkpoints_dir() -> Path:
    return env_folder(CHECKPOINTS_ENV, "checkpoints")


def models_dir() -> Path:
    """Where ``-checkpoint@name=NAME`` variants find their model folders (``$TOPOBENCH_MODELS``, default models/)."""
    return env_folder(MODELS_ENV, "models")


def all_recipes() -> dict[str, dict[str, Any]]:
    """The built-in recipes and those plugins declared (``register_recipes``); a plugin may not reuse a built-in
    name, nor the reserved ``zeroshot`` and ``checkpoint``."""
    declared = get_registry().declared["recipes"]
    taken = sorted(set(declared) & {*RECIPES, ZEROSHOT, CHECKPOINT})
    if taken:
        raise DatasetError(f"plugin {declared[taken[0]].plugin!r} declares recipe {taken[0]!r}, a built-in name: "
                           "rename it")
    return {**RECIPES, **{name: d.value for name, d in declared.items()}}


def known_recipes() -> str:
    return ", ".join(sorted([*all_recipes(), ZEROSHOT, CHECKPOINT]))


def recipe_values(variant: str) -> dict[str, Any]:
    """Every TrainConfig value of recipe ``variant`` except corpus and encoder (COMMON, then the recipe's own)."""
    recipes = all_recipes()
    if variant not in recipes:
        raise DatasetError(f"unknown training recipe {variant!r}; known recipes: {known_recipes()}")
    fields = set(TrainConfig.__dataclass_fields__) - set(NOT_RECIPE_FIELDS)
    unknown = sorted(set(recipes[variant]) - fields)
    if unknown:
        raise DatasetError(f"recipe {variant!r} sets {', '.join(unknown)}, which are not training fields; a recipe "
                           f"sets some of: {', '.join(sorted(fields))}")
    values = {**COMMON, **recipes[variant]}
    values["stages"] = list(values["stages"])
    values["loss_args"] = dict(values.get("loss_args", {}))
    return values


def recipe_config(corpus: str, encoder: str, variant: str) -> TrainConfig:
    """The TrainConfig of recipe ``variant`` for ``corpus`` and ``encoder``."""
    return TrainConfig(corpus=corpus, encoder=encoder, **recipe_values(variant))


def run_folder(config: TrainConfig) -> Path:
    """``checkpoints/<corpus>-<encoder>-<fingerprint>``: one folder per training configuration, whatever its name."""
    corpus = re.sub(r"[^\w.-]+", "_", config.corpus)
    return checkpoints_dir() / f"{corpus}-{config.encoder}-{config.fingerprint()}"


def trained_checkpoint(config: TrainConfig) -> tuple[Path, dict[str, Any]]:
    """The best checkpoint of ``config`` (training or resuming it first when needed) and the run's summary."""
    output = run_folder(config)
    logger.info("training %s-%s (%s): checkpoints in %s", config.corpus, config.encoder, config.fingerprint(), output)
    summary = train(config, output)
    return Path(summary["best"]), summary


def model_folder(name: str) -> Path:
    """The model folder of ``<corpus>-<encoder>-checkpoint@name=NAME``: ``$TOPOBENCH_MODELS/NAME`` (a folder or a
    symlink to one), which is either a ``train.py --output`` run (its best checkpoint is used) or a Hugging Face /
    sentence-transformers model folder (``config.json`` at its top, or in ``0_Transformer/``)."""
    folder = models_dir() / name
    if not folder.is_dir():
        raise DatasetError(f"no model folder {folder}: put (or symlink) the checkpoint folder there, e.g. `ln -s "
                           f"/path/to/run {folder}`, or set {MODELS_ENV}")
    summary = read_summary(folder)
    if summary is not None:  # a finished train.py run: its best checkpoint, wherever the run folder now lives
        best = folder / Path(summary["best"]).name
        if _is_model_config(best / "config.json"):
            return best.resolve()
    for candidate in (folder, folder / "0_Transformer"):
        if _is_model_config(candidate / "config.json"):
            return candidate.resolve()
    if (folder / CONFIG_FILE).is_file():
        raise DatasetError(f"{folder} holds a train.py run that has not finished (no training.json): rerun the same "
                           "train.py command to resume it, or point the folder at one of its step-* checkpoints")
    raise DatasetError(f"{folder} is neither a finished train.py run (training.json) nor a Hugging Face model "
                       "folder (config.json): point it at the run folder or at one of its step-* checkpoints")


def _is_model_config(path: Path) -> bool:
    """A Hugging Face model's config.json (not a train.py run's, which shares the file name)."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(values, dict) and ("model_type" in values or "hidden_size" in values)
