"""The retrieval service without the web layer: saved indexes and the dataset's encoder, loaded once, answering
``encode`` and ``search`` calls, with every input check a client can fail raised as a ``ServiceError`` (an HTTP status
and a one-line message). :mod:`topobench.service.app` puts FastAPI in front of it; tests can call it directly.

What is loaded at start (``RetrievalService.load``): the dataset file (document ids, and the vectors that scores are
computed from, as the runner computes distances), each saved index (:mod:`topobench.runs.index_store`), checked against
the
dataset file's sha256 recorded when it was saved, and the encoder that made the dataset (``minilm`` for
``scifact-minilm``, with its checkpoint for a trained variant), warmed up with one text so the first request does not
pay for loading the weights. Datasets without an encoder (``random-*``) are searched with vectors only.

Scores are "higher is better": the cosine for angular data, the inner product for ip, minus the L2 distance for
euclidean, Lucene's BM25 score for ``bm25``. ``search_ms`` times the index call alone; ``encode_ms`` the encoder.
Requests run on a thread pool: each index and the encoder are guarded by a lock (Hugging Face tokenizers and some
index libraries are not safe to call from two threads at once), and indexes search on one thread each.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topobench.core.arguments import check_values
from topobench.core.distances import distances_to
from topobench.core.errors import NoResultsError, TopobenchError
from topobench.core.indexes import Index
from topobench.core.registry import get_registry
from topobench.datasets.store import Dataset, load_dataset
from topobench.runs.index_store import IndexStoreError, SavedIndex, file_sha256
from topobench.runs.results import readable_params
from topobench.service.guard import DEFAULT_MAX_BODY
from topobench.service.setup import resolve_saved

logger = logging.getLogger(__name__)

DEFAULT_LEVEL = 0.95  # k-NN recall the default query args must have reached in the stored results


class ServiceError(Exception):
    """A request the service refuses: ``status`` is the HTTP status (4xx), the message says what to change."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


MAX_K = 100_000  # the largest --max-k: an answer of k ids and scores is built in memory and sent as one JSON body


@dataclass(frozen=True)
class Limits:
    """Request limits (``serve.py --max-texts/--max-text-chars/--max-k/--max-body``). A search's k is also bounded by
    the documents its index holds."""

    max_texts: int = 64
    max_text_chars: int = 10_000
    max_k: int = 1000
    max_body: int = DEFAULT_MAX_BODY


@dataclass
class ServedIndex:
    """One loaded index, its id (``<algorithm>/<readable build args>``, e.g. ``hnsw/32_200``; the saved folder's name
    when two loaded builds read the same) and the query args it searches with."""

    id: str
    saved: SavedIndex
    index: Index
    query_args: list[Any]
    query_args_reason: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def n_docs(self) -> int:
        """How many documents the index holds: the largest k it can answer."""
        return int(self.saved.record["dataset"]["n_docs"])

    def describe(self) -> dict[str, Any]:
        record = self.saved.record
        return {"id": self.id, "algorithm": self.saved.algorithm, "build_args": self.saved.build_args,
                "query_args": self.query_args, "query_args_reason": self.query_args_reason,
                "searches_texts": type(self.index).needs_texts, "distance": record["dataset"]["distance"],
                "n_docs": record["dataset"]["n_docs"], "dimension": record["dataset"]["dimension"],
                "index_size_bytes": record.get("index_size_bytes"), "build_time": record.get("build_time"),
                "saved_at": record.get("saved_at"), "folder": str(self.saved.folder)}


def default_query_args(saved: SavedIndex, level: float = DEFAULT_LEVEL) -> tuple[list[Any], str]:
    """The query args to serve with when none are given: among the stored results of this very build, the fastest
    point with k-NN recall ≥ ``level``; without one, the last algos.yaml group (the grids end at their most accurate
    setting). Returns (args, why)."""
    groups = saved.record.get("query_args") or []
    if not any(groups):
        return [], "the index takes no query args"
    from topobench.report.export import load_points

    try:
        points = load_points(saved.dataset, ["k-nn", "qps"], None, False)
    except NoResultsError:
        points = []
    mine = [p for p in points if p.algorithm == saved.algorithm and json.loads(p.parameters)["args"] == saved.build_args
            and (p.values["k-nn"] or 0.0) >= level and p.values["qps"]]
    if mine:
        best = max(mine, key=lambda p: p.values["qps"])
        return (list(json.loads(best.parameters)["query_args"]),
                f"fastest stored result with k-nn >= {level:g} (k-nn {best.values['k-nn']:.3f}, "
                f"{best.values['qps']:.0f} QPS at count {best.count})")
    return list(groups[-1]), f"the last algos.yaml group: no stored result of this build reaches k-nn {level:g}"


