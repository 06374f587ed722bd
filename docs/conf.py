"""Sphinx configuration of the course site (myst-nb, sphinx-book-theme).

    python -m sphinx -b html docs site/html

executes every notebook of ``notebooks/`` with its defaults and writes the site to ``site/html`` (the
executed notebooks go to ``site/jupyter_execute``). ``FTM_DOCS_NOTEBOOKS`` (paths separated by ``,``,
relative ones from the repository root) builds the site from other notebooks instead, e.g. one small one in
a test.

The notebooks are not copied into the repository: ``docs/notebooks/`` is generated here on every build
(git-ignored), each copy with one extra markdown cell under its title that links the notebook's slide deck.
After the build, :func:`_finish` writes one reveal.js deck per executed notebook to ``slides/``, replaces
the build machine's absolute paths in every written page (:func:`relative_paths`) and fails the build when
one is left.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
import site_paths  # noqa: E402  (beside this file)

ROOT = DOCS.parent
GENERATED = DOCS / "notebooks"
SITE_ONLY = "site-only"  # the tag of the cell added to the copies (dropped from the decks)

project = "ftmamba-lite"
author = "ftmamba-lite developers"
copyright = "ftmamba-lite developers, MIT licence"
html_title = "ftmamba-lite: FT-Mamba, taught"

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_block"]
myst_heading_anchors = 3
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
suppress_warnings = ["mystnb.unknown_mime_type"]

# Every notebook runs at build time with its defaults; a failing cell fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 1500  # seconds per cell
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# plotly's figures come out as HTML with a <script src> of plotly.js from its CDN; _finish replaces that tag
# with the site's own copy (_static/plotly.min.js, the version of the installed plotly), so every page loads
# plotly.js once and draws its figures without a network
os.environ["PLOTLY_RENDERER"] = "notebook_connected"
PLOTLY_JS = "plotly.min.js"
_PLOTLY_CDN = re.compile(
    r'<script\b[^>]*src="https://cdn\.plot\.ly/[^"]*"[^>]*>\s*</script>'  # a figure's <script src>
    r"|<script\b[^>]*>[^<]*https://cdn\.plot\.ly/[^<]*</script>"  # the renderer's module import
)

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_theme_options = {
    "repository_url": "https://github.com/ftmamba-lite/ftmamba-lite",
    "use_repository_button": True,
    "use_download_button": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
html_last_updated_fmt = None


def _selected_notebooks() -> list[Path]:
    chosen = os.environ.get("FTM_DOCS_NOTEBOOKS", "").strip()
    if chosen:
        paths = [Path(p.strip()).expanduser() for p in chosen.split(",") if p.strip()]
        return [p if p.is_absolute() else ROOT / p for p in paths]  # relative: to the repository root
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _deck_cell(name: str) -> dict:
    link = f'<a href="../slides/{name}.slides.html">the slide deck</a>'
    return {
        "cell_type": "markdown",
        "id": "site-slides-link",
        "metadata": {"tags": [SITE_ONLY], "slideshow": {"slide_type": "skip"}},
        "source": (
            f"**Teaching from this page?** Present it as slides: {link} (reveal.js: arrow keys, `f` full "
            "screen, `Esc` for the overview); the [instructor's guide](../instructors.md) has its timing."
        ),
    }


def _generate_notebooks() -> None:
    """Copy the selected notebooks into docs/notebooks/ (a copy is rewritten only when it changes)."""
    GENERATED.mkdir(exist_ok=True)
    wanted = {}
    for path in _selected_notebooks():
        if not path.is_file():
            raise FileNotFoundError(f"notebook {path} does not exist")
        notebook = json.loads(path.read_text(encoding="utf-8"))
        notebook["cells"].insert(1, _deck_cell(path.stem))
        wanted[path.name] = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    for stale in GENERATED.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        target = GENERATED / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


_generate_notebooks()


# --- absolute paths of the build machine ------------------------------------------------------------------
def relative_paths(text: str) -> str:
    """``text`` with the build machine's absolute paths replaced (:func:`site_paths.replacements`)."""
    return site_paths.relative(text, ROOT, Path.home())


