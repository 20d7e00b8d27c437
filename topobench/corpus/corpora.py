"""Raw corpora: documents, queries, relevance judgements and (for open-domain QA) answers, by name.

``load_corpus(name)`` knows these names (upstream files are fetched through ``download.fetch``: mirror, cache, then
the upstream address):

* ``scifact`` and the other public BEIR datasets (``BEIR_NAMES``), from
  ``https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/<name>.zip``; ``beir:<name>`` names any BEIR zip,
  including ``beir:nq`` / ``beir:msmarco`` and sub-folders such as ``beir:cqadupstack/android``.
* ``nq``, ``trivia``, ``webq``: DPR's open-domain QA data over DPR's 21M-passage Wikipedia (``psgs_w100.tsv.gz``), from
  ``https://dl.fbaipublicfiles.com/dpr/``. Splits ``train`` / ``dev`` come from the biencoder files (qrels from
  ``positive_ctxs``, plus answers); ``test`` from the ``*.qa.csv`` file (answers only, no qrels: score it with DPR's
  answer accuracy, ``topobench.corpus.answers``). ``nq-pool`` / ``trivia-pool`` / ``webq-pool``: the ``dev`` split over
  only
  the passages its biencoder file lists (positives, negatives and hard negatives) — a CPU-sized stand-in, *not*
  comparable with published full-Wikipedia numbers.
* ``msmarco``: MS MARCO passage ranking, ``collectionandqueries.tar.gz`` from
  ``https://msmarco.z22.web.core.windows.net/msmarcoranking/`` (Microsoft's own files rather than BEIR's re-packing,
  so its official qrels and query ids are used); splits ``train`` and ``dev`` (the standard 6,980-query dev.small).
* ``local:<path>`` or a filesystem path: a folder in BEIR layout (a BEIR zip, or a folder of MS MARCO files, also work).
* ``<first>+<second>[+…]`` (``scifact+nfcorpus+medquad``): the first corpus's queries and judgements over the
  documents of every part, ids namespaced by part (``topobench.corpus.union``): a pool with distractors.
* ``<corpus>-pool<N>`` (``N`` a count, with an optional ``k`` or ``m``: ``nq-pool200k``): the seed's pool protocol over
  any of the above — every document judged relevant to a query of any split, plus documents drawn at random (seed
  ``POOL_SEED``) from the others up to ``N`` in all, in the corpus's order; the queries, qrels and answers unchanged.
  The same name always gives the same pool. ``nq-pool200k``: NQ's 6,515 dev questions (and the training questions'
  gold passages) over 200,000 of the 21M passages.

Loading SciFact from the mirror takes well under a second, so there is no parsed cache.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topobench.core.errors import DatasetError, UnknownNameError
from topobench.corpus import formats as fmt
from topobench.corpus import tiny, union
from topobench.corpus.download import fetch, fetch_all, file_sha256, mirror_dir, where
from topobench.corpus.formats import Document

logger = logging.getLogger(__name__)

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
# BEIR's publicly downloadable datasets. nq and msmarco also exist in BEIR; bare ``nq`` / ``msmarco`` name the
# DPR and Microsoft originals here, the BEIR copies are ``beir:nq`` / ``beir:msmarco``.
BEIR_NAMES = (
    "scifact", "nfcorpus", "arguana", "scidocs", "fiqa", "trec-covid", "webis-touche2020", "quora", "dbpedia-entity",
    "hotpotqa", "fever", "climate-fever", "cqadupstack",
)
DPR_URL = "https://dl.fbaipublicfiles.com/dpr/{path}"
DPR_PASSAGES = "wikipedia_split/psgs_w100.tsv.gz"
# corpus -> split -> file under DPR_URL (dpr/data/download_data.py's RESOURCES_MAP)
DPR_FILES = {
    "nq": {
        "train": "data/retriever/biencoder-nq-train.json.gz",
        "dev": "data/retriever/biencoder-nq-dev.json.gz",
        "test": "data/retriever/nq-test.qa.csv",
    },
    "trivia": {
        "train": "data/retriever/biencoder-trivia-train.json.gz",
        "dev": "data/retriever/biencoder-trivia-dev.json.gz",
        "test": "data/retriever/trivia-test.qa.csv.gz",
    },
    "webq": {
        "train": "data/retriever/biencoder-webquestions-train.json.gz",
        "dev": "data/retriever/biencoder-webquestions-dev.json.gz",
        "test": "data/retriever/webquestions-test.qa.csv",
    },
}
MSMARCO_URL = "https://msmarco.z22.web.core.windows.net/msmarcoranking/collectionandqueries.tar.gz"
SPLIT_ORDER = ("train", "dev", "test")


@dataclass
class Corpus:
    """A retrieval corpus as loaded from its upstream files.

    ``docs`` keeps the file's order. ``queries[split]`` maps query id to text; ``qrels[split]`` maps query id to
    ``{doc id: grade}`` and holds only the splits that have judgements (DPR's test sets have none); ``answers[split]``
    maps query id to answer strings for open-domain QA corpora (NQ, TriviaQA, WebQuestions). ``provenance`` records
    the format and, for each source file, its name, where it came from (mirror / cache / local), URL, size and sha256.
    """

    name: str
    docs: dict[str, Document]
    queries: dict[str, dict[str, str]]
    qrels: dict[str, dict[str, dict[str, int]]]
    answers: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def splits(self) -> list[str]:
        """The splits that have queries, train / dev / test first."""
        return sorted(self.queries, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))

    def doc_ids(self) -> list[str]:
        """Document ids in corpus order."""
        return list(self.docs)

    def doc_text(self, doc_id: str) -> str:
        """The text an encoder sees, by BEIR's convention: ``title + " " + text``, the title left out when empty."""
        title, text = self.docs[doc_id]
        return (f"{title} {text}" if title else text).strip()

    def doc_texts(self, doc_ids: Collection[str] | None = None) -> list[str]:
        """``doc_text`` for the given ids (all documents, in corpus order, by default)."""
        return [self.doc_text(doc_id) for doc_id in (self.docs if doc_ids is None else doc_ids)]

    def summary(self) -> str:
        """One line: document count and, per split, queries, judged pairs and whether answers are present."""
        parts = []
        for split in self.splits():
            pairs = sum(len(judged) for judged in self.qrels.get(split, {}).values())
            extra = f", {pairs} qrels" if split in self.qrels else ", no qrels"
            extra += ", answers" if split in self.answers else ""
            parts.append(f"{split}: {len(self.queries[split])} queries{extra}")
        return f"{self.name}: {len(self.docs)} docs; " + "; ".join(parts)


POOL_NAME = re.compile(r"(?P<base>.+)-pool(?P<count>[0-9]+)(?P<unit>[km]?)")
POOL_SEED = 0


def pool_corpus(corpus: Corpus, size: int, name: str) -> Corpus:
    """``corpus`` cut to ``size`` documents: every judged-relevant one, then seeded random others (corpus order)."""
    import numpy as np

    relevant = {d for judged in corpus.qrels.values() for docs in judged.values() for d, g in docs.items() if g > 0}
    relevant &= corpus.docs.keys()
    if len(relevant) > size:
        raise DatasetError(f"{name}: the corpus has {len(relevant)} judged-relevant documents, more than the pool of "
                           f"{size}; use a pool of at least {len(relevant)}")
    others = [d for d in corpus.docs if d not in relevant]
    rng = np.random.default_rng(POOL_SEED)
    drawn = rng.choice(len(others), size=min(size - len(relevant), len(others)), replace=False)
    keep = relevant | {others[i] for i in drawn}
    logger.info("%s: %d judged-relevant documents plus %d drawn from %d others (seed %d)", name, len(relevant),
                len(keep) - len(relevant), len(others), POOL_SEED)
    return dataclasses.replace(
        corpus, name=name, docs={d: doc for d, doc in corpus.docs.items() if d in keep},
        provenance={**corpus.provenance, "pool": size, "pool_seed": POOL_SEED, "pool_of": corpus.name})


def pool_size(match: re.Match) -> int:
    return int(match["count"]) * {"": 1, "k": 1_000, "m": 1_000_000}[match["unit"]]


def corpus_names() -> list[str]:
    """The corpus names ``load_corpus`` accepts besides ``beir:<name>``, ``local:<path>`` and paths."""
    return sorted({*BEIR_NAMES, *DPR_FILES, *(f"{n}-pool" for n in DPR_FILES), "msmarco", tiny.NAME})


def is_union(name: str) -> bool:
    """Whether ``name`` is a union of corpora (``scifact+nfcorpus``), not a pool sampled from one nor a local path."""
    return union.SEPARATOR in name and not name.startswith("local:") and POOL_NAME.fullmatch(name) is None


def load_corpus(name: str, splits: Collection[str] | None = None) -> Corpus:
    """Load a corpus by name (see the module docstring); ``splits`` limits which splits are read (default: all).

    Raises UnknownNameError for a name nothing knows, DatasetError for files that cannot be fetched or read.
    """
    started = time.perf_counter()
    pooled = POOL_NAME.fullmatch(name)
    if pooled and not name.startswith("local:"):
        # the pool is drawn from every split's judgements, whichever splits are asked for: one name, one pool
        corpus = pool_corpus(load_corpus(pooled["base"]), pool_size(pooled), name)
        if splits is not None:
            _check_splits(corpus, splits)
            corpus = dataclasses.replace(corpus, **{
                key: {s: v for s, v in getattr(corpus, key).items() if s in splits}
                for key in ("queries", "qrels", "answers")})
        return corpus
    if is_union(name):
        parts = union.union_parts(name)
        loaded = [(parts[0], load_corpus(parts[0], splits))] + [(p, load_corpus(p)) for p in parts[1:]]
        corpus = Corpus(**union.union_tables(name, loaded))
        logger.info("loaded %s (%s)", corpus.summary(), " + ".join(f"{p}: {len(c.docs)} docs" for p, c in loaded))
        return corpus
    if name.startswith("local:"):
        corpus = _load_local(name, Path(name[len("local:") :]).expanduser(), splits)
    elif name in DPR_FILES or (name.endswith("-pool") and name[: -len("-pool")] in DPR_FILES):
        corpus = _load_dpr(name, splits)
    elif name == tiny.NAME:
        corpus = Corpus(name, *tiny.synthetic_tables(), provenance={"format": "synthetic", "seed": tiny.SEED})
    elif name == "msmarco":
        path = fetch(MSMARCO_URL)
        corpus = _build(name, "msmarco", fmt.read_msmarco(path, splits), [(path, MSMARCO_URL)])
    elif name.startswith("beir:") or name in BEIR_NAMES:
        corpus = _load_beir(name, splits)
    elif ("/" in name or name.startswith((".", "~"))) and Path(name).expanduser().exists():
        corpus = _load_local(name, Path(name).expanduser(), splits)
    elif mirror_dir() is not None and (mirror_dir() / f"{name}.zip").is_file():
        corpus = _load_beir(name, splits)  # any other BEIR-layout zip put in the mirror
    else:
        raise UnknownNameError(
            f"unknown corpus {name!r}; known: {', '.join(corpus_names())}, beir:<name>, local:<path>, a folder path, "
            "or any of these as <corpus>-pool<N> (e.g. nq-pool200k)"
        )
    _check_splits(corpus, splits)
    _warn_dangling_qrels(corpus)
    logger.info("loaded %s in %.2f s", corpus.summary(), time.perf_counter() - started)
    return corpus


def _load_beir(name: str, splits: Collection[str] | None) -> Corpus:
    dataset = name[len("beir:") :] if name.startswith("beir:") else name
    zip_name, _, subset = dataset.partition("/")
    url = BEIR_URL.format(name=zip_name)
    path = fetch(url)
    return _build(name, "beir", fmt.read_beir_zip(path, subset or None, splits), [(path, url)])


def _load_local(name: str, path: Path, splits: Collection[str] | None) -> Corpus:
    """A local BEIR folder or zip, or a folder of MS MARCO files."""
    if path.is_file() and path.name.endswith(".zip"):
        return _build(name, "beir", fmt.read_beir_zip(path, None, splits), [(path, None)])
    if not path.is_dir():
        raise DatasetError(f"{path} is neither a folder in BEIR layout nor a BEIR zip")
    sources = [(p, None) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in (".jsonl", ".tsv", ".gz")]
    if (path / "collection.tsv").is_file() and not (path / "corpus.jsonl").is_file():
        return _build(name, "msmarco", fmt.read_msmarco(path, splits), sources)
    return _build(name, "beir", fmt.read_beir_folder(path, splits), sources)


def _load_dpr(name: str, splits: Collection[str] | None) -> Corpus:
    """DPR's NQ / TriviaQA / WebQuestions, over the full Wikipedia passages or (``-pool``) the dev file's passages."""
    pool = name.endswith("-pool")
    files = DPR_FILES[name[: -len("-pool")] if pool else name]
    wanted = ["dev"] if pool else [s for s in files if splits is None or s in splits]
    if pool and splits is not None and set(splits) - {"dev"}:
        raise DatasetError(f"{name} has only the dev split, asked for {', '.join(sorted(splits))}")
    urls = ([] if pool else [DPR_URL.format(path=DPR_PASSAGES)]) + [DPR_URL.format(path=files[s]) for s in wanted]
    paths = fetch_all(urls)  # all first: every missing file is named at once, before minutes of parsing
    sources = list(zip(paths, urls, strict=True))
    queries: dict[str, dict[str, str]] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {}
    answers: dict[str, dict[str, list[str]]] = {}
    passages: fmt.Docs = {} if pool else fmt.read_dpr_passages(paths[0])
    for split, path in zip(wanted, paths[len(paths) - len(wanted) :], strict=True):
        if ".qa.csv" in path.name:
            queries[split], answers[split] = fmt.read_dpr_qas(path, split)
        else:
            pooled = passages if pool else None
            queries[split], qrels[split], answers[split] = fmt.read_dpr_biencoder(path, split, pool=pooled)
    corpus = _build(name, "dpr", (passages, queries, qrels), sources)
    corpus.answers = answers
    return corpus


def _build(name: str, kind: str, parsed: tuple, sources: list[tuple[Path, str | None]]) -> Corpus:
    """A Corpus from a reader's (docs, queries, qrels), with provenance for each source file."""
    docs, queries, qrels = parsed
    files = []
    for path, url in sources:
        entry: dict[str, Any] = {"name": path.name, "path": str(path), "from": where(path)}
        if url:
            entry["url"] = url
        if path.is_file():
            entry["size"] = path.stat().st_size
            entry["sha256"] = file_sha256(path)
        files.append(entry)
    return Corpus(
        name=name,
        docs=docs,
        queries=queries,
        qrels=qrels,
        provenance={"corpus": name, "format": kind, "files": files},
    )


def _check_splits(corpus: Corpus, splits: Collection[str] | None) -> None:
    missing = sorted(set(splits or ()) - set(corpus.queries))
    if missing:
        raise DatasetError(
            f"{corpus.name} has no split {', '.join(missing)}; it has {', '.join(corpus.splits()) or 'none'}"
        )


def _warn_dangling_qrels(corpus: Corpus) -> None:
    """Log (not fail) when judged documents are missing from the corpus, which would silently cap recall."""
    for split, judged in corpus.qrels.items():
        dangling = {doc for docs in judged.values() for doc in docs if doc not in corpus.docs}
        if dangling:
            logger.warning("%s %s: %d judged documents are not in the corpus (e.g. %s)", corpus.name, split,
                           len(dangling), next(iter(dangling)))
