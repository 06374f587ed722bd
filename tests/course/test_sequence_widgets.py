"""The sequence notebook's live curves and explorer (ftmamba_lite.course.sequence_widgets)."""

from __future__ import annotations

import pandas as pd
import pytest

from ftmamba_lite.datasets.movielens import leave_one_out, synthetic_sequences
from ftmamba_lite.learn.registry import build_sequence_model
from ftmamba_lite.learn.sequence import fit_sequential
from ftmamba_lite.timing import sequence_costs


def test_live_curves_and_explorer_follow_training(monkeypatch: pytest.MonkeyPatch) -> None:
    from ftmamba_lite.course import sequence_widgets as sw
    from ftmamba_lite.course.widgets import LiveFigure

    data = synthetic_sequences(n_users=20, n_items=30, min_length=5, max_length=10, n_topics=3, seed=0)
    split = leave_one_out(data)
    model = build_sequence_model("sasrec", data, seed=0, d_model=16, max_len=10, n_layers=1)
    live = LiveFigure(sw.sequence_training_figure(references={"popularity": 0.1}), mode="output")
    curves = sw.LiveSequenceCurves(live, "sasrec")
    history = fit_sequential(
        model, data, epochs=2, batch_size=4, split=split, callbacks=[curves], progress=False
    )
    loss_trace, hr_trace = live.figure.data
    assert list(loss_trace.y) == history.losses and list(hr_trace.x) == [1, 2]
    assert live.renders > 2
    panel = sw.NextItemExplorer({"sasrec": model}, data, split, max_len=10)
    before = panel.table.value
    assert "sasrec" in before and "really next" in panel.history.value
    panel.seen.value = 1
    assert len(panel.fed_history()) == 1 and "1 items fed" in panel.history.value
    panel.user.value = 5
    assert panel.table.value != before
    costs = sequence_costs([4, 8], n_items=30, batch=2, repeat=1, d_model=16, dropout=0.0)
    assert len(sw.sequence_cost_figure(costs).data) == 6
    assert sw.comparison_figure(pd.DataFrame([{"model": "sasrec", **history.test_metrics}])).layout.title.text
