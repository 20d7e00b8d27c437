"""``model``: hard negatives mined with the model being trained — encode the corpus with the current weights, search
it exactly with faiss, take the top ranks per training query, positives removed, the first ``skip`` ranks skipped.

The trainer mines again every ``refresh_steps`` of the stage (``refreshes = True``), so the negatives follow the model
as it learns (ANCE-style periodic re-mining). Corpus embeddings come from the trainer's
:class:`topobench.backends.embedding_cache.EmbeddingCache`, keyed on the weights: mining right after a dev evaluation
of the
same weights reuses its encoding, and no change of weights can ever be served stale embeddings.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from topobench.backends.embedding_cache import EmbeddingCache
from topobench.core.distances import flat_index
from topobench.core.hookspecs import hookimpl
from topobench.core.miners import Miner, MiningData, rank_window

logger = logging.getLogger(__name__)


class ModelMiner(Miner):
    """Negatives from exact search with the current weights (faiss), re-mined as training goes.

    Args:
        depth: pool size per query (after removing positives and skipping).
        skip: top ranks left out against false negatives (relevant but unjudged documents rank first).
    """

    refreshes: ClassVar[bool] = True
    uses_encoder: ClassVar[bool] = True
    requires = ("faiss", "torch")
    install_hint = "pip install -e '.[faiss,encoders]'"

    def __init__(self, depth: int = 30, skip: int = 3) -> None:
        if depth < 1 or skip < 0:
            raise ValueError(f"depth must be ≥ 1 and skip ≥ 0 (got depth={depth}, skip={skip})")
        self.depth = int(depth)
        self.skip = int(skip)
        self.embedding_cache = EmbeddingCache()

    def mine(self, data: MiningData, encoder: Any | None = None) -> dict[str, list[str]]:
        if encoder is None:
            raise ValueError("the model miner needs the encoder being trained")
        docs = self.embedding_cache.encode(encoder, data.doc_texts, "doc")
        queries = self.embedding_cache.encode(encoder, data.query_texts, "query")
        most_positives = max((len(p) for p in data.positives.values()), default=0)
        k = min(len(data.doc_ids), self.depth + self.skip + most_positives)
        index = flat_index(docs.shape[1], inner_product=encoder.distance != "euclidean")  # on the GPU where present
        index.add(np.ascontiguousarray(docs, dtype=np.float32))
        _, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        pools = {}
        for qid, ranked in zip(data.query_ids, rows, strict=True):
            ranked_ids = (data.doc_ids[r] for r in ranked if r >= 0)
            pools[qid] = rank_window(ranked_ids, data.positives.get(qid, set()), self.skip, self.depth)
        logger.info("model miner: %d queries, mean pool %.1f (depth %d, skip %d)", len(pools),
                    np.mean([len(p) for p in pools.values()]) if pools else 0.0, self.depth, self.skip)
        return pools


@hookimpl
def register_miners(register):
    register("model", ModelMiner)
