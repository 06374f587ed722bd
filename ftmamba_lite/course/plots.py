"""Plotly figures of the course notebooks. Every figure has a title and axis titles with units.

Each function takes plain data (arrays, DataFrames) and returns a ``plotly.graph_objects.Figure``; nothing
here computes a model. The live panels of :mod:`ftmamba_lite.course.widgets` build on the same functions.
Symbols follow the repository's notation page, ``docs/notation.md`` (l tokens, d width, Δ step size, A state
value, k truncation). Every model has one colour (:data:`COLORS`) in every figure; a second run of the same
model in one figure gets a darker or lighter shade of it, never another model's colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "COLORS",
    "add_reference_lines",
    "add_training_run",
    "run_color",
    "cost_figure",
    "discretization_figure",
    "hit_ratio_heatmap_figure",
    "impulse_figure",
    "influence_figure",
    "metric_curves_figure",
    "over_under_figure",
    "parameter_breakdown_figure",
    "scan_timing_figure",
    "table_comparison_figure",
    "token_heatmap",
    "tokenizer_memory_figure",
    "training_figure",
    "work_depth_figure",
]

COLORS = {
    "mamba": "#1f77b4",
    "mamba4rec": "#1f77b4",
    "transformer": "#ff7f0e",
    "sasrec": "#ff7f0e",
    "mlp": "#2ca02c",
    "linear": "#9467bd",
    "popularity": "#7f7f7f",
    "oracle": "#000000",
    "best possible": "#000000",
}
"""One colour per model, the same in every figure (Mamba4Rec and SASRec: Mamba's and the Transformer's)."""
_PALETTE = ("#d62728", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#1f77b4", "#ff7f0e", "#2ca02c")
"""Colours of lines that are not models (Euler vs ZOH, K = 10 vs 1,000): the first five are no model's."""
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 60, "b": 50}}


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _model(label: str) -> str | None:
    """The model a label names ("ours: mamba", "paper: transformer", "mamba d=32 L=1 ...", "mlp"), if any."""
    text = label.lower().split(":", 1)[-1].strip() if ":" in label else label.lower().strip()
    for name in sorted(COLORS, key=len, reverse=True):
        if text.startswith(name):
            return name
    return None


def _color(label: str, i: int) -> str:
    """The model's colour when the label names one, else the i-th colour of the non-model palette."""
    model = _model(label)
    return COLORS[model] if model else _PALETTE[i % len(_PALETTE)]


