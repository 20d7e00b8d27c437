"""Pools with distractors: ``<first>+<second>[+…]`` — the first corpus's queries and judgements over the documents
of every part, so that index cost is measured on a larger, more varied corpus with the same queries.

``scifact+nfcorpus+medquad`` is SciFact's queries and qrels (every split) over SciFact's 5,183 documents plus
NFCorpus's 3,633 and MedQuAD's 15,809: 24,625 documents, 5× SciFact, the other parts' documents acting as
distractors (nothing judges them). Every document id is namespaced by its part (``scifact:4983``,
``nfcorpus:MED-10``), so ids that two corpora share cannot collide and a run file names where each document came
from; the first part's qrels (and answers) are rewritten to the namespaced ids. The union of the same parts in the
same order is the same corpus every time, and ``<union>-pool<N>`` samples it like any corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from topobench.core.errors import DatasetError

SEPARATOR = "+"
NAMESPACE = ":"


def union_parts(name: str) -> list[str]:
    """The parts of a union name, in order; a DatasetError for an empty or repeated part."""
    parts = name.split(SEPARATOR)
    if any(not p for p in parts):
        raise DatasetError(f"corpus {name!r}: an empty part between '+'; write e.g. scifact+nfcorpus+medquad")
    if len(set(parts)) != len(parts):
        raise DatasetError(f"corpus {name!r} names a part twice; name each corpus once")
    return parts


def namespaced(part: str, doc_id: str) -> str:
    return f"{part}{NAMESPACE}{doc_id}"


def union_tables(name: str, parts: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The fields of the union :class:`~topobench.corpus.corpora.Corpus` of ``parts`` (``(part name, corpus)``, the
    first giving the queries): documents of every part, namespaced, in part order; the first part's queries, its
    qrels and answers on namespaced ids; provenance listing every part's files and document count."""
    docs: dict[str, Any] = {}
    for part, corpus in parts:
        for doc_id, doc in corpus.docs.items():
            docs[namespaced(part, doc_id)] = doc
    first_name, first = parts[0]
    qrels = {split: {q: {namespaced(first_name, d): g for d, g in judged.items()} for q, judged in split_qrels.items()}
             for split, split_qrels in first.qrels.items()}
    files = [f for _, corpus in parts for f in corpus.provenance.get("files", [])]
    return {
        "name": name, "docs": docs, "queries": first.queries, "qrels": qrels, "answers": first.answers,
        "provenance": {"format": "union", "parts": [{"corpus": p, "docs": len(c.docs)} for p, c in parts],
                       "queries_from": first_name, "files": files},
    }
