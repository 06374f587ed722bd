"""Sequence models (ftmamba_lite.sequential): Mamba4Rec and SASRec, causality, the loss, bad inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ftmamba_lite.datasets.movielens import synthetic_sequences
from ftmamba_lite.learn.registry import build_sequence_model
from ftmamba_lite.mamba import MambaLayer
from ftmamba_lite.sequential import Mamba4Rec, SASRec, make_sequence_model

SMALL = {"d_model": 16, "max_len": 12}


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
