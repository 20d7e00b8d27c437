"""Readers for the upstream corpus formats: BEIR, DPR (NQ / TriviaQA / WebQuestions) and MS MARCO passage.

Each reader takes local paths (from ``download.fetch`` or the user) and returns plain dicts; ``corpora`` turns them into
a ``Corpus``. Formats, as upstream writes them:

* BEIR (zip ``<name>/...`` or a folder): ``corpus.jsonl`` lines ``{"_id", "title", "text", "metadata"}``;
  ``queries.jsonl`` lines ``{"_id", "text", "metadata"}``; ``qrels/<split>.tsv`` with a header
  ``query-id<TAB>corpus-id<TAB>score``. As BEIR's GenericDataLoader: a split's queries are those its qrels name.
* DPR: ``psgs_w100.tsv`` (header ``id<TAB>text<TAB>title``, CSV-quoted text, 21,015,324 passages); biencoder files
  ``biencoder-*.json`` (one JSON array of ``{"dataset", "question", "answers", "positive_ctxs", "negative_ctxs",
  "hard_negative_ctxs"}``, each ctx ``{"title", "text", "score", "title_score", "passage_id"}`` — ``psg_id`` in the
  TriviaQA and WebQuestions files); question-answer files ``*.qa.csv`` (no header; ``question<TAB>['answer', ...]``, the
  answers a Python list literal that DPR ``eval``s).
* MS MARCO passage (``collectionandqueries.tar.gz`` or its extracted folder): ``collection.tsv`` ``pid<TAB>passage``;
  ``queries.<split>.tsv`` ``qid<TAB>query``; ``qrels.<split>.tsv`` ``qid<TAB>0<TAB>pid<TAB>1``. No quoting anywhere.

Compressed inputs (``.gz``) are streamed, never unpacked to disk; a truncated or corrupt file raises one DatasetError
(``reading``) and, when it is a cache entry, is removed so the next run downloads it again.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import gzip
import hashlib
import io
import json
import logging
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from tqdm import tqdm

from topobench.core.errors import DatasetError
from topobench.corpus.download import fix_hint, where

logger = logging.getLogger(__name__)



class Document(NamedTuple):
    """One document: its title ('' when the corpus has none) and body text."""

    title: str
    text: str


Docs = dict[str, Document]  # doc id -> Document, in file order
Queries = dict[str, str]
Qrels = dict[str, dict[str, int]]

csv.field_size_limit(1 << 30)  # psgs_w100 and MS MARCO rows are short, but a corrupt file must fail cleanly, not here

# What a truncated, corrupt or malformed file raises while it is parsed (BadGzipFile is the only OSError meant here).
_CORRUPT = (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile, tarfile.TarError, UnicodeDecodeError,
            json.JSONDecodeError, csv.Error, ValueError, KeyError, IndexError)


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn any parse or decompression failure inside the block into one DatasetError naming ``path`` and the fix.

    A corrupt file in the download cache is deleted on the way out, so it is not left there.
    """
    try:
        yield
    except DatasetError:
        raise
    except _CORRUPT as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if where(path) == "cache":
            path.unlink(missing_ok=True)
            raise DatasetError(f"{path} is truncated, corrupt or malformed ({reason}); it was removed from the cache: "
                               f"run again to download it afresh") from exc
        raise DatasetError(f"{path} is truncated, corrupt or malformed ({reason}): {fix_hint(path)}") from exc


def open_text(path: Path) -> IO[str]:
    """A UTF-8 text stream of a plain or ``.gz`` file; only ``\\n`` ends a line (a text may hold a lone ``\\r``)."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def _progress(iterable: Iterable, desc: str, unit: str, total: int | None = None) -> Iterable:
    """tqdm over a long parse loop, shown only on a terminal."""
    return tqdm(iterable, desc=desc, unit=unit, total=total, disable=None, leave=False, mininterval=1.0)


# --------------------------------------------------------------------------------------------------- BEIR


def _parse_beir(
    open_member: Callable[[str], IO[str]], members: Collection[str], splits: Collection[str] | None, label: str
) -> tuple[Docs, dict[str, Queries], dict[str, Qrels]]:
    """BEIR's corpus, queries and qrels, from an opener of relative member names (zip or folder)."""
    for required in ("corpus.jsonl", "queries.jsonl"):
        if required not in members:
            raise DatasetError(f"{label} is not in BEIR layout: it has no {required}")
    available = sorted(m[len("qrels/") : -len(".tsv")] for m in members if re.fullmatch(r"qrels/[^/]+\.tsv", m))
    wanted = [s for s in available if splits is None or s in splits]
    docs: Docs = {}
    with open_member("corpus.jsonl") as stream:
        for line in _progress(stream, f"{label} corpus", " docs"):
            if line.strip():
                row = json.loads(line)
                docs[str(row["_id"])] = Document(row.get("title") or "", row.get("text") or "")
    texts: Queries = {}
    with open_member("queries.jsonl") as stream:
        for line in stream:
            if line.strip():
                row = json.loads(line)
                texts[str(row["_id"])] = row.get("text") or ""
    queries: dict[str, Queries] = {}
    qrels: dict[str, Qrels] = {}
    for split in wanted:
        judged: Qrels = {}
        with open_member(f"qrels/{split}.tsv") as stream:
            rows = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(rows, None)  # header: query-id, corpus-id, score
            for row in rows:
                if row:
                    judged.setdefault(row[0], {})[row[1]] = int(row[2])
        missing = [qid for qid in judged if qid not in texts]
        if missing:
            logger.warning("%s: %d %s queries have qrels but no text (e.g. %s); dropped", label, len(missing), split,
                           missing[0])
        queries[split] = {qid: texts[qid] for qid in judged if qid in texts}
        qrels[split] = {qid: judged[qid] for qid in queries[split]}
    return docs, queries, qrels


