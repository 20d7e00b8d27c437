#!/usr/bin/env python3
"""The per-machine rates docs/scaling.md builds its cluster plan on, measured on this machine.

- ``encode``: documents per second of topobench's MiniLM encoder on DPR-sized passages (SciFact documents cut to
  their first 100 words, as DPR's Wikipedia passages are 100 words), and their mean token count;
- ``exact``: exact inner-product search (faiss ``IndexFlatIP``, what the ground truth uses) in query × document
  pairs per second, 384-d;
- ``hnsw``: faiss HNSW (M=32, efConstruction=200) build rate in vectors per second, 384-d normalised vectors.

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/scaling.py

Each line: ``scaling: <name>=<rate> …``; the last repeats them all. Rates depend on the machine's load: run it on a
quiet machine, and say so beside the figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def encode_rate(n_docs: int) -> tuple[float, float]:
    """(documents per second, mean tokens per document) of MiniLM on 100-word passages."""
    from topobench.core.registry import get_registry
    from topobench.corpus.corpora import load_corpus

    corpus = load_corpus("scifact")
    texts = [" ".join(t.split()[:100]) for t in corpus.doc_texts(corpus.doc_ids()[:n_docs])]
    encoder = get_registry().create("encoders", "minilm", progress=False)
    encoder.encode(texts[:32])  # load the model and warm up
    tokens = float(np.mean([len(ids) for ids in encoder.token_ids(texts, "doc")]))
    start = perf_counter()
    encoder.encode(texts)
    return len(texts) / (perf_counter() - start), tokens


def exact_rate(n_docs: int, n_queries: int, dim: int = 384) -> float:
    """Query × document pairs per second of faiss exact inner-product search (top 100)."""
    import faiss

    rng = np.random.default_rng(0)
    base = rng.standard_normal((n_docs, dim), dtype=np.float32)
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    index = faiss.IndexFlatIP(dim)
    index.add(base)
    start = perf_counter()
    index.search(queries, 100)
    return n_docs * n_queries / (perf_counter() - start)


def hnsw_rate(n: int, dim: int = 384) -> float:
    """Vectors per second of a faiss HNSW build (M=32, efConstruction=200) on normalised Gaussian vectors."""
    import faiss

    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, dim), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 200
    start = perf_counter()
    index.add(X)
    return n / (perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=512, help="passages to encode (default 512)")
    p.add_argument("--exact-docs", type=int, default=200_000, help="corpus of the exact-search timing")
    p.add_argument("--hnsw", type=int, default=50_000, help="vectors of the HNSW build timing")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    figures = {}
    docs_per_second, tokens = encode_rate(args.docs)
    figures["encode_docs_per_s"] = f"{docs_per_second:.1f}"
    figures["tokens_per_doc"] = f"{tokens:.0f}"
    print(f"scaling: encode_docs_per_s={figures['encode_docs_per_s']} tokens_per_doc={figures['tokens_per_doc']} "
          f"(MiniLM, {args.docs} 100-word passages, {os.cpu_count()} cores)", flush=True)
    figures["exact_pairs_per_s"] = f"{exact_rate(args.exact_docs, 1000):.3g}"
    print(f"scaling: exact_pairs_per_s={figures['exact_pairs_per_s']} (faiss IndexFlatIP, {args.exact_docs} x 1000, "
          "384-d)", flush=True)
    figures["hnsw_vectors_per_s"] = f"{hnsw_rate(args.hnsw):.0f}"
    print(f"scaling: hnsw_vectors_per_s={figures['hnsw_vectors_per_s']} (faiss HNSW32, efConstruction 200, "
          f"{args.hnsw} x 384)", flush=True)
    print("scaling: " + " ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
