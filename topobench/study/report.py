"""A study's report — ``report.md``, ``index.html``, the PNGs and ``explore.html`` — rebuilt from its cell files alone.

``write_study_report(cells, spec, out_dir)`` is what ``study.py report`` calls; the HTML report of ``plot.py --report``
calls :func:`write_study_pages` to add a page per ``studies/<name>/cells/`` folder. Nothing here reads checkpoints,
datasets or results, and nothing written depends on the machine, the time or the path: the same committed cells give
the same ``report.md`` bytes and the same PNG bytes anywhere (with the same library versions).

The folder is written under a temporary name and renamed into place when complete, so a failed report leaves the
previous one intact; an existing folder is replaced only when it is an earlier study report (its ``report.md``
carries :data:`MARKER`) or empty.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topobench.core.atomic import atomic_path
from topobench.core.errors import TopobenchError
from topobench.report import html as h
from topobench.study.analysis import KNN_LEVEL, StudyAnalysis, analyse
from topobench.study.cells import read_cell, studies_dir
from topobench.study.explore import FILE as EXPLORE
from topobench.study.explore import write_explore
from topobench.study.figures import Drawn, draw_figures
from topobench.study.resolving import resolve
from topobench.study.resolving_tables import resolving_sections
from topobench.study.tables import Section, Table, report_sections

logger = logging.getLogger(__name__)

MARKER = "<!-- topobench study report: rebuilt from the cell files alone -->"
STUDIES_FILE = Path("studies.yaml")


def read_cells(folder: Path) -> list[dict[str, Any]]:
    """The cell dicts of ``folder/*.json``, in file-name order, each checked by
    :func:`topobench.study.cells.read_cell` (readable JSON of the current format; a ``ConfigError`` naming the file
    otherwise)."""
    return [read_cell(path) for path in sorted(folder.glob("*.json"))]


def infer_spec(name: str, cells: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A spec from the cells alone, for a study ``studies.yaml`` does not (or no longer) describe: the factors are
    the keys of the cells' ``factors`` (in order of first appearance), no baseline (the first variant is taken) and
    every algorithm found."""
    factors: dict[str, None] = {}
    for c in cells:
        factors.update(dict.fromkeys(c.get("factors") or {}))
    return {"name": name, "baseline": {}, "factors": list(factors) or ["recipe"], "algorithms": None}


def study_spec(name: str, cells: Sequence[Mapping[str, Any]], studies_file: Path = STUDIES_FILE) -> dict[str, Any]:
    """The spec of study ``name``: from ``studies_file`` when it describes the study, else :func:`infer_spec`."""
    if studies_file.exists():
        from topobench.study.spec import get_study

        try:
            return get_study(name, studies_file).summary_spec()
        except TopobenchError as exc:
            logger.warning("study %s: %s; reporting with a spec inferred from its cells", name, exc)
    return infer_spec(name, cells)


def study_analysis(cells: Sequence[Mapping[str, Any]], spec: Mapping[str, Any]) -> StudyAnalysis:
    """The analysis of ``cells`` the report is built from (``spec`` as :func:`write_study_report` takes it)."""
    factors = spec.get("factors")
    if not factors:
        factors = infer_spec(str(spec.get("name") or "study"), cells)["factors"]
    return analyse(cells, spec.get("baseline"), factors, spec.get("algorithms"), spec.get("name"))


def _fidelity(a: StudyAnalysis, spec: Mapping[str, Any]) -> list[Section]:
    """The fidelity section of a fast-profile study (``fidelity_of: <exact study>``), from that study's committed
    cells; none for any other study."""
    exact = spec.get("fidelity_of")
    if not exact:
        return []
    from topobench.study.fidelity import fidelity_rows, fidelity_section

    folder = studies_dir() / str(exact) / "cells"
    cells = read_cells(folder) if folder.is_dir() else []
    rows = fidelity_rows(a, study_analysis(cells, study_spec(str(exact), cells))) if cells else []
    return [fidelity_section(rows, a.name, str(exact))]


def _intro(a: StudyAnalysis, spec: Mapping[str, Any]) -> list[str]:
    out = []
    if spec.get("description"):
        out.append(str(spec["description"]))
    seeded = sum(1 for c in a.cells if c.get("seed") is not None)
    out.append(f"{len(a.cells)} cells ({seeded} trained with a seed) in {len(a.variants)} variants; factors: "
               f"{', '.join(a.factors) or 'none'}; algorithms: {', '.join(a.algorithms) or 'none'}. Every number "
               "below is computed from the committed cell files alone.")
    if spec.get("qps_note"):
        out.append(str(spec["qps_note"]))
    return out


def _figures_section(drawn: Sequence[Drawn], skipped: Sequence[str]) -> list[str]:
    out = ["## Figures\n", f"Every benchmark point, interactive (hover, toggle variants): [{EXPLORE}]({EXPLORE}).\n"]
    for d in drawn:
        out.append(f"![{d.caption}]({d.file})\n\n{d.caption}.\n")
    if skipped:
        out.append("Not drawn:\n\n" + "".join(f"- {s}\n" for s in skipped))
    return out


def render_markdown(a: StudyAnalysis, spec: Mapping[str, Any], sections: Sequence[Section],
                    drawn: Sequence[Drawn], skipped: Sequence[str]) -> str:
    """``report.md``: title, introduction, the sections, the figures (and those not drawn), :data:`MARKER`."""
    parts = [f"# Study: {a.name}\n", *(p + "\n" for p in _intro(a, spec))]
    parts += [s.markdown() for s in sections]
    parts += _figures_section(drawn, skipped)
    parts.append(MARKER + "\n")
    return "\n".join(parts)


def _html_part(part: str | Table | tuple[str, ...]) -> str:
    if isinstance(part, Table):
        return h.table(part.headers, part.rows, part.numeric)
    if isinstance(part, tuple):
        return h.bullets([h.escape(item) for item in part])
    return h.paragraph(part)


def render_html(a: StudyAnalysis, spec: Mapping[str, Any], sections: Sequence[Section], drawn: Sequence[Drawn],
                skipped: Sequence[str], back: str | None = None) -> str:
    """``index.html``: the same content as ``report.md`` in the report's page shell; ``back`` links to a parent page."""
    body = [h.heading(1, f"Study: {a.name}")]
    if back:
        body.append(f"<p>{h.link(back, '← all datasets and studies')}</p>")
    body += [h.paragraph(p) for p in _intro(a, spec)]
    body.append(h.bullets([h.link(f"#s{i}", s.title) for i, s in enumerate(sections)]
                          + [h.link("#figures", "Figures"), h.link(EXPLORE, "Every benchmark point (interactive)"),
                             h.link("report.md", "report.md")]))
    for i, section in enumerate(sections):
        body.append(h.heading(2, section.title, f"s{i}"))
        body += [_html_part(p) for p in section.parts]
    body.append(h.heading(2, "Figures", "figures"))
    body.append('<div class="plots">' + "".join(h.figure(d.file, d.caption) for d in drawn) + "</div>")
    if skipped:
        body.append(h.paragraph("Not drawn:", "note") + h.bullets([h.escape(s) for s in skipped]))
    return h.page(f"topobench study: {a.name}", body)


def back_to_back(cells: Sequence[Mapping[str, Any]], spec: Mapping[str, Any],
                 studies: Path | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """``cells`` with every QPS from the study's newest back-to-back run (``<studies>/<study>/qps/``, written by
    ``bench/study_qps.py``; ``studies`` defaults to the studies folder) when that run measured all of them, and the
    sentence that says so; otherwise the cells as they are and a sentence saying their QPS was measured cell by cell
    (or None without a study name)."""
    from topobench.study.qps_runs import (
        FOLDER,
        INTERLEAVED,
        latest_runs,
        recall_agreement,
        rerun_algorithms,
        round_spread_sentence,
        round_spreads,
        uncovered,
        with_back_to_back_qps,
    )

    name = spec.get("name") or (cells[0].get("study") if cells else None)
    found = latest_runs(str(name), studies) if name else None
    if found is None:
        return list(cells), ("QPS as each cell measured it when it finished (cells hours apart, the machine's state "
                             "included); QPS÷flat divides that out. `bench/study_qps.py` measures them back to back.")
    path, record = found
    missing = uncovered(cells, record)
    if missing:
        return list(cells), (f"QPS as each cell measured it: the back-to-back run {path.name} lacks "
                             f"{len(missing)} of the cells ({', '.join(missing[:3])}…); run bench/study_qps.py again.")
    rounds = len(record["rounds"])
    noise = round_spread_sentence(round_spreads(record, float(KNN_LEVEL)), float(KNN_LEVEL))
    design = ("interleaved (at each setting every cell timed in turn, the order rotated)"
              if all(r.get("design") == INTERLEAVED for r in record["rounds"]) else "back to back in rotated order")
    return with_back_to_back_qps(cells, record), (
        f"Every QPS below (frontiers, QPS at a level, QPS÷flat) is the median over {rounds} rounds of all cells "
        f"benchmarked {design} ({FOLDER}/{path.name}, {record['created']}, "
        f"{record['machine'].get('cpu', 'this machine')}), not the QPS each cell measured when it finished. "
        + recall_agreement(cells, record).sentence()
        + (f" {noise}" if noise else "")
        + "".join(f" {a} (text search, not rerun) keeps each cell's own QPS."
                  for a in rerun_algorithms(spec.get("algorithms") or [])[1]))


def _build(cells: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], folder: Path,
           back: str | None) -> tuple[StudyAnalysis, list[Path]]:
    cells, qps_note = back_to_back(cells, spec)
    if qps_note:
        spec = {**spec, "qps_note": qps_note}
    a = study_analysis(cells, spec)
    folder.mkdir(parents=True, exist_ok=True)
    sections = report_sections(a, [*resolving_sections(a, resolve(a)), *_fidelity(a, spec)])
    drawn, skipped = draw_figures(a, folder)
    explore = write_explore(a, folder, [qps_note] if qps_note else [])
    (folder / "report.md").write_text(render_markdown(a, spec, sections, drawn, skipped), encoding="utf-8")
    (folder / "index.html").write_text(render_html(a, spec, sections, drawn, skipped, back), encoding="utf-8")
    return a, [folder / "report.md", folder / "index.html", *(folder / d.file for d in drawn), explore]


def build_study_report(cells: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], folder: Path,
                       back: str | None = None) -> list[Path]:
    """Write ``report.md``, ``index.html`` and the PNGs into ``folder`` (created; not atomic — see
    :func:`write_study_report`); return the files written, ``report.md`` first. ``back``: a link on the page."""
    return _build(cells, spec, folder, back)[1]


def write_study_report(cells: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Write a study's report into ``out_dir`` atomically and return the files written (``report.md`` first, then
    ``index.html``, then the PNGs, then ``explore.html``).

    ``cells``: the cell dicts of the study (docs/STUDIES.md, ``format: 2``), any order. ``spec``: a mapping with

    * ``name`` (str) — the study's name (default: the cells' ``study`` field);
    * ``baseline`` — ``{factor: value}`` of the variant every other is compared with (e.g. ``{"weight": 0.0}``,
      ``{"variant": "infonce"}``); numbers compare numerically; ``{}``/None takes the first variant in order;
    * ``factors`` (list of str) — the names whose values tell the variants apart, looked up in each cell's
      ``factors``, then its top-level ``recipe``/``encoder``/``corpus``, then its ``overrides`` (default: the keys of
      the cells' ``factors``); factors constant over the cells are listed once, not as columns;
    * ``algorithms`` (list of str, optional) — the algorithms to report, in order (default: all in the cells);
    * ``description`` (str, optional) — a sentence under the title.

    Extra keys (e.g. ``grid``) are ignored, so ``Study.summary_spec()`` can be passed as is. Raises
    :class:`~topobench.study.analysis.StudyDataError` for no cells, an unknown baseline or two cells of one variant
    and seed, and :class:`TopobenchError` when ``out_dir`` holds something other than an earlier study report.
    """
    report = out_dir / "report.md"
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (
            report.exists() and MARKER in report.read_text(encoding="utf-8", errors="replace")))):
        raise TopobenchError(f"{out_dir} exists and is not a study report: choose a new or empty folder "
                             "(e.g. studies/NAME/report)")
    with atomic_path(out_dir) as tmp:
        files = build_study_report(cells, spec, tmp)
    written = [out_dir / f.name for f in files]
    logger.info("wrote the study report %s (%d files)", out_dir, len(written))
    return written


def find_studies(root: Path | None = None) -> list[tuple[str, Path]]:
    """``(name, cells folder)`` of every ``<root>/<name>/cells/`` holding a cell file, by name (``root``:
    :func:`studies_dir`)."""
    root = studies_dir() if root is None else root
    if not root.is_dir():
        return []
    return [(d.name, d / "cells") for d in sorted(root.iterdir())
            if d.is_dir() and (d / "cells").is_dir() and any((d / "cells").glob("*.json"))]


@dataclass(frozen=True)
class StudyPage:
    """One study in the ``plot.py --report`` index: its page (relative to the report folder), or why it has none."""

    name: str
    href: str | None
    cells: int
    variants: int
    error: str | None = None


def write_study_pages(out: Path, root: Path | None = None, studies_file: Path = STUDIES_FILE,
                      back: str | None = "../../index.html") -> list[StudyPage]:
    """For ``plot.py --report``: a report folder ``out/<name>/`` per study of :func:`find_studies`, its spec from
    ``studies_file`` (:func:`study_spec`). A study whose cells cannot be reported (a broken cell file, an unknown
    baseline) gets no page and its reason instead, so one bad study does not cost the whole report."""
    pages = []
    for name, folder in find_studies(root):
        try:
            cells = read_cells(folder)
            a, files = _build(cells, study_spec(name, cells, studies_file), out / name, back)
        except TopobenchError as exc:
            logger.warning("report: study %s not reported: %s", name, exc)
            pages.append(StudyPage(name, None, 0, 0, str(exc)))
            continue
        pages.append(StudyPage(name, f"{out.name}/{name}/{files[1].name}", len(cells), len(a.variants)))
        logger.info("report: study %s, %d cells", name, len(cells))
    return pages


def studies_index(pages: Sequence[StudyPage]) -> list[str]:
    """The "Studies" section of the ``plot.py --report`` index page (HTML fragments); empty without studies."""
    if not pages:
        return []
    rows = [[h.link(p.href, p.name) if p.href else p.name, p.cells, p.variants, p.error or ""] for p in pages]
    return [h.heading(2, "Studies", "studies"),
            h.paragraph(f"Rebuilt from the cell files under {studies_dir()}/<name>/cells/ (python study.py report NAME "
                        "writes the same into studies/<name>/report/).", "note"),
            h.table(["study", "cells", "variants", "not reported because"], rows, [False, True, True, False])]