def read_beir_zip(
    path: Path, subset: str | None = None, splits: Collection[str] | None = None
) -> tuple[Docs, dict[str, Queries], dict[str, Qrels]]:
    """A BEIR zip (``<name>/corpus.jsonl`` ...) read in place; ``subset`` picks a sub-folder (``cqadupstack/tex``)."""
    with reading(path), zipfile.ZipFile(path) as archive:
        roots = sorted(n[: -len("corpus.jsonl")] for n in archive.namelist() if n.rsplit("/", 1)[-1] == "corpus.jsonl")
        if subset is not None:
            roots = [r for r in roots if f"/{r.rstrip('/')}".endswith(f"/{subset.strip('/')}")]
        if len(roots) != 1:
            found = ", ".join(r.rstrip("/") or "." for r in roots) or "none"
            raise DatasetError(f"{path}: expected one folder with corpus.jsonl (subset {subset!r}), found: {found}")
        root = roots[0]
        members = {n[len(root) :] for n in archive.namelist() if n.startswith(root)}

        def open_member(member: str) -> IO[str]:
            return io.TextIOWrapper(archive.open(root + member), encoding="utf-8", newline="\n")

        return _parse_beir(open_member, members, splits, path.name)


def read_beir_folder(
    folder: Path, splits: Collection[str] | None = None
) -> tuple[Docs, dict[str, Queries], dict[str, Qrels]]:
    """A folder in BEIR layout: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""
    members = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    with reading(folder):
        return _parse_beir(lambda m: open_text(folder / m), members, splits, str(folder))


# --------------------------------------------------------------------------------------------------- DPR


def iter_json_array(stream: IO[str], chunk_chars: int = 1 << 20, max_item_chars: int = 1 << 28) -> Iterator[Any]:
    """The items of a top-level JSON array, parsed one at a time (DPR's train files are several GB of JSON)."""
    decoder = json.JSONDecoder()
    non_space = re.compile(r"\S")
    buffer, pos, eof = "", 0, False

    def refill() -> bool:
        nonlocal buffer, pos, eof
        chunk = stream.read(chunk_chars)
        if not chunk:
            eof = True
            return False
        buffer, pos = buffer[pos:] + chunk, 0
        return True

    def peek() -> str:
        """Skip white space; the next character without consuming it, '' at the end."""
        nonlocal pos
        while True:
            match = non_space.search(buffer, pos)
            if match:
                pos = match.start()
                return buffer[pos]
            pos = len(buffer)
            if not refill():
                return ""

    if peek() != "[":
        raise ValueError("expected a JSON array")
    pos += 1
    if peek() == "]":
        return
    while True:
        while True:
            try:
                item, end = decoder.raw_decode(buffer, pos)
                if end < len(buffer) or eof or not refill():
                    break
            except json.JSONDecodeError:
                if len(buffer) - pos > max_item_chars or not refill():
                    raise
        yield item
        pos = end
        separator = peek()
        if separator == "]":
            return
        if separator != ",":
            raise ValueError(f"expected ',' or ']' after an array item, found {separator or 'the end of the file'!r}")
        pos += 1
        peek()


def ctx_id(ctx: dict) -> str:
    """A DPR ctx's passage id (``passage_id`` in NQ files, ``psg_id`` in TriviaQA / WebQuestions), else a text hash."""
    for key in ("passage_id", "psg_id", "id"):
        if ctx.get(key) is not None:
            return str(ctx[key])
    text = f"{ctx.get('title') or ''}\n{ctx.get('text') or ''}"
    return "md5:" + hashlib.md5(text.encode("utf-8")).hexdigest()


def read_dpr_biencoder(
    path: Path, split: str, pool: Docs | None = None
) -> tuple[Queries, Qrels, dict[str, list[str]]]:
    """Queries, qrels (positive_ctxs, grade 1) and answers of a DPR biencoder file; query ids are ``<split>-<index>``.

    As DPR's JsonQADataset, questions without positive_ctxs are skipped. When ``pool`` is a dict, every ctx
    (positive, negative, hard negative) is added to it as ``id -> Document(title, text)``.
    """
    queries: Queries = {}
    qrels: Qrels = {}
    answers: dict[str, list[str]] = {}
    skipped = 0
    with reading(path), open_text(path) as stream:
        for index, sample in enumerate(_progress(iter_json_array(stream), f"{path.name}", " questions")):
            positives = sample.get("positive_ctxs") or []
            if pool is not None:
                for key in ("positive_ctxs", "negative_ctxs", "hard_negative_ctxs"):
                    for ctx in sample.get(key) or []:
                        pool.setdefault(ctx_id(ctx), Document(ctx.get("title") or "", ctx.get("text") or ""))
            if not positives:
                skipped += 1
                continue
            qid = f"{split}-{index}"
            queries[qid] = sample["question"]
            qrels[qid] = {ctx_id(ctx): 1 for ctx in positives}
            answers[qid] = [str(a) for a in sample.get("answers") or []]
    if skipped:
        logger.info("%s: skipped %d questions without positive_ctxs (as DPR does)", path.name, skipped)
    return queries, qrels, answers


def read_dpr_qas(path: Path, split: str) -> tuple[Queries, dict[str, list[str]]]:
    """Questions and answers of a DPR ``*.qa.csv`` file; query ids are ``<split>-<row>``."""
    queries: Queries = {}
    answers: dict[str, list[str]] = {}
    with reading(path), open_text(path) as stream:
        for index, row in enumerate(csv.reader(stream, delimiter="\t")):
            if not row:
                continue
            qid = f"{split}-{index}"
            queries[qid] = row[0]
            parsed = ast.literal_eval(row[1])  # DPR eval()s this column; a literal is all it ever holds
            answers[qid] = [str(a) for a in (parsed if isinstance(parsed, list | tuple) else [parsed])]
    return queries, answers


def read_dpr_passages(path: Path) -> Docs:
    """DPR's Wikipedia passages (``psgs_w100.tsv[.gz]``): id -> Document(title, text), ids as in the file."""
    docs: Docs = {}
    with reading(path), open_text(path) as stream:
        rows = csv.reader(stream, delimiter="\t")
        for row in _progress(rows, path.name, " passages", total=21_015_324 if "psgs_w100" in path.name else None):
            if not row or row[0] == "id":
                continue
            docs[row[0]] = Document(row[2], row[1])
    return docs


# --------------------------------------------------------------------------------------------------- MS MARCO

MSMARCO_SPLITS = {"train": "train", "dev": "dev.small"}  # our split name -> the infix of queries.* / qrels.*


def _read_tsv_pairs(stream: IO[str], desc: str) -> Iterator[tuple[str, str]]:
    """``key<TAB>value`` lines (MS MARCO's collection and queries: no header, no quoting)."""
    for line in _progress(stream, desc, " lines"):
        line = line.rstrip("\r\n")
        if line:
            key, value = line.split("\t", 1)
            yield key, value


def _read_trec_qrels(stream: IO[str], into: Qrels) -> None:
    for line in stream:
        fields = line.split()
        if fields:
            qid, _, pid, grade = fields
            into.setdefault(qid, {})[pid] = int(grade)


class _Unseekable(io.RawIOBase):
    """A raw reader over a tar member read in stream mode (whose own ``seekable()`` fails on Python 3.11)."""

    def __init__(self, member: IO[bytes]):
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._member.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_msmarco(
    source: Path, splits: Collection[str] | None = None
) -> tuple[Docs, dict[str, Queries], dict[str, Qrels]]:
    """MS MARCO passage from ``collectionandqueries.tar.gz`` (streamed) or a folder holding its files.

    Splits: ``train`` (queries.train / qrels.train) and ``dev`` (the standard 6,980-query dev.small set). As in BEIR,
    a split's queries are those with qrels.
    """
    wanted = {s: infix for s, infix in MSMARCO_SPLITS.items() if splits is None or s in splits}
    names = {"collection.tsv": ("collection", None)}
    for split, infix in wanted.items():
        names[f"queries.{infix}.tsv"] = ("queries", split)
        names[f"qrels.{infix}.tsv"] = ("qrels", split)
    docs: Docs = {}
    texts: dict[str, Queries] = {s: {} for s in wanted}
    judged: dict[str, Qrels] = {s: {} for s in wanted}
    seen: set[str] = set()

    def consume(name: str, stream: IO[str]) -> None:
        kind, split = names[name]
        seen.add(name)
        if kind == "collection":
            docs.update((pid, Document("", text)) for pid, text in _read_tsv_pairs(stream, name))
        elif kind == "queries":
            texts[split].update(_read_tsv_pairs(stream, name))
        else:
            _read_trec_qrels(stream, judged[split])

    with reading(source):
        if source.is_dir():
            for name in names:
                if (source / name).is_file():
                    with open_text(source / name) as stream:
                        consume(name, stream)
        else:
            with tarfile.open(source, "r|gz") as archive:
                for member in archive:
                    name = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and name in names:
                        raw = io.BufferedReader(_Unseekable(archive.extractfile(member)), 1 << 20)
                        with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as stream:
                            consume(name, stream)
    missing = sorted(set(names) - seen)
    if missing:
        raise DatasetError(f"{source} lacks {', '.join(missing)}: {fix_hint(source)}")
    queries = {s: {qid: texts[s][qid] for qid in judged[s] if qid in texts[s]} for s in wanted}
    qrels = {s: {qid: judged[s][qid] for qid in queries[s]} for s in wanted}
    return docs, queries, qrels
