"""Interactive panels of the course notebooks: ipywidgets controls and :mod:`ftmamba_lite.course.plots`.

Every panel is an object whose controls are attributes (``panel.delta``, ``panel.train_button``, ...), whose
plot is ``panel.figure`` and whose callbacks are ordinary methods, so tests drive them without a browser
(set ``slider.value``, call ``button.click()``, then read ``panel.figure.data``). Displaying the object shows
its ``panel.view`` box (through ``_ipython_display_``, which IPython 7 and 8 honour with ipywidgets 7 and 8
alike; ``_repr_mimebundle_`` exists on ipywidgets 8 only). The key controls carry a stable ``description``
and a CSS class ``ftm-...`` for browser tests. Only core ipywidgets are used, so Colab's own widget manager
draws them without its custom-widget manager. That manager speaks the ipywidgets 7 protocol (Colab ships
ipywidgets 7.7.1; ipywidgets 8 widgets are reported not to render there, googlecolab/colabtools#3020, #4525),
hence ``ipywidgets>=7.7`` in ``pyproject.toml`` and nothing here that needs ipywidgets 8.

Live plots (:class:`LiveFigure`) re-draw a regular plotly figure inside an ``ipywidgets.Output`` by default,
as a display bundle built here with two representations; each front end picks the one it renders:

* ``application/vnd.plotly.v1+json`` -- JupyterLab 4, Notebook 7 and VS Code draw it with plotly's own
  renderer, offline.
* ``text/html`` -- a ``<div>`` and a script that draws it with ``window.Plotly``. The first drawing of every
  live figure carries plotly.js itself (inline, before the drawing script), so the library is there before
  it is called. That is what Colab needs: Colab puts every cell's outputs in their own iframe, and a figure
  displayed inside an Output widget there fails with "Plotly is not defined" (googlecolab/colabtools#5889;
  plotly's Colab renderer loads plotly.js from its CDN with a ``<script src>`` that the widget's injected
  drawing script does not wait for). The classic Notebook front end (6.5, ipywidgets 7, the nearest open one
  to Colab's widget manager) renders this representation too, and showed why the drawing must not rely on
  its ``<script>`` being run: its Output widget inserts the first drawing before the widget is in the page,
  and jQuery runs no script of a detached element; so an image that cannot load runs the scripts from its
  ``onerror`` as well (they guard against running twice). Our browser tests drive both front ends
  (``tests/browser``). A later drawing reuses the page's ``window.Plotly``; after a page reload it loads
  plotly.js from the CDN and draws when it has loaded.

``FTMAMBA_LITE_LIVE_PLOTS=widget`` switches to plotly's ``FigureWidget`` (plotly >= 6 needs the
``anywidget`` package for it), which updates traces in place with smaller messages; it is not the default
because our browser tests (JupyterLab 4, plotly 7, anywidget 0.11) saw it render as bare, empty axes in about
one page load out of six, a race between the widget's first drawing and its data; and Colab's widget manager
does not render it (plotly/plotly.py#2202, googlecolab/colab-cdn-widget-manager#51), so Colab always draws in
an Output.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import torch
from IPython import get_ipython
from IPython.display import display
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from ..analysis import over_under, over_under_summary
from ..encoding import EncodedData, TableEncoder
from ..learn.engine import Callback, History, fit
from ..learn.registry import build_model, kind_names
from ..metrics import ArrayLike
from ..tokenizer import FeatureTokenizer
from ..towers import TwoTowerModel, count_parameters
from . import plots
from .demos import impulse_response
from .environment import in_colab

__all__ = [
    "LIVE_PLOTS_ENV",
    "ImpulseExplorer",
    "LiveFigure",
    "OverUnderExplorer",
    "TokenizerExplorer",
    "TrainingPanel",
    "TrainingRun",
    "figure_bundle",
    "live_plot_mode",
]

SEQUENCE_LAYER_KINDS = kind_names("two-tower", sequence_layer=True)
"""The Training panel's models with a sequence layer (its "both" trains them one after the other)."""
BASELINE_KINDS = kind_names("two-tower", trained=True, sequence_layer=False)
"""The Training panel's trained baselines (:mod:`ftmamba_lite.learn.baselines`)."""
EMBEDDER_OPTIONS = (*SEQUENCE_LAYER_KINDS, "both", *BASELINE_KINDS)
"""The Training panel's "Embedder" buttons."""

