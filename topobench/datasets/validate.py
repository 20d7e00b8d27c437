"""What a dataset must hold before anything runs on it: non-empty corpus and queries of one dimension, finite vectors,
ground truth shaped as the queries with row numbers inside the corpus, and ids and judgements that fit.

Checked when a dataset is read (any file dropped into ``datasets/``, ann-benchmarks' included) and before a built one is
written, so a bad file is one ``DatasetError`` naming the file, the problem and the fix, never an ``AssertionError``
after every index was built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topobench.core.errors import DatasetError

BLOCK_ROWS = 65_536  # rows checked at a time for finiteness (bounded memory on million-row corpora)


def _first_non_finite(X: np.ndarray) -> int | None:
    for start in range(0, len(X), BLOCK_ROWS):
        bad = ~np.isfinite(X[start : start + BLOCK_ROWS]).all(axis=1)
        if bad.any():
            return start + int(np.argmax(bad))
    return None


def check_arrays(where: str, train: np.ndarray, test: np.ndarray, neighbors: np.ndarray, distances: np.ndarray,
                 doc_ids: list[str] | None = None, query_ids: list[str] | None = None, qrels: np.ndarray | None = None,
                 dimension: Any = None, fix: str = "delete the file and build it again") -> None:
    """Raise a ``DatasetError`` (``where``: the file or name; ``fix``: what to do) for the first problem found."""

    def fail(problem: str) -> None:
        raise DatasetError(f"{where} {problem}: {fix}")

    for key, X in (("train", train), ("test", test)):
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            fail(f"has an empty or malformed {key!r} array (shape {X.shape}; expected rows x dimension, both >= 1)")
    if train.shape[1] != test.shape[1]:
        fail(f"has {train.shape[1]}-d 'train' vectors but {test.shape[1]}-d 'test' vectors")
    if dimension is not None and str(dimension).strip() and int(dimension) != train.shape[1]:
        fail(f"says dimension {dimension} but its vectors are {train.shape[1]}-d")
    for key, X in (("train", train), ("test", test)):
        row = _first_non_finite(X)
        if row is not None:
            fail(f"has NaN or infinite values in {key!r} row {row}")
    n_train, n_test = len(train), len(test)
    if neighbors.ndim != 2 or neighbors.shape[0] != n_test or neighbors.shape[1] == 0:
        fail(f"has ground truth 'neighbors' of shape {neighbors.shape}; expected {n_test} rows (one per query) of "
             "neighbour row numbers")
    if not np.issubdtype(neighbors.dtype, np.integer) and not (
            np.issubdtype(neighbors.dtype, np.floating) and np.isfinite(neighbors).all()
            and (neighbors == np.round(neighbors)).all()):
        fail(f"has ground truth 'neighbors' of type {neighbors.dtype} that are not whole row numbers")
    if neighbors.size and (int(neighbors.min()) < -1 or int(neighbors.max()) >= n_train):
        fail(f"has ground truth 'neighbors' outside the corpus rows 0..{n_train - 1}")
    if distances.size and distances.shape != neighbors.shape:
        fail(f"has 'distances' of shape {distances.shape} but 'neighbors' of shape {neighbors.shape}")
    if doc_ids is not None and len(doc_ids) != n_train:
        fail(f"has {len(doc_ids)} doc_ids for {n_train} 'train' vectors")
    if query_ids is not None and len(query_ids) != n_test:
        fail(f"has {len(query_ids)} query_ids for {n_test} 'test' vectors")
    if qrels is not None and len(qrels):
        q = np.asarray(qrels).reshape(-1, 3)
        if int(q[:, 0].min()) < 0 or int(q[:, 0].max()) >= n_test or int(q[:, 1].min()) < 0 or (
                int(q[:, 1].max()) >= n_train):
            fail("has relevance judgements ('qrels') pointing outside its queries or documents")
