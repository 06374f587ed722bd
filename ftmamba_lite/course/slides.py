"""Slide metadata for the course notebooks, assigned from the cells' structure.

    python -m ftmamba_lite.course.slides notebooks/*.ipynb           # write the metadata
    python -m ftmamba_lite.course.slides --check notebooks/*.ipynb   # exit 1 when a notebook is out of date

Every cell gets ``metadata.slideshow.slide_type``, which JupyterLab's RISE extension (jupyterlab-rise) and
nbconvert's reveal.js export (``jupyter nbconvert --to slides``) both read. The rules, in order:

* the title cell and every markdown cell that holds a ``#`` or ``##`` heading start a **slide** (a cell
  whose heading follows a sentence on the section before starts the slide of the heading's section); a
  ``###`` heading starts a **subslide**;
* the Colab-only install cell (``# Setup 1/2: Colab only``) and empty cells are **skipped**; the other setup
  cell is a **subslide** of its own (an instructor runs it before class);
* prose that follows a code cell is a new idea: a **subslide**;
* a code cell stays on the slide of the prose before it (``-``), so code and its output are shown together,
  unless the slide would then be taller than :data:`SLIDE_LINES` lines: then it starts a **subslide**.

Only the metadata changes; the cells' sources and outputs are written back untouched, in the notebooks' own
JSON layout (one-space indent, non-ASCII kept), so the diff is the metadata alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["SLIDE_LINES", "SLIDE_TYPES", "assign", "main", "slide_types", "update_file"]

SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
SLIDE_LINES = 26  # lines of source (and output allowance) that fit on one slide
OUTPUT_LINES = 6  # the room a code cell's output is given on its slide


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def slide_types(cells: Sequence[dict[str, Any]]) -> list[str]:
    """The slide type of each cell (see the module's rules)."""
    types: list[str] = []
    height = 0  # lines on the slide being filled
    previous = None  # the cell type of the last cell on a slide
    for index, cell in enumerate(cells):
        text = _source(cell).strip()
        lines = len(text.splitlines())
        kind = cell.get("cell_type")
        first = text.splitlines()[0] if text else ""
        headings = [line for line in text.splitlines() if line.startswith("#")] if kind == "markdown" else []
        if not text:
            types.append("skip")
            continue
        if index == 0 or any(h.startswith(("# ", "## ")) for h in headings):
            slide, height = "slide", lines
        elif any(h.startswith("### ") for h in headings):
            slide, height = "subslide", lines
        elif kind == "code" and first.startswith("# Setup") and "Colab only" in first:
            types.append("skip")
            continue
        elif kind == "code" and first.startswith("# Setup"):
            slide, height = "subslide", lines + OUTPUT_LINES
        elif kind == "markdown" and previous == "code":
            slide, height = "subslide", lines
        else:
            grow = lines + (OUTPUT_LINES if kind == "code" else 0)
            if height + grow > SLIDE_LINES:
                slide, height = "subslide", grow
            else:
                slide, height = "-", height + grow
        types.append(slide)
        previous = kind
    return types


def assign(notebook: dict[str, Any]) -> bool:
    """Write every cell's ``metadata.slideshow.slide_type`` into ``notebook`` (a notebook's JSON as a dict,
    or an ``nbformat.NotebookNode``). Returns whether anything changed."""
    changed = False
    for cell, slide in zip(notebook["cells"], slide_types(notebook["cells"]), strict=True):
        metadata = cell.setdefault("metadata", {})
        if metadata.get("slideshow", {}).get("slide_type") != slide:
            metadata.setdefault("slideshow", {})["slide_type"] = slide
            changed = True
    return changed


def update_file(path: str | Path, write: bool = True) -> bool:
    """Assign the slide metadata of the notebook at ``path``; write it back when ``write`` and it changed.
    Returns whether it changed (was out of date)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    changed = assign(notebook)
    if changed and write:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ftmamba_lite.course.slides",
        description="Assign slide metadata (RISE / nbconvert --to slides) to notebooks from their cells.",
    )
    parser.add_argument("notebooks", nargs="+", help="the .ipynb files")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook changes")
    args = parser.parse_args(argv)
    stale = [p for p in args.notebooks if update_file(p, write=not args.check)]
    for path in stale:
        print(f"{path}: {'slide metadata out of date' if args.check else 'slide metadata written'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