LIVE_PLOTS_ENV = "FTMAMBA_LITE_LIVE_PLOTS"


def live_plot_mode() -> str:
    """``"widget"`` (plotly FigureWidget) or ``"output"`` (figure re-drawn in an Output widget).

    ``"output"`` unless the environment variable :data:`LIVE_PLOTS_ENV` asks for ``"widget"`` outside Colab
    (see the module docstring for why the FigureWidget is opt-in). Without ``anywidget`` installed,
    :class:`LiveFigure` falls back to ``"output"`` anyway.
    """
    forced = os.environ.get(LIVE_PLOTS_ENV, "").strip().lower()
    return "widget" if forced == "widget" and not in_colab() else "output"


_FIGURE_IDS = itertools.count()

# The drawing script: finds its box (the <div class="ftm-live-figure-box"> around it: the script's own parent;
# the box whose image ran it; or, for a front end that runs a copy of the script elsewhere, as jQuery and
# Colab do, the box of the drawing's div id), waits until the
# front end has put the box into the page (plotly sizes a figure by its container), then draws once. Without
# plotly.js in the page (a page reloaded after the first drawing) it loads plotly.js from the CDN, once per
# page, and draws every waiting figure when it has loaded.
_DRAW_JS = """(function (box) {
  if (!box) return;
  var figure = %(figure)s;
  var div = box.querySelector(".ftm-live-figure");
  var tries = 0;
  var draw = function () {
    if (div.ftmDrawn) return;
    if (!document.body.contains(div)) {
      if (++tries < 600) setTimeout(draw, 50);
      return;
    }
    div.ftmDrawn = true;
    window.Plotly.newPlot(div, figure.data, figure.layout, figure.config);
  };
  if (window.Plotly) { draw(); return; }
  var waiting = window.ftmPlotlyWaiting = window.ftmPlotlyWaiting || [];
  waiting.push(draw);
  if (waiting.length > 1) return;
  var script = document.createElement("script");
  script.src = "%(cdn)s";
  script.onload = function () { waiting.splice(0).forEach(function (f) { f(); }); };
  document.head.appendChild(script);
})(
  (document.currentScript && document.currentScript.closest(".ftm-live-figure-box")) || window.ftmLiveBox ||
  (document.getElementById("%(div_id)s") || {}).parentNode
);"""

# Runs the box's scripts where the front end did not: the classic Notebook's Output widget (ipywidgets 7)
# inserts its first drawing before the widget is in the page, and jQuery runs no script of a detached
# element. An image that cannot load fires "error" either way; the scripts guard against running twice.
_RUN_SCRIPTS = (
    "window.ftmLiveBox = this.parentNode; "
    "Array.prototype.forEach.call(this.parentNode.querySelectorAll('script'), "
    "function (s) { (0, eval)(s.text); }); window.ftmLiveBox = null;"
)


def _script_text(text: str) -> str:
    """``text`` made safe inside ``<script>...</script>`` (a ``</`` would end the element)."""
    return text.replace("</", "<\\/")


def figure_bundle(figure: go.Figure, div_id: str, with_library: bool = False) -> dict[str, object]:
    """The display bundle of one live drawing: plotly's JSON mimetype and an HTML drawing of it.

    Args:
        figure: the figure to draw.
        div_id: the HTML id of the drawing's ``<div>`` (one per live figure, kept across re-drawings, so
            unique in a page).
        with_library: put plotly.js (about 4.5 MB) inline before the drawing script, as plotly's own inline
            HTML does; wrapped so that it sets ``window.Plotly`` whether or not the page has require.js
            (the classic Notebook), whose ``define`` would otherwise take the bundle as an anonymous module,
            and skipped where the page has plotly.js already.

    Returns:
        ``{"application/vnd.plotly.v1+json": {data, layout, config}, "text/html": "<div ...>...</div>"}``
        (see the module docstring for which front end draws which).
    """
    spec = json.loads(pio.to_json(figure, validate=False))
    spec["config"] = {"displaylogo": False}
    scripts = []
    if with_library:
        scripts.append(
            f"if (!window.Plotly) (function (define, module, exports) {{\n{get_plotlyjs()}\n}})();"
        )
    cdn = f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"
    scripts.append(_DRAW_JS % {"figure": _script_text(json.dumps(spec)), "cdn": cdn, "div_id": div_id})
    html = "".join(
        [
            '<div class="ftm-live-figure-box">',
            f'<div id="{div_id}" class="ftm-live-figure"></div>',
            *(f'<script type="text/javascript">{script}</script>' for script in scripts),
            f'<img alt="" src="data:," style="display:none" onerror="{_RUN_SCRIPTS}">',
            "</div>",
        ]
    )
    return {"application/vnd.plotly.v1+json": spec, "text/html": html}


