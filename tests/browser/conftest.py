"""Fixtures of the browser suite: a Jupyter front end serving a temporary copy of ``notebooks/``, headless
Chromium.

Two front ends, each test running in both: JupyterLab 4 from this environment (ipywidgets 8), and the
classic Notebook 6.5 (ipywidgets 7, the nearest open front end to Google Colab's widget manager) from the
environment whose Python ``FTM_CLASSIC_PYTHON`` names -- ``.ci/run`` builds one from Colab's package list
(``.venv-colab``); without it the classic runs are skipped.

The suite is marked ``browser`` and left out of a plain ``python -m pytest`` (``addopts`` has
``-m "not browser"``); run it with ``python -m pytest -m browser tests/browser``. It needs Debian's Chromium
at :data:`CHROMIUM` (``apt-get install -y chromium``) and the ``playwright`` package (dev extra);
Playwright's own browser download is not used. Without them every test is skipped with a message saying
how to install them.

Screenshots of every checked state go to :data:`ARTIFACTS` (git-ignored). The kernels inherit the
environment: the live plots are drawn in Output widgets (the library's default);
``FTMAMBA_LITE_LIVE_PLOTS=widget`` runs the suite with plotly FigureWidgets instead (the opt-in mode, which
sometimes renders empty: see :mod:`ftmamba_lite.course.widgets`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, FloatRect, Locator

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(os.environ.get("FTM_BROWSER_NOTEBOOKS", REPO / "notebooks"))  # the notebooks to serve
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path(os.environ.get("FTM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
INSTALL_HINT = (
    "install Debian's Chromium (`sudo apt-get update && sudo apt-get install -y chromium`, or set "
    "FTM_CHROMIUM to a Chromium binary) and the playwright package (`pip install -e '.[dev]'`; no "
    "`playwright install` needed)"
)
SERVER_START_TIMEOUT = 60.0

# Added as the first cell of each served notebook copy (never to the repository's notebooks): one torch
# thread, and small runs so that "Run All" of notebooks 04 and 05 takes seconds instead of minutes (the
# training panel starts at 10 steps and evaluates 5 times a run; seeds of notebook 05 train 10 steps). The
# student's controls are untouched: the tests set the step count they train with through the page.
PREAMBLE = """\
# Browser test only: small runs so that "Run All" stays fast. Not part of the course notebook.
import inspect as _inspect

import torch as _torch

from ftmamba_lite.learn import experiments as _experiments
from ftmamba_lite.course import widgets as _widgets

_torch.set_num_threads(1)


def _capped(function, **caps):
    signature = _inspect.signature(function)

    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name, cap in caps.items():
            value = bound.arguments.get(name, signature.parameters[name].default)
            bound.arguments[name] = cap if value is None else min(value, cap)
        return function(*bound.args, **bound.kwargs)

    wrapper.__signature__ = signature
    return wrapper