def _load_saved(saved: SavedIndex, dataset: str) -> Index:
    """``saved.load()``, with whatever the index library raises on damaged data (a truncated or corrupt
    ``index.faiss``: faiss's RuntimeError, an EOFError, …) turned into one ``IndexStoreError`` line naming the fix."""
    try:
        return saved.load()
    except TopobenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - every library has its own error for a damaged file
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        build = ",".join(map(str, saved.build_args))
        raise IndexStoreError(
            f"cannot load the saved {saved.algorithm} index in {saved.folder} ({type(exc).__name__}: {reason}): it is "
            f"truncated or damaged; save it again with `python run.py --dataset {dataset} --algorithm "
            f"{saved.algorithm} --save-index{' ' + build if build else ''} --force`") from None


def _similarity(distance: str, d: np.ndarray) -> np.ndarray:
    """The dataset distances (ann-benchmarks conventions) as higher-is-better scores."""
    return 1.0 - d if distance == "angular" else -d


class RetrievalService:
    """Loaded indexes over one dataset, plus its encoder; thread-safe ``encode`` and ``search``."""

    def __init__(self, dataset: Dataset, indexes: Sequence[ServedIndex], encoder: Any | None,
                 encoder_name: str | None, limits: Limits = Limits()) -> None:
        if not indexes:
            raise TopobenchError("a service needs at least one index")
        self.dataset = dataset
        self.indexes = {served.id: served for served in indexes}
        self.encoder = encoder
        self.encoder_name = encoder_name
        self.limits = limits
        self.started = time.time()
        self._encoder_lock = threading.Lock()

    @classmethod
    def load(cls, dataset_name: str, algorithms: Sequence[str], params: Sequence[Any] | None = None,
             query_args: Sequence[Any] | None = None, limits: Limits = Limits(), build_missing: bool = False,
             definitions: Path | None = None) -> RetrievalService:
        """Load the dataset, the saved index of each algorithm (chosen by :func:`~topobench.service.setup.
        resolve_saved`: ``params`` are its build args; ``build_missing`` builds and saves it when missing, with the
        grid file ``definitions``) and the dataset's encoder. Raises ``TopobenchError`` subclasses naming the fix."""
        if (params is not None or query_args is not None) and len(algorithms) != 1:
            raise TopobenchError("--params and --query-args apply to one index: name a single --algorithm")
        dataset = load_dataset(dataset_name, build=False)
        sha = file_sha256(dataset.path)
        served = []
        for algorithm in algorithms:
            saved = resolve_saved(dataset_name, algorithm, params, build_missing, definitions)
            if saved.record["dataset"]["sha256"] != sha:
                build = ",".join(map(str, saved.build_args))
                raise IndexStoreError(
                    f"{dataset.path} changed since the {algorithm} index in {saved.folder} was saved from it; save it "
                    f"again with `python run.py --dataset {dataset_name} --algorithm {algorithm} --save-index"
                    f"{' ' + build if build else ''} --force`")
            start = time.perf_counter()
            index = _load_saved(saved, dataset_name)
            if query_args is not None:
                chosen, why = list(query_args), "--query-args"
            else:
                chosen, why = default_query_args(saved)
            check_values(type(index).set_query_arguments, f"query args {chosen} ({why}) do not fit {algorithm}", None,
                         *chosen)
            index.set_query_arguments(*chosen)
            index.set_threads(1)
            logger.info("loaded %s from %s in %.2f s; query args %s (%s)", index, saved.folder,
                        time.perf_counter() - start, chosen, why)
            index_id = f"{algorithm}/{readable_params(saved.build_args, [])}"
            if any(other.id == index_id for other in served):  # two builds whose readable args agree
                index_id = f"{algorithm}/{saved.slug}"
            served.append(ServedIndex(index_id, saved, index, chosen, why))
        encoder, encoder_name = cls._load_encoder(served[0].saved, dataset)
        return cls(dataset, served, encoder, encoder_name, limits)

    @staticmethod
    def _load_encoder(saved: SavedIndex, dataset: Dataset) -> tuple[Any | None, str | None]:
        spec = saved.record.get("encoder")
        if not spec:
            logger.info("dataset %s records no encoder: searches take vectors only", dataset.name)
            return None, None
        options: dict[str, Any] = {"checkpoint": spec["checkpoint"]} if spec.get("checkpoint") else {}
        start = time.perf_counter()
        encoder = get_registry().create("encoders", spec["name"], **options)
        encoder.progress = False  # a declared setting of every encoder: no progress bar per request
        warm = encoder.encode(["warm-up"], kind="query")  # loads the weights now, not on the first request
        if warm.shape[1] != dataset.dimension:
            raise TopobenchError(f"encoder {spec['name']!r} gives {warm.shape[1]}-d vectors but {dataset.name!r} has "
                                 f"{dataset.dimension}-d ones: the dataset was not made by this encoder")
        logger.info("loaded encoder %s in %.2f s", spec["name"], time.perf_counter() - start)
        return encoder, spec["name"]

    # --- requests -------------------------------------------------------------------------------------------------

    def _check_texts(self, texts: Sequence[str]) -> None:
        if not texts:
            raise ServiceError(422, "texts is empty: send at least one text")
        if len(texts) > self.limits.max_texts:
            raise ServiceError(413, f"{len(texts)} texts in one request; the limit is {self.limits.max_texts} "
                                    "(serve.py --max-texts): split the request")
        for i, text in enumerate(texts):
            if len(text) > self.limits.max_text_chars:
                raise ServiceError(413, f"text {i} has {len(text)} characters; the limit is "
                                        f"{self.limits.max_text_chars} (serve.py --max-text-chars)")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ServiceError(422, f"text {i} is not valid Unicode (a lone surrogate at character {exc.start}): "
                                        "send well-formed UTF-8 text") from None

    def encode(self, texts: Sequence[str], kind: str = "query") -> tuple[np.ndarray, float]:
        """(len(texts) × d vectors, milliseconds spent encoding)."""
        if self.encoder is None:
            raise ServiceError(400, f"dataset {self.dataset.name!r} records no encoder, so this service cannot "
                                    "encode texts: search with a vector instead")
        if kind not in ("query", "doc"):
            raise ServiceError(422, f"kind must be 'query' or 'doc', not {kind!r}")
        self._check_texts(texts)
        with self._encoder_lock:
            start = time.perf_counter()
            vectors = self.encoder.encode(list(texts), kind=kind)
            elapsed = (time.perf_counter() - start) * 1000.0
        return vectors, elapsed

    def get_index(self, index_id: str | None) -> ServedIndex:
        """The index named by its id or, when unambiguous, its algorithm; the first loaded one when None."""
        if index_id is None:
            return next(iter(self.indexes.values()))
        if index_id in self.indexes:
            return self.indexes[index_id]
        matches = [s for s in self.indexes.values() if s.saved.algorithm == index_id]
        if len(matches) == 1:
            return matches[0]
        raise ServiceError(404, f"unknown index {index_id!r}; loaded: {', '.join(self.indexes)} (GET /indexes)")

    def search(self, index_id: str | None = None, query: str | None = None, vector: Sequence[float] | None = None,
               k: int = 10) -> dict[str, Any]:
        """Top ``k`` documents for a query text or a query vector: ids, rows, scores, search and encode time (ms)."""
        served = self.get_index(index_id)
        limit = min(self.limits.max_k, served.n_docs)
        if not 1 <= k <= limit:
            why = ("serve.py --max-k" if limit == self.limits.max_k
                   else f"index {served.id} holds {served.n_docs} documents")
            raise ServiceError(422, f"k={k} is out of range: use 1 <= k <= {limit} ({why})")
        if (query is None) == (vector is None):
            raise ServiceError(422, "send exactly one of 'query' (a text) and 'vector' (a list of numbers)")
        encode_ms = 0.0
        if type(served.index).needs_texts:
            if query is None:
                raise ServiceError(422, f"index {served.id} searches texts: send 'query', not 'vector'")
            self._check_texts([query])
            with served.lock:
                start = time.perf_counter()
                rows, scores = served.index.query_text(query, k)
                search_ms = (time.perf_counter() - start) * 1000.0
        else:
            if query is not None:
                self._check_texts([query])
                vectors, encode_ms = self.encode([query], "query")
                q = vectors[0]
            else:
                q = self._check_vector(vector)
            with served.lock:
                start = time.perf_counter()
                rows = served.index.query(q, k)
                search_ms = (time.perf_counter() - start) * 1000.0
            rows = np.asarray(rows, dtype=np.int64)
            scores = _similarity(self.dataset.distance, distances_to(self.dataset.distance, q, self.dataset.train,
                                                                     rows))
        rows, scores = np.asarray(rows, dtype=np.int64), np.asarray(scores)
        found = rows >= 0  # an index that finds fewer than k pads with -1: not documents, left out
        rows, scores = rows[found], scores[found]
        ids = self.dataset.doc_ids
        return {"index": served.id, "k": k, "ids": [ids[r] if ids is not None else str(r) for r in rows.tolist()],
                "rows": rows.tolist(), "scores": [float(s) for s in scores], "search_ms": search_ms,
                "encode_ms": encode_ms}

    def _check_vector(self, vector: Sequence[float]) -> np.ndarray:
        q = np.asarray(vector, dtype=np.float32)
        if q.ndim != 1 or len(q) != self.dataset.dimension:
            raise ServiceError(422, f"vector has {len(q)} dimensions; the index expects {self.dataset.dimension}")
        if not all(math.isfinite(v) for v in q.tolist()):
            raise ServiceError(422, "vector holds NaN or infinite values")
        return q

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "dataset": self.dataset.name, "indexes": list(self.indexes),
                "encoder": self.encoder_name, "uptime_s": round(time.time() - self.started, 3)}

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.dataset.name, "encoder": self.encoder_name,
                "limits": {"max_texts": self.limits.max_texts, "max_text_chars": self.limits.max_text_chars,
                           "max_k": self.limits.max_k, "max_body": self.limits.max_body},
                "indexes": [s.describe() for s in self.indexes.values()]}

    def close(self) -> None:
        for served in self.indexes.values():
            served.index.done()
