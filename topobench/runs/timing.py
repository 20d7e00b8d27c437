"""Timing one query-argument point honestly: a warm-up, then best of N, keeping the latencies of that best run —
one query at a time on one thread, all queries in one batch call, or several threads answering concurrently.

Kept apart from the process management in ``runner.py`` so ``bench/overhead.py`` can time the exact same loop that the
runner uses against a plain loop calling the library directly.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter, perf_counter_ns

import numpy as np

from topobench.core.indexes import Index

WARMUP_QUERIES = 200


@dataclass
class Measurement:
    """The best of ``runs`` timed passes over the queries."""

    neighbors: np.ndarray  # (n_queries × k) rows, -1 padded
    scores: np.ndarray | None  # (n_queries × k) scores from text indexes, else None
    times: np.ndarray  # per-query latency (s) of the best run; batch mode: total / n for every query
    best_search_time: float  # mean seconds per query of the best run
    search_times: list[float] = field(default_factory=list)  # mean seconds per query of every run
    stats: dict[str, float] = field(default_factory=dict)  # per-query means of the index's counters (best run)
    threads: int = 1
    rounds: int = 0  # measure_threads: rounds over the queries (0 otherwise)
    latencies: np.ndarray | None = None  # measure_threads: every call's latency (s), rounds × queries, flattened
    query_stats: dict[str, np.ndarray] = field(default_factory=dict)  # measure_single: each counter, per query


def _pad(rows: list[np.ndarray], k: int) -> np.ndarray:
    """Rows of ids (trimmed or -1 padded, any integer type) as one (n × k) int64 matrix, -1 padded."""
    out = np.full((len(rows), k), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        r = np.asarray(r)[:k]
        out[i, : len(r)] = r
    return out


def _per_query(stats: dict[str, float], n: int) -> dict[str, float]:
    return {key: float(value) / n for key, value in stats.items()}


def timed_pass(search: Callable[[np.ndarray], np.ndarray], rows: list[np.ndarray], k: int) -> tuple[list[int],
                                                                                                    np.ndarray]:
    """Answer ``rows`` one at a time with ``search``: (nanoseconds of each call, the (n × k) ids, -1 padded).

    The clock (``perf_counter_ns``: an int, no float allocated) is read right before and right after the call and
    nothing else happens between the two reads. The output is allocated before the loop and each answer copied into it
    after the clock stops, so the library's result buffers are freed and reused from one query to the next as in a
    plain loop; the query vectors are sliced beforehand and every name the loop uses is a local."""
    n = len(rows)
    ticks = [0] * n
    out = np.full((n, k), -1, dtype=np.int64)
    clock = perf_counter_ns
    i = 0
    for q in rows:
        start = clock()
        ids = search(q)
        end = clock()
        if type(ids) is not np.ndarray:  # a plugin's query returning a list
            ids = np.asarray(ids)
        m = min(ids.shape[-1], k)
        out[i, :m] = ids[..., :m]
        ticks[i] = end - start
        i += 1
    return ticks, out


def measure_single(index: Index, queries: np.ndarray, k: int, runs: int) -> Measurement:
    """Query one vector at a time on one thread through ``index.searcher(k)``, timing each call."""
    index.set_threads(1)
    search = index.searcher(k)
    rows = list(queries)  # one view per query, made before any timing
    for q in rows[:WARMUP_QUERIES]:
        search(q)
    n = len(rows)
    best: Measurement | None = None
    search_times = []
    for _ in range(max(1, runs)):
        index.reset_stats()
        ticks, found = timed_pass(search, rows, k)
        stats = index.stats()
        times = np.asarray(ticks, dtype=np.float64) * 1e-9
        mean = float(times.mean())
        search_times.append(mean)
        if best is None or mean < best.best_search_time:
            best = Measurement(found, None, times, mean, stats=_per_query(stats, n), threads=1)
    best.search_times = search_times
    best.query_stats = count_per_query(index, search, rows)
    return best


def count_per_query(index: Index, search: Callable[[np.ndarray], np.ndarray], rows: list[np.ndarray]) -> dict[
        str, np.ndarray]:
    """Each of the index's counters for each query (``stats_names``; e.g. distance computations), from one untimed
    pass after the timed ones: the counters are reset before and read after every query, so the timed passes stay
    exactly as they were. Per-query work is what per-query hardness and intervals over queries need; the index's
    answers are deterministic, so this pass searches as the timed ones did. Empty when the index counts nothing."""
    if not type(index).stats_names:
        return {}
    out: dict[str, list[float]] = {}
    for q in rows:
        index.reset_stats()
        search(q)
        for key, value in index.stats().items():
            out.setdefault(key, []).append(float(value))
    index.reset_stats()
    return {key: np.asarray(values, dtype=np.float64) for key, values in out.items()}


def measure_threads(index: Index, queries: np.ndarray, k: int, runs: int, threads: int, rounds: int) -> Measurement:
    """Throughput under concurrency: ``threads`` threads answer all the queries ``rounds`` times against one index.

    Each round, thread t answers queries t, t + threads, t + 2·threads, … (a static split: no lock or queue between
    the threads), one at a time through ``index.searcher(k)``, each call timed as in single-query mode; the index
    itself searches with one thread per call (``set_threads(1)`` in every thread: OpenMP's thread count is a
    per-thread setting), so the parallelism is the threads', as in a server answering concurrent requests. The
    threads start together at a barrier; the wall time runs from there until the last one finishes.

    The best of ``runs`` passes (highest throughput) is kept: ``best_search_time`` is its wall time per completed
    query (1 / throughput), ``latencies`` every call's latency (rounds × queries), ``times`` each query's mean over
    the rounds, and the answers are those of the first round. faiss and hnswlib release the GIL while they search;
    the Python around each call does not, which is part of what this measures."""
    n = len(queries)
    rows = list(queries)
    index.set_threads(1)
    search = index.searcher(k)
    for q in rows[:WARMUP_QUERIES]:
        search(q)
    best: Measurement | None = None
    search_times = []
    for _ in range(max(1, runs)):
        index.reset_stats()
        ticks = np.zeros((rounds, n), dtype=np.int64)
        answers: list = [None] * n  # the first round's, copied out once the clock has stopped
        errors: list[BaseException] = []
        barrier = threading.Barrier(threads + 1)

        def work(t: int, ticks: np.ndarray = ticks, answers: list = answers, errors: list = errors,
                 barrier: threading.Barrier = barrier) -> None:
            try:
                index.set_threads(1)
                mine = list(range(t, n, threads))
                my_rows = [rows[i] for i in mine]
                spent = [0] * len(mine)
                first: list = [None] * len(mine)
                clock = perf_counter_ns
                barrier.wait()
                for r in range(rounds):
                    j = 0
                    for q in my_rows:
                        start = clock()
                        ids = search(q)
                        end = clock()
                        spent[j] = end - start
                        if r == 0:
                            first[j] = ids
                        j += 1
                    ticks[r, mine] = spent
                for i, ids in zip(mine, first, strict=True):
                    answers[i] = ids
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(exc)
                barrier.abort()

        workers = [threading.Thread(target=work, args=(t,), name=f"topobench-query-{t}") for t in range(threads)]
        for w in workers:
            w.start()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        start = perf_counter_ns()
        for w in workers:
            w.join()
        wall = (perf_counter_ns() - start) * 1e-9
        if errors:
            raise errors[0]
        per_query = wall / (rounds * n)
        search_times.append(per_query)
        if best is None or per_query < best.best_search_time:
            latencies = ticks.astype(np.float64) * 1e-9
            out = np.full((n, k), -1, dtype=np.int64)
            for i, ids in enumerate(answers):
                ids = np.asarray(ids)
                m = min(ids.shape[-1], k)
                out[i, :m] = ids[..., :m]
            best = Measurement(out, None, latencies.mean(axis=0), per_query,
                               stats=_per_query(index.stats(), rounds * n), threads=threads, rounds=rounds,
                               latencies=latencies.ravel())
    best.search_times = search_times
    return best


def measure_batch(index: Index, queries: np.ndarray, k: int, runs: int) -> Measurement:
    """All queries in one ``batch_query`` call, which may use every core; latency per query is total / n."""
    threads = os.cpu_count() or 1
    index.set_threads(threads)
    index.batch_query(queries[:WARMUP_QUERIES], k)
    n = len(queries)
    best: Measurement | None = None
    search_times = []
    for _ in range(max(1, runs)):
        index.reset_stats()
        start = perf_counter()
        index.batch_query(queries, k)
        total = perf_counter() - start
        stats = index.stats()
        mean = total / n
        search_times.append(mean)
        if best is None or mean < best.best_search_time:
            rows = index.get_batch_results()
            best = Measurement(_pad(list(rows), k), None, np.full(n, mean), mean, stats=_per_query(stats, n),
                               threads=threads)
    best.search_times = search_times
    return best


def measure_texts(index: Index, texts: list[str], k: int, runs: int, batch: bool) -> Measurement:
    """The same protocol for text indexes (BM25): query texts instead of vectors; scores are kept."""
    n = len(texts)
    threads = (os.cpu_count() or 1) if batch else 1
    index.set_threads(threads)
    best: Measurement | None = None
    search_times = []
    if batch:
        index.batch_query_texts(texts[:WARMUP_QUERIES], k)
    else:
        for text in texts[:WARMUP_QUERIES]:
            index.query_text(text, k)
    for _ in range(max(1, runs)):
        index.reset_stats()
        if batch:
            start = perf_counter()
            rows, scores = index.batch_query_texts(texts, k)
            mean = (perf_counter() - start) / n
            times = np.full(n, mean)
        else:
            times = np.empty(n, dtype=np.float64)
            rows = np.full((n, k), -1, dtype=np.int64)
            scores = np.full((n, k), -np.inf, dtype=np.float32)
            for i, text in enumerate(texts):
                start = perf_counter()
                r, s = index.query_text(text, k)
                times[i] = perf_counter() - start
                rows[i, : len(r)], scores[i, : len(s)] = r[:k], s[:k]
            mean = float(times.mean())
        search_times.append(mean)
        if best is None or mean < best.best_search_time:
            best = Measurement(np.asarray(rows, np.int64), np.asarray(scores, np.float32), times, mean,
                               stats=_per_query(index.stats(), n), threads=threads)
    best.search_times = search_times
    return best