_widgets.TrainingPanel.__init__ = _capped(
    _widgets.TrainingPanel.__init__, steps={panel_steps}, evaluations={panel_evaluations}
)
_experiments.run_seed = _capped(_experiments.run_seed, steps={seed_steps})
"""


@dataclass
class JupyterLab:
    """A running Jupyter server: ``url`` (no trailing slash), ``token``, its ``root`` directory and its
    ``front_end``, ``"lab"`` (JupyterLab) or ``"classic"`` (the classic Notebook)."""

    url: str
    token: str
    root: Path
    log: Path
    front_end: str = "lab"

    def notebook_url(self, name: str) -> str:
        """URL of notebook ``name`` (a file in ``root``), in a fresh workspace for JupyterLab."""
        if self.front_end == "classic":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def served_copy(source: Path, target: Path, preamble: str) -> None:
    """Copy notebook ``source`` to ``target`` with ``preamble`` as a new first code cell, outputs cleared."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    cell = nbformat.v4.new_code_cell(preamble)
    cell.metadata["tags"] = ["browser-test-preamble"]
    notebook.cells.insert(0, cell)
    nbformat.write(notebook, target)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("browser", "browser tests (tests/browser)")
    group.addoption(
        "--browser-extra-preamble",
        default="",
        help="Python code appended to the preamble cell of every served notebook copy, e.g. to break a "
        "widget callback on purpose and check that the suite fails",
    )
    group.addoption("--browser-headed", action="store_true", help="show the browser window (needs a display)")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Chromium's path; skips (with how to install) when Chromium or playwright is missing."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}, which is missing: {INSTALL_HINT}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(f"browser tests need the playwright package, which is missing: {INSTALL_HINT}")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The (git-ignored) folder for screenshots, emptied at the start of the session."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def jupyterlab(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[JupyterLab]:
    """JupyterLab 4 from this environment on a free localhost port, with a random token, serving a copy
    of ``notebooks/`` (each with the :data:`PREAMBLE` cell); terminated at the end of the session whatever
    happens."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = _served_root(base, pytestconfig)
    for name in ("settings", "workspaces"):
        (base / name).mkdir()
    # No "Would you like to get notified about official Jupyter news?" toast over the notebook.
    notification = (
        base / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    token, port = secrets.token_hex(16), _free_port()
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={base / 'settings'}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no queries to PyPI
        "--ServerApp.terminals_enabled=False",
    ]
    yield from _serve("lab", command, port, token, root, base)


def _serve(
    front_end: str, command: list[str], port: int, token: str, root: Path, base: Path
) -> Iterator[JupyterLab]:
    """Run the server ``command`` in ``root`` until the session ends, once it answers on ``port``."""
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMBA_NUM_THREADS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        command = [*command, "--allow-root"]
    log = base / f"{front_end}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{command[2:4]} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                request = urllib.request.Request(
                    f"{url}/api/status", headers={"Authorization": f"token {token}"}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    json.load(response)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{command[2:4]} did not answer on {url} in {SERVER_START_TIMEOUT:.0f} s:\n"
                        f"{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.5)
        yield JupyterLab(url, token, root, log, front_end)
    finally:
        process.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)  # its own session: the server and the kernels it started
            process.wait(timeout=10)


def _served_root(base: Path, pytestconfig: pytest.Config) -> Path:
    """``base/notebooks``: a copy of every notebook with the :data:`PREAMBLE` cell."""
    root = base / "notebooks"
    root.mkdir()
    # Every redraw of a live figure costs the browser time: few steps and evaluations per run.
    preamble = PREAMBLE.format(panel_steps=10, panel_evaluations=5, seed_steps=10)
    extra = pytestconfig.getoption("--browser-extra-preamble", default="")
    if extra:
        preamble += "\n# --browser-extra-preamble:\n" + extra + "\n"
    for source in sorted(NOTEBOOKS.glob("*.ipynb")):
        served_copy(source, root / source.name, preamble)
    for name in ("config", "runtime"):
        (base / name).mkdir()
    return root


@pytest.fixture(scope="session")
def classic_notebook(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[JupyterLab]:
    """The classic Notebook (``notebook<7``) of the environment whose Python ``FTM_CLASSIC_PYTHON`` names,
    like :func:`jupyterlab` otherwise; skipped without it."""
    python = os.environ.get("FTM_CLASSIC_PYTHON", "")
    if not python:
        pytest.skip("set FTM_CLASSIC_PYTHON to the Python of an environment with notebook<7 (.venv-colab)")
    base = tmp_path_factory.mktemp("classic")
    root = _served_root(base, pytestconfig)
    token, port = secrets.token_hex(16), _free_port()
    command = [
        python,
        "-m",
        "notebook",
        "--no-browser",
        "--NotebookApp.ip=127.0.0.1",
        f"--NotebookApp.port={port}",
        "--NotebookApp.port_retries=0",
        f"--NotebookApp.token={token}",
        f"--NotebookApp.notebook_dir={root}",
        "--NotebookApp.terminals_enabled=False",
    ]
    yield from _serve("classic", command, port, token, root, base)


@pytest.fixture(scope="session")
def browser_context(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[BrowserContext]:
    """A headless Chromium (Debian's, with a fresh user-data dir) driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(chromium_path),
            headless=not pytestconfig.getoption("--browser-headed", default=False),
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


# JavaScript run in the page. `window.jupyterapp` exists because of --LabApp.expose_app_in_browser.
_NOTEBOOK_STATE_JS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const cells = [];
    for (const cell of panel.content.model.cells) {
        if (cell.type !== 'code') continue;
        const outputs = cell.outputs.toJSON();
        cells.push({
            count: cell.executionCount,
            errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
        });
    }
    const prompts = Array.from(panel.node.querySelectorAll('.jp-InputPrompt')).map(p => p.textContent);
    return {kernel: kernel ? kernel.status : null, cells, busy: prompts.some(p => p.includes('*'))};
}"""

# Finds the plotly figure of the panel (widget box) that holds the control `selector`: a FigureWidget or the
# figure drawn inside the panel's Output widget, whichever the live-plot mode made.
_FIND_PLOT_JS = """(selector) => {
    const control = document.querySelector(selector);
    let box = control && control.closest('.widget-vbox');
    while (box && !box.querySelector('.js-plotly-plot')) box = box.parentElement.closest('.widget-vbox');
    return box ? {box, plot: box.querySelector('.js-plotly-plot')} : null;
}"""

# The rendered trace data (plotly's full data, numpy arrays already decoded), the SVG path of every drawn
# line or bar, and the title of that figure.
_PLOT_JS = f"""(selector) => {{
    const found = ({_FIND_PLOT_JS})(selector);
    const plot = found && found.plot;
    if (!plot || !plot._fullData) return null;
    const list = a => (a === undefined || a === null ? []
        : Array.from(a, v => (typeof v === 'number' ? v : String(v))));
    return {{
        traces: plot._fullData.map(t => ({{name: t.name, type: t.type, x: list(t.x), y: list(t.y)}})),
        paths: Array.from(plot.querySelectorAll('.scatterlayer path.js-line, .barlayer path'),
            p => p.getAttribute('d')),
        title: (plot.querySelector('.gtitle') || {{}}).textContent || '',
    }};
}}"""

# Records, in the page, every state of that figure while the kernel updates it: a MutationObserver on the
# panel (each redraw changes its DOM) and a 50 ms timer append the number of points of every trace and the
# width of the panel's progress bar (if any) whenever they change.
_RECORD_JS = f"""(selector) => {{
    const find = ({_FIND_PLOT_JS});
    const found = find(selector);
    const samples = [];
    const sample = () => {{
        const plot = found.box.querySelector('.js-plotly-plot');
        if (!plot || !plot._fullData) return;  // an Output widget between clearing and redrawing
        const bar = found.box.querySelector('.progress-bar');
        const state = {{
            points: plot._fullData.map(t => (t.x ? t.x.length : 0)),
            progress: bar ? parseFloat(bar.style.width) : null,
        }};
        const last = samples[samples.length - 1];
        if (!last || JSON.stringify(last) !== JSON.stringify(state)) samples.push(state);
    }};
    const observer = new MutationObserver(sample);
    observer.observe(found.box, {{subtree: true, childList: true, attributes: true, characterData: true}});
    const timer = setInterval(sample, 50);
    sample();
    window.__ftmRecording = {{samples, stop: () => {{ observer.disconnect(); clearInterval(timer); }}}};
}}"""


class LabPage:
    """A JupyterLab page in the headless browser, with the checks every browser test shares.

    Collects JavaScript console errors and uncaught page errors from the moment it opens; :meth:`check` fails
    on them and on widgets that did not render.
    """

    front_end = "lab"
    output_selector = ".jp-OutputArea-output"  # one cell output
    slider_handle = ".noUi-handle"  # ipywidgets 8 draws sliders with noUiSlider

    def __init__(self, context: BrowserContext, lab: JupyterLab, artifacts: Path, name: str) -> None:
        self.lab, self.artifacts, self.name = lab, artifacts, name
        self.page = context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource: net::ERR_") and not url.startswith(self.lab.url):
            return  # an external image (the Colab and Binder badges) on an offline machine: not the course's
        self.console_errors.append(f"console error: {message.text} ({url})")

    def open_notebook(self, notebook: str) -> None:
        """Open ``notebook`` in a fresh workspace and wait for its kernel to be ready."""
        self.page.goto(self.lab.notebook_url(notebook))
        self.page.wait_for_function(
            """(name) => {
                const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                return w && w.context && w.context.path.endsWith(name) && w.sessionContext &&
                    w.sessionContext.session && w.sessionContext.session.kernel &&
                    w.sessionContext.session.kernel.status === 'idle';
            }""",
            arg=notebook,
            timeout=60_000,
        )

    def run_all_cells(self, timeout_s: float = 180.0) -> None:
        """Click Run -> Run All Cells in the menu bar and wait until every cell has run; fail on an error."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        self.page.wait_for_timeout(500)
        start = time.monotonic()
        deadline = start + timeout_s
        while True:
            state = self.page.evaluate(_NOTEBOOK_STATE_JS)
            if state and state["kernel"] == "idle" and not state["busy"]:
                break
            if time.monotonic() > deadline:
                self.screenshot("timeout")
                raise AssertionError(
                    f"{self.name}: Run All Cells did not finish in {timeout_s:.0f} s: {state}"
                )
            self.page.wait_for_timeout(250)
        print(f"{self.name}: Run All Cells took {time.monotonic() - start:.0f} s")  # shown with -s
        errors = [error for cell in state["cells"] for error in cell["errors"]]
        assert not errors, f"{self.name}: cells raised: {errors}"
        not_run = [i for i, cell in enumerate(state["cells"]) if cell["count"] is None]
        assert not not_run, f"{self.name}: code cells {not_run} did not run"

    def plot(self, selector: str) -> dict:
        """Trace data, SVG line/bar paths and title of the plotly figure in the panel holding ``selector``."""
        data = self.page.evaluate(_PLOT_JS, selector)
        assert data is not None, f"{self.name}: no rendered plotly figure beside {selector}"
        return data

    def rendered_plot(self, selector: str) -> dict:
        """:meth:`plot`, failing if the figure was drawn empty: every panel figure of the course has a title;
        a FigureWidget whose view rendered before its data reached the browser shows bare default axes."""
        plot = self.plot(selector)
        if not plot["title"]:
            self.screenshot("empty-figure")
            raise AssertionError(
                f"{self.name}: the figure beside {selector} is drawn empty (no title, "
                f"{len(plot['traces'])} traces): the student sees bare axes"
            )
        return plot

    def record(self, selector: str) -> None:
        """Start recording, in the page, every state of the figure (points per trace) and of the progress
        bar (width in %) of the panel holding ``selector``; :meth:`recorded` returns them."""
        self.page.evaluate(_RECORD_JS, selector)

    def recorded(self, stop: bool = False) -> list[dict]:
        """The states recorded since :meth:`record`: ``{"points": [n per trace], "progress": % or None}``."""
        return self.page.evaluate(
            "(stop) => { const r = window.__ftmRecording; if (stop) r.stop(); return r.samples; }", stop
        )

    def screenshot(self, state: str, locator: Locator | None = None, clip: FloatRect | None = None) -> Path:
        """Save a PNG of ``locator``, of the page area ``clip`` (quick: no waiting for the element to be
        stable, for states that last a second), or of the page as ``<name>-<state>.png`` in the artifacts
        folder."""
        path = self.artifacts / f"{self.name}-{state}.png"
        if locator is not None:
            locator.screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), clip=clip)
        return path

    def check(self) -> None:
        """Fail on JavaScript errors and on widgets shown as an error or as their bare text repr."""
        broken = self.page.locator(self.output_selector, has_text="Error displaying widget")
        assert broken.count() == 0, f"{self.name}: {broken.count()} widget(s) show 'Error displaying widget'"
        bare = self.page.evaluate(
            """(selector) => Array.from(document.querySelectorAll(selector), o => o.textContent.trim())
                .filter(t => /^(VBox|HBox|Box|Output|FigureWidget)\\(|model_id|Loading widget/.test(t))""",
            self.output_selector,
        )
        # a cell's error, or a widget callback's (ipywidgets 7 prints it into the cell's output)
        tracebacks = self.page.locator(
            self.output_selector, has_text="Traceback (most recent call last)"
        ).count()
        assert tracebacks == 0, f"{self.name}: {tracebacks} traceback(s) in the outputs"
        assert not bare, f"{self.name}: widgets rendered as text instead of controls: {bare[:3]}"
        assert not self.console_errors, f"{self.name}: JavaScript errors:\n" + "\n".join(self.console_errors)

    def close(self) -> None:
        self.page.close()


