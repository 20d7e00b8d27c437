"""A synthetic BEIR-layout corpus with a train split, and a tiny BERT whose vocabulary covers it, for training tests.

Documents are bags of "topic" tokens (``t0``…``t119``) plus filler; each training query repeats three of its
positive document's topic tokens, so a model can learn the task in a few steps and BM25 finds real neighbours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from topobench.training.config import Stage, TrainConfig

WORDS = [f"t{i}" for i in range(120)]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_corpus(folder: Path, docs: int = 48, queries: int = 36, seed: int = 0, test_queries: int = 0) -> Path:
    """``folder`` in BEIR layout: corpus.jsonl, queries.jsonl, qrels/train.tsv (one positive per query, a few two)
    and, with ``test_queries``, qrels/test.tsv for as many more queries."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    topics = [rng.choice(len(WORDS), size=6, replace=False) for _ in range(docs)]
    with open(folder / "corpus.jsonl", "w") as f:
        for i, topic in enumerate(topics):
            filler = rng.choice(len(WORDS), size=10)
            text = " ".join(WORDS[j] for j in np.concatenate([topic, filler]))
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
    header = "query-id\tcorpus-id\tscore"
    qrels: dict[str, list[str]] = {"train": [header], "test": [header]}
    with open(folder / "queries.jsonl", "w") as f:
        for q in range(queries + test_queries):
            doc = q % docs
            words = rng.choice(topics[doc], size=3, replace=False)
            f.write(json.dumps({"_id": f"q{q}", "text": " ".join(WORDS[j] for j in words)}) + "\n")
            split = qrels["train" if q < queries else "test"]
            split.append(f"q{q}\td{doc}\t1")
            if q % 9 == 0:  # a few queries with two positives
                split.append(f"q{q}\td{(doc + 1) % docs}\t1")
    (folder / "qrels").mkdir(exist_ok=True)
    for split, lines in qrels.items():
        if len(lines) > 1:
            (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def write_beir_zip(folder: Path, name: str, **corpus_options) -> Path:
    """``folder/<name>.zip`` laid out like BEIR's downloads (``<name>/corpus.jsonl``…), for a mirror folder."""
    import zipfile

    source = write_corpus(folder / f"{name}-files", **corpus_options)
    target = folder / f"{name}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, f"{name}/{path.relative_to(source)}")
    return target


def write_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) and a WordPiece tokenizer over WORDS, in Hugging Face layout."""
    import torch
    import transformers

    torch.manual_seed(seed)
    vocab = SPECIAL + WORDS
    tokenizer = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_training(root: Path) -> dict[str, Path]:
    """The corpus (``corpus``) and the tiny BERT (``model``) of the training tests, under ``root``."""
    return {"corpus": write_corpus(root / "corpus"), "model": write_tiny_bert(root / "model")}


def tiny_train_config(tiny: dict[str, Path], **overrides) -> TrainConfig:
    """A topology-loss run of ``tiny``'s BERT on its corpus: in-batch warm-up, then model-mined negatives re-mined
    every 3 steps; batch 8, 6 dev queries, a resume state every 2 steps. ``overrides`` replace any field."""
    values = {
        "corpus": f"local:{tiny['corpus']}", "encoder": "minilm", "loss": "topology",
        "encoder_args": {"checkpoint": str(tiny["model"]), "progress": False},
        "stages": [Stage.parse("in_batch:epochs=1"),
                   Stage.parse("model:epochs=2,negatives=2,refresh_steps=3,depth=5,skip=1")],
        "batch_size": 8, "lr": 1e-3, "dev_queries": 6, "save_steps": 2, "keep_best": 2,
    }
    return TrainConfig(**{**values, **overrides})
