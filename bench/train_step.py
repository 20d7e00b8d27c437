#!/usr/bin/env python3
"""Where a training step's CPU time goes: float32, bf16, and bf16 without attention dropout, side by side in one run.

One step is what the trainer's step does to the encoder: MiniLM in training mode (dropout on) embeds a batch of
SciFact training queries and documents (``--queries``, ``--docs``, at 128 tokens) through ``HFEncoder.forward`` and
back-propagates an InfoNCE-like loss. Three sides take turns, ``--rounds`` times (the order rotated each round):

* ``float32`` — the exact profile's arithmetic;
* ``bf16`` — the fast profile's (bf16 autocast);
* ``bf16_no_attn_dropout`` — bf16 with the attention-probability dropout set to 0 (hidden dropout kept): a change of
  the training recipe, not of arithmetic, measured because attention dropout is what keeps torch on its unfused
  attention on a CPU (no CPU kernel of ``scaled_dot_product_attention`` takes dropout).

Each side's time is the median CPU seconds of its steps (process time, so a busy machine inflates it less than wall
time). Then one profiled bf16 step per round gives the attention's share: the CPU time of operators on the attention's
tensors (batch × heads × tokens × ·, or batch·heads × · × · products), the materialised scores, softmax, masks,
dropout and transposes. ``--threads`` (default 1) fixes torch's threads, so two sides never share cores differently.
Last line::

    train_step: float32_s=<s> bf16_s=<s> bf16_no_attn_dropout_s=<s> bf16_ratio=<bf16/float32>
        no_attn_dropout_ratio=<no_attn_dropout/bf16> attention_share_bf16=<share>

    HF_HUB_CACHE=../shared/hf/hub HF_HUB_OFFLINE=1 TOPOBENCH_MIRROR=../shared/mirror python bench/train_step.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from plugins.encoders.minilm import MiniLM  # noqa: E402
from topobench.corpus.corpora import load_corpus  # noqa: E402

SIDES = ("float32", "bf16", "bf16_no_attn_dropout")


def make_encoder(side: str):
    enc = MiniLM(max_length=128, precision="float32" if side == "float32" else "bf16", progress=False)
    enc.load()
    module = enc.torch_module()
    module.train()
    if side == "bf16_no_attn_dropout":
        for name, sub in module.named_modules():
            if name.endswith("attention.self"):
                sub.dropout.p = 0.0
    return enc


def step(enc, queries: list[str], docs: list[str]) -> None:
    q = enc.forward(queries, "query")
    d = enc.forward(docs, "doc")
    (q @ d.T / 0.05).logsumexp(dim=1).mean().backward()
    enc.torch_module().zero_grad(set_to_none=True)


def attention_share(enc, queries: list[str], docs: list[str]) -> float:
    """The share of one profiled step's CPU time spent on operators over the attention's tensors."""
    from torch.profiler import ProfilerActivity, profile

    heads = enc.torch_module().config.num_attention_heads
    products = {heads * len(queries), heads * len(docs)}
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step(enc, queries, docs)
    total = attention = 0.0
    for event in prof.key_averages(group_by_input_shape=True):
        total += event.self_cpu_time_total
        shapes = [s for s in event.input_shapes if isinstance(s, list)]
        if any((len(s) == 4 and s[1] == heads) or (len(s) == 3 and s[0] in products) for s in shapes):
            attention += event.self_cpu_time_total
    return attention / total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=32, help="queries a step embeds (default 32)")
    parser.add_argument("--docs", type=int, default=64, help="documents a step embeds (default 64: d+ and one "
                                                               "hard negative per query)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(13)
    corpus = load_corpus("scifact")
    docs = [corpus.doc_text(i) for i in corpus.doc_ids()[: args.docs]]
    queries = list(corpus.queries["train"].values())[: args.queries]
    encoders = {side: make_encoder(side) for side in SIDES}
    for enc in encoders.values():
        step(enc, queries, docs)  # warm-up: first-call allocations and kernel choices
    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    shares = []
    for r in range(args.rounds):
        for side in SIDES[r % len(SIDES):] + SIDES[: r % len(SIDES)]:
            started = time.process_time()
            step(encoders[side], queries, docs)
            seconds[side].append(time.process_time() - started)
        shares.append(attention_share(encoders["bf16"], queries, docs))
    f32, bf16, no_attn = (statistics.median(seconds[side]) for side in SIDES)
    print(f"train_step: float32_s={f32:.2f} bf16_s={bf16:.2f} bf16_no_attn_dropout_s={no_attn:.2f} "
          f"bf16_ratio={bf16 / f32:.2f} no_attn_dropout_ratio={no_attn / bf16:.2f} "
          f"attention_share_bf16={statistics.median(shares):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
