"""Figures of the H&M and vaccine experiments: Figure 4(b) curves, Figure 6 heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ftmamba_lite import plots
from ftmamba_lite.experiments import paper_table


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
