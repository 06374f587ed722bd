import pytest
import torch

from ftmamba_lite.config import ModelConfig, TowerSpec
from ftmamba_lite.towers import TwoTowerModel, build_two_tower, make_embedder, make_tower, make_two_tower


def spotify_like_model(kind="mamba", similarity="dot", seed=0):
    torch.manual_seed(seed)
    user = make_tower(kind, n_numerical=20, d_model=16, n_layers=1)
    item = make_tower(kind, n_numerical=0, cardinalities=[50], d_model=16, n_layers=1)
    return TwoTowerModel(user, item, similarity=similarity)


def users(m=6):
    return (torch.rand(m, 20) < 0.15).float(), None


def items(c=50):
    return None, torch.arange(c).unsqueeze(1)


@pytest.mark.parametrize("kind", ["mamba", "transformer"])
def test_tower_output_sign_follows_final_activation(kind):
    model = spotify_like_model(kind)
    emb = model.embed_users(*users(50))
    assert emb.shape == (50, 32)
    assert (emb < 0).any()  # default: no ReLU after the output layer, scores can be negative
    torch.manual_seed(0)
    paper = make_tower(kind, n_numerical=20, d_model=16, n_layers=1, final_activation=True)
    assert isinstance(paper.ffn[-1], torch.nn.ReLU)
    assert (paper(*users(50)) >= 0).all()  # the paper's ReLU after the output layer


@pytest.mark.parametrize("kind", ["mamba", "transformer"])
def test_score_all_equals_pairwise_scores(kind):
    model = spotify_like_model(kind)
    u_num, _ = users()
    _, i_cat = items()
    matrix = model.score_all(u_num, None, None, i_cat)
    assert matrix.shape == (6, 50)
    rows = torch.arange(6).repeat_interleave(50)
    cols = torch.arange(50).repeat(6)
    pairwise = model(u_num[rows], None, None, i_cat[cols]).detach()
    torch.testing.assert_close(matrix.flatten(), pairwise, rtol=1e-4, atol=1e-5)
    small_batches = model.score_all(u_num, None, None, i_cat, batch_size=4)
    torch.testing.assert_close(small_batches, matrix)


def test_cosine_similarity_is_bounded_and_dot_is_not_normalised():
    cos = spotify_like_model(similarity="cosine")
    s = cos.score_all(users()[0], None, None, items()[1])
    assert s.max() <= 1 + 1e-5 and s.min() >= -1 - 1e-5
    with pytest.raises(ValueError, match="similarity"):
        TwoTowerModel(cos.user_tower, cos.item_tower, similarity="l2")


def test_mamba_tower_uses_the_last_token_only_through_the_sequence():
    # With [CLS] last, the tower output depends on every feature (the last token has seen them all).
    model = spotify_like_model("mamba")
    u = torch.zeros(1, 20)
    base = model.embed_users(u, None)
    for j in (0, 19):
        changed = u.clone()
        changed[0, j] = 1.0
        assert not torch.allclose(model.embed_users(changed, None), base)


def test_same_seed_same_model_and_training_mode_is_restored():
    a, b = spotify_like_model(seed=3), spotify_like_model(seed=3)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb and torch.equal(pa, pb)
    a.train()
    a.score_all(users()[0], None, None, items()[1])
    assert a.training


def test_pair_batch_mismatch_and_unknown_embedder_raise():
    model = spotify_like_model()
    with pytest.raises(ValueError, match="same batch size"):
        model(users(3)[0], None, None, items(4)[1])
    with pytest.raises(ValueError, match="unknown embedder 'gru'"):
        make_embedder("gru")


def test_make_embedder_defaults_are_the_paper_presets():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(make_embedder("mamba")) == 479_232
    assert count(make_embedder("transformer")) == 1_186_048


def test_model_config_round_trips_and_reads_old_checkpoint_dicts() -> None:
    """One config schema for towers and baselines: to_dict -> from_dict is the identity, and the flat dicts of
    earlier checkpoints ({"embedder": ...} / {"kind": ...}, embedder options at the top) still load."""
    user, item = {"n_numerical": 3, "cardinalities": [4]}, {"n_numerical": 0, "cardinalities": [8]}
    model = make_two_tower("mamba", user, item, d_model=16, n_layers=1, d_state=8)
    config = model.config
    assert config == ModelConfig.from_dict(config.to_dict())
    assert config.options == {"d_state": 8} and config.user == TowerSpec(3, (4,))
    old = {"embedder": "mamba", "user": user, "item": item, "d_model": 16, "n_layers": 1, "similarity": "dot",
           "hidden": [64, 32], "final_activation": False, "d_state": 8}  # fmt: skip
    assert ModelConfig.from_dict(old) == config
    rebuilt = build_two_tower(ModelConfig.from_dict(config.to_dict()))
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
    with pytest.raises(ValueError, match="unknown model kind 'gru'"):
        ModelConfig("gru", user, item)
    with pytest.raises(ValueError, match="unknown tower spec keys \\['n_cat'\\]"):
        ModelConfig("mlp", {"n_numerical": 1, "n_cat": 2}, item)
    with pytest.raises(ValueError, match="no sequence layer"):
        ModelConfig("mlp", user, item, n_layers=2)


def test_mean_readout_averages_every_output_token_and_round_trips_in_the_config() -> None:
    from ftmamba_lite.config import ModelConfig
    from ftmamba_lite.towers import build_two_tower

    torch.manual_seed(0)
    user, item = {"n_numerical": 2, "cardinalities": [3]}, {"n_numerical": 1, "cardinalities": [4]}
    cls_model = make_two_tower("mamba", user, item, d_model=8, n_layers=1)
    assert cls_model.user_tower.readout == "cls" and cls_model.config.readout == "cls"
    config = ModelConfig.from_dict({**cls_model.config.to_dict(), "readout": "mean"})
    mean_model = build_two_tower(config)
    mean_model.load_state_dict(cls_model.state_dict())  # same parameters: the readout has none
    tower = mean_model.user_tower
    x_num, x_cat = torch.randn(4, 2), torch.randint(0, 3, (4, 1))
    h = tower.embedder(tower.tokenizer(x_num, x_cat))  # (b, l, d)
    torch.testing.assert_close(tower(x_num, x_cat), tower.ffn(h.mean(dim=1)))
    torch.testing.assert_close(cls_model.user_tower(x_num, x_cat), tower.ffn(h[:, -1]))
    assert ModelConfig.from_dict(config.to_dict()) == config
    old = {k: v for k, v in cls_model.config.to_dict().items() if k != "readout"}
    assert ModelConfig.from_dict(old) == cls_model.config  # configs saved before the field read back
    with pytest.raises(ValueError, match="readout"):
        ModelConfig.from_dict({**old, "readout": "max"})
