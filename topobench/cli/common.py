"""What every command-line entry point shares: the ``-v``/``-q`` flags, logging set-up and the one-line error exit.

``run.py``, ``plot.py``, ``export.py`` (:mod:`topobench.cli.main`), ``train.py`` (:mod:`topobench.cli.train`) and
``serve.py`` (:mod:`topobench.cli.serve`) build their parser, call :func:`add_verbosity` on it, and hand their
``main(args)`` to :func:`guarded`: errors a user can cause (``TopobenchError``) end with ``error: …`` on stderr and exit
status 2, an interrupt with status 130, a reader that closed the pipe early (``study.py status | head``) quietly with
status 1 (as Python's documentation advises for SIGPIPE).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from topobench.core.errors import TopobenchError

logger = logging.getLogger("topobench")
_ANNOUNCED: set[str] = set()


def stored_name(name: str) -> str:
    """The name the dataset ``name`` is stored under (its files, results, saved indexes): the canonical spelling of a
    training variant (``nq-bge-topo`` → ``nq-bge-small-topo``; options sorted, defaults dropped, ``-zeroshot`` → the
    stock name), said once per process where it differs, so every entry point finds what ``run.py`` wrote."""
    from topobench.core.names import check_name
    from topobench.datasets.store import canonical_name

    canonical = canonical_name(check_name(name, "dataset"))
    if canonical != name and name not in _ANNOUNCED:
        _ANNOUNCED.add(name)
        logger.info("dataset %s is stored as %s", name, canonical)
    return canonical


def stored_names(names: Sequence[str] | None) -> list[str] | None:
    """:func:`stored_name` of each of ``names`` (None stays None: every dataset)."""
    return None if names is None else [stored_name(n) for n in names]


def setup_logging(verbose: int) -> None:
    """Log to stderr at WARNING (``verbose`` 0), INFO (1) or DEBUG (2+).

    Library import chatter (faiss's loader) stays at WARNING whatever the level: see ``topobench.QUIET_LOGGERS``."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    """Add ``-v/--verbose`` (repeatable, default INFO) and ``-q/--quiet`` (warnings only) to ``parser``."""
    parser.add_argument("-v", "--verbose", action="count", default=1, help="more logging (-vv for debug)")
    parser.add_argument("-q", "--quiet", dest="verbose", action="store_const", const=0, help="warnings only")


def guarded(main: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser,
            argv: Sequence[str] | None) -> int:
    """Parse ``argv``, set up logging, run ``main``; a ``TopobenchError`` becomes one ``error:`` line and status 2."""
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return main(args)
    except TopobenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished points are kept, rerun the same command to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader is gone: point stdout at /dev/null so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
