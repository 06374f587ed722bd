"""Tests of the sequence models (ftmamba_lite.sequential), their training and evaluation
(ftmamba_lite.train_sequential), NDCG against a brute-force reference, and ``reproduce movielens``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ftmamba_lite.cli import main
from ftmamba_lite.datasets.movielens import SequenceDataset, leave_one_out, synthetic_sequences
from ftmamba_lite.mamba import MambaLayer
from ftmamba_lite.metrics import evaluate, per_user_metrics
from ftmamba_lite.sequential import Mamba4Rec, SASRec, make_sequence_model
from ftmamba_lite.threads import set_num_threads
from ftmamba_lite.train_sequential import (
    build_sequence_model,
    evaluate_next_item,
    fit_sequential,
    score_histories,
    sequence_costs,
)

SMALL = {"d_model": 16, "max_len": 12}


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    """One thread for the numba scan too (conftest sets torch's): two spinning threads on a busy 2-core
    machine make the Mamba layer many times slower."""
    import numba

    before = numba.get_num_threads()
    set_num_threads(1)
    yield
    numba.set_num_threads(before)


def small(name: str, n_items: int = 30, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    extra = {"d_state": 8} if name == "mamba4rec" else {}
    return make_sequence_model(name, n_items, **{**SMALL, **extra, **kwargs}).eval()


def test_mamba4rec_has_the_paper_defaults_and_reuses_the_library_mamba_layer() -> None:
    model = Mamba4Rec(100)
    (block,) = model.blocks
    layer = block.mamba
    assert isinstance(layer, MambaLayer) and layer.norm is None  # the block adds its own LayerNorm
    assert (model.d_model, layer.d_state, layer.d_conv, layer.expand) == (64, 32, 4, 2)
    assert (model.max_len, block.dropout.p, block.residual) == (200, 0.2, False)
    assert all(b.residual for b in Mamba4Rec(100, n_layers=2).blocks)
    assert float(model.item_embedding.weight[0].detach().abs().sum()) == 0.0  # padding row
    sasrec = SASRec(100)
    assert len(sasrec.layers) == 2 and sasrec.layers[0].self_attn.num_heads == 2
    assert sasrec.position_embedding.weight.shape == (200, 64)


@pytest.mark.parametrize("name", ["mamba4rec", "sasrec"])
def test_models_are_causal_and_ignore_padding_after_the_last_item(name: str) -> None:
    model = small(name, n_layers=2)
    items = torch.randint(1, 31, (3, 10))  # (b, l)
    changed = items.clone()
    changed[:, 6] = (changed[:, 6] % 30) + 1
    with torch.no_grad():
        a, b = model.encode(items), model.encode(changed)  # (b, l, d)
        torch.testing.assert_close(a[:, :6], b[:, :6], atol=1e-5, rtol=1e-5)  # the past ignores the future
        assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-3
        lengths = torch.tensor([4, 7, 10])
        padded = items.clone()
        for row, n in enumerate(lengths):
            padded[row, n:] = 0
        torch.testing.assert_close(
            model(padded, lengths), a[torch.arange(3), lengths - 1], atol=1e-5, rtol=1e-5
        )
        assert model.scores(padded, lengths).shape == (3, 30)


@pytest.mark.parametrize("name", ["mamba4rec", "sasrec"])
def test_loss_is_the_mean_cross_entropy_over_every_prefix(name: str) -> None:
    model = small(name)
    seq = torch.randint(1, 31, (2, 9))
    x, y = seq[:, :-1].clone(), seq[:, 1:].clone()
    y[1, 5:] = 0  # the second row is shorter: 5 examples
    x[1, 5:] = 0
    with torch.no_grad():
        loss = model.loss(x, y)
        terms = []
        for row, n in ((0, 8), (1, 5)):
            for t in range(1, n + 1):  # the prefix of t items predicts the item after it
                scores = model.scores(x[row : row + 1, :t])  # (1, v)
                terms.append(F.cross_entropy(scores, y[row, t - 1 : t] - 1))
    assert len(terms) == 13
    assert float(loss) == pytest.approx(float(torch.stack(terms).mean()), rel=1e-4)


def test_bad_inputs_are_refused_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="unknown sequence model 'gru4rec'"):
        make_sequence_model("gru4rec", 10)
    data = synthetic_sequences(n_users=5, n_items=20, n_topics=2, seed=0)
    with pytest.raises(ValueError, match="unknown model 'bert4rec'"):
        build_sequence_model("bert4rec", data)
    model = small("sasrec")
    with pytest.raises(ValueError, match="exceed max_len=12"):
        model.scores(torch.ones(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="int64"):
        model.scores(torch.ones(1, 3))
    with pytest.raises(ValueError, match="divisible"):
        SASRec(10, d_model=15, n_heads=2)


def brute_force_ndcg(scores: np.ndarray, relevant: np.ndarray, k: int) -> list[float]:
    out = []
    for s, rel in zip(scores, relevant, strict=True):
        ranking = sorted(range(len(s)), key=lambda i: (-s[i], i))[:k]
        dcg = sum(1 / math.log2(pos + 2) for pos, i in enumerate(ranking) if rel[i])
        idcg = sum(1 / math.log2(pos + 2) for pos in range(min(int(rel.sum()), k)))
        out.append(dcg / idcg if idcg else 0.0)
    return out


@pytest.mark.parametrize("k", [1, 3, 10, 25])
def test_ndcg_matches_a_brute_force_reference(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 6, size=(40, 25)).astype(float)  # many ties: the stable order decides
    relevant = rng.random((40, 25)) < 0.2
    relevant[0] = False  # a user without relevant items scores 0
    got = per_user_metrics(scores, relevant, ks=(), ndcg_ks=(k,))[f"NDCG@{k}"].to_numpy()
    np.testing.assert_allclose(got, brute_force_ndcg(scores, relevant, k), rtol=1e-12)
    assert got[0] == 0.0 and ((0 <= got) & (got <= 1)).all()
    perfect = evaluate(relevant.astype(float), relevant, ks=(), ndcg_ks=(k,))[f"NDCG@{k}"]
    assert perfect == pytest.approx(float(relevant.any(axis=1).mean()))


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


def test_reproduce_movielens_cli_writes_its_table(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["reproduce", "movielens", "--model", "popularity", "--data", "synthetic", "--seeds", "2",
         "--jobs", "1", "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "popularity" in out and "HR@10" in out
    seeds = pd.read_csv(tmp_path / "movielens_popularity_seeds.csv")
    assert list(seeds["seed"]) == [0, 1] and seeds["HR@10"].between(0, 1).all()
    with pytest.raises(SystemExit):
        main(["reproduce", "movielens", "--model", "gru4rec"])


def test_live_curves_and_explorer_follow_training(monkeypatch: pytest.MonkeyPatch) -> None:
    from ftmamba_lite import sequence_widgets as sw
    from ftmamba_lite.widgets import LiveFigure

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
