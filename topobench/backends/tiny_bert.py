"""A tiny randomly initialised BERT (2 layers, hidden 32) whose vocabulary is the ``tinyqa`` corpus's words.

It makes a whole training variant run in about a minute on a laptop — train, mine, evaluate, encode, benchmark — so a
new loss, miner or recipe can be checked end to end before it spends hours on a real model: the ``tinybert``
encoder plugin loads it, and ``python run.py --dataset tinyqa-tinybert-<recipe>`` trains with it. It has learnt
nothing before training, so its numbers only say that the pipeline works, never how good a loss is.

The weights are made on first use with a fixed seed (the same on every machine) and kept under the cache folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

WORDS = [f"t{i}" for i in range(120)]  # the tinyqa corpus's vocabulary (topobench.corpus.tiny)
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN = 32
MAX_POSITIONS = 512  # as BERT's, so the common recipes' 128-token training limit fits
SEED = 0
FOLDER_NAME = "tinybert-v2"  # bump when the architecture or the vocabulary changes


def write_tiny_bert(folder: Path, seed: int = SEED, max_positions: int = 64) -> Path:
    """Write the tiny BERT and its WordPiece tokenizer in Hugging Face layout to ``folder`` (the tests' model has 64
    positions; the ``tinybert`` encoder's has :data:`MAX_POSITIONS`)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    vocab = SPECIAL + WORDS
    tokenizer = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=2 * HIDDEN,
                                     max_position_embeddings=max_positions)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_bert_folder(cache: Path) -> Path:
    """``cache/<FOLDER_NAME>``, written there first when missing (in a temporary folder renamed into place, so two
    processes never see half a model)."""
    target = cache / FOLDER_NAME
    if (target / "config.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=cache))
    try:
        write_tiny_bert(scratch, max_positions=MAX_POSITIONS)
        if not target.exists():
            try:
                os.replace(scratch, target)
            except OSError:  # another process put its copy there first: the same weights
                pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
