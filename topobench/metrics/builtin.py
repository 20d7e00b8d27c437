"""The built-in metrics: k-NN quality (ann-benchmarks' ``k-nn`` and ``epsilon``), task metrics against qrels
(Recall@k, MRR@10, nDCG@10), speed (QPS, latency percentiles) and cost (build time, index size, peak memory, counters).

A plain list, ``BUILTIN_METRICS``; ``topobench.metrics.registry`` builds the table from it and the answer metrics.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from topobench.metrics.scoring import Metric, Scoring


def counter(key: str) -> Callable[[Scoring], float | None]:
    """The value of the index counter ``key`` per query (``Index.stats()``, divided by the queries by the runner);
    None for a result whose index does not report it. Also used for counters plugins declare as metrics."""
    return lambda s: None if s.result.stats.get(key) is None else float(s.result.stats[key])


def _kilobytes(s: Scoring) -> float | None:
    return None if s.result.index_size_bytes is None else s.result.index_size_bytes / 1024.0


def _megabytes(key: str) -> Callable[[Scoring], float | None]:
    """A ``memory`` entry of the result (bytes) in MB; None for results written before memory was measured."""
    def compute(s: Scoring) -> float | None:
        value = s.result.memory.get(key)
        return None if value is None else float(value) / 1e6

    return compute


def _latency(percentile: float) -> Callable[[Scoring], float | None]:
    def compute(s: Scoring) -> float | None:
        # Every call of a --threads run (rounds × queries), else the per-query latencies of the best pass.
        times = np.asarray(s.result.times if s.result.latencies is None else s.result.latencies, dtype=np.float64)
        return float(np.percentile(times, percentile) * 1000.0) if times.size else None

    return compute


_VECTOR = "a vector-index result and the dataset's exact ground truth at least `count` deep"
_TASK = "relevance judgements (qrels) in the dataset and results run with count >= {k}"
_TASK_METRICS = (("recall", 10, "Recall@10"), ("recall", 100, "Recall@100"), ("mrr", 10, "MRR@10"),
                 ("ndcg", 10, "nDCG@10"))

BUILTIN_METRICS: list[Metric] = [
    Metric("k-nn", "Recall (k-NN, tie-aware)", "higher", lambda s: float(np.mean(s.knn_recalls)),
           lambda s: s.has_vector_truth, kind="quality", needs_dataset=True, requires=_VECTOR),
    Metric("epsilon", "Epsilon 0.01 Recall", "higher", lambda s: float(np.mean(s.epsilon_recalls)),
           lambda s: s.has_vector_truth, kind="quality", needs_dataset=True, requires=_VECTOR),
    *(Metric(f"{kind}@{k}", f"{label} (task, qrels)", "higher", lambda s, kind=kind, k=k: s.task_mean(kind, k),
             lambda s, k=k: s.has_judgements(k), kind="task", needs_dataset=True, requires=_TASK.format(k=k))
      for kind, k, label in _TASK_METRICS),
    Metric("qps", "Queries per second (1/s)", "higher",
           lambda s: 1.0 / s.result.best_search_time if s.result.best_search_time > 0 else None, scale="log"),
    *(Metric(f"p{p:g}".replace(".", ""), f"Latency, {p:g}th percentile (ms)", "lower", _latency(p))
      for p in (50, 95, 99, 99.9)),
    Metric("build", "Build time (s)", "lower", lambda s: s.result.build_time, kind="cost"),
    Metric("indexsize", "Index size (kB)", "lower", kind="cost", requires="an index that reports its size",
           compute=_kilobytes),
    Metric("buildmem", "Peak resident memory, build (MB)", "lower", _megabytes("build_peak_bytes"), kind="cost",
           requires="a result whose peak memory was measured (run since memory was recorded)"),
    Metric("searchmem", "Peak resident memory, search (MB)", "lower", _megabytes("search_peak_bytes"), kind="cost",
           requires="a result whose peak memory was measured (run since memory was recorded)"),
    Metric("containermem", "Peak memory of the container, cgroup (MB)", "lower",
           _megabytes("container_peak_bytes"), kind="cost", requires="a result run in a container (run.py --docker)"),
    Metric("distcomps", "Distance computations per query", "lower", counter("distcomps"), scale="log", kind="cost",
           requires="an index that counts distance computations"),
    Metric("hops", "Graph hops per query", "lower", counter("hops"), kind="cost",
           requires="a graph index that counts hops"),
    Metric("lists_probed", "Inverted lists probed per query", "lower", counter("lists_probed"), kind="cost",
           requires="an inverted-file index that counts probed lists"),
    Metric("candidates", "Results returned per query", "lower", lambda s: s.result.candidates, kind="cost"),
]
