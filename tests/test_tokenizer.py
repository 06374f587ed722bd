import pytest
import torch

from ftmamba_lite.tokenizer import FeatureTokenizer


def make(cls_position="end"):
    torch.manual_seed(0)
    return FeatureTokenizer(
        2, [3, 5], d_token=8, cls_position=cls_position, feature_names=["age", "x", "g", "h"]
    )


def inputs(b=4):
    return torch.randn(b, 2), torch.tensor([[0, 1], [2, 4], [3, 5], [1, 0]])[:b]


def test_tokens_follow_equation_1():
    tok = make()
    x_num, x_cat = inputs()
    out = tok(x_num, x_cat)
    assert out.shape == (4, 5, 8)  # (b, l = k + 1, d)
    # numeric token j: x_j w_j + b_j
    torch.testing.assert_close(out[:, 1], x_num[:, 1:2] * tok.num_weight[1] + tok.num_bias[1])
    # categorical token j: row x_j of W_j plus b_j (second table starts after 3 + 1 rows)
    W_h = tok.cat_embedding.weight[4:10]
    torch.testing.assert_close(out[:, 3], W_h[x_cat[:, 1]] + tok.cat_bias[1])
    # [CLS]: the token of a constant 1, last
    torch.testing.assert_close(out[:, -1], (tok.cls_weight + tok.cls_bias).expand(4, 8))
    assert tok.cls_index == 4 and tok.n_tokens == 5


def test_cls_first_option_moves_only_the_cls_token():
    end, start = make("end"), make("start")
    x_num, x_cat = inputs()
    a, b = end(x_num, x_cat), start(x_num, x_cat)
    torch.testing.assert_close(b[:, 0], a[:, -1])
    torch.testing.assert_close(b[:, 1:], a[:, :-1])
    assert start.cls_index == 0


def test_tables_have_an_unknown_row_and_it_is_used():
    tok = make()
    assert tok.cat_embedding.num_embeddings == (3 + 1) + (5 + 1)
    x_num, _ = inputs(1)
    a = tok(x_num, torch.tensor([[3, 5]]))  # the reserved unknown indices K_j
    b = tok(x_num, torch.tensor([[2, 4]]))
    assert not torch.allclose(a[:, 2:4], b[:, 2:4])


def test_only_numeric_or_only_categorical():
    only_num = FeatureTokenizer(3, [], d_token=4)
    assert only_num(torch.randn(2, 3)).shape == (2, 4, 4)
    only_cat = FeatureTokenizer(0, [7], d_token=4)
    assert only_cat(None, torch.tensor([[1], [6]])).shape == (2, 2, 4)


def test_gradients_reach_every_parameter():
    tok = make()
    tok(*inputs()).sum().backward()
    for name, p in tok.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "x_num, x_cat, message",
    [
        (
            torch.tensor([[1.0, float("nan")]] * 2),
            torch.zeros(2, 2, dtype=torch.long),
            "NaN in numeric column.*'x'",
        ),
        (torch.randn(2, 2), torch.tensor([[0, 6], [0, 0]]), "out of range in categorical column 'h'"),
        (torch.randn(2, 2), torch.tensor([[-1, 0], [0, 0]]), "out of range in categorical column 'g'"),
        (torch.randn(2, 2), torch.zeros(2, 2), "integer tensor"),
        (torch.ones(2, 2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long), "floating-point"),
        (torch.randn(2, 3), torch.zeros(2, 2, dtype=torch.long), r"x_num must be \(batch, 2\)"),
        (torch.randn(2, 2), torch.zeros(2, 1, dtype=torch.long), r"x_cat must be \(batch, 2\)"),
        (torch.randn(3, 2), torch.zeros(2, 2, dtype=torch.long), "rows"),
        (None, torch.zeros(2, 2, dtype=torch.long), "x_num is missing"),
    ],
)
def test_bad_input_names_the_problem(x_num, x_cat, message):
    with pytest.raises(ValueError, match=message):
        make()(x_num, x_cat)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_numerical": 0, "cardinalities": []}, "at least one"),
        ({"n_numerical": 1, "cardinalities": [0]}, "cardinality"),
        ({"n_numerical": 1, "cls_position": "middle"}, "cls_position"),
        ({"n_numerical": 2, "feature_names": ["a"]}, "feature_names"),
    ],
)
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureTokenizer(**kwargs)
