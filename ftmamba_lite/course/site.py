"""The rendered course: every notebook executed with its defaults and written as a static HTML site.

    python -m ftmamba_lite.course.site --out site/

writes ``site/index.html`` (the notebooks with their class time and Colab / Binder links),
``site/notation.html`` (the repository's notation page and glossary, ``docs/notation.md``) and one page per
notebook, ``site/NN_name.html``, with all outputs: tables, plotly figures (drawn by plotly.js from its CDN),
the SVG diagrams of :mod:`~ftmamba_lite.course.diagrams` and the widgets' last state. No kernel is needed to
read it.
Execution uses nbclient and conversion nbconvert's ``lab`` template (both installed with JupyterLab).

:func:`missing_figures` checks a page against its executed notebook; :func:`build_site` fails on a page that
lost one, so the build doubles as the test that every page has its figures.
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from . import links

__all__ = ["Page", "build_site", "figure_keys", "main", "missing_figures", "plotly_ids"]

ROOT = Path(__file__).resolve().parents[2]
PLOTLY_RENDERER = "notebook_connected"  # plotly.js from its CDN, so a page stays small
_PLOTLY_DIV = re.compile(r'<div[^>]*class="plotly-graph-div"[^>]*>')
_ID = re.compile(r'id="([^"]+)"')
_SVG_TITLE = re.compile(r"<svg[^>]*>\s*<title>([^<]+)</title>")
_TIME = re.compile(r"\*\*Time in class:\*\* about (\d+) min")


@dataclass
class Page:
    """One rendered notebook: its file, title, class time (minutes), build seconds and figure count."""

    notebook: str
    html: str
    title: str
    minutes: int | None
    seconds: float
    figures: int


def plotly_ids(page: str) -> list[str]:
    """The ids of the plotly figures (``<div class="plotly-graph-div" id=...>``) in an HTML text."""
    return [m.group(1) for tag in _PLOTLY_DIV.findall(page) if (m := _ID.search(tag))]


def _figures(notebook: nbformat.NotebookNode) -> list[tuple[str, list[str]]]:
    """(key, needles) per figure output: the page shows the figure when one of the needles is in it."""
    found = []
    for c, cell in enumerate(notebook.cells):
        for o, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if "image/svg+xml" in data:
                svg = "".join(data["image/svg+xml"])
                match = _SVG_TITLE.search(svg)
                inline = base64.b64encode(svg.encode("utf-8")).decode("ascii")  # nbconvert's <img> data URI
                found.append((f"svg:{match.group(1) if match else f'{c}:{o}'}", [inline, svg]))
            elif "image/png" in data:
                found.append((f"png:{c}:{o}", ["".join(data["image/png"]).replace("\n", "")]))
            elif "text/html" in data:
                found += [(f"plotly:{d}", [d]) for d in plotly_ids("".join(data["text/html"]))]
            elif "application/vnd.plotly.v1+json" in data:
                found.append((f"plotly:{c}:{o}", []))  # no HTML for plotly: only a kernel could draw it
    return found


def figure_keys(notebook: nbformat.NotebookNode) -> list[str]:
    """What identifies each figure among a notebook's outputs: ``plotly:<div id>`` for a plotly figure,
    ``svg:<title>`` for an SVG diagram, ``png:<cell>:<output>`` for an image."""
    return [key for key, _ in _figures(notebook)]


def missing_figures(notebook: nbformat.NotebookNode, page: str) -> list[str]:
    """The figures of an executed notebook (:func:`figure_keys`) that its HTML page does not show."""
    return [key for key, needles in _figures(notebook) if not any(n in page for n in needles)]


def _title(notebook: nbformat.NotebookNode) -> str:
    first = "".join(notebook.cells[0].source).splitlines()[0] if notebook.cells else ""
    return first.lstrip("# ").strip()


def _execute(path: Path, timeout: int) -> nbformat.NotebookNode:
    os.environ["PLOTLY_RENDERER"] = PLOTLY_RENDERER  # read by plotly in the kernel started below
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    try:
        client.execute()
    except Exception as error:  # nbclient's CellExecutionError carries the cell and the traceback
        raise RuntimeError(f"{path.name} failed while executing: {error}") from error
    return notebook


def _page_shell(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;"
        "line-height:1.5}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left}code{background:#f4f4f4;padding:0 3px}</style></head>"
        f"<body>{body}</body></html>"
    )


def _index(pages: Sequence[Page]) -> str:
    rows = "".join(
        f"<tr><td><a href='{p.html}'>{html.escape(p.title)}</a></td>"
        f"<td>{f'about {p.minutes} min' if p.minutes else ''}</td>"
        f"<td><a href='{links.colab_url(p.notebook)}'>Colab</a> · <a href='{links.binder_url(p.notebook)}'>"
        "Binder</a></td></tr>"
        for p in pages
    )
    body = (
        "<h1>ftmamba-lite: the course</h1>"
        "<p>FT-Mamba (Starnes &amp; Webster, <i>Mamba for Scalable and Efficient Personalized "
        "Recommendations</i>) taught in notebooks. Each page below is a notebook executed with its default "
        "settings, outputs included; open it in Colab or Binder to run it and use its widgets.</p>"
        f"<table><tr><th>notebook</th><th>time in class</th><th>run it</th></tr>{rows}</table>"
        "<p><a href='notation.html'>Notation and glossary</a> · "
        f"<a href='{links.REPO_URL}'>the repository</a></p>"
    )
    return _page_shell("ftmamba-lite course", body)


def build_site(
    out: str | Path,
    notebooks: Sequence[str | Path] | None = None,
    timeout: int = 1200,
    log: bool = True,
) -> list[Page]:
    """Execute ``notebooks`` (default: every ``notebooks/NN_*.ipynb`` of the repository) and write the site to
    ``out``. Raises RuntimeError naming the notebook when one fails to run or a page lacks a figure; pages
    already written stay (nothing is left half-written: each page is written whole, the index last)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = (
        [Path(p) for p in notebooks] if notebooks else sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    )
    if not paths:
        raise ValueError("no notebooks to build: pass paths, or run from a checkout that has notebooks/")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"notebook {path} does not exist")
    exporter = HTMLExporter(template_name="lab")
    pages = []
    for path in paths:
        start = time.perf_counter()
        executed = _execute(path, timeout)
        body, _ = exporter.from_notebook_node(executed)
        missing = missing_figures(executed, body)
        if missing:
            raise RuntimeError(f"{path.name}: the page lacks figures {missing}")
        target = out / path.with_suffix(".html").name
        target.write_text(body, encoding="utf-8")
        seconds = time.perf_counter() - start
        text = "".join(executed.cells[0].source) if executed.cells else ""
        minutes = _TIME.search(text)
        pages.append(
            Page(
                path.name,
                target.name,
                _title(executed),
                int(minutes.group(1)) if minutes else None,
                seconds,
                len(figure_keys(executed)),
            )
        )
        if log:
            print(f"{path.name}: {seconds:.0f} s, {pages[-1].figures} figures -> {target}", flush=True)
    notation = ROOT / "docs" / "notation.md"
    if notation.is_file():
        (out / "notation.html").write_text(
            _page_shell("Notation and glossary", markdown2html_mistune(notation.read_text(encoding="utf-8"))),
            encoding="utf-8",
        )
    (out / "index.html").write_text(_index(pages), encoding="utf-8")
    return pages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ftmamba_lite.course.site",
        description="Execute the course notebooks with their defaults and write a static HTML site.",
    )
    parser.add_argument("--out", default="site", help="output folder (default: site/)")
    parser.add_argument("notebooks", nargs="*", help="notebooks to build (default: all of notebooks/)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds one cell may run (default 1200)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pages = build_site(args.out, args.notebooks or None, timeout=args.timeout)
    print(
        f"{len(pages)} notebook pages + index + notation in {time.perf_counter() - start:.0f} s: {args.out}/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
