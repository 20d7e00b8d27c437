#!/usr/bin/env python3
"""Service load check: a bounded number of ``POST /search`` requests at a fixed concurrency against loopback.

Loads the saved index (and the dataset's encoder) into a uvicorn server on a free 127.0.0.1 port in this process,
unless ``--url`` points at one already running, then sends ``--requests`` searches from ``--concurrency`` threads over
keep-alive connections: the dataset's test vectors by default, or its query texts with ``--text`` (those go through
the encoder). Requests stop after ``--max-seconds`` in any case.

    python bench/serve.py --dataset scifact-minilm --algorithm hnsw                 # 2,000 searches, concurrency 8
    python bench/serve.py --dataset scifact-minilm --algorithm hnsw --text --requests 500
    python bench/serve.py --dataset scifact-minilm --url http://127.0.0.1:8000       # a server already running

Last line: ``serve: N searches at concurrency C in S s: R req/s, latency p50 … ms, p99 … ms (server search p50 …,
p99 …), errors E`` (goal: errors 0). Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topobench.datasets.store import load_dataset  # noqa: E402
from topobench.runs.index_store import parse_args_list  # noqa: E402
from topobench.service.load import run_load  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="scifact-minilm")
    parser.add_argument("--algorithm", default="hnsw", help="the saved index to serve (ignored with --url)")
    parser.add_argument("--params", help="build args of the saved index, when several are saved")
    parser.add_argument("--url", help="a running service (loopback) instead of starting one here")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--text", action="store_true", help="search with the query texts instead of vectors")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="start no request after this long")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TQDM_DISABLE", "1")

    dataset = load_dataset(args.dataset, build=False)
    if args.text:
        from topobench.datasets.texts import dataset_texts

        bodies = [{"query": q, "k": args.k} for q in dataset_texts(dataset)[1]]
    else:
        bodies = [{"vector": v.tolist(), "k": args.k} for v in dataset.test]
    if args.url:
        report = run_load(args.url, "/search", bodies, args.requests, args.concurrency, args.max_seconds)
    else:
        from topobench.service.app import create_app
        from topobench.service.core import RetrievalService
        from topobench.service.server import BackgroundServer

        params = parse_args_list(args.params) if args.params else None
        service = RetrievalService.load(args.dataset, [args.algorithm], params)
        try:
            with BackgroundServer(create_app(service)) as server:
                print(f"serving {', '.join(service.indexes)} on {server.url}")
                report = run_load(server.url, "/search", bodies, args.requests, args.concurrency, args.max_seconds)
        finally:
            service.close()
    for example in report.error_examples:
        print(f"error: {example}")
    print(f"serve: {report.line(args.concurrency)}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
