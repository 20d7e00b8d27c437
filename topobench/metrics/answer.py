"""DPR's top-k answer accuracy (``acc@20``, ``acc@100``) as task metrics, for corpora that carry answers (NQ,
TriviaQA, WebQuestions): the share of queries with at least one of the first k retrieved passages containing a
normalised answer string, exactly as DPR computes it (``topobench.corpus.answers``).

Applies when the dataset records answers (``attrs["answers"]``, written by ``corpus_datasets``) and the result was run
with ``count >= k``. Passage texts are reloaded from the corpus (DPR matches the passage text, not its title).
Retrieved rows are ranked by distance, ties by document id descending, as the other task metrics.
"""

from __future__ import annotations

import functools
import json

import numpy as np

from topobench.corpus.answers import answer_hit_ranks
from topobench.corpus.corpora import load_corpus
from topobench.metrics.scoring import Metric, Scoring

CUTOFFS = (20, 100)


@functools.lru_cache(maxsize=2)
def _passages(corpus_name: str, split: str) -> dict[str, str]:
    corpus = load_corpus(corpus_name, splits=[split])
    return {doc_id: doc.text for doc_id, doc in corpus.docs.items()}


def _has_answers(s: Scoring, k: int) -> bool:
    ds = s.dataset
    return (ds is not None and "answers" in ds.attrs and ds.doc_ids is not None and k <= s.result.count
            and len(s.result.neighbors) == len(ds.test))


def _hit_ranks(s: Scoring) -> np.ndarray:
    """Per query, the rank of the first passage with an answer (inf: none in the result), computed once per pair."""
    if "answer_hit_ranks" not in s.shared:
        ds, r = s.dataset, s.result
        passages = _passages(ds.attrs["corpus"], ds.attrs["split"])
        answers = json.loads(ds.attrs["answers"])
        doc_ids = np.asarray(ds.doc_ids, dtype=object)
        texts = []
        for rows, dists in zip(r.neighbors, r.distances, strict=True):
            valid = rows >= 0
            rows, dists = rows[valid], dists[valid]
            order = sorted(range(len(rows)), key=lambda i: (float(dists[i]), _descending(doc_ids[rows[i]])))
            texts.append([passages[doc_ids[rows[i]]] for i in order])
        ranks = answer_hit_ranks(texts, answers, max_k=r.count)
        s.shared["answer_hit_ranks"] = np.array([np.inf if rank is None else rank for rank in ranks], dtype=float)
    return s.shared["answer_hit_ranks"]


def _descending(text: str) -> tuple[int, ...]:
    """A sort key that orders strings descending inside an ascending sort."""
    return tuple(-ord(c) for c in text) + (1,)


ANSWER_METRICS = [
    Metric(
        f"acc@{_k}", f"Top-{_k} answer accuracy (task, DPR)", "higher",
        lambda s, k=_k: float(np.mean(_hit_ranks(s) <= k)), lambda s, k=_k: _has_answers(s, k), kind="task",
        needs_dataset=True, requires=f"answers in the dataset (NQ, TriviaQA, WebQuestions) and count >= {_k}")
    for _k in CUTOFFS
]
