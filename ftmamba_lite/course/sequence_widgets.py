"""Figures and panels of notebook 08 (Mamba for sequences): live training curves, the cost of the sequence
models as the history grows, the accuracy comparison, and a next-item explorer.

Figures take plain data (DataFrames, lists) and return plotly figures with titles and axis titles with units;
the live curves reuse :class:`ftmamba_lite.course.widgets.LiveFigure`, the explorer is an ipywidgets panel
whose controls are attributes (tests set ``panel.user.value`` and read ``panel.table.value``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from IPython.display import display
from plotly.subplots import make_subplots

from ..datasets.movielens import LeaveOneOut, SequenceDataset
from ..learn.engine import Callback, History
from ..learn.sequence import score_histories
from . import plots
from .widgets import LiveFigure

__all__ = [
    "LiveSequenceCurves",
    "NextItemExplorer",
    "comparison_figure",
    "sequence_cost_figure",
    "sequence_training_figure",
]

MODEL_COLORS = {"mamba4rec": "#1f77b4", "sasrec": "#ff7f0e", "popularity": "#7f7f7f"}
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 60, "b": 50}}


def _color(name: str) -> str:
    return MODEL_COLORS.get(name.split()[0].lower(), "#2ca02c")


def sequence_training_figure(k: int = 10, references: Mapping[str, float] | None = None) -> go.Figure:
    """Empty two-panel figure: training cross-entropy per step (left), validation HR@k per epoch (right).

    ``references`` draws labelled horizontal lines on the right panel (e.g. ``{"popularity": 0.05}``).
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("training loss", f"HR@{k} on the validation items"),
        horizontal_spacing=0.1,
    )
    fig.update_xaxes(title_text="training step (mini-batch)", row=1, col=1)
    fig.update_xaxes(title_text="epoch", row=1, col=2)
    fig.update_yaxes(title_text="cross-entropy over all items (nats)", row=1, col=1)
    fig.update_yaxes(title_text=f"HR@{k} (share of users)", rangemode="tozero", row=1, col=2)
    plots.add_reference_lines(fig, references, digits=3, row=1, col=2)
    fig.update_layout(title="Next-item training, live", height=380, **_LAYOUT)
    return fig


