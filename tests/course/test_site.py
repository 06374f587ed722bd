"""The course site (``python -m sphinx -b html docs site/html``), built here from one small notebook: its
page has the notebook's figures, the sidebar lists every page, previous / next links join the pages, a slide
deck is written and linked, search is there, and no page holds an absolute path of the build machine (the
notebook prints one on purpose). Every course notebook links the notation page, states its class time and
ends with "Next:"."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ftmamba_lite.course import links

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ABSOLUTE = re.compile(r"/work/|/root/|/home/|" + re.escape(str(ROOT)) + "|" + re.escape(str(Path.home())))
PAGES = ["index", "running", "instructors", "notation", "recommender", "results", "reproducing", "benchmarks"]


def small_notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# 99 · A small page\n\n**Time in class:** about 5 min."),
        nbformat.v4.new_code_cell("from ftmamba_lite.course import diagrams\n\ndiagrams.two_towers()"),
        nbformat.v4.new_markdown_cell("## A figure\n\nA line, drawn by plotly."),
        nbformat.v4.new_code_cell(
            "import plotly.graph_objects as go\n\n"
            "go.Figure(go.Scatter(x=[1, 2], y=[3, 4]), layout_title_text='a line')"
        ),
        nbformat.v4.new_code_cell(
            "import ipywidgets as w\nfrom IPython.display import HTML\n\n"
            "out = w.Output()\nout.append_display_data(HTML('<b>the last drawing</b>'))\n"
            "w.VBox([w.HTML('the panel says hello'), out])"
        ),
        nbformat.v4.new_code_cell(
            "from pathlib import Path\n\nimport ftmamba_lite\n\n"
            "print('data in', Path(ftmamba_lite.__file__).resolve().parent / 'resources')\n"
            "print('home', Path.home() / 'data')"
        ),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "99_small.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("course")
    out = folder / "html"
    env = {**os.environ, "FTM_DOCS_NOTEBOOKS": str(small_notebook(folder))}
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-d",
        str(folder / "doctrees"),
        "docs",
        str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_the_notebook_page_shows_its_figures_and_links_its_deck(site: Path) -> None:
    page = (site / "notebooks" / "99_small.html").read_text(encoding="utf-8")
    assert "plotly-graph-div" in page and "cdn.plot.ly" not in page  # plotly.js: the site's own copy
    assert (
        'src="../_static/plotly.min.js' in page and (site / "_static" / "plotly.min.js").stat().st_size > 1e6
    )
    assert "<svg" in page or "image/svg+xml" in page or ".svg" in page  # the two-tower diagram
    assert 'href="../slides/99_small.slides.html"' in page
    deck = (site / "slides" / "99_small.slides.html").read_text(encoding="utf-8")
    assert deck.count("<section") >= 2 and "Reveal.initialize" in deck
    assert '<script src="../_static/plotly.min.js"></script>' in deck and "cdn.plot.ly" not in deck
    assert (
        '"../_static/revealjs/dist/reveal.js"' in deck
        and (site / "_static/revealjs/dist/reveal.js").is_file()
    )
    assert "Teaching from this page" not in deck  # the site-only cell stays out of the deck


def test_a_widget_keeps_its_last_drawing_in_the_page(site: Path) -> None:
    page = (site / "notebooks" / "99_small.html").read_text(encoding="utf-8")
    fallback = page[page.index('<div class="widget-fallback">') :]
    assert "the panel says hello" in fallback and "<b>the last drawing</b>" in fallback
    deck = (site / "slides" / "99_small.slides.html").read_text(encoding="utf-8")
    assert "<b>the last drawing</b>" in deck[deck.index('<div class="widget-fallback">') :]


def test_every_page_is_in_the_sidebar_and_joined_by_previous_and_next(site: Path) -> None:
    for name in PAGES:
        assert (site / f"{name}.html").is_file(), name
    page = (site / "notebooks" / "99_small.html").read_text(encoding="utf-8")
    sidebar = page[page.index("bd-docs-nav") :]
    for name in PAGES[1:]:
        assert f'href="../{name}.html"' in sidebar, name
    assert 'class="left-prev"' in page and 'class="right-next"' in page
    prev_next = re.findall(r'class="(?:left-prev|right-next)"\s+href="([^"]+)"', page)
    assert prev_next == ["../index.html", "../running.html"], prev_next
    index = (site / "searchindex.js").read_text(encoding="utf-8")
    titles = json.loads(index[index.index("(") + 1 : index.rindex(")")])["titles"]
    assert (site / "search.html").is_file() and "99 · A small page" in titles


def test_no_page_holds_an_absolute_path_of_the_build_machine(site: Path) -> None:
    page = (site / "notebooks" / "99_small.html").read_text(encoding="utf-8")
    assert "data in ftmamba_lite/resources" in page and "home ~/data" in page  # made relative
    found = []
    for path in site.rglob("*"):
        if path.suffix in {".html", ".js", ".ipynb", ".txt"} and "_static" not in path.parts:
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path.relative_to(site)}: {m.group(0)}" for m in ABSOLUTE.finditer(text)]
    assert not found, found[:10]


def site_paths():
    spec = importlib.util.spec_from_file_location("site_paths", ROOT / "docs" / "site_paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_linked_folder_beside_the_repository_is_shown_by_its_name(tmp_path: Path) -> None:
    """CI keeps ``../shared`` as a symbolic link; a notebook prints the folder it resolves to."""
    paths = site_paths()
    elsewhere = tmp_path / "elsewhere" / "shared"
    (elsewhere / "data").mkdir(parents=True)
    root = tmp_path / "check" / "main"
    root.mkdir(parents=True)
    (root.parent / "shared").symlink_to(elsewhere)
    home = tmp_path / "home"
    text = (
        f"Source: Spotify from directory {(root.parent / 'shared' / 'data').resolve()}\n"
        f"and {root}/notebooks, {root.parent}/other, {home}/.cache"
    )
    shown = paths.relative(text, root, home)
    assert shown == "Source: Spotify from directory ../shared/data\nand notebooks, ../other, ~/.cache"
    assert not paths.forbidden(root, home).search(shown)
    assert paths.forbidden(root, home).search(text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_links_the_notation_page_states_its_time_and_ends_with_next(path: Path) -> None:
    cells = ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    assert links.docs_url("notation.md") in cells[0]
    assert re.search(r"\*\*Time in class:\*\* about \d+ min", cells[0])
    assert "NOTATION.md" not in "\n".join(cells)
    assert "- Next:" in cells[-1]
