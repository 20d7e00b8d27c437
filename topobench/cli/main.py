"""Command-line entry points behind ``run.py``, ``plot.py`` and ``export.py`` (the shared flags, logging set-up and
one-line error exit are in :mod:`topobench.cli.common`).

The CLI is the only layer that configures logging and prints to stdout. Errors a user can cause end with one line on
stderr (``error: …``) and exit status 2; a sweep in which some points failed exits 1 after finishing the others.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from topobench.cli.common import add_verbosity, guarded, stored_name, stored_names
from topobench.cli.options import (
    MAX_REPEAT,
    MAX_ROUNDS,
    MAX_RUNS,
    MAX_THREADS,
    OneLineParser,
    bounded_int,
    fraction,
    positive_int,
    seconds,
    thread_levels,
)
from topobench.core.errors import ConfigError, TopobenchError
from topobench.core.paths import check_output_dir, check_output_file, check_writable_dir, writing
from topobench.core.roots import env_folder
from topobench.report.formats import image_format
from topobench.runs.definitions import MAX_FORCED_GRID_POINTS, MAX_GRID_POINTS

logger = logging.getLogger("topobench")


# --- run.py -------------------------------------------------------------------------------------------------------

def run_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="run.py", description="Run every algos.yaml point of the chosen algorithms on a dataset.")
    p.add_argument("--dataset", help="dataset name, e.g. random-xs-20-angular or scifact-minilm (built when missing)")
    p.add_argument("--algorithm", help="comma-separated algorithm names (default: every enabled one)")
    p.add_argument("--count", type=positive_int, default=10,
                   help="neighbours to retrieve per query, at most what the ground truth holds (default 10)")
    p.add_argument("--runs", type=bounded_int(MAX_RUNS), default=5,
                   help=f"timed runs per point; the best is kept (default 5, at most {MAX_RUNS:,})")
    p.add_argument("--repeat", type=bounded_int(MAX_REPEAT), default=1,
                   help="run every point R times, each a fresh build in a fresh process, and keep every run: the "
                        f"summary and the plots give min / median / max over them (default 1, at most {MAX_REPEAT:,})")
    p.add_argument("--batch", action="store_true", help="batch mode: all queries at once, all cores")
    p.add_argument("--threads", type=thread_levels, metavar="N[,M...]",
                   help="throughput mode: N threads answer the queries concurrently against one index, for --rounds "
                        "rounds; QPS is completed queries per second of wall time, with p50/p95/p99/p999 latency; "
                        "each level is a sweep of its own (results under <algorithm>-threads<N>/); at most "
                        f"{MAX_THREADS} threads")
    p.add_argument("--rounds", type=bounded_int(MAX_ROUNDS),
                   help=f"with --threads: rounds over all the queries per timed pass (default 10, at most "
                        f"{MAX_ROUNDS:,}; every call's latency is kept, so rounds × queries must fit in memory)")
    p.add_argument("--force", action="store_true", help="rerun points that already have a complete result")
    p.add_argument("--skip-failed", action="store_true",
                   help="do not retry points whose last attempt failed (they still count as failed)")
    p.add_argument("--timeout", type=seconds, default=7200.0,
                   help="seconds per index build and its sweep (default 7200)")
    p.add_argument("--definitions", type=Path,
                   help="algorithm grid file (default: ./algos.yaml, else the repository's); a grid of more than "
                        f"{MAX_GRID_POINTS:,} points is refused unless --force-large")
    p.add_argument("--force-large", action="store_true",
                   help=f"allow a grid of more than {MAX_GRID_POINTS:,} points (up to {MAX_FORCED_GRID_POINTS:,})")
    p.add_argument("--list", action="store_true", help="list plugins, what they registered and whether it is available")
    p.add_argument("--save-index", nargs="?", const="", default=None, metavar="ARGS",
                   help="also keep each built index under indexes/<dataset>/<algorithm>/ for serve.py; with ARGS "
                        "(comma-separated build args, e.g. 32,200) only that build")
    add_executor_options(p)
    p.add_argument("--docker", action="store_true",
                   help="run each index build and its sweep in its own container (same as --executor docker): "
                        "pinned CPUs (one in single-query mode), a memory limit, no network")
    p.add_argument("--memory", type=memory_size, metavar="SIZE",
                   help="with --docker: each container's memory limit, e.g. 2g or 512m (default: three quarters of "
                        "this machine's memory); a run group's `memory:` in algos.yaml wins")
    p.add_argument("--image", metavar="NAME", type=image_name,
                   help="with --docker: the image to run (default topobench:latest)")
    p.add_argument("--build-image", action="store_true",
                   help="build the --docker image from this checkout (topobench:latest, or --image), then run "
                        "--dataset if given")
    add_verbosity(p)
    return p


def image_name(text: str) -> str:
    """``--image``: a Docker image reference (``name[:tag]``, lower case), checked before any daemon is asked."""
    from topobench.runs.executors.docker_names import check_image_reference

    try:
        return check_image_reference(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def memory_size(text: str) -> int:
    """``--memory``: a size such as 64m or 2g, in bytes."""
    from topobench.runs.definitions import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """``--executor`` and its options: where each unit of work runs (run.py, study.py run)."""
    from topobench.runs.executors import EXECUTORS

    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="where each unit of work runs (run.py: an index build and its sweep; study.py: a cell): "
                        "local (one at a time on this machine; default) or ray (Ray tasks, as many at once as the "
                        "cluster allows)")
    p.add_argument("--ray-address", metavar="HOST:PORT",
                   help="with --executor ray: the cluster to use (what `ray start --head` printed); default: a local "
                        "Ray runtime started for the run and stopped after it")


def executor_from(args: argparse.Namespace):
    """The executor the flags ask for (checked: an option of another executor, Ray missing, … are errors)."""
    from topobench.runs.executors import make_executor

    return make_executor(args.executor, ray_address=args.ray_address, image=getattr(args, "image", None),
                         memory=getattr(args, "memory", None))


def _list_plugins() -> int:
    from topobench.core.registry import SINGULAR, get_registry

    registry = get_registry()
    for info in registry.plugins.values():
        print(f"{info.name}  ({info.source})")
        if info.load_error:
            print(f"    unavailable: {info.load_error}")
        for reg in info.registered:
            reason = reg.unavailable_reason()
            state = f"unavailable: {reason}" if reason else "available"
            print(f"    {SINGULAR[reg.kind]:9s} {reg.name:12s} {state}")
        for declared in info.declared:
            print(f"    {SINGULAR[declared.kind]:9s} {declared.name:12s} declared")
    return 0


def _run(args: argparse.Namespace) -> int:
    from topobench.runs.runner import RunConfig, default_definitions, run_sweep

    if args.list:
        return _list_plugins()
    if args.docker:
        if args.executor not in ("local", "docker"):
            raise ConfigError(f"--docker and --executor {args.executor} name two executors: leave one out")
        args.executor = "docker"
    if args.build_image:
        from topobench.runs.executors.docker import DEFAULT_IMAGE, build_image

        tag = args.image or DEFAULT_IMAGE
        print(f"built {tag} ({build_image(tag)[7:19]})")
        if not args.dataset:
            return 0
    if not args.dataset:
        raise TopobenchError("--dataset is required (e.g. --dataset random-xs-20-angular); see --help")
    args.dataset = stored_name(args.dataset)  # results go under the canonical name; the summary reads them there
    algorithms = algorithm_list(args.algorithm)
    save_args = None
    if args.save_index:
        from topobench.runs.index_store import parse_args_list

        save_args = tuple(parse_args_list(args.save_index, "--save-index"))
    executor = executor_from(args)
    if args.save_index is not None and args.executor != "local":
        raise TopobenchError(f"--save-index writes the index on the machine that builds it: leave --executor "
                             f"{args.executor} out to save indexes")
    if args.threads and args.batch:
        raise ConfigError("--threads and --batch are two different modes: leave one out")
    if args.rounds is not None and not args.threads:
        raise ConfigError("--rounds applies to --threads runs: add --threads N or leave --rounds out")
    config = RunConfig(dataset=args.dataset, count=args.count, runs=args.runs, batch=args.batch, force=args.force,
                       timeout=args.timeout, definitions_file=args.definitions or default_definitions(),
                       save_index=args.save_index is not None, save_args=save_args, skip_failed=args.skip_failed,
                       repeat=args.repeat, rounds=args.rounds or 10, force_large=args.force_large)
    failed: list[str] = []
    with executor:  # started (Ray: connected, checked) before anything is built or written
        for level in args.threads or [None]:  # each --threads level is a sweep of its own
            report = run_sweep(dataclasses.replace(config, threads=level), algorithms, executor)
            mode = f" ({level} thread{'s' * (level != 1)})" if level else ""
            print(f"{args.dataset}{mode}: {report.ran} points run, {report.skipped} already done, {report.retried} "
                  f"retried, {len(report.failed)} failed")
            for folder in report.saved:
                print(f"saved index: {folder}")
            failed += report.failed
    if args.threads:
        _print_threads_summary(args.dataset, args.count, args.threads)
    else:
        _print_summary(args.dataset, args.count, args.batch)
    if failed:
        for line in failed:
            print(f"failed: {line}", file=sys.stderr)
        return 1
    return 0


def algorithm_list(text: str | None) -> list[str] | None:
    """``--algorithm hnsw,ivf`` → ``["hnsw", "ivf"]``; left out → None (every enabled algorithm). A value naming no
    algorithm (``--algorithm ,`` or ``''``) is an error, not the whole grid."""
    if text is None:
        return None
    names = [a.strip() for a in text.split(",") if a.strip()]
    if not names:
        raise ConfigError(f"--algorithm {text!r} names no algorithm: give names such as hnsw,ivf, or leave "
                          "--algorithm out to run every enabled one")
    return names


def _print_summary(dataset: str, count: int, batch: bool) -> None:
    from topobench.report.export import summary_table

    for line in summary_table(dataset, count=count, batch=batch):
        print(line)


def _print_threads_summary(dataset: str, count: int, levels: list[int]) -> None:
    from topobench.report.export import threads_table

    for line in threads_table(dataset, count=count, levels=levels):
        print(line)


def run_main(argv: Sequence[str] | None = None) -> int:
    return guarded(_run, run_parser(), argv)


# --- plot.py ------------------------------------------------------------------------------------------------------

DEFAULT_PLOT_COUNT = 10
PLOTS_DIR_ENV = "TOPOBENCH_PLOTS"  # --count of plot.py --dataset D (without --dataset, each dataset's largest count)


def plot_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="plot.py", description="Draw recall-vs-QPS Pareto frontiers from results/.")
    p.add_argument("--dataset", action="append",
                   help="dataset to draw (repeat to overlay several); default: every dataset with results, one PNG "
                        "each under plots/; with --report: the datasets to report on (default: all with results)")
    p.add_argument("-x", "--x-axis", default="k-nn",
                   help="metric on the x axis (default k-nn); 'threads' draws QPS against query threads of the "
                        "run.py --threads results at k-nn >= --level")
    p.add_argument("--level", type=fraction, default=0.95,
                   help="with -x threads: the k-nn recall the QPS of each thread count must reach (default 0.95)")
    p.add_argument("-y", "--y-axis", default="qps", help="metric on the y axis (default qps)")
    p.add_argument("--count", type=positive_int,
                   help=f"results of this --count (default {DEFAULT_PLOT_COUNT}; without --dataset: each dataset's "
                        "largest)")
    p.add_argument("--batch", action="store_true",
                   help="plot batch-mode results (without --dataset, the default is single-query results where a "
                        "dataset has them, else batch)")
    p.add_argument("--raw", action="store_true", help="also draw every point, not only the frontier")
    p.add_argument("--algorithm", help="comma-separated algorithms to draw (default: all with results)")
    p.add_argument("-o", "--output", type=Path,
                   help="output image (default <--out-dir>/<datasets>_<x>_<y>_<count>.png)")
    p.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                   help=f"folder of the images plot.py names itself (default ${PLOTS_DIR_ENV} or plots/)")
    p.add_argument("--report", type=Path, metavar="OUT",
                   help="write an HTML report instead: OUT/index.html and a page per dataset with every plot, the "
                        "summary table and the geometry statistics")
    add_verbosity(p)
    return p


def _plot(args: argparse.Namespace) -> int:
    args.dataset = stored_names(args.dataset)
    if args.report:
        from topobench.report.html_report import write_report

        pages = write_report(args.report, args.dataset)
        print(f"wrote {len(pages)} pages to {args.report}: {', '.join(p.name for p in pages)}")
        return 0
    only = [a.strip() for a in args.algorithm.split(",") if a.strip()] if args.algorithm else None
    if args.x_axis == "threads":
        from topobench.report.plotting import plot_threads

        if not args.dataset or len(args.dataset) != 1:
            raise ConfigError("-x threads draws one dataset's --threads results: name it with one --dataset")
        count = args.count or DEFAULT_PLOT_COUNT
        out = args.output or args.out_dir / f"{args.dataset[0]}_threads_qps_{count}.png"
        print(f"wrote {plot_threads(args.dataset[0], count, args.level, out)}")
        return 0
    if not args.dataset:
        if args.output:
            raise TopobenchError("-o names one file, but without --dataset plot.py draws one PNG per dataset under "
                                 "--out-dir: name the datasets with --dataset, or leave -o out")
        from topobench.report.plotting import plot_every_dataset

        for path in plot_every_dataset(args.x_axis, args.y_axis, args.count, True if args.batch else None, args.raw,
                                       only, args.out_dir):
            print(f"wrote {path}")
        return 0
    from topobench.report.plotting import plot

    count = args.count or DEFAULT_PLOT_COUNT
    out = args.output or args.out_dir / f"{'+'.join(args.dataset)}_{args.x_axis}_{args.y_axis}_{count}.png"
    path = plot(args.dataset, x=args.x_axis, y=args.y_axis, count=count, batch=args.batch, raw=args.raw, out=out,
                only=only)
    print(f"wrote {path}")
    return 0


def _checked_plot(args: argparse.Namespace) -> int:
    """``_plot`` with its destination checked before anything is drawn, and a failed write as one line."""
    args.out_dir = args.out_dir or env_folder(PLOTS_DIR_ENV, "plots")
    if args.report:
        args.report = check_output_dir(args.report, "report folder (--report)")
    elif args.output:
        args.output = check_output_file(args.output, "output file (-o)")
        image_format(args.output)
    else:
        check_writable_dir(args.out_dir, "plots folder (--out-dir)", "pass --out-dir DIR or -o FILE")
    with writing(args.report or args.output or args.out_dir, "the plot"):
        return _plot(args)


def plot_main(argv: Sequence[str] | None = None) -> int:
    return guarded(_checked_plot, plot_parser(), argv)


# --- export.py ----------------------------------------------------------------------------------------------------

def export_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="export.py", description="Export every result with every metric to CSV, or one result as a "
                      "TREC run file (--trec).")
    p.add_argument("-o", "--output", type=Path,
                   help="CSV file to write (required unless --trec); '-' writes the CSV to standard output (the "
                        "messages go to stderr). An existing path is replaced only when it is a regular file: a "
                        "device, FIFO, folder or symbolic link (e.g. /dev/stdout) is refused")
    p.add_argument("--dataset", action="append", help="only these datasets (repeatable; default all)")
    p.add_argument("--count", type=positive_int, help="only results of this --count")
    p.add_argument("--geometry", action="store_true",
                   help="export the datasets' geometry statistics (one column per dataset) instead of the results")
    p.add_argument("--compare", action="store_true",
                   help="one row per --dataset: exact nDCG@10, the --algorithm's best QPS and fewest distance "
                        "computations at k-nn >= --level, training facts and geometry")
    p.add_argument("--algorithm", help="the index compared by --compare (default hnsw); with --trec: the algorithm of "
                                        "the result to export")
    p.add_argument("--level", type=fraction, default=0.95, help="k-nn recall level of --compare (default 0.95)")
    p.add_argument("--trec", type=Path, metavar="OUT",
                   help="write one result as a TREC run file (query id, Q0, doc id, rank, score, tag) for trec_eval, "
                        "ir_measures or ranx: the result --point FILE, or the one of --dataset D --algorithm A "
                        "[--params ARGS] [--query-args QARGS] [--count K] (a corpus dataset: it names ids)")
    p.add_argument("--point", type=Path, metavar="FILE", help="with --trec: the result file (results/.../*.hdf5)")
    p.add_argument("--params", metavar="ARGS", help="with --trec: the result's build args, e.g. 32,200")
    p.add_argument("--query-args", metavar="QARGS", help="with --trec: the result's query args, e.g. 80")
    add_verbosity(p)
    return p


def _export(args: argparse.Namespace) -> int:
    from topobench.report.export import export_csv, export_geometry, to_stdout

    args.dataset = stored_names(args.dataset)
    if args.trec:
        return _export_trec(args)
    said = sys.stderr if to_stdout(args.output) else sys.stdout  # `-o -`: stdout holds the CSV alone
    where = "standard output" if to_stdout(args.output) else args.output
    if args.compare:
        from topobench.report.comparison import export_comparison

        if not args.dataset:
            raise ConfigError("--compare needs the datasets to compare: --dataset A --dataset B ...")
        for line in export_comparison(args.output, args.dataset, args.algorithm or "hnsw", args.level,
                                      args.count or 10):
            print(line, file=said)
        print(f"wrote {where}", file=said)
        return 0
    if args.geometry:
        for line in export_geometry(args.output, args.dataset):
            print(line, file=said)
        print(f"wrote {where}", file=said)
        return 0
    rows = export_csv(args.output, args.dataset, count=args.count)
    print(f"wrote {rows} rows to {where}", file=said)
    return 0


def _export_trec(args: argparse.Namespace) -> int:
    from topobench.report.trec import export_trec
    from topobench.runs.index_store import parse_args_list

    if args.output or args.compare or args.geometry:
        raise ConfigError("--trec writes one run file: leave out -o, --compare and --geometry")
    if args.point is None and not (args.dataset and len(args.dataset) == 1 and args.algorithm):
        raise ConfigError("--trec needs the result to export: --point RESULT.hdf5, or --dataset D --algorithm A "
                          "[--params ARGS] [--query-args QARGS] [--count K]")
    if args.point is not None and (args.dataset or args.algorithm or args.params or args.query_args or args.count):
        raise ConfigError("--point names the result itself: leave out --dataset, --algorithm, --params, --query-args "
                          "and --count")
    build_args = parse_args_list(args.params, "--params") if args.params is not None else None
    query_args = parse_args_list(args.query_args, "--query-args") if args.query_args is not None else None
    result, lines = export_trec(args.trec, args.point, (args.dataset or [None])[0], args.algorithm, build_args,
                                query_args, args.count)
    print(f"wrote {lines} lines ({len(result.neighbors)} queries) of {result.path} to {args.trec}")
    return 0


def _checked_export(args: argparse.Namespace) -> int:
    """``_export`` with its destination checked before anything is read, and a failed write as one line."""
    if args.trec:
        args.trec = check_output_file(args.trec, "TREC run file (--trec)")
    elif args.output is None:
        raise ConfigError("-o is required: the CSV file to write, - for standard output (or --trec OUT to write one "
                          "result as a TREC run)")
    elif str(args.output) != "-":
        args.output = check_output_file(args.output, "output file (-o)")
    with writing(args.trec or args.output, "the export"):
        return _export(args)


def export_main(argv: Sequence[str] | None = None) -> int:
    return guarded(_checked_export, export_parser(), argv)
