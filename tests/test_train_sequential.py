"""Training and evaluating the sequence models (ftmamba_lite.learn.sequence)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ftmamba_lite.datasets.movielens import SequenceDataset, leave_one_out, synthetic_sequences
from ftmamba_lite.learn.registry import build_sequence_model
from ftmamba_lite.learn.sequence import evaluate_next_item, fit_sequential, score_histories
from ftmamba_lite.sequential import make_sequence_model
from ftmamba_lite.timing import sequence_costs

SMALL = {"d_model": 16, "max_len": 12}


def small(name: str, n_items: int = 30, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    extra = {"d_state": 8} if name == "mamba4rec" else {}
    return make_sequence_model(name, n_items, **{**SMALL, **extra, **kwargs}).eval()


def test_next_item_metrics_by_hand() -> None:
    scores = np.array(
        [[0.1, 0.9, 0.5, 0.7], [0.4, 0.3, 0.2, 0.1]]
    )  # ranks: user 0 item 3 -> 2nd; user 1 item 4 -> 4th
    got = evaluate_next_item(scores, np.array([4, 4]), k=2)
    assert got == pytest.approx({"HR@2": 0.5, "NDCG@2": 0.5 / math.log2(3), "MRR@2": 0.25})
    with pytest.raises(ValueError, match="k=5 is out of range"):
        evaluate_next_item(scores, np.array([4, 4]), k=5)
    with pytest.raises(ValueError, match="3 targets"):
        evaluate_next_item(scores, np.array([1, 2, 3]), k=2)


def test_training_is_deterministic_and_learns_the_synthetic_successor_rule() -> None:
    data = synthetic_sequences(n_users=150, n_items=60, min_length=15, max_length=30, n_topics=6, seed=0)
    settings = {"d_model": 32, "d_state": 8, "max_len": 20}
    runs = []
    for _ in range(2):
        model = build_sequence_model("mamba4rec", data, seed=1, **settings)
        runs.append(fit_sequential(model, data, epochs=6, batch_size=16, lr=3e-3, seed=1, progress=False))
    assert runs[0].losses == runs[1].losses and runs[0].test_metrics == runs[1].test_metrics
    history = runs[0]
    assert len(history.epoch_seconds) == 6 and len(history.eval_metrics) == 6
    assert history.best_epoch == 1 + int(np.argmax([m["NDCG@10"] for m in history.eval_metrics]))
    popularity = fit_sequential(build_sequence_model("popularity", data), data, progress=False)
    assert popularity.epoch_seconds == [] and popularity.best_epoch == 0
    # the successor is followed 60% of the time: a model that learned the rule ranks it in the top 10
    assert history.test_metrics["HR@10"] > 0.4 > 2 * popularity.test_metrics["HR@10"]


def test_scores_use_only_the_last_max_len_items() -> None:
    model = small("mamba4rec")
    long = [np.arange(1, 26)]  # 25 items, max_len 12
    torch.testing.assert_close(
        score_histories(model, long, 12), score_histories(model, [np.arange(14, 26)], 12)
    )


def test_sequence_costs_reports_every_model_and_length() -> None:
    costs = sequence_costs([4, 8], n_items=50, batch=2, repeat=1, d_model=16)
    assert list(costs.columns) == ["model", "length", "train_ms", "infer_ms_per_user", "activation_mb"]
    assert len(costs) == 4 and (costs[["train_ms", "infer_ms_per_user", "activation_mb"]] > 0).all().all()
    grow = costs.pivot(index="length", columns="model", values="activation_mb")
    assert (grow.loc[8] > grow.loc[4]).all()  # activations grow with l


def test_short_training_beats_popularity_on_real_ml100k(ml100k: SequenceDataset) -> None:
    # every user's 20 most recent ratings (a fifth of the data, so that the run takes seconds)
    recent = SequenceDataset(
        "ml-100k, last 20", tuple(s[-20:] for s in ml100k.sequences), ml100k.n_items, ml100k.user_ids,
        ml100k.item_ids,
    )  # fmt: skip
    split = leave_one_out(recent)
    popularity = fit_sequential(
        build_sequence_model("popularity", recent, split=split), recent, split=split, progress=False
    )
    model = build_sequence_model("sasrec", recent, seed=0, d_model=32, max_len=20, n_layers=1)
    history = fit_sequential(model, recent, epochs=3, batch_size=16, lr=3e-3, split=split, progress=False)
    for metric in ("HR@10", "NDCG@10", "MRR@10"):
        assert history.test_metrics[metric] > popularity.test_metrics[metric], metric
