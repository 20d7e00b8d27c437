"""DPR's top-k answer accuracy: does one of the first k retrieved passages contain an answer string?

This is the task metric DPR reports for NQ, TriviaQA and WebQuestions (Karpukhin et al., 2020, "top-20 / top-100
retrieval accuracy"). It is reproduced here as DPR computes it (``dpr/data/qa_validation.py``, ``has_answer`` with
``match_type="string"``) so that numbers are comparable with the paper:

* passage and answer are put in Unicode NFD form (accents become a base letter plus a combining mark; accents are *not*
  stripped, so "Rontgen" does not match "Röntgen");
* both are cut into tokens by DrQA's ``SimpleTokenizer``: a token is a maximal run of letters, digits and combining
  marks (``[\\p{L}\\p{N}\\p{M}]+``), or any other single character that is neither a separator nor a control / format /
  unassigned character (``[^\\p{Z}\\p{C}]``), so punctuation counts as tokens ("U.S." is ``u . s .``);
* tokens are lower-cased, and the answer matches when its token sequence occurs contiguously in the passage's tokens.

DPR checks the passage *body* only (``psgs_w100.tsv``'s text column), not its title: pass ``Document.text``.
DPR quirk, kept: an answer with no tokens (an empty string) matches every passage.

DPR uses the third-party ``regex`` module for the ``\\p{..}`` classes. When ``regex`` is importable (transformers
depends on it) its pattern is used as is; otherwise the same classes are built once from ``unicodedata`` (~0.2 s on
first use). The two agree on every code point that Python's Unicode tables assign; they differ only on code points
assigned in later Unicode versions (checked code point by code point against regex 2026.11 on Python 3.11, Unicode 14).
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence

__all__ = ["tokenize", "has_answer", "answer_hit_ranks", "answer_accuracy"]


# Planes 4-13 hold no assigned code points in any Unicode version so far: category Cn, skipped when building classes.
_UNASSIGNED_PLANES = range(0x40000, 0xE0000)


def _category_runs() -> list[tuple[str, int, int]]:
    """(major category letter, first, last) runs over all code points, planes 4-13 taken as one unassigned run."""
    runs: list[tuple[str, int, int]] = []
    spans = [(0, _UNASSIGNED_PLANES.start), (_UNASSIGNED_PLANES.stop, sys.maxunicode + 1)]
    for lo, hi in spans:
        majors = [unicodedata.category(chr(cp))[0] for cp in range(lo, hi)]
        start = lo
        for offset, (previous, current) in enumerate(itertools.pairwise(majors), start=lo + 1):
            if current != previous:
                runs.append((previous, start, offset - 1))
                start = offset
        runs.append((majors[-1], start, hi - 1))
        if hi == _UNASSIGNED_PLANES.start:
            runs.append(("C", _UNASSIGNED_PLANES.start, _UNASSIGNED_PLANES.stop - 1))
    return runs


def _char_class(runs: list[tuple[str, int, int]], majors: str) -> str:
    """A character-class body (``\\Uxxxxxxxx-\\Uyyyyyyyy`` ranges) of the runs whose category is in ``majors``."""
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for major, lo, hi in runs if major in majors)


@functools.lru_cache(maxsize=1)
def _token_pattern():
    """DrQA/DPR SimpleTokenizer's ``([\\p{L}\\p{N}\\p{M}]+)|([^\\p{Z}\\p{C}])``: DPR's own when ``regex`` is there."""
    try:
        import regex  # the module DPR uses; transformers depends on it, so it is usually installed
    except ImportError:
        runs = _category_runs()
        return re.compile(f"[{_char_class(runs, 'LNM')}]+|[^{_char_class(runs, 'ZC')}]")
    return regex.compile(r"[\p{L}\p{N}\p{M}]+|[^\p{Z}\p{C}]", flags=regex.IGNORECASE | regex.UNICODE | regex.MULTILINE)


def tokenize(text: str) -> list[str]:
    """Lower-cased DPR tokens of ``text`` after NFD normalisation (what ``has_answer`` compares)."""
    return [token.lower() for token in _token_pattern().findall(unicodedata.normalize("NFD", text))]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    """Whether ``needle`` occurs as a contiguous run in ``haystack`` (an empty needle always does, as in DPR)."""
    n = len(needle)
    if n == 0:
        return True
    first = needle[0]
    for i in range(len(haystack) - n + 1):
        if haystack[i] == first and haystack[i : i + n] == needle:
            return True
    return False


def has_answer(answers: Iterable[str], text: str) -> bool:
    """DPR's ``has_answer(answers, text, SimpleTokenizer(), "string")``: does ``text`` contain any answer's tokens?"""
    tokens = tokenize(text)
    return any(_contains(tokens, tokenize(answer)) for answer in answers)


def answer_hit_ranks(
    retrieved_texts_per_query: Sequence[Sequence[str]],
    answers_per_query: Sequence[Sequence[str]],
    max_k: int | None = None,
) -> list[int | None]:
    """For each query, the 1-based rank of the first retrieved passage that contains an answer (None: no hit).

    Only the first ``max_k`` passages of each query are checked (all when None); the scan stops at the first hit, so
    one call serves acc@20 and acc@100 alike. Passages are the texts in rank order, best first.
    """
    if len(retrieved_texts_per_query) != len(answers_per_query):
        raise ValueError(
            f"{len(retrieved_texts_per_query)} result lists but {len(answers_per_query)} answer lists: one per query"
        )
    ranks: list[int | None] = []
    for texts, answers in zip(retrieved_texts_per_query, answers_per_query, strict=True):
        answer_tokens = [tokenize(answer) for answer in answers]
        hit = None
        for rank, text in enumerate(texts[:max_k] if max_k is not None else texts, start=1):
            tokens = tokenize(text)
            if any(_contains(tokens, needle) for needle in answer_tokens):
                hit = rank
                break
        ranks.append(hit)
    return ranks


def answer_accuracy(
    retrieved_texts_per_query: Sequence[Sequence[str]],
    answers_per_query: Sequence[Sequence[str]],
    k: int,
) -> float:
    """DPR's top-k retrieval accuracy: the fraction of queries with an answer-bearing passage among the first ``k``.

    Every query counts in the denominator (a query with no answers, or fewer than ``k`` results, can still miss), as in
    DPR's ``calculate_matches``. Returns 0.0 for no queries.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    ranks = answer_hit_ranks(retrieved_texts_per_query, answers_per_query, max_k=k)
    return sum(rank is not None for rank in ranks) / len(ranks) if ranks else 0.0
