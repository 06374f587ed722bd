"""Tests of the baselines (popularity, linear, MLP, oracle) and of their path through fit and evaluate."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ftmamba_lite.datasets import FeatureTable, RecDataset, load_spotify, make_triples
from ftmamba_lite.encoding import encode
from ftmamba_lite.learn.baselines import BASELINES, MLPTower, build_baseline, make_baseline
from ftmamba_lite.learn.checkpoints import load_checkpoint, save_checkpoint
from ftmamba_lite.learn.engine import fit
from ftmamba_lite.learn.scoring import score_test_users
from ftmamba_lite.metrics import evaluate, metric_ceiling, top_k
from ftmamba_lite.towers import count_parameters


def tiny_dataset(test_targets: bool = True) -> RecDataset:
    """6 users (numeric "age", categorical "city"), 5 items (numeric "price", categorical "sku").

    Item 4 never occurs in training; test users 4 and 5 have identical features but different targets.
    """
    users = pd.DataFrame(
        {"age": [20.0, 30.0, 40.0, 50.0, 60.0, 60.0], "city": ["a", "b", "a", "c", "b", "b"]}
    )
    items = pd.DataFrame({"price": [1.0, 2.0, 3.0, 4.0, 5.0], "sku": ["p", "q", "r", "s", "t"]})
    train_item = [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
    train_target = [1, -1, 1, 1, 0, 0, -1, 1, 1, 1]
    train_user = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    targets = np.array([[1, 0, -1, 1, 0], [0, 1, 1, -1, 1], [1, 1, 0, 0, -1]], dtype=np.float32)
    return RecDataset(
        name="tiny",
        users=FeatureTable(users, numeric=("age",), categorical=("city",)),
        items=FeatureTable(items, numeric=("price",), categorical=("sku",)),
        train=make_triples(train_user, train_item, train_target),
        valid=make_triples([2, 3], [0, 4], [1, -1]),
        test_users=np.array([3, 4, 5]),
        test_relevant=targets == 1,
        test_targets=targets if test_targets else None,
    )


def positive_rate(data: RecDataset) -> np.ndarray:
    """Share of training triples with target > 0 per item (0 for items absent from training), via pandas."""
    rate = data.train.assign(liked=data.train["target"] > 0).groupby("item")["liked"].mean()
    return rate.reindex(range(data.n_items), fill_value=0.0).to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def spotify_small() -> RecDataset:
    return load_spotify(None, n_train=20_000, seed=0)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Batches of 32 run fastest on one thread (several threads thrash on a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- popularity ------------------------------------------------------------------------------------------


def test_popularity_ranks_every_user_by_the_training_positive_rate():
    data = tiny_dataset()
    enc = encode(data)
    model = build_baseline("popularity", enc)
    scores = score_test_users(model, enc)
    expected = positive_rate(data)  # [0.5, 2/3, 1/3, 1, 0]
    assert scores.shape == (3, data.n_items)
    np.testing.assert_array_equal(scores.numpy(), np.tile(expected, (3, 1)))
    assert (top_k(scores, data.n_items) == np.argsort(-expected, kind="stable")).all()
    assert count_parameters(model) == 0


def test_popularity_pools_items_with_identical_features():
    data = tiny_dataset()
    items = data.items.frame.copy()
    items.loc[1, ["price", "sku"]] = items.loc[0, ["price", "sku"]]  # items 0 and 1 indistinguishable
    data = dataclasses.replace(data, items=FeatureTable(items, numeric=("price",), categorical=("sku",)))
    scores = score_test_users(build_baseline("popularity", data), encode(data))
    train = data.train
    pooled = (train.loc[train["item"].isin([0, 1]), "target"] > 0).mean()
    np.testing.assert_allclose(scores[0, :2].numpy(), [pooled, pooled])


def test_popularity_scores_pairs_like_score_all_and_unknown_items_zero():
    data = tiny_dataset()
    enc = encode(data)
    model = build_baseline("popularity", enc)
    pairs = model(enc.user_num[[0, 1]], enc.user_cat[[0, 1]], enc.item_num[[3, 2]], enc.item_cat[[3, 2]])
    np.testing.assert_array_equal(pairs.numpy(), positive_rate(data)[[3, 2]])
    unseen = model(enc.user_num[:1], enc.user_cat[:1], torch.tensor([[9.0]]), torch.tensor([[0]]))
    assert unseen.item() == 0.0


# --- oracle ----------------------------------------------------------------------------------------------


def test_oracle_reaches_the_metric_ceiling_on_spotify(spotify_small):
    enc = encode(spotify_small)
    model = build_baseline("oracle", spotify_small)
    scores = score_test_users(model, enc)
    np.testing.assert_array_equal(scores.numpy(), spotify_small.test_targets)
    ks = (1, 5, 10, 50)
    assert evaluate(scores, spotify_small.test_relevant, ks=ks) == metric_ceiling(
        spotify_small.test_relevant, ks=ks
    )


def test_oracle_reaches_the_metric_ceiling_on_the_real_spotify_data(spotify_dir):
    data = load_spotify(spotify_dir, n_train=100, n_valid=10, n_test=100, seed=3)
    scores = score_test_users(build_baseline("oracle", data), encode(data))
    assert evaluate(scores, data.test_relevant) == metric_ceiling(data.test_relevant)


def test_oracle_averages_test_users_it_cannot_tell_apart_and_knows_no_one_else():
    data = tiny_dataset()
    enc = encode(data)
    model = build_baseline("oracle", data)
    scores = score_test_users(model, enc).numpy()
    targets = data.test_targets
    np.testing.assert_array_equal(scores[0], targets[0])
    np.testing.assert_allclose(scores[1:], np.tile(targets[1:].mean(axis=0), (2, 1)))  # users 4, 5: same row
    assert count_parameters(model) == 0
    stranger = model(enc.user_num[:1], enc.user_cat[:1], enc.item_num[:1], enc.item_cat[:1])  # user 0
    assert torch.isnan(stranger).all()


def test_oracle_needs_test_targets_and_the_dataset():
    with pytest.raises(ValueError, match="'tiny' defines no test_targets"):
        build_baseline("oracle", tiny_dataset(test_targets=False))
    with pytest.raises(ValueError, match="RecDataset"):
        build_baseline("oracle", encode(tiny_dataset()))


# --- linear and MLP towers -------------------------------------------------------------------------------


def one_hot_rows(x_num: torch.Tensor, x_cat: torch.Tensor, cardinalities: list[int]) -> torch.Tensor:
    """[x_num, onehot(x_cat_1), ...] with K_j + 1 columns per categorical feature."""
    parts = [x_num] + [F.one_hot(x_cat[:, j], k + 1).float() for j, k in enumerate(cardinalities)]
    return torch.cat(parts, dim=1)


def test_linear_tower_is_one_affine_map_of_the_one_hot_row():
    torch.manual_seed(0)
    cards = [3, 5]
    tower = MLPTower(2, cards, hidden=(7,), final_activation=False)
    x_num = torch.randn(9, 2)
    x_cat = torch.stack([torch.randint(0, 4, (9,)), torch.randint(0, 6, (9,))], dim=1)  # includes unknown K_j
    weight = torch.cat([tower.numeric.weight.T, *(table.weight for table in tower.categorical)])  # (2+4+6, 7)
    expected = one_hot_rows(x_num, x_cat, cards) @ weight + tower.bias
    torch.testing.assert_close(tower(x_num, x_cat), expected)
    bound = (2 + 4 + 6) ** -0.5  # initialised like nn.Linear(12, 7)
    assert all(p.abs().max() <= bound for p in tower.parameters())


def test_mlp_tower_is_the_paper_ffn_on_the_one_hot_row():
    torch.manual_seed(1)
    tower = MLPTower(0, [4], hidden=(6, 3))
    x_cat = torch.arange(5).unsqueeze(1)
    first = tower.categorical[0].weight + tower.bias  # rows of onehot @ E + bias
    second = tower.rest[1]
    expected = torch.relu(torch.relu(first) @ second.weight.T + second.bias)
    torch.testing.assert_close(tower(None, x_cat), expected)
    no_final = MLPTower(0, [4], hidden=(6, 3), final_activation=False)
    assert not isinstance(no_final.rest[-1], torch.nn.ReLU)


def test_parameter_counts_and_shapes_on_spotify(spotify_small):
    enc = encode(spotify_small)
    k_num, card = 20, spotify_small.n_items  # 20 genres; one categorical feature, the song (K = 50)
    assert enc.user_spec["n_numerical"] == k_num and enc.item_spec["cardinalities"] == [card]
    linear = build_baseline("linear", enc)
    assert count_parameters(linear.user_tower) == k_num * 32 + 32
    assert count_parameters(linear.item_tower) == (card + 1) * 32 + 32
    mlp = build_baseline("mlp", enc)
    assert count_parameters(mlp.user_tower) == (k_num * 64 + 64) + (64 * 32 + 32)
    assert count_parameters(mlp.item_tower) == ((card + 1) * 64 + 64) + (64 * 32 + 32)
    users = enc.test_users
    for model in (linear, mlp):
        assert model.embed_users(enc.user_num[users], enc.user_cat[users]).shape == (len(users), 32)
        assert score_test_users(model, enc).shape == (len(users), card)
    assert (score_test_users(linear, enc) < 0).any()
    assert (score_test_users(mlp, enc) < 0).any()  # no ReLU after the last layer by default
    paper_ffn = build_baseline("mlp", enc, final_activation=True)
    assert (score_test_users(paper_ffn, enc) >= 0).all()  # the paper's final ReLU: embeddings >= 0


def test_config_rebuilds_the_architecture_and_seeds_fix_the_weights(tmp_path):
    enc = encode(tiny_dataset())
    model = build_baseline("mlp", enc, seed=5, hidden=(8, 4), final_activation=False)
    save_checkpoint(model, tmp_path / "mlp.pt")
    clone = load_checkpoint(tmp_path / "mlp.pt")
    assert clone.config == model.config and clone.config.kind == "mlp" and clone.config.hidden == (8, 4)
    assert make_baseline("mlp", enc.user_spec, enc.item_spec, hidden=(8, 4)).config == model.config
    args = (enc.user_num, enc.user_cat, enc.item_num[:1].expand(6, -1), enc.item_cat[:1].expand(6, -1))
    torch.testing.assert_close(clone(*args), model(*args), rtol=0, atol=0)
    same = build_baseline("mlp", enc, seed=5, hidden=(8, 4), final_activation=False)
    other = build_baseline("mlp", enc, seed=6, hidden=(8, 4), final_activation=False)
    torch.testing.assert_close(same(*args), model(*args), rtol=0, atol=0)
    assert not torch.equal(other(*args), model(*args))


def test_bad_arguments_are_refused():
    enc = encode(tiny_dataset())
    with pytest.raises(ValueError, match="unknown baseline"):
        build_baseline("mamba", enc)
    with pytest.raises(ValueError, match="one affine map"):
        build_baseline("linear", enc, hidden=(16, 8))
    with pytest.raises(ValueError, match="no options"):
        build_baseline("popularity", enc, hidden=(8,))
    assert set(BASELINES) == {"popularity", "linear", "mlp", "oracle"}


# --- through fit -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_short_fit_beats_popularity_clearly(spotify_small, one_thread, kind):
    enc = encode(spotify_small)
    popular = evaluate(score_test_users(build_baseline("popularity", enc), enc), spotify_small.test_relevant)
    model = build_baseline(kind, enc, seed=0)
    history = fit(model, enc, steps=800, batch_size=32, lr=1e-3, seed=0, eval_every=None, progress=False)
    trained = history.final_metrics
    assert trained["P@5"] > popular["P@5"] + 0.3
    assert trained["HR@5"] > popular["HR@5"] + 0.1
    assert trained["HR@1"] > popular["HR@1"] + 0.3
    assert history.valid_losses[-1] < float(enc.valid_target.var())  # better than the constant mean


@pytest.mark.parametrize("kind", ["popularity", "oracle"])
def test_fit_evaluates_parameter_free_baselines_once_without_steps(kind):
    data = tiny_dataset()
    enc = encode(data)
    model = build_baseline(kind, data)
    history = fit(model, enc, steps=10, batch_size=4, lr=1e-3, ks=(1, 5), progress=False)
    assert history.steps == [] and history.eval_steps == [0]
    assert history.final_metrics == evaluate(score_test_users(model, enc), data.test_relevant, ks=(1, 5))
    valid_loss = history.valid_losses[0]
    if kind == "popularity":  # rate of item 0 (0.5) for target 1; unseen item 4 scores 0 for target -1
        assert valid_loss == pytest.approx(((0.5 - 1) ** 2 + (0 + 1) ** 2) / 2)
    else:  # the oracle knows the test users only
        assert np.isnan(valid_loss)