def _shade(color: str, k: int) -> str:
    """Shade k of a colour: 0 itself, then darker and lighter in turn (1: 35% darker, 2: 35% lighter, ...)."""
    if k == 0:
        return color
    rgb = [int(color[j : j + 2], 16) for j in (1, 3, 5)]
    amount = 0.35 * ((k + 1) // 2) / (1 + 0.35 * ((k - 1) // 2))
    if k % 2:  # darker
        rgb = [round(c * (1 - amount)) for c in rgb]
    else:  # lighter
        rgb = [round(c + (255 - c) * amount) for c in rgb]
    return "#" + "".join(f"{min(255, max(0, c)):02x}" for c in rgb)


def run_color(label: str, taken: Sequence[str] = ()) -> str:
    """The colour of a run: its model's colour (:data:`COLORS`), or the first shade of it not in ``taken``
    (the colours already in the figure), so two runs of one model differ and never take another model's."""
    base = _color(label, len(taken))
    for k in range(12):
        if (color := _shade(base, k)) not in taken:
            return color
    return base


def token_heatmap(
    tokens: np.ndarray, labels: Sequence[str], title: str = "Token matrix T (l x d)"
) -> go.Figure:
    """Heatmap of one row's tokens: rows = the l tokens (features, then [CLS]), columns = d coordinates."""
    tokens = np.asarray(tokens)
    fig = go.Figure(
        go.Heatmap(
            z=tokens,
            y=list(labels),
            x=list(range(tokens.shape[1])),
            colorscale="RdBu",
            zmid=0,
            colorbar={"title": {"text": "value"}},
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="token coordinate (0 .. d - 1)",
        yaxis_title="token (feature)",
        yaxis_autorange="reversed",
        height=max(260, 22 * len(labels) + 120),
        **_LAYOUT,
    )
    return fig


def influence_figure(matrices: Mapping[str, np.ndarray], labels: Sequence[str]) -> go.Figure:
    """Side-by-side heatmaps of :func:`ftmamba_lite.course.token_influence` matrices (rows: output t,
    columns: perturbed input j), coloured by log10 of the change; an exact zero (unreachable) stays blank."""
    fig = make_subplots(rows=1, cols=len(matrices), subplot_titles=list(matrices), horizontal_spacing=0.12)
    for i, matrix in enumerate(matrices.values(), start=1):
        matrix = np.asarray(matrix, dtype=float)
        logged = np.log10(matrix, out=np.full_like(matrix, np.nan), where=matrix > 0)
        fig.add_trace(
            go.Heatmap(
                z=logged,
                x=list(labels),
                y=list(labels),
                colorscale="Blues",
                zmin=-6,
                zmax=1,
                showscale=i == len(matrices),
                colorbar={"title": {"text": "log10 of change"}},
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(title_text="input token j shifted", row=1, col=i)
        fig.update_yaxes(title_text="output token t", autorange="reversed", row=1, col=i)
    fig.update_layout(
        title="Which outputs change when one input token changes (blank: not at all)", height=380, **_LAYOUT
    )
    return fig


def tokenizer_memory_figure(frame: pd.DataFrame) -> go.Figure:
    """Tokenizer size against the number of categorical features, one line per K (paper footnote 2).

    ``frame`` columns: ``features`` (k_cat), ``categories`` (K per feature), ``mib`` (float32 MiB).
    """
    fig = go.Figure()
    for i, (k, group) in enumerate(frame.groupby("categories", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=group["features"],
                y=group["mib"],
                mode="lines+markers",
                name=f"K = {k:,}",
                line_color=_color("", i),
            )
        )
    fig.update_layout(
        title="Feature tokenizer memory grows with features x categories",
        xaxis_title="categorical features k_cat",
        yaxis_title="tokenizer parameters (MiB, float32)",
        yaxis_type="log",
        legend_title="categories per feature",
        **_LAYOUT,
    )
    return fig


def discretization_figure(deltas: np.ndarray, A: float) -> go.Figure:
    """Ā against Δ for one state value A < 0: zero-order hold exp(Δ A) versus the Euler step 1 + Δ A."""
    deltas = np.asarray(deltas, dtype=float)
    fig = go.Figure(
        [
            go.Scatter(x=deltas, y=np.exp(deltas * A), name="zero-order hold: exp(ΔA)", mode="lines"),
            go.Scatter(x=deltas, y=1 + deltas * A, name="Euler: 1 + ΔA", mode="lines", line_dash="dash"),
        ]
    )
    fig.add_hrect(y0=-1, y1=1, fillcolor="green", opacity=0.07, line_width=0)
    fig.update_layout(
        title=f"Discretising A = {A:g}: the state multiplier per step (stable while |Ā| < 1, shaded)",
        xaxis_title="step size Δ (time units per token)",
        yaxis_title="Ā (multiplier of h per step)",
        **_LAYOUT,
    )
    return fig


def impulse_figure(
    traces: Mapping[str, np.ndarray], title: str = "Impulse response of one SSM channel"
) -> go.Figure:
    """One line per named output sequence y_t (t = 0 .. l - 1)."""
    fig = go.Figure(
        [
            go.Scatter(
                y=np.asarray(y),
                x=np.arange(len(y)),
                name=name,
                mode="lines+markers",
                line_color=_color("", i),
            )
            for i, (name, y) in enumerate(traces.items())
        ]
    )
    fig.update_layout(title=title, xaxis_title="step t (token position)", yaxis_title="output y_t", **_LAYOUT)
    return fig


def work_depth_figure(frame: pd.DataFrame) -> go.Figure:
    """Depth and work of the recurrence and of the Hillis-Steele scan against l.

    ``frame``: :func:`ftmamba_lite.course.work_depth` output (``algorithm``, ``length``, ``depth``, ``work``).
    """
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("depth: sequential rounds", "work: combine operations")
    )
    for i, (name, group) in enumerate(frame.groupby("algorithm", sort=False)):
        for col, column in ((1, "depth"), (2, "work")):
            fig.add_trace(
                go.Scatter(
                    x=group["length"],
                    y=group[column],
                    name=name,
                    mode="lines+markers",
                    line_color=_color("", i),
                    showlegend=col == 1,
                    legendgroup=name,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="sequence length l (tokens)", type="log")
    fig.update_yaxes(title_text="rounds (count)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="operations (count)", type="log", row=1, col=2)
    fig.update_layout(title="Work and depth of a scan over l steps", **_LAYOUT)
    return fig


def scan_timing_figure(
    frame: pd.DataFrame, title: str = "Selective scan: time per call as l grows"
) -> go.Figure:
    """Log-log time against length, one line per implementation (:func:`ftmamba_lite.timing.scan_timings`)."""
    fig = go.Figure()
    for i, (name, group) in enumerate(frame.groupby("implementation", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=group["length"], y=group["ms"], name=name, mode="lines+markers", line_color=_PALETTE[i]
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="sequence length l (tokens)",
        yaxis_title="time per forward call (ms)",
        xaxis_type="log",
        yaxis_type="log",
        **_LAYOUT,
    )
    return fig


def parameter_breakdown_figure(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars of trainable parameters per part (``frame``: ``embedder``, ``part``, ``parameters``)."""
    fig = go.Figure()
    for i, (part, group) in enumerate(frame.groupby("part", sort=False)):
        fig.add_trace(
            go.Bar(x=group["embedder"], y=group["parameters"], name=part, marker_color=_PALETTE[i % 8])
        )
    totals = frame.groupby("embedder", sort=False)["parameters"].sum()
    for name, total in totals.items():
        fig.add_annotation(x=name, y=total, text=f"{total:,}", showarrow=False, yshift=12)
    fig.update_layout(
        barmode="stack",
        title="Trainable parameters of one embedder at the paper presets",
        xaxis_title="embedder",
        yaxis_title="parameters (count)",
        legend_title="part",
        **_LAYOUT,
    )
    return fig


def cost_figure(frame: pd.DataFrame) -> go.Figure:
    """Time and activation memory against l, one line per embedder (``timing.embedder_costs`` output)."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("time of forward + backward", "activation memory kept for backward")
    )
    for i, (name, group) in enumerate(frame.groupby("embedder", sort=False)):
        for col, column in ((1, "ms"), (2, "activation_mb")):
            fig.add_trace(
                go.Scatter(
                    x=group["tokens"],
                    y=group[column],
                    name=name,
                    mode="lines+markers",
                    line_color=_color(name, i),
                    showlegend=col == 1,
                    legendgroup=name,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="tokens l (features + [CLS])", type="log")
    fig.update_yaxes(title_text="time per step (ms)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="memory (MiB)", type="log", row=1, col=2)
    fig.update_layout(
        title="Mamba vs Transformer embedder cost as the number of feature tokens grows", **_LAYOUT
    )
    return fig


def add_reference_lines(
    fig: go.Figure, references: Mapping[str, float] | None, digits: int = 2, **where: object
) -> None:
    """Labelled dotted horizontal lines ``{label: y}`` (e.g. a popularity baseline, the best possible value);
    ``where`` picks a subplot (``row=1, col=2``), drawn even before it holds a trace."""
    subplot = {"exclude_empty_subplots": False, **where} if where else {}
    for label, value in (references or {}).items():
        fig.add_hline(
            y=value,
            line_dash="dot",
            line_color="gray",
            annotation_text=f"{label}: {value:.{digits}f}",
            annotation_position="bottom right",
            **subplot,
        )


def training_figure(
    hr_k: int = 5, title: str = "Two-tower training on Spotify", references: Mapping[str, float] | None = None
) -> go.Figure:
    """Empty two-panel figure for training curves: loss (left) and HR@k on the test users (right).

    ``references`` draws labelled horizontal lines on the HR panel (e.g. ``{"popularity": 0.82}``). Runs are
    added with :func:`add_training_run`; the live panel then updates their x and y.
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("training loss", f"HR@{hr_k} on the test users"),
        horizontal_spacing=0.1,
    )
    fig.update_xaxes(title_text="training step", row=1, col=1)
    fig.update_xaxes(title_text="training step", row=1, col=2)
    fig.update_yaxes(title_text="MSE (mean of the last 20 steps)", row=1, col=1)
    fig.update_yaxes(title_text=f"HR@{hr_k} (share of users)", range=[0, 1.05], row=1, col=2)
    add_reference_lines(fig, references, row=1, col=2)
    fig.update_layout(title=title, height=380, **_LAYOUT)
    return fig


def add_training_run(fig: go.Figure, label: str) -> tuple[int, int]:
    """Add an empty loss trace (left panel) and an empty HR trace (right panel) for one run.

    Uses axis references rather than subplot rows, so it also works on a ``FigureWidget`` copy of
    :func:`training_figure`. Returns the indices of the two traces in ``fig.data``.
    """
    taken = [trace.line.color for trace in fig.data if getattr(trace, "line", None) is not None]
    color = run_color(label, [c for c in taken if c])
    fig.add_trace(go.Scatter(x=[], y=[], name=label, mode="lines", line_color=color, legendgroup=label))
    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            name=label,
            mode="lines+markers",
            line_color=color,
            legendgroup=label,
            showlegend=False,
            xaxis="x2",
            yaxis="y2",
        )
    )
    return len(fig.data) - 2, len(fig.data) - 1


def table_comparison_figure(
    frame: pd.DataFrame, title: str = "Table I (Spotify): the paper and our run"
) -> go.Figure:
    """Grouped bars per metric. ``frame``: one row per bar group with columns ``label``, ``metric``, ``value``
    and optionally ``error`` (95% half-width)."""
    fig = go.Figure()
    for i, (label, group) in enumerate(frame.groupby("label", sort=False)):
        error = group["error"] if "error" in group and group["error"].notna().any() else None
        fig.add_trace(
            go.Bar(
                x=group["metric"],
                y=group["value"],
                name=label,
                marker_color=_color(label, i),
                marker_pattern_shape="/" if "paper" in label.lower() else "",
                error_y=None if error is None else {"type": "data", "array": error.fillna(0)},
            )
        )
    fig.update_layout(
        barmode="group",
        title=title,
        xaxis_title="metric (truncation k)",
        yaxis_title="mean over test users (0 to 1)",
        yaxis_range=[0, 1.05],
        **_LAYOUT,
    )
    return fig


def over_under_figure(
    summaries: Mapping[str, pd.DataFrame],
    title: str = "Over- and under-recommendation per song (Figure 5)",
    item_label: str = "song",
) -> go.Figure:
    """Mean difference (recommended - liked) per like rank with its confidence interval, one bar series per
    model. Each summary is :func:`ftmamba_lite.analysis.over_under_summary` output; ``item_label`` names the
    items on the x axis ("song", "message", ...)."""
    fig = go.Figure()
    for i, (label, summary) in enumerate(summaries.items()):
        half = (summary["ci_high"] - summary["mean"]).fillna(0)
        fig.add_trace(
            go.Bar(
                x=summary["like_rank"],
                y=summary["mean"],
                name=f"{label} ({_seeds(int(summary['n_seeds'].max()))})",
                marker_color=_color(label, i),
                error_y={"type": "data", "array": half},
            )
        )
    fig.add_hline(y=0, line_color="black", line_width=1)
    fig.update_layout(
        barmode="group",
        title=title,
        xaxis_title=f"{item_label}, ranked by number of likes (1 = most liked)",
        yaxis_title="recommended - liked (users)",
        **_LAYOUT,
    )
    return fig


def metric_curves_figure(
    curves: pd.DataFrame,
    metric: str = "HR@1",
    references: Mapping[str, float] | None = None,
    title: str = "Test metric through training (Figure 4)",
    batch_size: int | None = None,
) -> go.Figure:
    """One line per model: the mean of ``metric`` over seeds against the training step, with a band from the
    lowest to the highest seed. ``curves`` has columns ``model``, ``seed``, ``step`` and ``metric`` (what
    ``ftmamba-lite reproduce`` writes as ``*_curves.csv``); ``references`` draws labelled horizontal lines;
    ``batch_size`` (the triples per step of these runs) is named on the x axis when given."""
    for column in ("model", "seed", "step", metric):
        if column not in curves:
            raise ValueError(f"curves has no column {column!r}; it has {list(curves.columns)}")
    fig = go.Figure()
    for i, (model, group) in enumerate(curves.groupby("model", sort=False)):
        stats = group.groupby("step")[metric].agg(["mean", "min", "max", "count"]).reset_index()
        color = _color(str(model), i)
        band_x = [*stats["step"], *stats["step"][::-1]]
        band_y = [*stats["max"], *stats["min"][::-1]]
        fig.add_trace(
            go.Scatter(
                x=band_x,
                y=band_y,
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line_width=0,
                hoverinfo="skip",
                showlegend=False,
                legendgroup=str(model),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=stats["step"],
                y=stats["mean"],
                mode="lines+markers",
                line_color=color,
                name=f"{model} ({_seeds(int(stats['count'].max()))})",
                legendgroup=str(model),
            )
        )
    add_reference_lines(fig, references)
    fig.update_layout(
        title=title,
        xaxis_title="training step" + (f" (batches of {batch_size} triples)" if batch_size else ""),
        yaxis_title=f"{metric} on the test users (mean over seeds; band: min to max)",
        yaxis_range=[0, 1.05],
        **_LAYOUT,
    )
    return fig


def hit_ratio_heatmap_figure(
    results: pd.DataFrame,
    metric: str = "HR@10",
    title: str = "Vaccine messaging: HR@10 over clusters x messages (Figure 6)",
) -> go.Figure:
    """One heatmap per model: ``metric`` (mean over the rows given, e.g. seeds) for each (clusters, messages)
    cell, written in the cell; combinations without results stay blank.

    ``results`` has columns ``model``, ``clusters``, ``messages`` and ``metric`` (e.g. the rows of
    :func:`ftmamba_lite.learn.experiments.run_seed` for the vaccine grid, or ``paper_table("vaccine")``
    renamed ``embedder`` -> ``model``).
    """
    for column in ("model", "clusters", "messages", metric):
        if column not in results:
            raise ValueError(f"results has no column {column!r}; it has {list(results.columns)}")
    models = list(dict.fromkeys(results["model"]))
    clusters = sorted(results["clusters"].unique())
    messages = sorted(results["messages"].unique())
    fig = make_subplots(rows=1, cols=len(models), subplot_titles=models, horizontal_spacing=0.12)
    for col, model in enumerate(models, start=1):
        means = results[results["model"] == model].groupby(["clusters", "messages"])[metric].mean()
        z = [[means.get((c, m), np.nan) for m in messages] for c in clusters]
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=[f"{m:g}" for m in messages],
                y=[f"{c:g}" for c in clusters],
                zmin=0,
                zmax=1,
                colorscale="Viridis",
                text=[["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in z],
                texttemplate="%{text}",
                showscale=col == len(models),
                colorbar={"title": {"text": metric}},
                name=str(model),
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="messages (items)", type="category", row=1, col=col)
        fig.update_yaxes(title_text="k-means clusters k", type="category", row=1, col=col)
    fig.update_layout(title=title, height=380, **_LAYOUT)
    return fig
