"""Every course figure has a title and titled axes, and shows the data it was given."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from ftmamba_lite.course import plots, work_depth
from ftmamba_lite.learn.experiments import paper_table


def assert_titled(fig: go.Figure) -> None:
    """The figure and every axis that holds a trace have a non-empty title."""
    assert fig.layout.title.text, "figure without a title"
    used = {(getattr(t, "xaxis", None) or "x", getattr(t, "yaxis", None) or "y") for t in fig.data} or {
        ("x", "y")
    }
    for x, y in used:
        for ref in (x, y):
            axis = fig.layout[{"x": "xaxis", "y": "yaxis"}[ref[0]] + ref[1:]]  # "x2" -> "xaxis2"
            assert axis.title.text, f"axis {ref} without a title"


@cache
def figures() -> dict[str, go.Figure]:
    timing = pd.DataFrame(
        {"implementation": ["a", "a", "b", "b"], "length": [16, 32, 16, 32], "ms": [1.0, 2.0, 0.5, 0.7]}
    )
    costs = pd.DataFrame(
        {
            "embedder": ["mamba", "mamba", "transformer", "transformer"],
            "tokens": [8, 16, 8, 16],
            "ms": [1.0, 2.0, 1.5, 3.5],
            "activation_mb": [0.5, 1.0, 2.0, 4.0],
        }
    )
    parts = pd.DataFrame(
        {
            "embedder": ["mamba", "mamba", "transformer"],
            "part": ["in_proj", "norm", "linear1"],
            "parameters": [10, 2, 30],
        }
    )
    memory = pd.DataFrame(
        {"features": [1, 2, 1, 2], "categories": [10, 10, 100, 100], "mib": [0.1, 0.2, 1.0, 2.0]}
    )
    table = pd.DataFrame(
        {
            "label": ["paper: mamba", "paper: mamba", "ours: mamba", "ours: mamba"],
            "metric": ["HR@1", "HR@5", "HR@1", "HR@5"],
            "value": [0.9, 0.99, 0.5, 0.8],
            "error": [np.nan, np.nan, 0.1, 0.05],
        }
    )
    summary = pd.DataFrame(
        {
            "like_rank": [1, 2, 3],
            "mean": [-1.0, 0.5, 0.5],
            "n_seeds": [2, 2, 2],
            "ci_low": [-2, 0, 0],
            "ci_high": [0, 1, 1],
        }
    )
    curves = pd.DataFrame(
        {
            "model": ["mamba"] * 4 + ["transformer"] * 2,
            "seed": [0, 0, 1, 1, 0, 0],
            "step": [500, 1000, 500, 1000, 500, 1000],
            "HR@1": [0.6, 0.9, 0.8, 1.0, 0.3, 0.4],
        }
    )
    training = plots.training_figure(references={"popularity": 0.8})
    plots.add_training_run(training, "mamba")
    return {
        "token_heatmap": plots.token_heatmap(np.ones((3, 4)), ["a", "b", "[CLS]"]),
        "influence": plots.influence_figure(
            {"m": np.tril(np.ones((3, 3))), "t": np.ones((3, 3))}, ["a", "b", "c"]
        ),
        "memory": plots.tokenizer_memory_figure(memory),
        "discretization": plots.discretization_figure(np.linspace(0, 3, 7), -1.0),
        "impulse": plots.impulse_figure({"fixed": np.array([1.0, 0.5]), "selective": np.array([1.0, 0.0])}),
        "work_depth": plots.work_depth_figure(work_depth([2, 4, 8])),
        "scan_timing": plots.scan_timing_figure(timing),
        "parameters": plots.parameter_breakdown_figure(parts),
        "costs": plots.cost_figure(costs),
        "training": training,
        "table": plots.table_comparison_figure(table),
        "over_under": plots.over_under_figure({"mamba": summary}),
        "curves": plots.metric_curves_figure(curves, references={"popularity": 0.3}),
    }


@pytest.mark.parametrize("name", list(figures()))
def test_every_figure_has_titles(name: str) -> None:
    assert_titled(figures()[name])


def test_token_heatmap_shows_the_tokens_first_row_on_top() -> None:
    tokens = np.arange(12.0).reshape(3, 4)
    fig = plots.token_heatmap(tokens, ["a", "b", "[CLS]"])
    np.testing.assert_array_equal(fig.data[0].z, tokens)
    assert fig.layout.yaxis.autorange == "reversed"


def test_influence_figure_leaves_unreachable_cells_blank() -> None:
    fig = plots.influence_figure({"causal": np.tril(np.full((3, 3), 10.0))}, ["a", "b", "c"])
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.isnan(z[0, 1]) and z[2, 0] == pytest.approx(1.0)


def test_discretization_figure_values() -> None:
    deltas = np.array([0.0, 1.0, 2.0])
    fig = plots.discretization_figure(deltas, -1.0)
    np.testing.assert_allclose(fig.data[0].y, np.exp(-deltas))
    np.testing.assert_allclose(fig.data[1].y, 1 - deltas)


def test_work_depth_figure_plots_both_algorithms() -> None:
    fig = plots.work_depth_figure(work_depth([4, 8]))
    names = {t.name for t in fig.data}
    assert names == {"recurrence", "associative scan"} and len(fig.data) == 4


def test_parameter_breakdown_annotates_totals() -> None:
    fig = figures()["parameters"]
    assert {a.text for a in fig.layout.annotations} == {"12", "30"}


def test_table_comparison_has_error_bars_only_where_given() -> None:
    fig = figures()["table"]
    paper, ours = fig.data
    assert paper.error_y.array is None and list(ours.error_y.array) == [0.1, 0.05]


def test_over_under_figure_bars_and_intervals() -> None:
    fig = figures()["over_under"]
    np.testing.assert_allclose(fig.data[0].y, [-1.0, 0.5, 0.5])
    np.testing.assert_allclose(fig.data[0].error_y.array, [1.0, 0.5, 0.5])
    assert "2 seeds" in fig.data[0].name


def test_cost_and_timing_figures_are_log_log() -> None:
    for fig in (figures()["costs"], figures()["scan_timing"]):
        assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_metric_curves_show_the_mean_and_the_seed_range() -> None:
    fig = figures()["curves"]
    band, mean = fig.data[0], fig.data[1]  # mamba: band first, then the mean line
    assert list(mean.x) == [500, 1000] and np.allclose(mean.y, [0.7, 0.95]) and "2 seeds" in mean.name
    assert np.allclose(band.y, [0.8, 1.0, 0.9, 0.6])  # max forward, min backward: the closed band
    assert fig.data[3].name == "transformer (1 seed)" and fig.layout.shapes[0].y0 == 0.3
    with pytest.raises(ValueError, match="no column 'HR@5'"):
        plots.metric_curves_figure(pd.DataFrame({"model": [], "seed": [], "step": []}), metric="HR@5")


def test_heatmap_of_the_papers_table_ii():
    table = paper_table("vaccine").rename(columns={"embedder": "model"})
    fig = plots.hit_ratio_heatmap_figure(table)
    assert "Figure 6" in fig.layout.title.text
    assert [trace.name for trace in fig.data] == ["mamba", "transformer"]
    assert fig.layout.xaxis.title.text == "messages (items)" and fig.layout.yaxis.title.text.startswith(
        "k-means"
    )
    mamba = fig.data[0]
    assert list(mamba.x) == ["25", "50", "100"] and list(mamba.y) == ["25", "50", "100"]
    z = np.array(mamba.z, dtype=float)
    assert z[0, 0] == pytest.approx(0.977) and z[2, 2] == pytest.approx(0.2245)
    assert np.isnan(z[1, 0]) and np.isnan(z[2, 0]) and mamba.text[1][0] == ""  # (50, 25): not in the grid
    assert np.isfinite(z).sum() == 6


def test_heatmap_averages_seeds_and_names_missing_columns():
    rows = pd.DataFrame(
        {"model": ["mamba"] * 2, "clusters": [5, 5], "messages": [10, 10], "HR@10": [0.2, 0.4]}
    )
    fig = plots.hit_ratio_heatmap_figure(rows)
    assert np.array(fig.data[0].z, dtype=float)[0, 0] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="HR@5"):
        plots.hit_ratio_heatmap_figure(rows, metric="HR@5")


def test_hm_curves_reuse_metric_curves_figure():
    curves = pd.DataFrame(
        {
            "model": ["mamba"] * 4 + ["transformer"] * 4,
            "seed": [0, 0, 1, 1] * 2,
            "step": [500, 1000] * 4,
            "HR@10": [0.5, 0.6, 0.55, 0.65, 0.4, 0.5, 0.45, 0.55],
        }
    )
    fig = plots.metric_curves_figure(curves, "HR@10", title="H&M: HR@10 through training (Figure 4b)")
    lines = [trace for trace in fig.data if trace.mode == "lines+markers"]
    assert [trace.name for trace in lines] == ["mamba (2 seeds)", "transformer (2 seeds)"]
    np.testing.assert_allclose(lines[0].y, [0.525, 0.625])
    assert "HR@10" in fig.layout.yaxis.title.text and "Figure 4b" in fig.layout.title.text


def test_every_model_has_its_own_colour_in_every_figure() -> None:
    models = ["mamba", "transformer", "mlp", "linear", "popularity", "oracle"]
    assert len({plots.COLORS[m] for m in models}) == len(models)
    bars = pd.DataFrame(
        [
            {"label": label, "metric": "HR@1", "value": 0.5}
            for label in ("paper: mamba", "ours: mamba", "ours: transformer", "ours: mlp", "ours: popularity")
        ]
    )
    colours = {t.name: t.marker.color for t in plots.table_comparison_figure(bars).data}
    assert colours["paper: mamba"] == colours["ours: mamba"] == plots.COLORS["mamba"]
    assert colours["ours: popularity"] == plots.COLORS["popularity"] != plots.COLORS["mamba"]
    assert len(set(colours.values())) == 4


def test_runs_of_one_model_get_shades_of_its_colour_never_another_models() -> None:
    fig = plots.training_figure(hr_k=1)
    for label in ("mamba d=128 seed=0", "mamba d=128 seed=1", "transformer seed=0", "mamba d=32 seed=0"):
        plots.add_training_run(fig, label)
    colours = [fig.data[i].line.color for i in range(0, len(fig.data), 2)]
    assert colours[0] == plots.COLORS["mamba"] and colours[2] == plots.COLORS["transformer"]
    assert len(set(colours)) == 4
    assert not {colours[1], colours[3]} & set(plots.COLORS.values())


def test_legends_count_seeds_in_the_singular_and_axes_name_the_batch() -> None:
    summary = pd.DataFrame(
        {"like_rank": [1, 2], "mean": [0.0, 1.0], "ci_high": [0.0, 1.0], "n_seeds": [1, 1]}
    )
    fig = plots.over_under_figure({"popularity": summary, "mamba": summary})
    assert [t.name for t in fig.data] == ["popularity (1 seed)", "mamba (1 seed)"]
    assert fig.data[0].marker.color != fig.data[1].marker.color
    curves = pd.DataFrame({"model": "mlp", "seed": 0, "step": [0, 100], "HR@10": [0.1, 0.2]})
    fig = plots.metric_curves_figure(curves, "HR@10", batch_size=64)
    assert fig.layout.xaxis.title.text == "training step (batches of 64 triples)"
    assert fig.data[-1].name == "mlp (1 seed)"
