#!/usr/bin/env python3
"""Regenerate the README's study tables from the committed cell files (topobench/study/readme_tables.py).

    python scripts/readme_tables.py            # rewrites every <!-- study-table STUDY KIND --> block of README.md
    python scripts/readme_tables.py --check    # exit 1 (and name the blocks) when a block differs from its cells

Run from the repository root after committing new or rerun cells; the words around the tables are the author's.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from topobench.cli.common import add_verbosity, guarded
from topobench.cli.options import OneLineParser
from topobench.core.atomic import atomic_path
from topobench.core.errors import ConfigError
from topobench.study.cells import studies_dir
from topobench.study.readme_tables import analysis_of, render, studies_in


def readme_tables_main(args: argparse.Namespace) -> int:
    if not args.readme.is_file():
        raise ConfigError(f"{args.readme} is not a file: run from the repository root or pass --readme PATH")
    text = args.readme.read_text(encoding="utf-8")
    studies = args.studies or studies_dir()
    new = render(text, lambda study: analysis_of(study, studies))
    if args.check:
        if new == text:
            print(f"{args.readme}: the tables of {', '.join(studies_in(text)) or 'no study'} are the cells'")
            return 0
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                   str(args.readme), "from the cells"))
        print(f"{args.readme}: tables differ from the committed cells: run python scripts/readme_tables.py",
              file=sys.stderr)
        return 1
    if new != text:
        with atomic_path(args.readme) as tmp:
            tmp.write_text(new, encoding="utf-8")
    print(f"{args.readme}: {'rewritten' if new != text else 'unchanged'} "
          f"({', '.join(studies_in(text)) or 'no study-table block'})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="readme_tables.py", description="Regenerate the README's study tables from the cells.")
    p.add_argument("--check", action="store_true", help="compare only; exit 1 when a table differs")
    p.add_argument("--readme", type=Path, default=Path("README.md"), help="the file (default: README.md)")
    p.add_argument("--studies", type=Path, help="studies folder (default: $TOPOBENCH_STUDIES or studies/)")
    add_verbosity(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(readme_tables_main, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
