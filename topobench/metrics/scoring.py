"""The metric registry: named functions with description, direction, axis hints (ann-benchmarks' plotting/metrics.py).

Plot, export and report iterate over ``METRICS``, so a metric added here appears everywhere. Each metric maps a
(dataset, result) pair to a float, or to ``None`` when it does not apply — never to 0, which would read as "measured and
bad". Examples of "does not apply": k-NN recall of a text (BM25) result, task metrics on a dataset without qrels, a
cutoff deeper than the result's ``count``, an index that reports no distance computations.

k-NN quality follows ann-benchmarks exactly: per query, the run's first ``count`` distances are counted against a
threshold taken from the exact ground truth — ``true[count-1] + 1e-3`` for ``k-nn`` (tie-aware recall) and
``true[count-1] · (1 + 0.01)`` for ``epsilon`` — and the metric is the mean over queries of ``hits / count``
(thresholds in float64, as ann-benchmarks computed them under NumPy 1).

Task metrics (``recall@k``, ``mrr@10``, ``ndcg@10``) score the returned documents against the dataset's qrels the way
trec_eval does (hence pytrec_eval and ir_measures' nDCG and R):

* **Ranking and tie-break.** Documents are ranked by score descending, score = −distance; equal scores are broken by
  document id string *descending* (trec_eval's ``strcmp(docno2, docno1)``). Ids come from ``dataset.doc_ids``, or
  ``str(row)`` when the dataset has none. Padding (row −1) is not a retrieved document; of a row returned twice only
  the first occurrence counts.
* **Relevance.** Grade ≥ 1 is relevant for recall and MRR; nDCG uses the grade as linear gain with a log2(rank + 1)
  discount and the ideal ranking of all judged documents of the query (negative grades count as 0).
* **Averaging.** Over every query that appears in the qrels (any grade); a query with nothing relevant retrieved, or
  with no relevant document at all, counts as 0 (ir_measures fills missing queries with 0 in the same way).

``Scoring.ranking`` is that order; ``export.py --trec`` writes run files in it, so trec_eval, ir_measures and ranx
read the documents topobench scored, ranked as it ranked them.

ir_measures' *default* ``RR@10`` comes from the MS MARCO script, which breaks ties by doc id ascending; ``mrr@10`` here
keeps trec_eval's rule so that every task metric ranks the same way (it equals pytrec_eval's ``recip_rank`` on the
10-deep run).
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from topobench.core.errors import PluginError
from topobench.datasets.store import Dataset
from topobench.runs.results import Result

logger = logging.getLogger(__name__)

KNN_EPSILON = 1e-3
EPSILON_FACTOR = 0.01
SUMMARY_LEVELS = (0.9, 0.95, 0.99)


def is_text_result(result: Result) -> bool:
    """True when the result's neighbours were not found from vectors (BM25): its stats say ``text_index``."""
    return bool(result.stats.get("text_index", False))


# --- shared per-(dataset, result) computations ----------------------------------------------------------------------


