"""The texts behind a corpus dataset, for indexes that search text (BM25): reloaded from the corpus, never copied."""

from __future__ import annotations

from topobench.core.errors import DatasetError
from topobench.corpus.corpora import load_corpus
from topobench.datasets.store import Dataset


def has_texts(dataset: Dataset) -> bool:
    """Whether the dataset records the corpus, split and ids its texts can be reloaded from."""
    return bool(dataset.attrs.get("corpus") and dataset.attrs.get("split")) and None not in (dataset.doc_ids,
                                                                                            dataset.query_ids)


def dataset_texts(dataset: Dataset) -> tuple[list[str], list[str]]:
    """(document texts in ``train`` row order, query texts in ``test`` row order) of a dataset built from a corpus."""
    corpus_name, split = dataset.attrs.get("corpus"), dataset.attrs.get("split")
    if not has_texts(dataset):
        raise DatasetError(
            f"dataset {dataset.name!r} was not built from a corpus (no corpus, split and ids recorded), so a text "
            "index has no texts to search; use a corpus dataset such as scifact-minilm"
        )
    corpus = load_corpus(corpus_name, splits=[split])
    missing = [d for d in dataset.doc_ids[:1000] if d not in corpus.docs]
    if missing:
        raise DatasetError(f"corpus {corpus_name!r} lacks documents of {dataset.name!r} (e.g. {missing[0]!r}); "
                           "rebuild the dataset")
    return corpus.doc_texts(dataset.doc_ids), [corpus.queries[split][q] for q in dataset.query_ids]
