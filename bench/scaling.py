#!/usr/bin/env python3
"""The per-machine rates docs/scaling.md builds its cluster plan on, measured on this machine.

- ``encode``: documents per second of topobench's MiniLM encoder on DPR-sized passages (SciFact documents cut to
  their first 100 words, as DPR's Wikipedia passages are 100 words), and their mean token count;
- ``exact``: exact inner-product search (faiss's flat index, what the ground truth uses: on the GPU where faiss sees
  one) in query × document pairs per second, 384-d;
- ``hnsw``: faiss HNSW (M=32, efConstruction=200) build rate in vectors per second, 384-d normalised vectors;
- ``cagra`` (where faiss has cuVS and sees a GPU): CAGRA (graph degree 32 of 64, NN-descent) build rate, same vectors.

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/scaling.py

On a GPU node the encoder and the exact search run on the GPU (the encoder in fp16, as topobench encodes there).
``--checkpoint DIR`` encodes with a Hugging Face model directory instead of the cached MiniLM weights, e.g. the same
architecture with random weights where the weights cannot travel (the compute per token does not depend on the
weights' values); ``--batch-size`` sets the encoder's batch (default 32, topobench's default).

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


def encode_rate(n_docs: int, checkpoint: str | None = None, batch_size: int = 32) -> tuple[float, float, str]:
    """(documents per second, mean tokens per document, device) of MiniLM (or ``checkpoint``) on 100-word passages
    (SciFact's documents repeated when ``n_docs`` exceeds them)."""
    from topobench.core.registry import get_registry
    from topobench.corpus.corpora import load_corpus

    corpus = load_corpus("scifact")
    ids = corpus.doc_ids()
    ids = (ids * -(-n_docs // len(ids)))[:n_docs]
    texts = [" ".join(t.split()[:100]) for t in corpus.doc_texts(ids)]
    encoder = get_registry().create("encoders", "minilm", checkpoint=checkpoint, batch_size=batch_size,
                                    progress=False)
    encoder.encode(texts[: 4 * batch_size])  # load the model and warm up
    tokens = float(np.mean([len(t) for t in encoder.token_ids(texts, "doc")]))
    start = perf_counter()
    encoder.encode(texts)
    seconds = perf_counter() - start
    import torch

    return len(texts) / seconds, tokens, "cuda" if torch.cuda.is_available() else "cpu"


def exact_rate(n_docs: int, n_queries: int, dim: int = 384) -> float:
    """Query × document pairs per second of faiss exact inner-product search (top 100), on the GPU where the ground
    truth would run there (``core.distances.flat_index``)."""
    from topobench.core.distances import flat_index

    rng = np.random.default_rng(0)
    base = rng.standard_normal((n_docs, dim), dtype=np.float32)
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    index = flat_index(dim, inner_product=True)
    index.add(base)
    index.search(queries[:10], 100)  # warm up (GPU kernels load on first use)
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


def cagra_rate(n: int, dim: int = 384) -> float | None:
    """Vectors per second of a CAGRA build (graph degree 32 of 64, NN-descent) on the GPU; None without cuVS."""
    from topobench.core.registry import get_registry

    if get_registry().unavailable_reason("indexes", "gpu_cagra"):
        return None
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, dim), dtype=np.float32)
    index = get_registry().create("indexes", "gpu_cagra", "angular", 32, 64)
    index.fit(X[: min(n, 5000)])  # warm up
    start = perf_counter()
    index.fit(X)
    return n / (perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=512, help="passages to encode (default 512)")
    p.add_argument("--exact-docs", type=int, default=200_000, help="corpus of the exact-search timing")
    p.add_argument("--hnsw", type=int, default=50_000, help="vectors of the HNSW build timing")
    p.add_argument("--cagra", type=int, default=200_000, help="vectors of the CAGRA build timing (GPU with cuVS)")
    p.add_argument("--checkpoint", help="Hugging Face model directory to encode with instead of the cached MiniLM")
    p.add_argument("--batch-size", type=int, default=32, help="encoder batch size (default 32)")
    p.add_argument("--encode-only", action="store_true", help="measure the encoder alone")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from topobench.core.machine import machine_facts

    gpu = machine_facts(import_torch=True).get("gpu") or "no GPU"
    figures = {}
    docs_per_second, tokens, device = encode_rate(args.docs, args.checkpoint, args.batch_size)
    figures["encode_docs_per_s"] = f"{docs_per_second:.1f}"
    figures["tokens_per_doc"] = f"{tokens:.0f}"
    model = args.checkpoint or "MiniLM"
    print(f"scaling: encode_docs_per_s={figures['encode_docs_per_s']} tokens_per_doc={figures['tokens_per_doc']} "
          f"({model}, {args.docs} 100-word passages, batch {args.batch_size}, on {device}; {os.cpu_count()} cores, "
          f"{gpu})", flush=True)
    if args.encode_only:
        return 0
    figures["exact_pairs_per_s"] = f"{exact_rate(args.exact_docs, 1000):.3g}"
    print(f"scaling: exact_pairs_per_s={figures['exact_pairs_per_s']} (faiss flat inner product, "
          f"{args.exact_docs} x 1000, 384-d; {gpu})", flush=True)
    figures["hnsw_vectors_per_s"] = f"{hnsw_rate(args.hnsw):.0f}"
    print(f"scaling: hnsw_vectors_per_s={figures['hnsw_vectors_per_s']} (faiss HNSW32, efConstruction 200, "
          f"{args.hnsw} x 384)", flush=True)
    rate = cagra_rate(args.cagra)
    if rate is not None:
        figures["cagra_vectors_per_s"] = f"{rate:.0f}"
        print(f"scaling: cagra_vectors_per_s={figures['cagra_vectors_per_s']} (CAGRA 32 of 64, NN-descent, "
              f"{args.cagra} x 384; {gpu})", flush=True)
    print("scaling: " + " ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
