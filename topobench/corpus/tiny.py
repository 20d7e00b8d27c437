"""``tinyqa``: a synthetic retrieval corpus made on the fly, for checking a training variant end to end in a minute.

Documents are bags of "topic" words (``t0`` … ``t119``) plus filler; each query repeats three of its positive
document's topic words (every ninth query has a second positive), so a model can learn the task in a few steps and
BM25 finds real neighbours. Splits: ``train`` (for training; the trainer holds dev queries out of it) and ``test``
(the benchmark's queries). The same seed gives the same corpus on every machine; the ``tinybert`` encoder's
vocabulary is exactly these words (``topobench.backends.tiny_bert``).
"""

from __future__ import annotations

import numpy as np

from topobench.backends.tiny_bert import WORDS
from topobench.corpus.formats import Document

NAME = "tinyqa"
DOCS, TRAIN_QUERIES, TEST_QUERIES, SEED = 600, 400, 100, 0

Tables = tuple[dict[str, Document], dict[str, dict[str, str]], dict[str, dict[str, dict[str, int]]]]


def synthetic_tables(docs: int = DOCS, queries: int = TRAIN_QUERIES, test_queries: int = TEST_QUERIES,
                     seed: int = SEED) -> Tables:
    """(documents, queries per split, qrels per split) of a synthetic corpus: ``queries`` train queries, then
    ``test_queries`` test ones (no test split when 0)."""
    rng = np.random.default_rng(seed)
    topics = [rng.choice(len(WORDS), size=6, replace=False) for _ in range(docs)]
    documents: dict[str, Document] = {}
    for i, topic in enumerate(topics):
        filler = rng.choice(len(WORDS), size=10)
        documents[f"d{i}"] = Document("", " ".join(WORDS[j] for j in np.concatenate([topic, filler])))
    texts: dict[str, dict[str, str]] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for q in range(queries + test_queries):
        split = "train" if q < queries else "test"
        doc = q % docs
        words = rng.choice(topics[doc], size=3, replace=False)
        texts.setdefault(split, {})[f"q{q}"] = " ".join(WORDS[j] for j in words)
        judged = qrels.setdefault(split, {}).setdefault(f"q{q}", {f"d{doc}": 1})
        if q % 9 == 0:  # a few queries with two positives
            judged[f"d{(doc + 1) % docs}"] = 1
    return documents, texts, qrels