class _Judgements:
    """A dataset's qrels as lookup tables, built once per loaded dataset (see ``_judgements``)."""

    def __init__(self, dataset: Dataset) -> None:
        qrels = np.asarray(dataset.qrels if dataset.qrels is not None else (), dtype=np.int64).reshape(-1, 3)
        self.n_docs = len(dataset.train)
        self.n_queries = len(dataset.test)
        self.queries = np.unique(qrels[:, 0])  # every judged query, relevant documents or not
        # One judgement per (query, doc), the highest grade if the file repeats a pair; sorted by (query, doc).
        qrels = qrels[np.lexsort((qrels[:, 2], qrels[:, 1], qrels[:, 0]))]
        last = np.append((qrels[1:, :2] != qrels[:-1, :2]).any(axis=1), True)
        self.qrels = qrels = qrels[last]
        matchable = qrels[(qrels[:, 1] >= 0) & (qrels[:, 1] < self.n_docs)]
        self.keys, self.grades = matchable[:, 0] * self.n_docs + matchable[:, 1], matchable[:, 2]
        in_range = qrels[(qrels[:, 0] >= 0) & (qrels[:, 0] < self.n_queries)]
        self.num_rel = np.bincount(in_range[:, 0], weights=(in_range[:, 2] >= 1).astype(np.float64),
                                   minlength=self.n_queries)
        self._ideal: dict[int, np.ndarray] = {}
        ids = np.asarray(dataset.doc_ids if dataset.doc_ids is not None else np.arange(self.n_docs).astype(str))
        self.id_rank = np.empty(len(ids), dtype=np.int64)  # position of each doc id in string order
        self.id_rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))

    def grade_of(self, query_rows: np.ndarray, doc_rows: np.ndarray) -> np.ndarray:
        """Grades of (query, doc) pairs, 0 when unjudged; arrays broadcast together."""
        wanted = query_rows * self.n_docs + doc_rows
        if not len(self.keys):
            return np.zeros(wanted.shape, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        return np.where(self.keys[pos] == wanted, self.grades[pos], 0)

    def ideal_dcg(self, k: int) -> np.ndarray:
        """Per-query DCG@k of the ideal ranking of that query's judged documents."""
        if k not in self._ideal:
            q = self.qrels[(self.qrels[:, 0] >= 0) & (self.qrels[:, 0] < self.n_queries)]
            q = q[np.lexsort((-q[:, 2], q[:, 0]))]
            start = np.searchsorted(q[:, 0], q[:, 0], side="left")
            pos = np.arange(len(q)) - start
            keep = pos < k
            gains = np.maximum(q[keep, 2], 0) / np.log2(pos[keep] + 2.0)
            self._ideal[k] = np.bincount(q[keep, 0], weights=gains, minlength=self.n_queries)
        return self._ideal[k]


_JUDGEMENTS: dict[int, tuple[weakref.ref, _Judgements]] = {}


def _judgements(dataset: Dataset) -> _Judgements:
    """Tables for ``dataset``, cached while the dataset object lives (sorting doc ids is the costly part)."""
    entry = _JUDGEMENTS.get(id(dataset))
    if entry is None or entry[0]() is not dataset:
        key = id(dataset)
        entry = (weakref.ref(dataset, lambda _: _JUDGEMENTS.pop(key, None)), _Judgements(dataset))
        _JUDGEMENTS[key] = entry
    return entry[1]


def recall_within(distances: np.ndarray, neighbors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per-query share of the returned rows that are hits: a real row (not the -1 padding) whose distance is within
    the query's threshold (the exact k-th distance + :data:`KNN_EPSILON` for ann-benchmarks' tie-aware k-NN recall).
    ``distances`` and ``neighbors`` are queries × k; the share is over k."""
    run = np.asarray(distances, dtype=np.float64)
    hits = (run <= np.asarray(thresholds, dtype=np.float64)[:, None]) & (np.asarray(neighbors) >= 0)
    return hits.sum(axis=1) / run.shape[1]


def _first_occurrences(rows: np.ndarray) -> np.ndarray:
    """Mask, per row, of entries that are not a repeat of an earlier entry in the same row."""
    order = np.argsort(rows, axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)
    repeat = np.zeros(rows.shape, dtype=bool)
    np.put_along_axis(repeat, order[:, 1:], ordered[:, 1:] == ordered[:, :-1], axis=1)
    return ~repeat


class Scoring:
    """One (dataset, result) pair and the per-query arrays several metrics share, each computed once."""

    def __init__(self, dataset: Dataset | None, result: Result) -> None:
        self.dataset = dataset
        self.result = result
        self._per_query: dict[tuple[str, int], np.ndarray] = {}
        self.shared: dict[str, Any] = {}  # per-pair work that metrics registered elsewhere share (answer_metrics)

    @property
    def has_vector_truth(self) -> bool:
        """k-NN metrics apply: a vector result, ground truth at least ``count`` deep, one run row per query."""
        ds, r = self.dataset, self.result
        return (ds is not None and not is_text_result(r) and r.count >= 1 and ds.distances.ndim == 2
                and r.count <= ds.distances.shape[1] and len(r.distances) == len(ds.distances))

    def has_judgements(self, cutoff: int) -> bool:
        """Task metrics at ``cutoff`` apply: the dataset has qrels and the result returned at least ``cutoff`` rows."""
        ds = self.dataset
        return ds is not None and ds.has_qrels and cutoff <= self.result.count and len(self.result.neighbors) > 0

    def _recalls(self, threshold: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        count = self.result.count
        truth = self.dataset.distances[:, count - 1].astype(np.float64)
        return recall_within(self.result.distances[:, :count], self.result.neighbors[:, :count], threshold(truth))

    @cached_property
    def knn_recalls(self) -> np.ndarray:
        """Per-query tie-aware recall: hits within ``true[count-1] + 1e-3``, over ``count``."""
        return self._recalls(lambda truth: truth + KNN_EPSILON)

    @cached_property
    def epsilon_recalls(self) -> np.ndarray:
        """Per-query (1 + ε)-approximate recall, ε = 0.01."""
        return self._recalls(lambda truth: truth * (1 + EPSILON_FACTOR))

    @cached_property
    def ranking(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The returned documents of each query in trec_eval order: (rows, scores, valid), each queries × count.

        Score = −distance. Valid entries come first (padding, NaN scores and repeats of a row returned earlier are not
        retrieved documents), then score descending, then document id descending (see the module docstring)."""
        judg = _judgements(self.dataset)
        count = self.result.count
        rows = np.asarray(self.result.neighbors[:, :count], dtype=np.int64)
        scores = -np.asarray(self.result.distances[:, :count], dtype=np.float64)
        valid = (rows >= 0) & (rows < judg.n_docs) & ~np.isnan(scores) & _first_occurrences(rows)
        id_rank = judg.id_rank[np.where(valid, rows, 0)]
        # np.lexsort: the last key is the primary one. Valid first, then score descending, then doc id descending.
        order = np.lexsort((-id_rank, -scores, ~valid), axis=1)
        return tuple(np.take_along_axis(a, order, axis=1) for a in (rows, scores, valid))

    @cached_property
    def ranked_grades(self) -> np.ndarray:
        """(queries × count) grades of the returned documents in trec_eval order; 0 for padding and repeats."""
        rows, _, valid = self.ranking
        queries = np.arange(len(rows))[:, None]
        return np.where(valid, _judgements(self.dataset).grade_of(queries, np.where(valid, rows, 0)), 0)

    def per_query(self, kind: str, k: int) -> np.ndarray:
        """Per-query ``recall``/``mrr``/``ndcg`` at cutoff ``k``, one value per row of the result (cached)."""
        if (kind, k) not in self._per_query:
            judg = _judgements(self.dataset)
            grades = self.ranked_grades[:, :k]
            relevant = grades >= 1
            if kind == "recall":
                num_rel = judg.num_rel[: len(grades)]
                values = np.divide(relevant.sum(axis=1), num_rel, out=np.zeros(len(grades)), where=num_rel > 0)
            elif kind == "mrr":
                first = relevant.argmax(axis=1)
                values = np.where(relevant.any(axis=1), 1.0 / (first + 1.0), 0.0)
            elif kind == "ndcg":
                dcg = (np.maximum(grades, 0) / np.log2(np.arange(grades.shape[1]) + 2.0)).sum(axis=1)
                ideal = judg.ideal_dcg(k)[: len(grades)]
                values = np.divide(dcg, ideal, out=np.zeros(len(grades)), where=ideal > 0)
            else:
                raise ValueError(f"unknown task measure {kind!r}")
            self._per_query[(kind, k)] = values
        return self._per_query[(kind, k)]

    def judged_values(self, kind: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(judged query rows, their ``per_query(kind, k)``): the values ``task_mean`` averages, one per judged query
        (0 for a judged query without a run row), for per-query statistics such as a paired bootstrap."""
        rows = _judgements(self.dataset).queries
        values = self.per_query(kind, k)
        inside = (rows >= 0) & (rows < len(values))
        out = np.zeros(len(rows))
        out[inside] = values[rows[inside]]
        return rows, out

    def task_mean(self, kind: str, k: int) -> float:
        """Mean of ``per_query(kind, k)`` over every judged query (judged queries without a run row count 0)."""
        judg = _judgements(self.dataset)
        values = self.per_query(kind, k)
        judged = judg.queries[(judg.queries >= 0) & (judg.queries < len(values))]
        return float(values[judged].sum() / len(judg.queries))


# --- the registry ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A named measurement of one result.

    Attributes:
        name: registry key, CSV column and CLI axis name.
        description: axis label (with the unit).
        direction: ``"higher"`` or ``"lower"`` is better; the Pareto frontier and the summary follow it.
        compute: the value from a ``Scoring``; may return None (e.g. a counter the index does not report).
        applies: whether the metric means anything for this pair; when False the value is None.
        scale: axis hint, ``"linear"`` or ``"log"``.
        kind: ``"quality"`` (k-NN), ``"task"`` (qrels), ``"speed"`` or ``"cost"``.
        needs_dataset: whether the dataset file must be loaded to compute it.
        requires: what a result and dataset need for the metric to apply (used in error messages).
    """

    name: str
    description: str
    direction: str
    compute: Callable[[Scoring], float | None]
    applies: Callable[[Scoring], bool] = lambda s: True
    scale: str = "linear"
    kind: str = "speed"
    needs_dataset: bool = False
    requires: str = ""

    def __post_init__(self) -> None:
        if self.direction not in ("higher", "lower") or self.scale not in ("linear", "log"):
            raise PluginError(f"metric {self.name!r}: direction must be higher|lower and scale linear|log")

    @property
    def worst(self) -> float:
        return -math.inf if self.direction == "higher" else math.inf

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b`` in this metric's direction."""
        return a > b if self.direction == "higher" else a < b

    def value(self, scoring: Scoring) -> float | None:
        """The metric for a prepared pair: None when it does not apply or is not finite."""
        if (self.needs_dataset and scoring.dataset is None) or not self.applies(scoring):
            return None
        raw = self.compute(scoring)
        return None if raw is None or not math.isfinite(raw) else float(raw)

    def __call__(self, dataset: Dataset | None, result: Result) -> float | None:
        return self.value(Scoring(dataset, result))