# --- widgets' last state without a network -------------------------------------------------------------
# A page draws its widgets with @jupyter-widgets/html-manager from a CDN. Under each widget the page also
# holds what its Output and HTML widgets showed last (a live figure, a table), as plain HTML: shown until
# the widget manager draws the widget, and where it cannot load.
_WIDGET_VIEW = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-view\+json">\s*(\{.*?\})\s*</script>', re.S
)
_WIDGET_STATE = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S
)
_FALLBACK_STYLE = (
    "<style>.widget-subarea ~ .widget-fallback { display: none; }"
    " .reveal .widget-fallback { font-size: 18px; text-align: left; }</style>"
)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)
_BIG_SCRIPT = 100_000  # characters: a copy of plotly.js inside a drawing (the page loads the site's copy)


def _output_html(output: dict) -> str:
    from html import escape

    data = output.get("data", {})
    if "text/html" in data:
        html = "".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"]
        return _no_big_scripts(html)
    if "image/png" in data:
        return f'<img src="data:image/png;base64,{data["image/png"]}" alt="figure">'
    text = data.get("text/plain") or output.get("text") or ""
    text = "".join(text) if isinstance(text, list) else text
    return f"<pre>{escape(text)}</pre>" if text.strip() else ""


def _no_big_scripts(html: str) -> str:
    return _SCRIPT.sub(lambda m: "" if len(m.group(0)) > _BIG_SCRIPT else m.group(0), html)


def slim_widget_state(state: dict) -> dict:
    """Drop the copies of plotly.js that live drawings carry for Colab from the Output widgets of a widget
    state (``{model_id: model}``), in place: a page or deck loads the site's copy once instead."""
    for model in state.values():
        if model.get("model_name") != "OutputModel":
            continue
        for output in model.get("state", {}).get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                html = data["text/html"]
                data["text/html"] = _no_big_scripts("".join(html) if isinstance(html, list) else html)
    return state


def widget_fallbacks(page: str) -> str:
    """``page`` with its widget state slimmed (:func:`slim_widget_state`) and the last drawing of each
    widget's Output and HTML children under the widget."""
    found = _WIDGET_STATE.search(page)
    if not found:
        return page
    full = json.loads(found.group(1))
    state = slim_widget_state(full.get("state", {}))
    slim = json.dumps(full).replace("</", "<\\/")
    page = page[: found.start(1)] + slim + page[found.end(1) :]

    def shown(model_id: str, depth: int = 0) -> list[str]:
        model = state.get(model_id.removeprefix("IPY_MODEL_"))
        if model is None or depth > 20:
            return []
        values = model.get("state", {})
        parts = []
        if model.get("model_name") == "OutputModel":
            parts += [_output_html(o) for o in values.get("outputs", [])]
        elif model.get("model_name") in {"HTMLModel", "HTMLMathModel"} and values.get("value"):
            parts.append(values["value"])
        for child in values.get("children", []):
            parts += shown(child, depth + 1)
        return [p for p in parts if p]

    def add(match: re.Match[str]) -> str:
        parts = shown(json.loads(match.group(1)).get("model_id", ""))
        if not parts:
            return match.group(0)
        return match.group(0) + '<div class="widget-fallback">' + "\n".join(parts) + "</div>"

    return _WIDGET_VIEW.sub(add, page)


TEXT_FILES = {".html", ".js", ".ipynb", ".txt", ".json"}


def _sanitise(folder: Path) -> list[str]:
    """Rewrite every page and search index under ``folder``: the build machine's paths made relative,
    plotly's CDN script tags removed from pages (they load the site's copy). Returns what still holds an
    absolute path."""
    forbidden = site_paths.forbidden(ROOT, Path.home())
    left = []
    for path in folder.rglob("*"):
        if path.suffix not in TEXT_FILES or not path.is_file() or "_static" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        fixed = relative_paths(text)
        if path.suffix == ".html":
            fixed = _PLOTLY_CDN.sub("", widget_fallbacks(fixed))
        if fixed != text:
            path.write_text(fixed, encoding="utf-8", errors="surrogateescape")
        match = forbidden.search(fixed)
        if match:
            start = max(match.start() - 60, 0)
            left.append(f"{path.relative_to(folder)}: ...{fixed[start : match.end() + 60]!r}...")
    return left


