"""Building ``<corpus>-<encoder>[-<variant>]`` datasets: encode a corpus and its queries, exact ground truth, qrels.

``scifact-minilm`` encodes SciFact's 5,183 documents (title + text, as BEIR) with the ``minilm`` encoder as ``train``,
the test-split queries as ``test``, computes the exact top-100 with faiss, and stores document and query ids, qrels
(query row, document row, grade), answers (for open-domain QA corpora) and provenance. Texts are not copied: the corpus
name and split are recorded, and ``topobench.datasets.texts`` reloads them (for BM25).

The query split is the first of ``test``, ``dev`` that has judgements, else the first with answers: NQ is benchmarked
on its dev questions with their gold passages as qrels (and answers), as the seed does. A variant (``-infonce``,
``-topo@weight=0.8,seed=14``; grammar in :mod:`topobench.training.variants`) names a training configuration: its
checkpoint is trained on the corpus's train split if missing, and the encoder loads it; the training run's facts go
into the dataset's attributes. Every spelling of one configuration builds the one file of its canonical name.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from topobench.core.distances import exact_knn
from topobench.core.errors import DatasetError, UnavailableError
from topobench.core.registry import get_registry
from topobench.corpus.corpora import Corpus, is_union, load_corpus
from topobench.datasets.store import GROUND_TRUTH_K, register_builder
from topobench.encoding.dataset_arrays import dataset_arrays, judged_query_ids, query_split
from topobench.encoding.sharded import ShardPlan, encode_sharded, shard_docs
from topobench.encoding.union_dataset import compose_union
from topobench.training.config import EXACT
from topobench.training.variants import Variant, parse_variant, split_dataset_name

logger = logging.getLogger(__name__)

def subset(corpus: Corpus, split: str, max_docs: int, max_queries: int) -> Corpus:
    """A deterministic slice for quick runs: the first ``max_queries`` judged queries, their relevant documents, then
    the corpus's first documents up to ``max_docs``."""
    qids = sorted(corpus.queries[split])[:max_queries]
    qrels = {q: corpus.qrels.get(split, {}).get(q, {}) for q in qids}
    keep_set = dict.fromkeys(d for q in qids for d in qrels[q] if d in corpus.docs)  # ordered, unique
    keep_set.update(dict.fromkeys([d for d in corpus.docs if d not in keep_set][: max(0, max_docs - len(keep_set))]))
    return Corpus(
        name=corpus.name,
        docs={d: doc for d, doc in corpus.docs.items() if d in keep_set},
        queries={split: {q: corpus.queries[split][q] for q in qids}},
        qrels={split: {q: {d: g for d, g in qrels[q].items() if d in keep_set} for q in qids}},
        answers={split: {q: corpus.answers[split][q] for q in qids}} if corpus.answers.get(split) else {},
        provenance={**corpus.provenance, "subset": f"{max_docs} docs, {max_queries} queries"},
    )


def make_encoder(name: str, **options: Any):
    """The registered encoder ``name`` built with ``options``; unknown, unavailable or mistyped is a one-line error."""
    # A local checkpoint needs no hub weights, so only an encoder of hub weights is checked for availability.
    return get_registry().create("encoders", name, check_available="checkpoint" not in options, **options)


def encode_corpus(corpus: Corpus, encoder, split: str, plan: ShardPlan | None = None) -> dict[str, Any]:
    """The arrays and attributes of a dataset file for ``corpus`` (its ``split`` queries) under ``encoder``.

    With a ``plan`` (the dataset and how to make the encoder again), a corpus larger than one shard is encoded in
    shards, with the ground truth, by the active executor's workers or here (:mod:`topobench.encoding.sharded`)."""
    doc_ids = corpus.doc_ids()
    query_ids = judged_query_ids(corpus, split)
    if not query_ids or not doc_ids:
        raise DatasetError(f"corpus {corpus.name!r} split {split!r} has no judged queries or no documents")
    logger.info("encoding %d documents and %d %s queries of %s", len(doc_ids), len(query_ids), split, corpus.name)
    distance = encoder.distance
    start = time.perf_counter()
    if plan is not None and len(doc_ids) > shard_docs():
        test = encoder.encode([corpus.queries[split][q] for q in query_ids], kind="query")
        files = [{k: f.get(k) for k in ("name", "sha256", "size")} for f in corpus.provenance.get("files", [])]
        train, neighbors, distances = encode_sharded(
            plan.dataset, corpus.doc_texts(doc_ids), plan.encoder, plan.options, encoder.provenance(),
            {"corpus": corpus.name, "files": files, "subset": corpus.provenance.get("subset"), "docs": len(doc_ids)},
            test, distance, GROUND_TRUTH_K)
        doc_seconds = time.perf_counter() - start
    else:
        train = encoder.encode(corpus.doc_texts(doc_ids), kind="doc")
        doc_seconds = time.perf_counter() - start
        test = encoder.encode([corpus.queries[split][q] for q in query_ids], kind="query")
        neighbors, distances = exact_knn(train, test, distance, GROUND_TRUTH_K)
    made = {"encode_docs_per_second": round(len(doc_ids) / max(doc_seconds, 1e-9), 2),
            **{f"encoder_{k}": str(v) for k, v in encoder.provenance().items()}}
    return dataset_arrays(corpus, split, doc_ids, query_ids, train, test, distance, neighbors, distances, made)


