"""Indexes that misbehave on purpose, to test that the runner isolates them: one hangs, one crashes, one raises."""

import os
import time

import numpy as np

from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import Index


class _Exact(Index):
    def fit(self, X):
        self.X = np.asarray(X, np.float32)

    def query(self, q, k):
        return np.argsort(((self.X - q) ** 2).sum(axis=1))[:k]


class Hang(_Exact):
    """Never returns from a query whose query-arg is 'hang'."""

    def set_query_arguments(self, mode="ok"):
        super().set_query_arguments(mode)
        self.mode = mode

    def query(self, q, k):
        while self.mode == "hang":
            time.sleep(0.05)
        return super().query(q, k)


class Crash(_Exact):
    """Kills its own process while building, as a segfaulting library would."""

    def fit(self, X):
        os._exit(3)


class Raises(_Exact):
    """Raises while building."""

    def fit(self, X):
        raise RuntimeError("deliberate failure while building")


@hookimpl
def register_indexes(register):
    register("hang", Hang)
    register("crash", Crash)
    register("raises", Raises)


class Slow(_Exact):
    """Sleeps ``delay`` seconds per query, so a sweep lasts long enough to be killed in the middle."""

    def set_query_arguments(self, delay=0.01):
        super().set_query_arguments(delay)
        self.delay = delay

    def query(self, q, k):
        time.sleep(self.delay)
        return super().query(q, k)


@hookimpl(specname="register_indexes")
def register_slow(register):
    register("slow", Slow)


class Hog(_Exact):
    """Touches ``build_mb`` MB while building (kept, as an index's structure) and ``search_mb`` MB once per query
    group (freed after), so peak-memory measurements and container memory limits have a known amount to see."""

    def __init__(self, metric, build_mb: int = 0, search_mb: int = 0):
        super().__init__(metric, build_mb, search_mb)
        self.build_mb, self.search_mb = build_mb, search_mb

    def fit(self, X):
        super().fit(X)
        self.ballast = np.ones(self.build_mb * (1 << 20) // 8)

    def set_query_arguments(self, *args):
        super().set_query_arguments(*args)
        transient = np.ones(self.search_mb * (1 << 20) // 8)
        del transient


@hookimpl(specname="register_indexes")
def register_hog(register):
    register("hog", Hog)


class Pid(_Exact):
    """Reports the process that answered as a counter (``pid`` per query), so tests can tell runs apart."""

    stats_names = ("pid",)
    answered = 0

    def reset_stats(self):
        self.answered = 0

    def searcher(self, k):
        def search(q):
            self.answered += 1
            return self.query(q, k)

        return search

    def stats(self):
        return {"pid": float(os.getpid() * self.answered)}


@hookimpl(specname="register_indexes")
def register_pid(register):
    register("pid", Pid)