# --- slide decks -----------------------------------------------------------------------------------------
# reveal.js itself comes with the site (sphinx-revealjs's copy, _static/revealjs/), so a deck runs without a
# network in a classroom; nbconvert's template loads it through require.js from a CDN, and where that cannot
# load, the small loader below stands in for it.
REVEAL = "_static/revealjs"
_REQUIRE_FALLBACK = """<script>
if (typeof window.require !== "function") {
  window.require = function (config, scripts, done) {
    var next = function (i) {
      if (i === scripts.length) { return done(window.Reveal, window.RevealNotes); }
      var tag = document.createElement("script");
      tag.src = scripts[i];
      tag.onload = function () { next(i + 1); };
      document.head.appendChild(tag);
    };
    next(0);
  };
}
</script>"""


def _copy_reveal(outdir: Path) -> None:
    import sphinx_revealjs

    source = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    target = outdir / REVEAL
    shutil.copytree(source / "dist", target / "dist", dirs_exist_ok=True)
    shutil.copytree(source / "plugin" / "notes", target / "plugin" / "notes", dirs_exist_ok=True)
    shutil.copy2(source / "LICENSE", target / "LICENSE")


def _write_decks(app) -> list[str]:
    import nbformat
    from nbconvert import SlidesExporter

    outdir = Path(app.outdir)
    _copy_reveal(outdir)
    executed = outdir.parent / "jupyter_execute" / "notebooks"
    decks = outdir / "slides"
    decks.mkdir(exist_ok=True)
    exporter = SlidesExporter(
        reveal_url_prefix=f"../{REVEAL}", reveal_scroll=True, reveal_transition="none", reveal_number="c/t"
    )
    local = f'<script src="../_static/{PLOTLY_JS}"></script>'
    written = []
    for source in sorted(GENERATED.glob("*.ipynb")):
        path = executed / source.name
        notebook = nbformat.read(path if path.is_file() else source, as_version=4)
        notebook.cells = [c for c in notebook.cells if SITE_ONLY not in c.get("metadata", {}).get("tags", [])]
        widgets = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
        slim_widget_state(widgets.get("state", {}))
        body, _ = exporter.from_notebook_node(notebook)
        body = _PLOTLY_CDN.sub("", widget_fallbacks(body))
        body = body.replace("</head>", f"{_REQUIRE_FALLBACK}\n{local}\n{_FALLBACK_STYLE}\n</head>", 1)
        target = decks / f"{source.stem}.slides.html"
        target.write_text(relative_paths(body), encoding="utf-8")
        written.append(target.name)
    return written


def _finish(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from plotly.offline import get_plotlyjs

    (Path(app.outdir) / "_static" / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    decks = _write_decks(app)
    left = _sanitise(Path(app.outdir))
    executed = Path(app.outdir).parent / "jupyter_execute"
    if executed.is_dir():
        left += _sanitise(executed)
    if left:
        raise RuntimeError("absolute paths of the build machine left in the site:\n" + "\n".join(left[:20]))
    print(f"ftmamba-lite site: {len(decks)} slide decks in {Path(app.outdir).name}/slides/")


def _plotly_where_drawn(app, pagename, templatename, context, doctree) -> None:
    """Load the site's plotly.js on the notebook pages (their widgets' live figures draw with it too) and on
    any other page that holds a plotly figure."""
    if pagename.startswith("notebooks/") or "plotly-graph-div" in context.get("body", ""):
        app.add_js_file(PLOTLY_JS)


def setup(app):
    app.connect("html-page-context", _plotly_where_drawn)
    app.connect("build-finished", _finish)
