"""Training speed: our trainer against sentence-transformers' trainer with MultipleNegativesRankingLoss.

Both fine-tune the same model (MiniLM, float32 on CPU) on the same SciFact (query, positive) pairs with the same batch
size, max length, learning rate, warm-up, clipping and duplicate-free batches, in-batch negatives only (τ = 0.05 is
MNRL's scale 20), in one process. The sides take turns, round by round, each starting from the original weights.

What is timed: ours, the optimiser steps of :class:`topobench.training.trainer.Trainer` (tokenising, forward, loss,
backward,
clipping, AdamW — ``train_seconds`` in its summary); theirs, ``train_runtime`` of ``SentenceTransformerTrainer.train``
(its loop, data loader and collator included). Model loading, corpus loading and checkpoint writing are excluded on
both sides. The last line is::

    train: ratio=<ours/theirs> ours=<examples/s> theirs=<examples/s>

(the ratio of the best round of each side; every round is logged). Run from the repository root (about 6 minutes on
2 cores with the defaults)::

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/train.py
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

from topobench.corpus.corpora import load_corpus
from topobench.training.config import Stage, TrainConfig
from topobench.training.data import training_set
from topobench.training.trainer import Trainer

logger = logging.getLogger("bench.train")

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def ours(config: TrainConfig, corpus) -> float:
    """Examples per second of our trainer's optimiser steps."""
    with tempfile.TemporaryDirectory() as folder:
        summary = Trainer(config, Path(folder) / "run", corpus=corpus).run()
    return summary["examples_per_second"]


def theirs(config: TrainConfig, pairs: list[tuple[str, str]]) -> float:
    """Examples per second of SentenceTransformerTrainer + MultipleNegativesRankingLoss on ``pairs``."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    model = SentenceTransformer(MODEL_ID, device="cpu")
    model.max_seq_length = config.max_length
    data = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [d for _, d in pairs]})
    with tempfile.TemporaryDirectory() as folder:
        args = SentenceTransformerTrainingArguments(
            output_dir=folder, num_train_epochs=1, per_device_train_batch_size=config.batch_size,
            learning_rate=config.lr, warmup_steps=config.warmup, weight_decay=config.weight_decay,
            max_grad_norm=config.max_grad_norm, batch_sampler=BatchSamplers.NO_DUPLICATES, seed=config.seed,
            save_strategy="no", report_to="none", logging_steps=10_000, use_cpu=True, dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                             loss=MultipleNegativesRankingLoss(model, scale=1 / 0.05))
        metrics = trainer.train().metrics
    return len(pairs) / metrics["train_runtime"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=160, help="SciFact training queries (≈ 1.1 examples each)")
    parser.add_argument("--rounds", type=int, default=2, help="turns per side; the best of each is compared")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in ("topobench", "sentence_transformers", "transformers", "faiss"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    corpus = load_corpus("scifact")
    config = TrainConfig(corpus="scifact", encoder="minilm", loss="infonce", loss_args={"temperature": 0.05},
                         stages=[Stage.parse("in_batch:epochs=1")], batch_size=args.batch_size,
                         max_length=args.max_length, dev_queries=0, max_train_queries=args.queries,
                         encoder_args={"progress": False})
    data = training_set(corpus, dev_queries=0, seed=config.seed, max_train_queries=args.queries)
    pairs = [(data.query_text[q], data.doc_text[d]) for q, d in data.examples]
    logger.info("%d examples, batch %d, max length %d", len(pairs), args.batch_size, args.max_length)
    results: dict[str, list[float]] = {"ours": [], "theirs": []}
    for round_ in range(args.rounds):
        order = ("ours", "theirs") if round_ % 2 == 0 else ("theirs", "ours")
        for side in order:
            speed = ours(config, corpus) if side == "ours" else theirs(config, pairs)
            results[side].append(speed)
            logger.info("round %d %s: %.2f examples/s", round_ + 1, side, speed)
    best_ours, best_theirs = max(results["ours"]), max(results["theirs"])
    print(f"train: ratio={best_ours / best_theirs:.3f} ours={best_ours:.2f} theirs={best_theirs:.2f}")


if __name__ == "__main__":
    main()
