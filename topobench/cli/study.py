"""``study.py``: list, run, inspect and report the studies of ``studies.yaml`` (docs/STUDIES.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from topobench.cli.common import add_verbosity, guarded
from topobench.cli.main import add_executor_options, executor_from
from topobench.core.errors import ConfigError, NoResultsError


def study_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="study.py", description="Grids of trained variants × seeds, with spread and "
                                "significance (docs/STUDIES.md).")
    p.add_argument("--studies", type=Path, default=Path("studies.yaml"), help="the studies file (default: %(default)s)")
    add_verbosity(p)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the studies of the file, with their cell counts")
    for name, text in (("run", "train, encode and benchmark every missing cell (resumable)"),
                       ("status", "cells done / running / missing, with their cost so far"),
                       ("report", "tables and figures from the study's cell files alone"),
                       ("remeasure", "recompute the index measures of the finished cells from this machine's "
                                     "results (cell files of an older format), without training or benchmarking")):
        c = sub.add_parser(name, help=text)
        c.add_argument("name", help="a study of the studies file, e.g. w-sweep")
        if name != "report":
            c.add_argument("--cells", nargs="+", metavar="CELL",
                           help="only these cells, separated by spaces (names as `status` prints them)")
        if name == "run":
            add_executor_options(c)
            c.add_argument("--upgrade", action="store_true",
                           help="also run again the finished cells whose file is of an older format (training "
                                "reused, benchmark redone; the new file says whether the task metrics reproduced)")
        elif name == "report":
            c.add_argument("-o", "--output", type=Path, help="report folder (default: studies/NAME/report)")
    return p


def _cells(args: argparse.Namespace) -> list[str] | None:
    names = getattr(args, "cells", None)
    if names is not None and not all(n.strip() for n in names):
        raise ConfigError("--cells has an empty name; give cell names as `python study.py status NAME` prints them")
    return names


def _study(args: argparse.Namespace) -> int:
    from topobench.study.spec import get_study, load_studies

    if args.command == "list":
        for name in load_studies(args.studies):
            study = get_study(name, args.studies)
            print(f"{name}: {len(study.cells)} cells — {study.description}")
        return 0
    study = get_study(args.name, args.studies)
    if args.command == "run":
        from topobench.core.paths import check_writable_dir
        from topobench.study.cells import STUDIES_ENV, studies_dir
        from topobench.study.runner import run_study

        check_writable_dir(studies_dir(), "studies folder", f"set {STUDIES_ENV} to a writable folder")
        names = _cells(args)
        with executor_from(args) as executor:  # Ray: connected and checked before any cell starts
            ran = run_study(study, names, executor, upgrade=args.upgrade)
        print(f"study {study.name}: {len(ran)} cells run")
        return _print_status(study, None)
    if args.command == "status":
        return _print_status(study, _cells(args))
    if args.command == "remeasure":
        return _remeasure(study, _cells(args))
    return _report(study, args.output)


def _remeasure(study, names: list[str] | None) -> int:
    from topobench.study.cells import cell_path, remeasured_record, write_cell
    from topobench.study.runner import select_cells

    done = [c for c in select_cells(study, names) if cell_path(study.name, c.name).exists()]
    if not done:
        raise NoResultsError(f"study {study.name!r} has no finished cells to remeasure; run `python study.py run "
                             f"{study.name}` first")
    records = [(cell, remeasured_record(study, cell)) for cell in done]  # all checked before any file is written
    for cell, record in records:
        write_cell(study.name, cell.name, record)
        print(f"{cell.name}: remeasured")
    print(f"study {study.name}: {len(records)} cells remeasured")
    return 0


def _print_status(study, names: list[str] | None) -> int:
    from topobench.study.runner import study_status

    rows = study_status(study, names)
    width = max(len(r.cell.name) for r in rows)
    for r in rows:
        cost = f"{r.cost_seconds / 60:6.1f} min" if r.cost_seconds else "      -    "
        print(f"{r.cell.name:<{width}}  {r.state:<7}  {cost}  {r.detail}".rstrip())
    counts = {s: sum(r.state == s for r in rows) for s in ("done", "old", "running", "missing")}
    old = f", {counts['old']} of an older format" if counts["old"] else ""
    print(f"{study.name}: {counts['done'] + counts['old']} done{old}, {counts['running']} running, "
          f"{counts['missing']} missing of {len(rows)} cells")
    return 0


def _report(study, output: Path | None) -> int:
    from topobench.core.paths import check_output_dir, writing
    from topobench.study.cells import studies_dir
    from topobench.study.report import write_study_report
    from topobench.study.runner import load_cells

    out = check_output_dir(output or studies_dir() / study.name / "report", "report folder")
    cells = load_cells(study.name)
    if not cells:
        raise NoResultsError(f"study {study.name!r} has no cell files in {studies_dir() / study.name / 'cells'}; "
                             f"run `python study.py run {study.name}` first")
    with writing(out, "report folder"):
        paths = write_study_report(cells, study.summary_spec(), out)
    for path in paths:
        print(path)
    return 0


def study_main(argv: Sequence[str] | None = None) -> int:
    return guarded(_study, study_parser(), argv)


if __name__ == "__main__":
    sys.exit(study_main())
