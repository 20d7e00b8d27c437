"""``serve.py``: load saved indexes and the dataset's encoder once, then serve them over HTTP (FastAPI on uvicorn).

An entry point like :mod:`topobench.cli.main`, with the same flags, logging set-up and one-line errors
(:mod:`topobench.cli.common`): problems a user can fix (no saved index, a busy port, a dataset that changed) end with
``error: …`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from topobench.cli.common import add_verbosity, guarded, stored_name
from topobench.cli.options import OneLineParser, port, positive_int
from topobench.core.errors import TopobenchError
from topobench.service.guard import DEFAULT_MAX_BODY


def body_size(text: str) -> int:
    """``--max-body``: a size such as 512k or 4m, from 1k to 1g."""
    from topobench.runs.definitions import parse_size

    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 1 << 10 <= size <= 1 << 30:
        raise argparse.ArgumentTypeError(f"{text} is not a size from 1k to 1g")
    return size


def serve_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="serve.py", description="Serve saved indexes over HTTP: POST /encode, "
                                "POST /search, GET /health, GET /indexes; OpenAPI docs at /docs.")
    p.add_argument("--dataset", help="dataset whose saved indexes to serve, e.g. scifact-minilm")
    p.add_argument("--algorithm", help="comma-separated algorithms with a saved index (run.py --save-index)")
    p.add_argument("--params", metavar="ARGS",
                   help="build args of the index (e.g. 32,200); default: the only saved build, else the build of the "
                        "fastest stored result with k-nn >= 0.95")
    p.add_argument("--query-args", metavar="QARGS",
                   help="query args to search with (e.g. 120); default: the fastest stored result of that build "
                        "with k-nn >= 0.95, else the last algos.yaml group")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=8000, help="port to listen on, 0: any free one (default 8000)")
    p.add_argument("--max-texts", type=positive_int, default=64, help="texts per /encode request (default 64)")
    p.add_argument("--max-text-chars", type=positive_int, default=10_000, help="characters per text (default 10000)")
    p.add_argument("--max-k", type=positive_int, default=1000,
                   help="largest k a /search may ask for, at most 100000; never more than the index's documents "
                        "(default 1000)")
    p.add_argument("--max-body", type=body_size, default=DEFAULT_MAX_BODY, metavar="SIZE",
                   help="largest request body, e.g. 512k or 4m; a larger one is answered 413 before it is read "
                        f"(default {DEFAULT_MAX_BODY >> 20}m)")
    p.add_argument("--no-build", action="store_true",
                   help="fail instead of building and saving an index that is not saved yet")
    p.add_argument("--definitions", type=Path,
                   help="grid file for a build made here (default: ./algos.yaml, else the repository's)")
    p.add_argument("--list", action="store_true", help="list the saved indexes and exit")
    add_verbosity(p)
    return p


def _list_saved(dataset: str | None) -> int:
    from topobench.runs.index_store import indexes_dir, list_saved

    saved = list_saved(dataset)
    if not saved:
        print(f"no saved index in {indexes_dir()}; save one with `python run.py --dataset D --algorithm A "
              "--save-index [ARGS]`")
    for s in saved:
        args = ",".join(map(str, s.build_args)) or "-"
        print(f"{s.dataset:24s} {s.algorithm:10s} --params {args:16s} saved {s.record.get('saved_at')}  {s.folder}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.dataset:
        args.dataset = stored_name(args.dataset)  # saved under the canonical name by run.py --save-index
    if args.list:
        return _list_saved(args.dataset)
    if not args.dataset or not args.algorithm:
        raise TopobenchError("--dataset and --algorithm are required (e.g. --dataset scifact-minilm --algorithm "
                             "hnsw); `python serve.py --list` shows the saved indexes")
    from topobench.runs.index_store import parse_args_list
    from topobench.service.core import MAX_K, Limits, RetrievalService
    from topobench.service.server import bind, serve_forever, url_of

    if args.max_k > MAX_K:
        raise TopobenchError(f"--max-k {args.max_k} is more than {MAX_K:,} results one answer may hold: give "
                             f"--max-k {MAX_K} or less (k is also bounded by the documents of each index)")

    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars per request in the server's log
    algorithms = [a.strip() for a in args.algorithm.split(",") if a.strip()]
    params = parse_args_list(args.params, "--params") if args.params is not None else None
    query_args = parse_args_list(args.query_args, "--query-args") if args.query_args is not None else None
    limits = Limits(max_texts=args.max_texts, max_text_chars=args.max_text_chars, max_k=args.max_k,
                    max_body=args.max_body)
    sock = bind(args.host, args.port)  # before loading: a busy port fails in a second, not after the model loads
    try:
        service = RetrievalService.load(args.dataset, algorithms, params, query_args, limits,
                                        build_missing=not args.no_build, definitions=args.definitions)
    except BaseException:
        sock.close()
        raise
    from topobench.service.app import create_app

    app = create_app(service)
    url = url_of(sock)
    print(f"serving {args.dataset}: {', '.join(service.indexes)} (encoder: {service.encoder_name or 'none'}) on "
          f"{url}  (docs: {url}/docs)", flush=True)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal: make that a normal exit.
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM → KeyboardInterrupt, as SIGINT
    try:
        serve_forever(app, sock, log_level="info" if args.verbose > 1 else "warning")
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
    print("stopped", flush=True)
    return 0


def serve_main(argv: Sequence[str] | None = None) -> int:
    return guarded(_serve, serve_parser(), argv)


if __name__ == "__main__":
    sys.exit(serve_main())