class LiveFigure:
    """A plotly figure that a callback updates in place.

    Attributes:
        figure: the figure to update (a ``FigureWidget`` in ``"widget"`` mode, a ``Figure`` otherwise).
        view: what to display (the FigureWidget itself, or an ``Output`` holding the latest drawing).
        mode: ``"widget"`` or ``"output"``.
        renders: how many times the output mode has re-drawn the figure.
    """

    def __init__(self, figure: go.Figure, mode: str | None = None) -> None:
        self.mode = mode or live_plot_mode()
        self.renders = 0
        if self.mode == "widget":
            try:
                self.figure: go.Figure = go.FigureWidget(figure)
                self.view: widgets.Widget = self.figure
                return
            except ImportError:  # plotly's FigureWidget needs anywidget
                self.mode = "output"
        self.figure = figure
        self.view = widgets.Output()
        self._div_id = f"ftm-live-figure-{next(_FIGURE_IDS)}-{os.getpid()}"
        self._library_sent = False
        self.refresh()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group updates: one message to the browser for a FigureWidget, one re-draw for an Output."""
        if self.mode == "widget":
            with self.figure.batch_update():
                yield
        else:
            yield
            self.refresh()

    def refresh(self) -> None:
        """Re-draw the figure in the Output (output mode only; a FigureWidget updates by itself).

        The drawing (:func:`figure_bundle`; plotly.js inline in the first one) replaces the Output's
        ``outputs`` directly instead of being displayed inside ``with output:``. Such a capture routes the
        display through the front end, which sends the Output's new state back to the kernel; nbclient
        (nbmake, nbconvert) sends it on the shell channel while it waits there for the cell's reply, and then
        sometimes misses the reply and hangs (jupyter/nbclient#312).
        """
        if self.mode != "output":
            return
        self.renders += 1
        if getattr(get_ipython(), "kernel", None) is None:  # no front end to draw for
            return
        bundle = figure_bundle(self.figure, self._div_id, with_library=not self._library_sent)
        self._library_sent = True
        self.view.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)

    def replace(self, new: go.Figure) -> None:
        """Show ``new``: traces are updated in place when their number and types match, else replaced."""
        with self.batch():
            same = len(new.data) == len(self.figure.data) and all(
                a.type == b.type for a, b in zip(new.data, self.figure.data, strict=True)
            )
            if same:
                for old_trace, new_trace in zip(self.figure.data, new.data, strict=True):
                    old_trace.update(new_trace.to_plotly_json(), overwrite=True)
            else:
                self.figure.data = ()
                self.figure.add_traces(list(new.data))
            self.figure.layout = new.layout


class Panel:
    """Shared display logic: a panel shows its ``view`` box."""

    view: widgets.Box

    def _ipython_display_(self) -> None:
        """Show the panel's box (IPython calls this for ipywidgets 7 and 8 alike)."""
        display(self.view)


def tagged(widget: widgets.Widget, css_class: str) -> widgets.Widget:
    widget.add_class(css_class)
    return widget


class TokenizerExplorer(Panel):
    """Notebook 01: one table row through a :class:`FeatureTokenizer`, shown as its (l, d) token matrix.

    Controls: ``d_token`` (slider, d), ``features`` (which columns become tokens), ``row`` (which table row),
    ``cls_position`` (``end`` = paper, ``start`` = FT-Transformer). The tokenizer is rebuilt from ``seed`` on
    every change, so the same settings always give the same tokens.

    Args:
        frame: the table; numeric and categorical columns as declared.
        numeric, categorical: column names (token order: numeric first, then categorical).
        d_token: initial d.
        seed: initialisation seed of the tokenizer.
        mode: live-plot mode (default :func:`live_plot_mode`).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        numeric: Sequence[str],
        categorical: Sequence[str],
        d_token: int = 8,
        seed: int = 0,
        mode: str | None = None,
    ) -> None:
        self.frame = frame
        self.numeric, self.categorical, self.seed = list(numeric), list(categorical), seed
        columns = [*self.numeric, *self.categorical]
        self.d_token = tagged(
            widgets.IntSlider(value=d_token, min=1, max=64, description="d_token"), "ftm-d-token"
        )
        self.features = tagged(
            widgets.SelectMultiple(
                options=columns, value=tuple(columns), rows=min(8, len(columns)), description="Features"
            ),
            "ftm-features",
        )
        self.row = tagged(widgets.IntSlider(value=0, min=0, max=len(frame) - 1, description="Row"), "ftm-row")
        self.cls_position = tagged(
            widgets.ToggleButtons(options=["end", "start"], value="end", description="[CLS] at"),
            "ftm-cls-position",
        )
        self.shape = widgets.HTML()
        self.live = LiveFigure(self._figure(), mode)
        self.figure = self.live.figure
        for control in (self.d_token, self.features, self.row, self.cls_position):
            control.observe(self.update, names="value")
        self.view = widgets.VBox(
            [
                widgets.HBox([self.d_token, self.row]),
                widgets.HBox([self.features, self.cls_position]),
                self.shape,
                self.live.view,
            ]
        )

    def tokenizer(self) -> tuple[FeatureTokenizer, TableEncoder]:
        """The encoder and tokenizer of the current settings (tokenizer initialised from ``seed``)."""
        chosen = set(self.features.value)
        numeric = [c for c in self.numeric if c in chosen]
        categorical = [c for c in self.categorical if c in chosen]
        encoder = TableEncoder(numeric, categorical).fit(self.frame)
        torch.manual_seed(self.seed)
        tokenizer = FeatureTokenizer(
            len(numeric),
            encoder.cardinalities,
            self.d_token.value,
            self.cls_position.value,
            encoder.feature_names,
        )
        return tokenizer, encoder

    def tokens(self) -> tuple[np.ndarray, list[str]]:
        """The current row's token matrix (l, d) and its l labels."""
        tokenizer, encoder = self.tokenizer()
        x_num, x_cat = encoder.transform(self.frame.iloc[[self.row.value]])  # (1, k_num), (1, k_cat)
        with torch.no_grad():
            tokens = tokenizer(x_num, x_cat)[0].numpy()  # (l, d)
        names = [*encoder.feature_names]
        labels = [*names, "[CLS]"] if tokenizer.cls_position == "end" else ["[CLS]", *names]
        self.shape.value = (
            f"x_num {tuple(x_num.shape)}, x_cat {tuple(x_cat.shape)} &rarr; tokens (b, l, d) = "
            f"(1, {tokenizer.n_tokens}, {tokenizer.d_token}); tokenizer parameters: "
            f"{count_parameters(tokenizer):,}"
        )
        return tokens, labels

    def _figure(self) -> go.Figure:
        tokens, labels = self.tokens()
        length, d = tokens.shape
        return plots.token_heatmap(
            tokens, labels, title=f"Tokens of row {self.row.value}: T has shape (l, d) = ({length}, {d})"
        )

    def update(self, change: object = None) -> None:
        """Callback of every control: re-tokenize and redraw (no feature chosen: keep the plot, say why)."""
        if not self.features.value:
            self.shape.value = "<b>Choose at least one feature</b>: a tokenizer needs one."
            return
        self.live.replace(self._figure())


class ImpulseExplorer(Panel):
    """Notebook 02: memory and forgetting of one SSM channel, driven by unit impulses.

    Controls: ``delta`` (Δ, log slider) and ``A`` (the state value, negative). Two traces from
    :func:`ftmamba_lite.course.impulse_response`: the time-invariant SSM (the same Δ at every step) and the
    selective one, whose input-dependent Δ is large at the "forget" token ``reset_at``.
    """

    def __init__(
        self,
        delta: float = 0.3,
        A: float = -0.5,
        length: int = 40,
        impulses: Sequence[int] = (0, 24),
        reset_at: int = 12,
        mode: str | None = None,
    ) -> None:
        self.length, self.impulses, self.reset_at = length, tuple(impulses), reset_at
        self.delta = tagged(
            widgets.FloatLogSlider(
                value=delta, base=10, min=-2, max=1, step=0.05, description="delta", readout_format=".3f"
            ),
            "ftm-delta",
        )
        self.A = tagged(
            widgets.FloatSlider(value=A, min=-3.0, max=-0.05, step=0.05, description="A"), "ftm-A"
        )
        self.readout = widgets.HTML()
        self.live = LiveFigure(self._figure(), mode)
        self.figure = self.live.figure
        self.delta.observe(self.update, names="value")
        self.A.observe(self.update, names="value")
        self.view = widgets.VBox([widgets.HBox([self.delta, self.A]), self.readout, self.live.view])

    def responses(self) -> dict[str, np.ndarray]:
        """The two output sequences y_t for the current Δ and A."""
        delta, A = self.delta.value, self.A.value
        fixed = impulse_response(delta, A, self.length, self.impulses)
        selective = impulse_response(delta, A, self.length, self.impulses, reset_at=self.reset_at)
        return {
            "fixed Δ (time-invariant SSM)": fixed,
            f"selective Δ: forget token at t = {self.reset_at}": selective,
        }

    def _figure(self) -> go.Figure:
        delta, A = self.delta.value, self.A.value
        kept = float(np.exp(delta * A))
        half_life = np.log(0.5) / (delta * A)
        self.readout.value = (
            f"Ā = exp(ΔA) = {kept:.3f}: the state keeps {100 * kept:.1f}% per step "
            f"(half-life {half_life:.1f} "
            f"steps); an impulse enters with weight B̄ = Δ = {delta:.3f}."
        )
        title = f"Impulses at t = {', '.join(map(str, self.impulses))}; Δ = {delta:.3f}, A = {A:.2f}"
        return plots.impulse_figure(self.responses(), title=title)

    def update(self, change: object = None) -> None:
        """Callback of both sliders: recompute both responses and redraw."""
        self.live.replace(self._figure())


@dataclass
class TrainingRun:
    """One training started from a :class:`TrainingPanel`."""

    label: str
    embedder: str
    history: History
    params: int
    model: TwoTowerModel


class _LiveCurves(Callback):
    """Feeds :func:`ftmamba_lite.learn.engine.fit`'s progress into a panel's live figure and progress bar."""

    def __init__(self, panel: TrainingPanel, traces: tuple[int, int], offset: int, steps: int) -> None:
        self.panel, self.traces, self.offset, self.steps = panel, traces, offset, steps
        self.every = max(1, steps // 25)  # about 25 updates of the loss curve and the progress bar per run

    def on_step(self, history: History, step: int, loss: float) -> None:
        # Every update is a message to the browser: a few dozen per run keep the kernel's output channel
        # (whose queue drops messages when full) and a slow browser well clear of overload.
        if step % self.every == 0 or step == self.steps:
            self.panel.progress.value = self.offset + step
            losses = np.asarray(history.losses)
            smooth = np.convolve(losses, np.ones(20), "full")[: len(losses)] / np.minimum(
                np.arange(1, len(losses) + 1), 20
            )
            trace = self.panel.figure.data[self.traces[0]]
            self._draw(trace, history.steps, smooth)

    def on_eval(self, history: History, step: int, metrics: dict[str, float]) -> None:
        trace = self.panel.figure.data[self.traces[1]]
        hr = [m[f"HR@{self.panel.hr_k}"] for m in history.eval_metrics]
        self._draw(trace, history.eval_steps, hr)

    def _draw(self, trace: go.Scatter, x: Sequence[float], y: Sequence[float]) -> None:
        trace.x, trace.y = list(x), [float(v) for v in y]
        self.panel.live.refresh()  # re-draws in output mode; a FigureWidget has already sent the change


class TrainingPanel(Panel):
    """Notebook 04: a control panel that trains two-tower models and draws their curves while they train.

    Controls (descriptions in quotes): ``embedder`` ("Embedder": mamba, transformer or both, trained one after
    the other with the same settings; or a trained baseline of :mod:`ftmamba_lite.learn.baselines` (mlp,
    linear), which ignores layers and d_model), ``n_layers`` ("Layers"), ``d_model`` ("d_model"), ``lr``
    ("Learning rate"), ``steps`` ("Steps"), ``batch_size`` ("Batch size"), ``seed`` ("Seed"), ``final_relu``
    ("Final ReLU (paper)", the towers' ``final_activation``), ``train_button`` ("Train"),
    ``clear_button`` ("Clear"); ``progress`` ("Progress") counts steps. Every run adds a loss curve and an
    HR@k curve to ``figure``; :meth:`results` tabulates the runs.

    Args:
        data: the encoded dataset (:func:`ftmamba_lite.encoding.encode`).
        n_layers: initial layer count; 0 means the paper's (4 Mamba, 2 Transformer layers).
        hr_k: the k of the hit-ratio curve.
        evaluations: evaluations of the test users per run (the HR curve's points).
        references: horizontal reference lines on the HR panel, ``{label: HR@k}`` (e.g. a popularity baseline
            and the best possible value).
        model_kwargs: extra arguments for :func:`ftmamba_lite.learn.registry.build_model`.
        mode: live-plot mode (default :func:`live_plot_mode`).
        Other arguments: the controls' initial values.
    """

    def __init__(
        self,
        data: EncodedData,
        embedder: str = "both",
        n_layers: int = 1,
        d_model: int = 32,
        lr: float = 1e-3,
        steps: int = 300,
        batch_size: int = 32,
        seed: int = 0,
        final_relu: bool = False,
        hr_k: int = 5,
        evaluations: int = 10,
        references: Mapping[str, float] | None = None,
        model_kwargs: Mapping[str, object] | None = None,
        mode: str | None = None,
    ) -> None:
        self.data, self.hr_k, self.evaluations = data, hr_k, evaluations
        self.references, self.model_kwargs = dict(references or {}), dict(model_kwargs or {})
        self.runs: list[TrainingRun] = []
        style = {"description_width": "initial"}
        self.embedder = tagged(
            widgets.ToggleButtons(options=EMBEDDER_OPTIONS, value=embedder, description="Embedder"),
            "ftm-embedder",
        )
        layer_options = [("paper (Mamba 4, Transformer 2)", 0), *((str(k), k) for k in range(1, 5))]
        self.n_layers = tagged(
            widgets.Dropdown(options=layer_options, value=n_layers, description="Layers"), "ftm-layers"
        )
        self.d_model = tagged(
            widgets.Dropdown(options=[8, 16, 32, 64, 128], value=d_model, description="d_model"),
            "ftm-d-model",
        )
        self.lr = tagged(
            widgets.FloatLogSlider(
                value=lr, base=10, min=-5, max=-1.5, step=0.25, description="Learning rate", style=style
            ),
            "ftm-lr",
        )
        self.steps = tagged(
            widgets.IntSlider(value=steps, min=10, max=5000, step=10, description="Steps"), "ftm-steps"
        )
        self.batch_size = tagged(
            widgets.Dropdown(
                options=[8, 16, 32, 64, 128, 256], value=batch_size, description="Batch size", style=style
            ),
            "ftm-batch-size",
        )
        self.seed = tagged(
            widgets.BoundedIntText(value=seed, min=0, max=10_000, description="Seed"), "ftm-seed"
        )
        self.final_relu = tagged(
            widgets.Checkbox(value=final_relu, description="Final ReLU (paper)", indent=False),
            "ftm-final-relu",
        )
        self.train_button = tagged(
            widgets.Button(description="Train", button_style="primary", icon="play"), "ftm-train"
        )
        self.clear_button = tagged(widgets.Button(description="Clear", icon="trash"), "ftm-clear")
        self.progress = tagged(
            widgets.IntProgress(value=0, min=0, max=1, description="Progress"), "ftm-progress"
        )
        self.status = tagged(widgets.HTML("Press <b>Train</b>."), "ftm-status")
        self.live = LiveFigure(plots.training_figure(hr_k, references=self.references), mode)
        self.figure = self.live.figure
        self.train_button.on_click(lambda _: self.train())
        self.clear_button.on_click(lambda _: self.clear())
        self.view = widgets.VBox(
            [
                self.embedder,
                widgets.HBox([self.n_layers, self.d_model, self.batch_size]),
                widgets.HBox([self.lr, self.steps, self.seed, self.final_relu]),
                widgets.HBox([self.train_button, self.clear_button, self.progress]),
                self.status,
                self.live.view,
            ]
        )

    def _kinds(self) -> list[str]:
        return list(SEQUENCE_LAYER_KINDS) if self.embedder.value == "both" else [self.embedder.value]

    def train(self) -> list[TrainingRun]:
        """Callback of the Train button: train with the current settings, drawing as it goes.

        Returns the runs of this press (also appended to ``self.runs``).
        """
        kinds, steps = self._kinds(), self.steps.value
        self.progress.max, self.progress.value = steps * len(kinds), 0
        self.train_button.disabled = True
        new_runs = []
        try:
            for i, kind in enumerate(kinds):
                n_layers = self.n_layers.value or None  # 0: the paper's layer count
                label = (
                    f"{kind} d={self.d_model.value} L={n_layers or 'paper'} lr={self.lr.value:.0e} "
                    f"b={self.batch_size.value} seed={self.seed.value}"
                    f"{' final ReLU' if self.final_relu.value else ''}"
                )
                self.status.value = f"Training <b>{label}</b> ({i + 1} of {len(kinds)}) ..."
                if kind in BASELINE_KINDS:  # no tokenizer or sequence layer: layers and d_model unused
                    model = build_model(
                        self.data, kind, seed=self.seed.value, final_activation=self.final_relu.value
                    )
                    label = label.replace(f"d={self.d_model.value} L={n_layers or 'paper'} ", "")
                else:
                    model = build_model(
                        self.data,
                        kind,
                        self.d_model.value,
                        n_layers,
                        seed=self.seed.value,
                        final_activation=self.final_relu.value,
                        **self.model_kwargs,
                    )
                with self.live.batch():
                    traces = plots.add_training_run(self.figure, label)
                history = fit(
                    model,
                    self.data,
                    steps=steps,
                    batch_size=self.batch_size.value,
                    lr=self.lr.value,
                    seed=self.seed.value,
                    eval_every=max(1, steps // self.evaluations),
                    callbacks=[_LiveCurves(self, traces, i * steps, steps)],
                    progress=False,
                )
                new_runs.append(TrainingRun(label, kind, history, count_parameters(model), model))
            self.runs += new_runs
            self.status.value = self._summary(new_runs)
        except Exception as err:  # a callback's error would otherwise vanish into the browser console
            self.status.value = f"<b>Training failed:</b> {type(err).__name__}: {err}"
            raise
        finally:
            self.train_button.disabled = False
            self.live.refresh()
        return new_runs

    def _summary(self, runs: Sequence[TrainingRun]) -> str:
        parts = [
            f"<b>{run.label}</b>: HR@{self.hr_k} = {run.history.final_metrics[f'HR@{self.hr_k}']:.3f} after "
            f"{run.history.steps[-1]} steps in {run.history.seconds:.1f} s ({run.params:,} parameters)"
            for run in runs
        ]
        return "Done. " + "; ".join(parts)

    def clear(self) -> None:
        """Callback of the Clear button: forget the runs and empty the plot."""
        self.runs.clear()
        self.live.replace(plots.training_figure(self.hr_k, references=self.references))
        self.progress.value = 0
        self.status.value = "Cleared. Press <b>Train</b>."

    def results(self) -> pd.DataFrame:
        """One row per run: label, embedder, parameters, seconds, steps, final loss (mean of the last 20)
        and the final test metrics."""
        rows = [
            {
                "run": run.label,
                "embedder": run.embedder,
                "parameters": run.params,
                "seconds": round(run.history.seconds, 1),
                "steps": run.history.steps[-1],
                "final loss": float(np.mean(run.history.losses[-20:])),
                **run.history.final_metrics,
            }
            for run in self.runs
        ]
        return pd.DataFrame(rows)


class OverUnderExplorer(Panel):
    """Notebooks 05 and 07: the paper's Figure 5 for a chosen model and set of seeds.

    Controls: ``model`` ("Model": one model or ``"all"``) and ``seeds`` ("Seeds", several may be chosen).
    The bars are :func:`ftmamba_lite.analysis.over_under_summary` of the chosen runs.

    Args:
        runs: ``{model: {seed: (scores, relevant)}}`` with scores and relevance (n_test, n_items) per run.
        item_label: what an item is called on the axis ("song", "message", ...).
        mode: live-plot mode (default :func:`live_plot_mode`).

    :meth:`from_table` builds the explorer from stored :func:`ftmamba_lite.analysis.over_under` rows instead
    (what ``ftmamba-lite reproduce`` writes as ``*_over_under.csv``).
    """

    def __init__(
        self,
        runs: Mapping[str, Mapping[int, tuple[ArrayLike, ArrayLike]]],
        item_label: str = "song",
        mode: str | None = None,
    ) -> None:
        if not runs:
            raise ValueError("runs is empty: give {model: {seed: (scores, relevant)}}")
        tables = {
            model: {seed: over_under(scores, relevant) for seed, (scores, relevant) in per_seed.items()}
            for model, per_seed in runs.items()
        }
        self._build(tables, item_label, mode)

    @classmethod
    def from_table(
        cls, table: pd.DataFrame, item_label: str = "song", mode: str | None = None
    ) -> OverUnderExplorer:
        """The explorer over stored per-run rows, one per (model, seed, item): columns ``model``, ``seed``,
        ``like_rank``, ``difference`` (and the other columns of :func:`ftmamba_lite.analysis.over_under`)."""
        missing = [c for c in ("model", "seed", "like_rank", "difference") if c not in table.columns]
        if missing:
            raise ValueError(f"table lacks column(s) {missing}; pass over_under rows with model and seed")
        if table.empty:
            raise ValueError("table is empty: give at least one run")
        tables = {
            model: {seed: rows.drop(columns=["model", "seed"]) for seed, rows in per_model.groupby("seed")}
            for model, per_model in table.groupby("model", sort=False)
        }
        explorer = cls.__new__(cls)
        explorer._build(tables, item_label, mode)
        return explorer

    def _build(
        self, tables: Mapping[str, Mapping[int, pd.DataFrame]], item_label: str, mode: str | None
    ) -> None:
        self.tables, self.item_label = tables, item_label
        seeds = sorted({seed for per_seed in tables.values() for seed in per_seed})
        options = [*tables, "all"] if len(tables) > 1 else list(tables)
        self.model = tagged(
            widgets.Dropdown(options=options, value=options[0], description="Model"), "ftm-model"
        )
        self.seeds = tagged(
            widgets.SelectMultiple(
                options=seeds, value=tuple(seeds), rows=min(6, len(seeds)), description="Seeds"
            ),
            "ftm-seeds",
        )
        self.note = widgets.HTML()
        self.live = LiveFigure(self._figure(), mode)
        self.figure = self.live.figure
        self.model.observe(self.update, names="value")
        self.seeds.observe(self.update, names="value")
        self.view = widgets.VBox([widgets.HBox([self.model, self.seeds]), self.note, self.live.view])

    def summaries(self) -> dict[str, pd.DataFrame]:
        """:func:`over_under_summary` for each chosen model over the chosen seeds it has."""
        models = [m for m in self.tables if self.model.value in (m, "all")]
        out = {}
        for model in models:
            chosen = [
                self.tables[model][s].assign(seed=s) for s in self.seeds.value if s in self.tables[model]
            ]
            if chosen:
                out[model] = over_under_summary(pd.concat(chosen, ignore_index=True))
        return out

    def _figure(self) -> go.Figure:
        summaries = self.summaries()
        self.note.value = "" if summaries else "<b>Choose at least one seed.</b>"
        seeds = ", ".join(map(str, self.seeds.value))
        return plots.over_under_figure(
            summaries,
            title=f"Recommended minus liked, per {self.item_label} (seeds {seeds})",
            item_label=self.item_label,
        )

    def update(self, change: object = None) -> None:
        """Callback of both controls: recompute the summary and redraw."""
        if not self.seeds.value:
            self.note.value = "<b>Choose at least one seed.</b>"
            return
        self.live.replace(self._figure())
