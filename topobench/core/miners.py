"""The hard-negative miner interface: what a miner sees, what it returns, and the rank window every miner applies.

A miner returns, for each training query, an ordered pool of candidate negatives (best first). The trainer samples
each example's hard negatives from its query's pool, so ``negatives`` (how many per example) is a stage setting,
while how deep and where the pool starts are the miner's (``depth``, ``skip``). A query's positives are never in its
pool: :func:`rank_window` removes them before anything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from topobench.core.component import Component


@dataclass
class MiningData:
    """The corpus and the training queries a miner mines for.

    ``doc_texts[i]`` is the text of ``doc_ids[i]`` (as the encoder sees it); ``query_texts[i]`` of ``query_ids[i]``;
    ``positives`` maps every training query id to its relevant document ids.
    """

    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    positives: dict[str, set[str]]

    def __post_init__(self) -> None:
        if len(self.doc_ids) != len(self.doc_texts) or len(self.query_ids) != len(self.query_texts):
            raise ValueError("doc_ids/doc_texts and query_ids/query_texts must have equal lengths")


def rank_window(ranked: Iterable[str], excluded: set[str], skip: int, depth: int) -> list[str]:
    """The pool from one ranking: drop ``excluded`` (the positives), then the first ``skip`` ranks, keep ``depth``.

    Skipping the very top ranks guards against false negatives: unjudged documents that are in fact relevant tend to
    rank first. Duplicates are dropped (a ranking may repeat a document).
    """
    if skip < 0 or depth < 0:
        raise ValueError(f"skip ({skip}) and depth ({depth}) must not be negative")
    if depth == 0:
        return []
    pool: list[str] = []
    seen: set[str] = set()
    position = 0
    for doc_id in ranked:
        if doc_id in excluded or doc_id in seen:
            continue
        seen.add(doc_id)
        position += 1
        if position > skip:
            pool.append(doc_id)
            if len(pool) >= depth:
                break
    return pool


class Miner(Component, ABC):
    """Picks hard-negative candidates for training queries.

    Capabilities (class attributes): ``refreshes`` is True for miners whose pools depend on the current weights (the
    trainer mines again every ``refresh_steps`` of the stage); ``uses_encoder`` is True when ``mine`` needs the
    encoder being trained — the trainer then sets ``embedding_cache`` to the cache it shares with dev evaluation
    (:class:`topobench.backends.embedding_cache.EmbeddingCache`), so mining right after an evaluation of the same
    weights encodes nothing again.
    """

    refreshes: ClassVar[bool] = False
    uses_encoder: ClassVar[bool] = False
    embedding_cache: Any = None

    @abstractmethod
    def mine(self, data: MiningData, encoder: Any | None = None) -> dict[str, list[str]]:
        """An ordered pool of negative document ids per training query id (best first), never one of its positives.

        A query missing from the result, or with an empty pool, trains on in-batch negatives only.
        """

    @staticmethod
    def check_pools(pools: dict[str, Sequence[str]], data: MiningData) -> None:
        """Raise if any pool holds one of its query's positives (a miner bug the trainer must never train on)."""
        for qid, pool in pools.items():
            bad = data.positives.get(qid, set()).intersection(pool)
            if bad:
                raise RuntimeError(f"miner returned positives {sorted(bad)} as negatives of query {qid!r}")
