"""What the trainer trains and evaluates on: (query, positive) examples, the dev queries, and duplicate-free batches.

Training queries are the corpus's ``train`` split (judged grade ≥ 1), one example per (query, positive) pair — or, with
``positives_per_query`` k, per query a seeded draw of k of its positives (all when it has at most k): NFCorpus's 2,590
training queries judge 110,575 positives, 42.7 a query, so an epoch of all pairs is 3,455 steps at batch 32 (SciFact's:
25), which a 2-core CPU cannot train in a study; one positive a query makes it 81. The draw shapes only the examples:
mining still knows every positive, so none is ever sampled as a negative. Dev evaluation uses the ``dev`` split when the
corpus has one with judgements; otherwise ``dev_queries`` training queries are held out (a seeded draw) and never
trained on — SciFact, for one, has only train and test, and the test split is what the benchmark measures.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from topobench.core.errors import DatasetError
from topobench.core.miners import MiningData
from topobench.corpus.corpora import Corpus
from topobench.training.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class TrainingSet:
    """Examples (query id, positive doc id), the texts they need, and the dev queries with their judgements."""

    examples: list[tuple[str, str]]
    mining: MiningData  # training queries and the whole corpus: what miners see
    query_text: dict[str, str]
    doc_text: dict[str, str]
    dev_query_ids: list[str]
    dev_query_texts: list[str]
    dev_qrels: dict[str, dict[str, int]]
    dev_source: str  # "dev split" or "held-out training queries"


def relevant(qrels: dict[str, dict[str, int]]) -> dict[str, set[str]]:
    """Query id → documents judged relevant (grade ≥ 1)."""
    return {q: {d for d, g in judged.items() if g >= 1} for q, judged in qrels.items()}


def config_training_set(corpus: Corpus, config: TrainConfig) -> TrainingSet:
    """The training set ``config`` trains on, from ``corpus`` (its training corpus)."""
    return training_set(corpus, config.dev_queries, config.seed, config.max_train_queries,
                        config.positives_per_query)


def training_set(corpus: Corpus, dev_queries: int, seed: int, max_train_queries: int | None = None,
                 positives_per_query: int | None = None) -> TrainingSet:
    """The training examples and dev queries of ``corpus`` (see the module docstring for the dev rule and the draw
    of ``positives_per_query``)."""
    if not corpus.qrels.get("train"):
        raise DatasetError(f"corpus {corpus.name!r} has no judged train split to train on (splits: {corpus.splits()})")
    train_positives = {q: {d for d in docs if d in corpus.docs}
                       for q, docs in relevant(corpus.qrels["train"]).items() if q in corpus.queries["train"]}
    train_ids = sorted(q for q, docs in train_positives.items() if docs)
    if corpus.qrels.get("dev"):
        dev_ids = sorted(q for q, docs in relevant(corpus.qrels["dev"]).items() if docs and q in corpus.queries["dev"])
        dev_texts, dev_qrels, source = corpus.queries["dev"], corpus.qrels["dev"], "dev split"
    else:
        held = np.random.default_rng([seed, 7]).permutation(len(train_ids))[: min(dev_queries, len(train_ids) // 5)]
        dev_ids = sorted(train_ids[i] for i in held)
        train_ids = [q for q in train_ids if q not in set(dev_ids)]
        dev_texts, dev_qrels, source = corpus.queries["train"], corpus.qrels["train"], "held-out training queries"
    if max_train_queries is not None:
        train_ids = train_ids[:max_train_queries]
    dev_ids = dev_ids[:dev_queries] if dev_queries else []
    if not train_ids:
        raise DatasetError(f"corpus {corpus.name!r}: no training query has a relevant document in the corpus")
    doc_ids = corpus.doc_ids()
    doc_texts = corpus.doc_texts(doc_ids)
    drawn = drawn_positives(train_ids, train_positives, seed, positives_per_query)
    examples = [(q, d) for q in train_ids for d in drawn[q]]
    mining = MiningData(doc_ids=doc_ids, doc_texts=doc_texts, query_ids=train_ids,
                        query_texts=[corpus.queries["train"][q] for q in train_ids],
                        positives={q: train_positives[q] for q in train_ids})
    logger.info("%s: %d training queries, %d examples; dev: %d %s", corpus.name, len(train_ids), len(examples),
                len(dev_ids), source)
    query_text = dict(zip(train_ids, mining.query_texts, strict=True))
    return TrainingSet(examples=examples, mining=mining, query_text=query_text,
                       doc_text=dict(zip(doc_ids, doc_texts, strict=True)), dev_query_ids=dev_ids,
                       dev_query_texts=[dev_texts[q] for q in dev_ids],
                       dev_qrels={q: dev_qrels[q] for q in dev_ids}, dev_source=source)


def drawn_positives(query_ids: Sequence[str], positives: dict[str, set[str]], seed: int,
                    per_query: int | None) -> dict[str, list[str]]:
    """Each query's positives that become examples, sorted: all of them (``per_query`` None), else a draw of
    ``per_query`` without replacement, seeded by ``seed`` and made in ``query_ids`` order: one seed, one draw."""
    if per_query is None:
        return {q: sorted(positives[q]) for q in query_ids}
    rng = np.random.default_rng([seed, 11])
    drawn = {}
    for q in query_ids:
        docs = sorted(positives[q])
        drawn[q] = docs if len(docs) <= per_query else sorted(docs[i] for i in rng.choice(len(docs), per_query,
                                                                                            replace=False))
    return drawn


def duplicate_free_batches(examples: Sequence[tuple[str, str]], order: np.ndarray, size: int) -> list[list[int]]:
    """Example indices in ``order``, cut into batches of ``size`` where no query and no document appears twice.

    A repeated document would be its own in-batch negative, a repeated query would make one positive the other's
    negative (sentence-transformers' NoDuplicatesBatchSampler rule). Conflicting examples wait for a later batch; the
    last batch may be short, and a final batch of one example is dropped (alone, it has no in-batch negative and its
    InfoNCE loss is 0: an optimiser step on nothing).
    """
    batches: list[list[int]] = []
    waiting = [int(i) for i in order]
    while waiting:
        batch: list[int] = []
        seen: set[str] = set()
        rest: list[int] = []
        for i in waiting:
            query, doc = examples[i]
            if len(batch) < size and f"q:{query}" not in seen and f"d:{doc}" not in seen:
                batch.append(i)
                seen.update((f"q:{query}", f"d:{doc}"))
            else:
                rest.append(i)
        batches.append(batch)
        waiting = rest
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches
