"""The training losses (ftmamba_lite.losses) and train.fit's loss argument."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ftmamba_lite import losses
from ftmamba_lite.datasets import load_spotify
from ftmamba_lite.encoding import encode
from ftmamba_lite.learn.baselines import build_baseline
from ftmamba_lite.learn.engine import fit


@pytest.mark.parametrize("with_ids", [False, True])
@pytest.mark.parametrize("with_log_q", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_in_batch_softmax_matches_its_reference(with_ids: bool, with_log_q: bool, temperature: float) -> None:
    torch.manual_seed(0)
    b, o = 7, 5
    user, item = torch.randn(b, o, dtype=torch.float64), torch.randn(b, o, dtype=torch.float64)
    ids = torch.tensor([3, 1, 3, 0, 2, 1, 4]) if with_ids else None  # items 3 and 1 occur twice
    log_q = torch.log(torch.rand(b, dtype=torch.float64)) if with_log_q else None
    fast = losses.in_batch_softmax_loss(user, item, ids, log_q, temperature)
    ref = losses.in_batch_softmax_loss_ref(user, item, ids, log_q, temperature)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)


def test_in_batch_softmax_is_the_cross_entropy_of_the_score_matrix() -> None:
    torch.manual_seed(1)
    user, item = torch.randn(4, 3), torch.randn(4, 3)
    expected = F.cross_entropy(user @ item.T, torch.arange(4))
    torch.testing.assert_close(losses.in_batch_softmax_loss(user, item), expected)
    # a batch whose rows all share one item has no negatives at all: the loss is 0
    same = torch.zeros(4, dtype=torch.long)
    assert losses.in_batch_softmax_loss(user, item, same).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        losses.in_batch_softmax_loss(user, item, temperature=0.0)
    with pytest.raises(ValueError, match=r"\(b, o\)"):
        losses.in_batch_softmax_loss(user, item[:3])


def test_item_log_frequency_is_the_log_share_of_the_training_pairs() -> None:
    log_q = losses.item_log_frequency(torch.tensor([0, 0, 1, 2]), n_items=4)
    torch.testing.assert_close(log_q[:3], torch.log(torch.tensor([0.5, 0.25, 0.25])))
    assert log_q[3] == pytest.approx(math.log(0.5 / 4))  # never trained on: half a pair


def test_fit_trains_with_either_loss_and_refuses_an_unknown_one() -> None:
    data = load_spotify(None, n_train=600, n_valid=50, n_test=10, seed=0)
    enc = encode(data)
    mse_model = build_baseline("mlp", enc, seed=0)
    history = fit(mse_model, enc, steps=3, batch_size=16, progress=False, eval_every=None, ks=(1,))
    # the MSE path is the paper's loss on the batch: recompute the first step's loss from a fresh model
    fresh = build_baseline("mlp", enc, seed=0)
    idx = torch.randperm(len(enc.train_target), generator=torch.Generator().manual_seed(0))[:16]
    u, i = enc.train_user[idx], enc.train_item[idx]
    pred = fresh(enc.user_num[u], enc.user_cat[u], enc.item_num[i], enc.item_cat[i])
    assert history.losses[0] == pytest.approx(F.mse_loss(pred, enc.train_target[idx]).item(), rel=1e-6)
    softmax_model = build_baseline("mlp", enc, seed=0)
    history = fit(
        softmax_model,
        enc,
        steps=60,
        batch_size=32,
        lr=1e-2,
        loss="softmax",
        progress=False,
        eval_every=None,
        ks=(1,),
    )
    first, last = sum(history.losses[:10]) / 10, sum(history.losses[-10:]) / 10
    assert last < first  # it learns
    with pytest.raises(ValueError, match="unknown loss 'hinge'.*mse"):
        fit(build_baseline("mlp", enc), enc, steps=1, loss="hinge", progress=False)


def test_in_batch_softmax_embeds_each_distinct_row_once_with_the_same_loss_and_gradients() -> None:
    from ftmamba_lite.towers import make_two_tower

    torch.manual_seed(0)
    model = make_two_tower("mamba", {"n_numerical": 1, "cardinalities": [5]}, {"n_numerical": 0,
                           "cardinalities": [7]}, d_model=8, n_layers=1)  # fmt: skip
    users, items = torch.tensor([0, 1, 0, 2, 1, 0]), torch.tensor([3, 3, 1, 4, 1, 6])
    user_num, user_cat = torch.randn(3, 1)[users], users[:, None]
    item_cat = items[:, None]
    log_q = torch.randn(7)
    calls = []
    model.item_tower.register_forward_hook(lambda m, args, out: calls.append(len(out)))
    loss = losses.in_batch_softmax(
        model, user_num, user_cat, None, item_cat, items, torch.ones(6), log_q, temperature=0.1
    )
    assert calls == [4]  # 4 distinct items of 6 rows
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    full = losses.in_batch_softmax_loss(
        model.embed_users(user_num, user_cat), model.embed_items(None, item_cat), items, log_q[items], 0.1
    )
    full_grads = torch.autograd.grad(full, list(model.parameters()), allow_unused=True)
    torch.testing.assert_close(loss, full)
    for a, b in zip(grads, full_grads, strict=True):
        if a is not None or b is not None:
            torch.testing.assert_close(a, b)