def split_name(name: str) -> tuple[str, str, str | None] | None:
    """``scifact-bge-small-topo`` → (``scifact``, ``bge-small``, ``topo``) using the registered encoder names (and
    their aliases: ``nq-bge-topo`` → (``nq``, ``bge-small``, ``topo``)); overrides after ``@`` are not returned."""
    parts = split_dataset_name(name)
    return None if parts is None else parts[:3]


def canonical_dataset_name(name: str) -> str:
    """The one name of every spelling of a variant (``scifact-minilm-topo@weight=0.6`` → ``scifact-minilm-topo``)."""
    variant = parse_variant(name)
    return name if variant is None else variant.name


def build_corpus_dataset(name: str) -> dict[str, Any]:
    variant = parse_variant(name)
    if variant is None:
        raise DatasetError(f"cannot split {name!r} into <corpus>-<encoder>[-<recipe>[@key=value,…]]")
    check_encoder_weights(variant)  # before a corpus is fetched (NQ is 13 GB) or a model trained
    if is_union(variant.corpus):
        return compose_union(variant)
    if variant.stock:
        corpus = load_corpus(variant.corpus)
        arrays = encode_corpus(corpus, make_encoder(variant.encoder), query_split(corpus),
                               ShardPlan(variant.name, variant.encoder, {}))
        arrays["attrs"]["encoder_name"] = variant.encoder
        return arrays
    if variant.checkpoint_name is not None:
        return _encode_with_checkpoint(variant)
    from topobench.training.recipes import trained_checkpoint

    config = variant.config()
    checkpoint, summary = trained_checkpoint(config)
    corpus = load_corpus(variant.corpus)
    options: dict[str, Any] = {"checkpoint": checkpoint}
    if config.profile != EXACT:  # the fast profile encodes the dataset in bf16 too; the vectors stay float32
        options["precision"] = config.encoder_precision
    arrays = encode_corpus(corpus, make_encoder(variant.encoder, **options), query_split(corpus),
                           ShardPlan(variant.name, variant.encoder, {k: str(v) for k, v in options.items()}))
    best = summary["kept"][0] if summary["kept"] else {}
    arrays["attrs"].update({
        "encoder_name": variant.encoder, "recipe": variant.recipe,
        "recipe_overrides": json.dumps(variant.overrides, sort_keys=True),
        "training_fingerprint": summary["fingerprint"],
        "training_config": json.dumps(summary["config"], default=str), "training_best_step": summary["best_step"],
        "training_steps": summary["total_steps"], "training_seconds": summary["train_seconds"],
        **({"training_profile": config.profile} if config.profile != EXACT else {}),
        **{f"training_dev_{k}": v for k, v in best.items() if k != "step"},
    })
    return arrays


def check_encoder_weights(variant: Variant) -> None:
    """Refuse, in one line, a variant whose encoder cannot run here (its weights are not cached offline, its library
    is missing) before anything slow starts. A variant that starts from a local checkpoint needs no hub weights."""
    if variant.checkpoint_name is not None or (variant.trains and "checkpoint" in variant.config().encoder_args):
        return
    reason = get_registry().unavailable_reason("encoders", variant.encoder)
    if reason:
        raise UnavailableError(f"{variant.name} needs encoder {variant.encoder!r}, which is unavailable: {reason}")


def _encode_with_checkpoint(variant: Variant) -> dict[str, Any]:
    """``<corpus>-<encoder>-checkpoint@name=NAME``: the corpus encoded with the model folder ``$TOPOBENCH_MODELS/NAME``
    (its best checkpoint when it is a ``train.py`` run), recorded in the dataset's attributes."""
    from topobench.training.recipes import model_folder

    folder = model_folder(str(variant.checkpoint_name))
    encoder = make_encoder(variant.encoder, checkpoint=folder)  # checks the folder's config.json before the corpus
    corpus = load_corpus(variant.corpus)
    arrays = encode_corpus(corpus, encoder, query_split(corpus),
                           ShardPlan(variant.name, variant.encoder, {"checkpoint": str(folder)}))
    arrays["attrs"].update({"encoder_name": variant.encoder, "recipe": variant.recipe,
                            "model_folder": str(folder)})
    return arrays


register_builder(lambda name: split_dataset_name(name) is not None, build_corpus_dataset,
                 "<corpus>-<encoder>[-<recipe>[@key=value,…]] (e.g. scifact-minilm, scifact-minilm-topo@weight=0.8,"
                 "seed=14; corpora: scifact and other BEIR names, nq, msmarco, local:<path>)",
                 canonical=canonical_dataset_name)
