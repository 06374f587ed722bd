"""The rendered course: a page per notebook with every figure its executed notebook holds, an index with the
class time and the Colab / Binder links; and every course notebook links the notation page, states its class
time and ends with "Next:"."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from ftmamba_lite.course import links, site

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def small_notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# 99 · A small page\n\n**Time in class:** about 5 min."),
        nbformat.v4.new_code_cell("from ftmamba_lite.course import diagrams\n\ndiagrams.two_towers()"),
        nbformat.v4.new_code_cell(
            "import plotly.graph_objects as go\n\n"
            "go.Figure(go.Scatter(x=[1, 2], y=[3, 4]), layout_title_text='a line')"
        ),
        nbformat.v4.new_code_cell("print('done')"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "99_small.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[site.Page]]:
    folder = tmp_path_factory.mktemp("course")
    out = folder / "site"
    pages = site.build_site(out, [small_notebook(folder)], timeout=300, log=False)
    return out, pages


def test_the_page_shows_every_figure_of_its_notebook(built: tuple[Path, list[site.Page]]) -> None:
    out, pages = built
    page = (out / "99_small.html").read_text(encoding="utf-8")
    assert [p.figures for p in pages] == [2]
    assert "data:image/svg+xml;base64," in page  # the SVG diagram, inline
    assert re.search(r'class="plotly-graph-div"', page) and "cdn.plot.ly" in page  # plotly.js from its CDN
    assert "done" in page


def test_missing_figures_finds_a_figure_the_page_lost(built: tuple[Path, list[site.Page]]) -> None:
    out, _ = built
    page = (out / "99_small.html").read_text(encoding="utf-8")
    keys = site.plotly_ids(page)
    assert keys
    figure = f'<div id="{keys[0]}" class="plotly-graph-div"></div>'
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            outputs=[nbformat.v4.new_output("display_data", data={"text/html": figure})]
        )
    ]
    assert site.missing_figures(notebook, page) == []
    assert site.missing_figures(notebook, page.replace(keys[0], "gone")) == [f"plotly:{keys[0]}"]


def test_index_lists_the_page_with_its_time_and_run_links(built: tuple[Path, list[site.Page]]) -> None:
    out, _ = built
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "href='99_small.html'" in index and "about 5 min" in index
    assert links.colab_url("99_small.ipynb") in index and links.binder_url("99_small.ipynb") in index
    assert "Hillis" in (out / "notation.html").read_text(encoding="utf-8")


def test_a_missing_notebook_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        site.build_site(tmp_path / "site", [tmp_path / "nope.ipynb"], log=False)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_links_the_notation_page_states_its_time_and_ends_with_next(path: Path) -> None:
    cells = ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    assert links.docs_url("notation.md") in cells[0]
    assert re.search(r"\*\*Time in class:\*\* about \d+ min", cells[0])
    assert "NOTATION.md" not in "\n".join(cells)
    assert "- Next:" in cells[-1]
