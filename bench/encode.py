"""Encoding speed: our Hugging Face encoder against ``SentenceTransformer.encode``, and what int8 costs in quality.

Speed (the default): the same SciFact documents, model, max length and batch size, in one process. Timing noise on a
shared machine is large, so the encoders take turns chunk by chunk (250 documents, rotating who goes first) and each
round's ratio compares total times gathered under the same load; the spread over rounds is logged. The last line is::

    encode: ratio=<ours/theirs> int8_ratio=<ours_int8/theirs> ours=<docs/s> theirs=<docs/s> gflops=<achieved>

(medians over rounds; ``gflops`` is the linear-layer work of our float32 run per second, counting real tokens only).

Quality (``--ndcg``): nDCG@10 and R@100 on SciFact's test split, exact search (faiss flat inner product) over the
whole corpus, float32 against int8; the last line is ``ndcg: float32=<x> int8=<y> delta=<y-x> ...``.

Run from the repository root (about 20 minutes for the speed run, 15 for --ndcg on 2 cores)::

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/encode.py
    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/encode.py --ndcg
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from topobench.backends.hf_encoder import HFEncoder
from topobench.core.registry import get_registry
from topobench.corpus.corpora import Corpus, load_corpus

logger = logging.getLogger("bench.encode")
ROOT = Path(__file__).resolve().parent.parent


def linear_flops_per_token(encoder: HFEncoder) -> int:
    """FLOPs of the per-token linear layers (2 · in · out each; the pooler works once per text and is left out)."""
    import torch

    return sum(
        2 * module.in_features * module.out_features
        for name, module in encoder.torch_module().named_modules()
        if isinstance(module, torch.nn.Linear) and "pooler" not in name
    )


def timed(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[float, float, np.ndarray]:
    """One call of ``encode`` over ``texts``: (wall seconds, process CPU seconds, embeddings)."""
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = encode(texts)
    return time.perf_counter() - wall, time.process_time() - cpu, vectors


def spread(values: list[float]) -> str:
    """``median [min–max]`` of a list of measurements."""
    return f"{statistics.median(values):.3f} [{min(values):.3f}–{max(values):.3f}]"


def speed(corpus: Corpus, args: argparse.Namespace) -> None:
    """Alternate theirs / ours / ours-int8 over the first ``--docs`` documents and print the ratio line.

    Each round encodes all the documents with each encoder, in chunks of ``--chunk`` documents; the encoders take
    turns chunk by chunk (rotating who goes first), so a burst of load from other processes falls on all of them
    instead of on whichever run it happened to coincide with. A round's ratio is its total times compared.
    """
    from sentence_transformers import SentenceTransformer

    registry = get_registry()
    texts = corpus.doc_texts()[: args.docs]
    options = {"max_length": args.max_length, "batch_size": args.batch_size, "device": "cpu", "progress": False}
    ours = registry.create("encoders", args.encoder, **options)
    ours_int8 = registry.create("encoders", args.encoder, quantize="int8", **options)
    theirs = SentenceTransformer(type(ours).model_id, device="cpu")
    theirs.max_seq_length = ours.max_length

    def encode_theirs(batch: list[str]) -> np.ndarray:
        return theirs.encode(batch, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False)

    runs = {"theirs": encode_theirs, "ours": ours.encode, "int8": ours_int8.encode}
    for encode in runs.values():  # warm-up: first-call allocations and lazy initialisation stay out of the timings
        encode(texts[:8])
    tokens = sum(len(ids) for ids in ours.token_ids(texts, "doc"))
    flops = linear_flops_per_token(ours) * tokens
    chunks = [texts[start : start + args.chunk] for start in range(0, len(texts), args.chunk)]
    wall = {name: [0.0] * args.rounds for name in runs}
    cpu = {name: [0.0] * args.rounds for name in runs}
    vectors: dict[str, list[np.ndarray]] = {}
    order = list(runs)
    for r in range(args.rounds):
        vectors = {name: [] for name in runs}
        for chunk in chunks:
            for name in order:
                seconds, cpu_seconds, chunk_vectors = timed(runs[name], chunk)
                wall[name][r] += seconds
                cpu[name][r] += cpu_seconds
                vectors[name].append(chunk_vectors)
            order = order[1:] + order[:1]
        logger.info("round %d docs/s: %s", r + 1, ", ".join(f"{n} {len(texts) / wall[n][r]:.2f}" for n in runs))
    rates = {name: [len(texts) / seconds for seconds in wall[name]] for name in runs}
    ratio = [t / o for o, t in zip(wall["ours"], wall["theirs"], strict=True)]
    int8_ratio = [t / o for o, t in zip(wall["int8"], wall["theirs"], strict=True)]
    cpu_ratio = [t / o for o, t in zip(cpu["ours"], cpu["theirs"], strict=True)]
    cpu_int8_ratio = [t / o for o, t in zip(cpu["int8"], cpu["theirs"], strict=True)]
    ours_vectors, theirs_vectors, int8_vectors = (np.concatenate(vectors[n]) for n in ("ours", "theirs", "int8"))
    agreement = np.sum(ours_vectors * theirs_vectors, axis=1)
    int8_cosine = np.sum(int8_vectors * ours_vectors, axis=1)
    logger.info("%d docs, %d real tokens (%.1f per doc), max_length %d, batch %d, chunk %d, threads %d, %d rounds",
                len(texts), tokens, tokens / len(texts), ours.max_length, args.batch_size, args.chunk, _threads(),
                args.rounds)
    logger.info("docs/s theirs %s | ours %s | int8 %s", spread(rates["theirs"]), spread(rates["ours"]),
                spread(rates["int8"]))
    logger.info("per-round wall ratio %s | int8_ratio %s", spread(ratio), spread(int8_ratio))
    logger.info("per-round CPU-time ratio %s | int8 %s", spread(cpu_ratio), spread(cpu_int8_ratio))
    logger.info("cosine ours↔theirs min %.6f; int8↔float32 mean %.4f min %.4f",
                agreement.min(), int8_cosine.mean(), int8_cosine.min())
    ours_rate = statistics.median(rates["ours"])
    print(
        f"encode: ratio={statistics.median(ratio):.3f} int8_ratio={statistics.median(int8_ratio):.3f} "
        f"ours={ours_rate:.2f} theirs={statistics.median(rates['theirs']):.2f} "
        f"gflops={flops / (len(texts) / ours_rate) / 1e9:.1f}"
    )


def ndcg(corpus: Corpus, args: argparse.Namespace) -> None:
    """nDCG@10 / R@100 on the test split for float32 and int8, exact inner-product search over the whole corpus."""
    import faiss
    import ir_measures
    from ir_measures import R, nDCG

    split = "test"
    doc_ids = corpus.doc_ids()
    query_ids = [qid for qid in corpus.queries[split] if qid in corpus.qrels[split]]
    query_texts = [corpus.queries[split][qid] for qid in query_ids]
    qrels = [ir_measures.Qrel(q, d, g) for q, judged in corpus.qrels[split].items() for d, g in judged.items()]
    scores = {}
    for quantize in (None, "int8"):
        cached = args.cache / f"scifact-{args.encoder}-{quantize or 'float32'}-{args.max_length}.npz"
        if cached.is_file():
            with np.load(cached) as saved:
                docs, queries = saved["docs"], saved["queries"]
            logger.info("%s: embeddings from %s", quantize or "float32", cached)
        else:
            options = {"max_length": args.max_length, "batch_size": args.batch_size, "device": "cpu"}
            encoder = get_registry().create("encoders", args.encoder, quantize=quantize, **options)
            started = time.perf_counter()
            docs = encoder.encode(corpus.doc_texts(), "doc")
            queries = encoder.encode(query_texts, "query")
            logger.info("%s: encoded %d docs + %d queries in %.0f s", quantize or "float32", len(docs), len(queries),
                        time.perf_counter() - started)
            args.cache.mkdir(parents=True, exist_ok=True)
            np.savez(cached, docs=docs, queries=queries)
        index = faiss.IndexFlatIP(docs.shape[1])
        index.add(docs)
        sims, rows = index.search(queries, 100)
        run = [
            ir_measures.ScoredDoc(qid, doc_ids[r], float(s))
            for qid, row, sim in zip(query_ids, rows, sims, strict=True)
            for r, s in zip(row, sim, strict=True)
            if r >= 0
        ]
        scores[quantize or "float32"] = ir_measures.calc_aggregate([nDCG @ 10, R @ 100], qrels, run)
        logger.info("%s: %s", quantize or "float32", scores[quantize or "float32"])
    f32, i8 = (scores[k][nDCG @ 10] for k in ("float32", "int8"))
    print(f"ndcg: float32={f32:.4f} int8={i8:.4f} delta={i8 - f32:+.4f} "
          f"r100_float32={scores['float32'][R @ 100]:.4f} r100_int8={scores['int8'][R @ 100]:.4f}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--docs", type=int, default=2000, help="first N SciFact documents (speed run)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (speed run)")
    parser.add_argument("--chunk", type=int, default=250, help="documents per turn when alternating (speed run)")
    parser.add_argument("--ndcg", action="store_true", help="measure nDCG@10 float32 vs int8 instead of speed")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/topobench-bench-encode"),
                        help="--ndcg keeps embeddings here and reuses them (delete to re-encode)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("TOPOBENCH_MIRROR", str(ROOT.parent / "shared" / "mirror"))
    corpus = load_corpus("scifact")
    (ndcg if args.ndcg else speed)(corpus, args)


if __name__ == "__main__":
    main()
