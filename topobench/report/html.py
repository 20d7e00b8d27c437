"""HTML pieces of the report (:mod:`topobench.report.html_report`): a page shell, tables, figures; every text is
escaped.

The pages are static and self-contained apart from their PNG files (no external CSS, fonts or scripts), so they open
from disk in any browser. One small inline script marks the page once it has loaded: ``data-images-loaded="ok/total"``
on ``<body>``, and a visible note after any image that failed — what a person would notice, and what the browser
test reads back.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

GENERATOR = "topobench report"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(600px, 1fr)); gap: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
.missing { color: #b00; font-weight: bold; }
.note { color: #555; }
"""

CHECK_IMAGES = """
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0);
  document.body.dataset.imagesLoaded = loaded.length + "/" + images.length;
  images.filter((img) => !loaded.includes(img)).forEach((img) => {
    const note = document.createElement("p");
    note.className = "missing";
    note.textContent = "image failed to load: " + img.getAttribute("src");
    img.after(note);
  });
});
"""


class Html(str):
    """A fragment that is already HTML: :func:`table` puts it in a cell unescaped."""


def cell(value: Any, digits: int = 4) -> str:
    """A table cell's HTML: ``-`` for None, floats to ``digits`` significant digits, text escaped."""
    if isinstance(value, Html):
        return value
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return escape(str(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    """An HTML table; columns flagged in ``numeric`` are right-aligned."""
    numeric = list(numeric or [False] * len(headers))
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td{" class=num" if numeric[i] else ""}>{cell(v)}</td>' for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def link(href: str, text: str) -> Html:
    return Html(f'<a href="{escape(href)}">{escape(text)}</a>')


def figure(src: str, caption: str) -> str:
    return (f'<figure><img src="{escape(src)}" alt="{escape(caption)}" loading="eager">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def heading(level: int, text: str, anchor: str | None = None) -> str:
    ident = f' id="{escape(anchor)}"' if anchor else ""
    return f"<h{level}{ident}>{escape(text)}</h{level}>"


def paragraph(text: str, css: str | None = None) -> str:
    return f'<p{f" class={css}" if css else ""}>{escape(text)}</p>'


def bullets(items: Sequence[str]) -> str:
    """A list of already-built HTML fragments."""
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def page(title: str, body: Sequence[str]) -> str:
    """A whole HTML document with ``body`` fragments (already HTML)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="generator" content="{GENERATOR}"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style><script>{CHECK_IMAGES}</script></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
