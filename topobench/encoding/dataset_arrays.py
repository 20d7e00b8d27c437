"""The rows of a corpus dataset, whichever way its vectors were made: the query split, the judged queries, and the
arrays and attributes ``write_dataset`` takes (qrels as row triples, the corpus's files, answers, library versions).

Shared by the builder that encodes a corpus (:mod:`topobench.encoding.corpus_dataset`) and the one that composes a
union from its parts' datasets (:mod:`topobench.encoding.union_dataset`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from topobench.core.errors import DatasetError
from topobench.core.machine import installed_versions
from topobench.corpus.corpora import Corpus

QUERY_SPLITS = ("test", "dev")


def query_split(corpus: Corpus) -> str:
    """The split whose queries become the dataset's ``test`` set: the first of test, dev with judgements (so the task
    metrics apply), else the first with answers only. NQ is benchmarked as the seed does, on its dev questions with
    their gold passages as qrels (and answers for acc@k), not on the test questions, which have answers only."""
    for split in QUERY_SPLITS:
        if corpus.qrels.get(split):
            return split
    for split in QUERY_SPLITS:
        if corpus.answers.get(split):
            return split
    raise DatasetError(f"corpus {corpus.name!r} has no test or dev split with judgements or answers to benchmark")


def judged_query_ids(corpus: Corpus, split: str) -> list[str]:
    """The ``split`` queries that have judgements or answers, in corpus order: the dataset's ``test`` rows."""
    qrels_split, answers_split = corpus.qrels.get(split, {}), corpus.answers.get(split, {})
    return [q for q in corpus.queries[split] if q in qrels_split or q in answers_split]


def dataset_arrays(corpus: Corpus, split: str, doc_ids: list[str], query_ids: list[str], train: np.ndarray,
                   test: np.ndarray, distance: str, neighbors: np.ndarray, distances: np.ndarray,
                   made: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``write_dataset`` for vectors of ``corpus`` (rows: ``doc_ids``, ``query_ids`` of
    ``split``) and their exact neighbours: qrels as row triples, the corpus's files, ``made`` (how the vectors were
    made: the encoder's provenance), answers and library versions."""
    qrels_split, answers_split = corpus.qrels.get(split, {}), corpus.answers.get(split, {})
    doc_row = {d: i for i, d in enumerate(doc_ids)}
    qrels = [(qi, doc_row[d], grade) for qi, q in enumerate(query_ids)
             for d, grade in qrels_split.get(q, {}).items() if d in doc_row]
    files = corpus.provenance.get("files", [])
    attrs = {
        "corpus": corpus.name, "split": split, "n_docs": len(doc_ids), "n_queries": len(query_ids),
        "corpus_files": json.dumps([{k: f.get(k) for k in ("name", "sha256", "size")} for f in files]),
        **made, **library_versions(),
    }
    if "subset" in corpus.provenance:
        attrs["subset"] = corpus.provenance["subset"]
    if answers_split:
        attrs["answers"] = json.dumps([answers_split.get(q, []) for q in query_ids])
    return {
        "train": train, "test": test, "distance": distance, "neighbors": neighbors, "distances": distances,
        "doc_ids": doc_ids, "query_ids": query_ids, "qrels": np.array(qrels, dtype=np.int64).reshape(-1, 3),
        "attrs": attrs,
    }


def library_versions() -> dict[str, str]:
    """The versions of the libraries that made and wrote the vectors, as ``version_<package>`` attributes."""
    versions = installed_versions(("topobench", "numpy", "faiss-cpu", "h5py", "torch", "transformers"))
    return {f"version_{package}": version for package, version in versions.items()}
