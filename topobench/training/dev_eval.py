"""Dev evaluation during training: exact search of the dev queries over the whole corpus, nDCG@10 and Recall@100.

Scored by the benchmark's own task metrics (trec_eval's tie-break, equal to ir_measures), so a dev figure means what
the same figure means in a results table. Corpus embeddings come from the shared :class:`EmbeddingCache`, so
evaluating and then mining with the same weights encodes the corpus once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topobench.backends.embedding_cache import EmbeddingCache
from topobench.core.distances import exact_knn
from topobench.datasets.store import GROUND_TRUTH_K, Dataset
from topobench.metrics.registry import exact_search_metrics
from topobench.training.data import TrainingSet

DEV_METRICS = ("ndcg@10", "recall@100", "mrr@10")


def dev_metrics(encoder: Any, data: TrainingSet, cache: EmbeddingCache) -> dict[str, float]:
    """``{"ndcg@10", "recall@100", "mrr@10"}`` of ``encoder`` on the dev queries (empty when there are none)."""
    if not data.dev_query_ids:
        return {}
    docs = cache.encode(encoder, data.mining.doc_texts, "doc")
    queries = cache.encode(encoder, data.dev_query_texts, "query")
    k = min(GROUND_TRUTH_K, len(docs))
    neighbors, distances = exact_knn(docs, queries, encoder.distance, k, progress=False)
    doc_row = {d: i for i, d in enumerate(data.mining.doc_ids)}
    qrels = np.array([(qi, doc_row[d], g) for qi, q in enumerate(data.dev_query_ids)
                      for d, g in data.dev_qrels[q].items() if d in doc_row], dtype=np.int64).reshape(-1, 3)
    dataset = Dataset(name="dev", path=Path("dev"), distance=encoder.distance, train=docs, test=queries,
                      neighbors=neighbors, distances=distances, doc_ids=data.mining.doc_ids,
                      query_ids=data.dev_query_ids, qrels=qrels)
    values = exact_search_metrics(dataset, DEV_METRICS)
    return {name: float(value) for name, value in values.items() if value is not None}