# The classic Notebook's state: each code cell's prompt number ("*" while queued or running) and errors.
_CLASSIC_STATE_JS = """() => {
    const nb = window.Jupyter && window.Jupyter.notebook;
    if (!nb || !nb.kernel) return null;
    const cells = nb.get_cells().filter(c => c.cell_type === 'code').map(c => ({
        count: c.input_prompt_number === undefined ? null : c.input_prompt_number,
        errors: c.output_area.outputs.filter(o => o.output_type === 'error')
            .map(o => o.ename + ': ' + o.evalue),
    }));
    const icon = document.querySelector('#kernel_indicator_icon');
    const idle = !!icon && icon.classList.contains('kernel_idle_icon');
    return {kernel: idle ? 'idle' : 'busy', cells, busy: cells.some(c => c.count === '*')};
}"""


class ClassicPage(LabPage):
    """A classic Notebook 6.5 page (ipywidgets 7): the same checks as :class:`LabPage`."""

    front_end = "classic"
    output_selector = ".output_subarea"
    slider_handle = ".ui-slider-handle"  # ipywidgets 7 draws sliders with jQuery UI

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.text.startswith("Access to font at 'about:blank'"):
            return  # the classic Notebook's own stylesheet, on every page, whatever the notebook holds
        if "/static/components/MathJax/fonts/" in message.location.get("url", ""):
            return  # a font the classic Notebook's MathJax asks for (the Markdown's math) but does not ship
        super()._on_console(message)

    def open_notebook(self, notebook: str) -> None:
        """Open ``notebook`` and wait for its kernel to be idle."""
        self.page.goto(self.lab.notebook_url(notebook))
        self.page.wait_for_function(
            """() => window.Jupyter && window.Jupyter.notebook && window.Jupyter.notebook.kernel &&
                window.Jupyter.notebook.kernel.is_connected() &&
                !!document.querySelector('#kernel_indicator_icon.kernel_idle_icon')""",
            timeout=60_000,
        )

    def run_all_cells(self, timeout_s: float = 180.0) -> None:
        """Click Cell -> Run All in the menu bar and wait until every cell has run; fail on an error."""
        self.page.locator("#celllink").click()
        self.page.locator("#run_all_cells a").click()
        self.page.wait_for_timeout(500)
        start = time.monotonic()
        deadline = start + timeout_s
        while True:
            state = self.page.evaluate(_CLASSIC_STATE_JS)
            if state and state["kernel"] == "idle" and not state["busy"]:
                break
            if time.monotonic() > deadline:
                self.screenshot("timeout")
                raise AssertionError(f"{self.name}: Run All did not finish in {timeout_s:.0f} s: {state}")
            self.page.wait_for_timeout(250)
        print(f"{self.name}: Run All took {time.monotonic() - start:.0f} s")  # shown with -s
        errors = [error for cell in state["cells"] for error in cell["errors"]]
        assert not errors, f"{self.name}: cells raised: {errors}"
        not_run = [i for i, cell in enumerate(state["cells"]) if cell["count"] is None]
        assert not not_run, f"{self.name}: code cells {not_run} did not run"


@pytest.fixture(params=["lab", "classic"])
def lab_page(
    browser_context: BrowserContext, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[LabPage]:
    """A fresh page of each front end (:class:`LabPage` in JupyterLab, :class:`ClassicPage` in the classic
    Notebook), named after the test and the front end; closed afterwards."""
    front_end = request.param
    server = request.getfixturevalue("jupyterlab" if front_end == "lab" else "classic_notebook")
    kind = LabPage if front_end == "lab" else ClassicPage
    name = f"{request.node.originalname.removeprefix('test_')}-{front_end}"
    page = kind(browser_context, server, artifacts, name)
    try:
        yield page
    finally:
        if page.console_errors:  # shown with the report of a test that failed before its check()
            print("JavaScript errors:", *page.console_errors, sep="\n")
        page.close()
