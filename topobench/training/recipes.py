"""Named training recipes: the ``<variant>`` of a ``<corpus>-<encoder>-<variant>`` dataset, every knob in one place.

``scifact-minilm-topo`` means: fine-tune ``minilm`` on SciFact's train split with the ``topo`` recipe below, then
encode SciFact with the best checkpoint. The dataset builder calls :func:`trained_checkpoint`, which trains (or
resumes, or reuses) the run in ``checkpoints/<corpus>-<encoder>-<variant>/`` (``$TOPOBENCH_CHECKPOINTS`` overrides
the folder), so ``python run.py --dataset scifact-minilm-topo`` needs no other command.

The common curriculum is the issue's: in-batch warm-up → BM25 negatives → model-mined negatives, re-mined halfway
through the last stage. Sized for a 2-core CPU: one epoch per stage, 128 tokens while training (the dataset itself is
encoded at the encoder's own limit, 256 for MiniLM, like the untrained dataset it is compared with).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from topobench.core.errors import DatasetError
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


def checkpoints_dir() -> Path:
    return Path(os.environ.get(CHECKPOINTS_ENV, "checkpoints"))


def recipe_values(variant: str) -> dict[str, Any]:
    """Every TrainConfig value of recipe ``variant`` except corpus and encoder (COMMON, then the recipe's own)."""
    if variant not in RECIPES:
        raise DatasetError(f"unknown training recipe {variant!r}; known recipes: "
                           f"{', '.join(sorted([*RECIPES, ZEROSHOT]))}")
    values = {**COMMON, **RECIPES[variant]}
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
