"""A union corpus's dataset (``scifact+nfcorpus+medquad-minilm-topo@…``) composed from its parts' datasets.

A document's vector depends on the document and the model, not on the other documents of its collection, so the
union of parts that are each encoded with one model needs no encoding of its own: its ``train`` rows are the parts'
``train`` rows, namespaced and in union order (``scifact:4983``, then NFCorpus's, then MedQuAD's), its ``test`` rows
are the first part's queries, and only the exact ground truth over the union is computed anew. The parts' datasets are
the ordinary ones (``scifact-minilm-topo@weight=0.0``, ``nfcorpus-minilm-topo@train_corpus=scifact,weight=0.0``, …:
the same training configuration, hence the same checkpoint), built first when missing and shared with the studies that
benchmark them alone (the transfer studies), so the 5× pool costs its ground truth and benchmarks, not 24,625 more
encodings.

Composed always, never encoded directly, so that a union's vectors are a function of its parts' files alone, whatever
was on disk: the encoder pads each batch to its longest text and sorts texts by length over the whole collection, so
the same document encoded among other documents can differ in the last bits (measured with MiniLM: 28 of 96 SciFact
documents changed, by at most 1.2e-7 per component, between batches of 32 and of 1). Parts encoded by different
models, encoder settings or library versions are refused, naming the part to rebuild. A sampled union
(``<union>-pool<N>``) is encoded as any corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import numpy as np

from topobench.core.distances import exact_knn
from topobench.core.errors import DatasetError
from topobench.corpus.corpora import load_corpus
from topobench.corpus.union import NAMESPACE, namespaced, union_parts
from topobench.datasets.store import GROUND_TRUTH_K, Dataset, load_dataset
from topobench.encoding.dataset_arrays import dataset_arrays, judged_query_ids, query_split
from topobench.training.variants import TRAIN_CORPUS_KEY, Variant, format_value, parse_variant

logger = logging.getLogger(__name__)

# Attributes that say which model made the vectors: equal in every part (the checkpoint's path aside: its sha256 is
# compared) and carried into the union's dataset.
MODEL_PREFIXES = ("encoder_", "training_", "model_folder")
NOT_COMPARED = ("encoder_checkpoint",)


def part_names(variant: Variant) -> list[str]:
    """The canonical dataset name of each part of ``variant``'s union corpus, with the union's model: a trained variant
    keeps its training corpus (``train_corpus``, the union itself when it names none), so every part names the same
    training configuration and checkpoint."""
    parts = union_parts(variant.corpus)
    if variant.stock:
        return [f"{part}-{variant.encoder}" for part in parts]
    overrides = dict(variant.overrides)
    if variant.trains:
        overrides.setdefault(TRAIN_CORPUS_KEY, variant.corpus)
    items = ",".join(f"{k}={format_value(v)}" for k, v in sorted(overrides.items()))
    names = []
    for part in parts:
        parsed = parse_variant(f"{part}-{variant.encoder}-{variant.recipe}" + (f"@{items}" if items else ""))
        assert parsed is not None  # the union's own name parsed with the same encoder and recipe
        names.append(parsed.name)
    return names


def compose_union(variant: Variant) -> dict[str, Any]:
    """The keyword arguments of ``write_dataset`` for ``variant`` (a union corpus): its parts' vectors (each part's
    dataset loaded, built first when missing), the first part's queries, exact ground truth over the union."""
    names = part_names(variant)
    parts = [load_dataset(name) for name in names]
    _check_one_model(names, parts)
    corpus = load_corpus(variant.corpus)
    split = query_split(corpus)
    query_ids = judged_query_ids(corpus, split)
    if parts[0].query_ids != query_ids:
        raise DatasetError(f"dataset {names[0]!r} does not hold the {split} queries of {variant.corpus!r} in corpus "
                           f"order; delete {parts[0].path} so that it is built again")
    part_of = union_parts(variant.corpus)
    row: dict[str, tuple[int, int]] = {}
    for p, (part, dataset) in enumerate(zip(part_of, parts, strict=True)):
        row.update({namespaced(part, doc_id): (p, r) for r, doc_id in enumerate(dataset.doc_ids or [])})
    doc_ids = corpus.doc_ids()
    missing = [d for d in doc_ids if d not in row]
    if missing:
        part = missing[0].partition(NAMESPACE)[0]
        raise DatasetError(f"the part dataset of {part!r} lacks document {missing[0]!r} of {variant.corpus!r}; "
                           f"delete {parts[part_of.index(part)].path} so that it is built again")
    logger.info("composing %s from %s (%d documents, no encoding)", variant.name, ", ".join(names), len(doc_ids))
    train = np.stack([parts[p].train[r] for p, r in (row[d] for d in doc_ids)]).astype(np.float32, copy=False)
    test, distance = parts[0].test, parts[0].distance
    neighbors, distances = exact_knn(train, test, distance, GROUND_TRUTH_K)
    made = {k: v for k, v in parts[0].attrs.items() if k.startswith(MODEL_PREFIXES)}
    made["composed_from"] = json.dumps([
        {"dataset": name, "n_docs": len(d.train), "train_sha256": hashlib.sha256(d.train.tobytes()).hexdigest()}
        for name, d in zip(names, parts, strict=True)])
    arrays = dataset_arrays(corpus, split, doc_ids, query_ids, train, test, distance, neighbors, distances, made)
    if variant.trains or variant.checkpoint_name is not None:
        arrays["attrs"].update({"recipe": variant.recipe, "recipe_overrides": json.dumps(variant.overrides,
                                                                                          sort_keys=True)})
    return arrays


def _check_one_model(names: list[str], parts: list[Dataset]) -> None:
    """Refuse parts whose vectors were not made by one model with one encoder setting and library versions."""
    def model(dataset: Dataset) -> dict[str, str]:
        return {k: str(v) for k, v in dataset.attrs.items()
                if k.startswith(MODEL_PREFIXES) and k not in NOT_COMPARED}

    first = model(parts[0])
    for name, dataset in zip(names[1:], parts[1:], strict=True):
        other = model(dataset)
        differ = sorted(k for k in first.keys() | other.keys() if first.get(k) != other.get(k))
        if differ:
            raise DatasetError(f"the datasets {names[0]!r} and {name!r} were not made by one model ({differ[0]}: "
                               f"{first.get(differ[0])!r} vs {other.get(differ[0])!r}); delete the older one "
                               f"({dataset.path} or {parts[0].path}) so that it is built again")
