"""Slide metadata: every course notebook's cells carry a valid ``slideshow.slide_type``, the one
:mod:`ftmamba_lite.course.slides` assigns from its cells, and a notebook exports as a reveal.js deck."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbconvert import SlidesExporter

from ftmamba_lite.course import slides

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RERUN = "python -m ftmamba_lite.course.slides notebooks/*.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_the_slide_type_the_tool_assigns(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = [c.get("metadata", {}).get("slideshow", {}).get("slide_type") for c in cells]
    assert all(t in slides.SLIDE_TYPES for t in found), f"cells without slide metadata: run {RERUN}"
    assert found == slides.slide_types(cells), f"slide metadata out of date: run {RERUN}"
    assert found[0] == "slide"
    shown = [t for t in found if t != "skip"]
    assert 4 <= shown.count("slide") + shown.count("subslide") <= len(shown)


def test_the_rules() -> None:
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md("# 99 · Title"),
        code("# Setup 1/2: Colab only. Installs the course package there"),
        code("# Setup 2/2: imports\nFULL = False"),
        md("## 1 · An idea\n\nProse."),
        code("x = 1\nx"),  # with its prose
        md("What to notice."),  # after code: a new slide below
        code("\n".join(f"y{i} = {i}" for i in range(30))),  # too tall to share the slide
        md("### A detail"),
        code(""),
        code("z = 2"),
        md("What to notice.\n\n## 2 · The next idea"),  # a heading after a sentence: the next section
    ]
    assert slides.slide_types(cells) == [
        "slide",
        "skip",
        "subslide",
        "slide",
        "-",
        "subslide",
        "subslide",
        "subslide",
        "skip",
        "-",
        "slide",
    ]


def test_the_tool_writes_metadata_only_and_check_reports_stale(tmp_path: Path) -> None:
    source = NOTEBOOKS[0]
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        cell["metadata"].pop("slideshow", None)
    path = tmp_path / source.name
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert slides.main(["--check", str(path)]) == 1
    assert slides.main([str(path)]) == 0
    assert path.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")
    assert slides.main(["--check", str(path)]) == 0


def test_a_notebook_exports_as_a_reveal_deck() -> None:
    notebook = nbformat.read(NOTEBOOKS[4], as_version=4)
    body, _ = SlidesExporter().from_notebook_node(notebook)
    types = [c.metadata.slideshow.slide_type for c in notebook.cells]
    assert "Reveal.initialize" in body
    assert body.count("<section") >= types.count("slide") + types.count("subslide")
    assert "Setup 1/2: Colab only" not in body  # skipped