class LiveSequenceCurves(Callback):
    """A :class:`ftmamba_lite.learn.engine.Callback` for :func:`~ftmamba_lite.learn.sequence.fit_sequential`
    that draws one run's loss and validation HR@k into a :func:`sequence_training_figure` shown by a
    :class:`~ftmamba_lite.course.widgets.LiveFigure` (about ``updates`` redraws of the loss per run)."""

    def __init__(self, live: LiveFigure, label: str, k: int = 10, updates: int = 20) -> None:
        self.live, self.k, self.updates = live, k, updates
        color = _color(label)
        fig = live.figure
        fig.add_trace(go.Scatter(x=[], y=[], name=label, mode="lines", line_color=color, legendgroup=label))
        fig.add_trace(
            go.Scatter(
                x=[], y=[], name=label, mode="lines+markers", line_color=color, legendgroup=label,
                showlegend=False, xaxis="x2", yaxis="y2",
            )
        )  # fmt: skip
        self.loss_trace, self.hr_trace = fig.data[-2], fig.data[-1]
        self.every = 1

    def on_train_begin(self, history: History, total_steps: int) -> None:
        self.every = max(1, total_steps // self.updates)

    def on_step(self, history: History, step: int, loss: float) -> None:
        if step % self.every == 0:
            self.loss_trace.x, self.loss_trace.y = list(history.steps), list(history.losses)
            self.live.refresh()

    def on_eval(self, history: History, step: int, metrics: dict[str, float]) -> None:
        epochs = list(range(1, len(history.eval_metrics) + 1))
        self.hr_trace.x, self.hr_trace.y = epochs, [m[f"HR@{self.k}"] for m in history.eval_metrics]
        self.loss_trace.x, self.loss_trace.y = list(history.steps), list(history.losses)
        self.live.refresh()


def comparison_figure(
    table: pd.DataFrame, metrics: Sequence[str] = ("HR@10", "NDCG@10", "MRR@10")
) -> go.Figure:
    """Grouped bars of the test metrics, one group per metric, one bar per row (``model`` column)."""
    fig = go.Figure()
    for _, row in table.iterrows():
        name = str(row["model"])
        fig.add_trace(
            go.Bar(x=list(metrics), y=[row[m] for m in metrics], name=name, marker_color=_color(name))
        )
    fig.update_layout(
        title="Full-ranking accuracy on the test items (leave-one-out)",
        xaxis_title="metric (cut-off 10)",
        yaxis_title="mean over users",
        barmode="group",
        height=360,
        **_LAYOUT,
    )
    return fig


def sequence_cost_figure(costs: pd.DataFrame) -> go.Figure:
    """Training step time, inference time per user and activation memory against the history length l
    (the output of :func:`ftmamba_lite.learn.sequence.sequence_costs`), one line per model."""
    panels = (
        ("train_ms", "training step (ms)", "one training step, batch of histories"),
        ("infer_ms_per_user", "time per user (ms)", "inference: scoring the catalogue"),
        ("activation_mb", "memory (MiB)", "activation memory kept for backward"),
    )
    fig = make_subplots(rows=1, cols=3, subplot_titles=[p[2] for p in panels], horizontal_spacing=0.08)
    for name, group in costs.groupby("model", sort=False):
        for col, (column, _, _) in enumerate(panels, start=1):
            fig.add_trace(
                go.Scatter(
                    x=group["length"], y=group[column], name=name, mode="lines+markers",
                    line_color=_color(name), legendgroup=name, showlegend=col == 1,
                ),
                row=1,
                col=col,
            )  # fmt: skip
    for col, (_, label, _) in enumerate(panels, start=1):
        fig.update_yaxes(title_text=label, type="log", row=1, col=col)
        fig.update_xaxes(title_text="history length l (items)", type="log", row=1, col=col)
    fig.update_layout(title="Cost of Mamba4Rec and SASRec as the history grows", height=380, **_LAYOUT)
    return fig


class NextItemExplorer:
    """Notebook 08's panel: pick a user, choose how many of their latest items the models see (and whether
    in order or shuffled), and compare the models' top-k next items with the item that really came next.

    Controls: ``user`` ("User"), ``seen`` ("Items seen"), ``shuffle`` ("Shuffle order"). Output:
    ``history`` (the items fed, newest last) and ``table`` (an HTML table, the true next item in bold).
    """

    def __init__(
        self,
        models: Mapping[str, torch.nn.Module],
        data: SequenceDataset,
        split: LeaveOneOut,
        k: int = 10,
        max_len: int = 200,
        seed: int = 0,
    ) -> None:
        self.models, self.data, self.split, self.k, self.max_len = dict(models), data, split, k, max_len
        self.rng = np.random.default_rng(seed)
        histories = split.test_histories()
        self.histories = histories
        self.user = widgets.IntSlider(value=0, min=0, max=len(histories) - 1, description="User")
        self.seen = widgets.IntSlider(value=min(max_len, 50), min=1, max=max_len, description="Items seen")
        self.shuffle = widgets.Checkbox(value=False, description="Shuffle order")
        self.history = widgets.HTML()
        self.table = widgets.HTML()
        for control in (self.user, self.seen, self.shuffle):
            control.observe(self.update, names="value")
        self.view = widgets.VBox(
            [widgets.HBox([self.user, self.seen, self.shuffle]), self.history, self.table]
        )
        self.update()

    def fed_history(self) -> np.ndarray:
        """The items the models see for the current settings: the last ``seen`` of the test history."""
        items = np.asarray(self.histories[self.user.value][-self.seen.value :])
        return self.rng.permutation(items) if self.shuffle.value else items

    def update(self, change: object = None) -> None:
        """Callback of every control: re-rank and redraw."""
        items = self.fed_history()
        target = int(self.split.test_target[self.user.value])
        titles = self.data.titles(items[-8:])
        self.history.value = (
            f"<b>{len(items)} items fed</b>{' (shuffled)' if self.shuffle.value else ''}; the newest: "
            + " → ".join(titles)
            + f"<br><b>really next:</b> {self.data.titles([target])[0]}"
        )
        rows = []
        for name, model in self.models.items():
            scores = score_histories(model, [items], self.max_len)[0]  # (v,)
            top = torch.argsort(scores, descending=True, stable=True)[: self.k].numpy() + 1
            s = scores[target - 1]  # ties are ranked as in the metrics: lower item id first
            rank = int((scores > s).sum() + (scores[: target - 1] == s).sum()) + 1
            cells = [
                f"<b>{t}</b>" if i == target else t for i, t in zip(top, self.data.titles(top), strict=True)
            ]
            rows.append(f"<tr><td>{name}</td><td>{rank}</td><td>{'; '.join(cells)}</td></tr>")
        self.table.value = (
            f"<table><tr><th>model</th><th>rank of the true next item</th><th>top {self.k}</th></tr>"
            + "".join(rows)
            + "</table>"
        )

    def _ipython_display_(self) -> None:
        """Show the panel's box (IPython calls this for ipywidgets 7 and 8 alike)."""
        display(self.view)
