"""Encoding speed: our Hugging Face encoder against ``SentenceTransformer.encode``, its bf16 and int8 arithmetic, and
what int8 costs in quality.

Speed (the default): the same SciFact documents, model, max length and batch size, in one process. Timing noise on a
shared machine is large, so the encoders take turns chunk by chunk (250 documents, rotating who goes first) and each
round's ratio compares total times gathered under the same load; the spread over rounds is logged. The last line is::

    encode: ratio=<ours/theirs> int8_ratio=<ours_int8/theirs> bf16_ratio=<ours_bf16/theirs> ours=<docs/s>
            theirs=<docs/s> gflops=<achieved> peak_fraction=<gflops / fp32 peak> bf16_gflops=<…> sgemm_fraction=<…>

(medians over rounds; ``gflops`` is the linear-layer work of our float32 run per second, counting real tokens only;
``peak_fraction`` divides it by the cores' nominal float32 peak, :func:`fp32_peak_gflops`; ``sgemm_fraction`` is what
one large float32 matrix product reaches in the same process, the ceiling the library offers these cores.)

Where the float32 time goes (torch profiler, 256 documents at 128 tokens, idle machine): the linear layers 74 % (80 %
with the copy of their bias into the output), scaled-dot-product attention 9 %, exact GELU 7 %, layer norms and adds
3 %. The linear layers run at ~90 % of the peak (1,536 × 384 products: 149 GFLOP/s), so the whole encoder tops out near
82 % at 128 tokens and lower at 256, where attention weighs more. What is left is not padding or tokenising (the
texts are sorted and padded per batch; tokenising SciFact costs 1.5 s of a 110 s encoding) but the attention, GELU and
bias kernels themselves — and another kernel for them (oneDNN fusion, ONNX Runtime, ``torch.compile``) rounds
differently, so the exact profile, whose vectors must reproduce bit for bit, keeps torch's float32 kernels; the fast
profile (``precision="bf16"``) is the one that changes the arithmetic.

Quality (``--ndcg``): nDCG@10 and R@100 on SciFact's test split, exact search (faiss flat inner product) over the
whole corpus, float32 against int8; the last line is ``ndcg: float32=<x> int8=<y> delta=<y-x> ...``.

Run from the repository root (about 20 minutes for the speed run, 15 for --ndcg on 2 cores)::

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/encode.py
    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/encode.py --ndcg
"""

from __future__ import annotations

import argparse
import contextlib
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


CORES_FMA_FLOPS = 32  # float32 flops per cycle per core: two 256-bit FMA pipes (AVX-512 is split across them on Zen 4)


def fp32_peak_gflops() -> float:
    """The cores' nominal float32 peak: cores × 32 flops a cycle × the clock ``/proc/cpuinfo`` reports (2.6 GHz here:
    166 GFLOP/s on 2 cores). bf16 (AVX512-BF16 dot products) doubles it, int8 (VNNI) quadruples it."""
    import torch

    mhz = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz = max(mhz, float(line.split(":")[1]))
    return torch.get_num_threads() * CORES_FMA_FLOPS * (mhz or 2600.0) / 1000.0


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of one large float32 matrix product (n × n × n), best of ``repeats``: the library's ceiling here."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


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
    ours_bf16 = registry.create("encoders", args.encoder, precision="bf16", **options)
    theirs = SentenceTransformer(type(ours).model_id, device="cpu")
    theirs.max_seq_length = ours.max_length

    def encode_theirs(batch: list[str]) -> np.ndarray:
        return theirs.encode(batch, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False)

    runs = {"theirs": encode_theirs, "ours": ours.encode, "int8": ours_int8.encode, "bf16": ours_bf16.encode}
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
    bf16_ratio = [t / o for o, t in zip(wall["bf16"], wall["theirs"], strict=True)]
    cpu_ratio = [t / o for o, t in zip(cpu["ours"], cpu["theirs"], strict=True)]
    cpu_int8_ratio = [t / o for o, t in zip(cpu["int8"], cpu["theirs"], strict=True)]
    ours_vectors, theirs_vectors, int8_vectors, bf16_vectors = (
        np.concatenate(vectors[n]) for n in ("ours", "theirs", "int8", "bf16"))
    agreement = np.sum(ours_vectors * theirs_vectors, axis=1)
    int8_cosine = np.sum(int8_vectors * ours_vectors, axis=1)
    bf16_cosine = np.sum(bf16_vectors * ours_vectors, axis=1)
    logger.info("%d docs, %d real tokens (%.1f per doc), max_length %d, batch %d, chunk %d, threads %d, %d rounds",
                len(texts), tokens, tokens / len(texts), ours.max_length, args.batch_size, args.chunk, _threads(),
                args.rounds)
    logger.info("docs/s theirs %s | ours %s | int8 %s | bf16 %s", spread(rates["theirs"]), spread(rates["ours"]),
                spread(rates["int8"]), spread(rates["bf16"]))
    logger.info("per-round wall ratio %s | int8_ratio %s | bf16_ratio %s", spread(ratio), spread(int8_ratio),
                spread(bf16_ratio))
    logger.info("per-round CPU-time ratio %s | int8 %s", spread(cpu_ratio), spread(cpu_int8_ratio))
    logger.info("cosine ours↔theirs min %.6f; int8↔float32 mean %.4f min %.4f; bf16↔float32 mean %.6f min %.6f",
                agreement.min(), int8_cosine.mean(), int8_cosine.min(), bf16_cosine.mean(), bf16_cosine.min())
    peak, sgemm = fp32_peak_gflops(), sgemm_gflops()
    gflops = {name: flops / (len(texts) / statistics.median(rates[name])) / 1e9 for name in ("ours", "int8", "bf16")}
    logger.info("linear-layer GFLOP/s: float32 %.1f, int8 %.1f, bf16 %.1f; nominal float32 peak %.1f (bf16 %.1f, "
                "int8 %.1f); one 2048³ sgemm %.1f", gflops["ours"], gflops["int8"], gflops["bf16"], peak, 2 * peak,
                4 * peak, sgemm)
    print(
        f"encode: ratio={statistics.median(ratio):.3f} int8_ratio={statistics.median(int8_ratio):.3f} "
        f"bf16_ratio={statistics.median(bf16_ratio):.3f} ours={statistics.median(rates['ours']):.2f} "
        f"theirs={statistics.median(rates['theirs']):.2f} gflops={gflops['ours']:.1f} "
        f"peak_fraction={gflops['ours'] / peak:.3f} bf16_gflops={gflops['bf16']:.1f} "
        f"sgemm_fraction={sgemm / peak:.3f}"
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
