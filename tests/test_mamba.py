import math

import pytest
import torch
import torch.nn.functional as F

from ftmamba_lite.mamba import MambaEmbedder, MambaLayer
from ftmamba_lite.ops.mamba_inner import mamba_inner_ref
from ftmamba_lite.transformer import TransformerEmbedder


def n_params(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_paper_presets_have_the_papers_exact_parameter_counts():
    assert n_params(MambaEmbedder.paper()) == 479_232
    assert n_params(TransformerEmbedder.paper()) == 1_186_048


def test_tokens_of_size_192_do_not_give_the_papers_counts():
    assert n_params(MambaEmbedder.paper(d_model=192)) != 479_232
    assert n_params(TransformerEmbedder.paper(d_model=192)) != 1_186_048


def test_parameter_names_and_shapes_match_mamba_simple():
    layer = MambaLayer(d_model=32, d_state=8, d_conv=4, expand=2)
    d_in, r, n = 64, math.ceil(32 / 16), 8
    expected = {
        "in_proj.weight": (2 * d_in, 32),
        "conv1d.weight": (d_in, 1, 4),
        "conv1d.bias": (d_in,),
        "x_proj.weight": (r + 2 * n, d_in),
        "dt_proj.weight": (d_in, r),
        "dt_proj.bias": (d_in,),
        "A_log": (d_in, n),
        "D": (d_in,),
        "out_proj.weight": (32, d_in),
        "norm.weight": (32,),
        "norm.bias": (32,),
    }
    assert {k: tuple(v.shape) for k, v in layer.state_dict().items()} == expected


def test_initialisation_follows_mamba_ssm():
    torch.manual_seed(0)
    layer = MambaLayer(d_model=16, d_state=4, dt_min=0.001, dt_max=0.1)
    torch.testing.assert_close(layer.A_log, torch.log(torch.arange(1.0, 5.0)).repeat(32, 1))
    torch.testing.assert_close(layer.D, torch.ones(32))
    dt = F.softplus(layer.dt_proj.bias)
    assert dt.min() >= 0.001 - 1e-6 and dt.max() <= 0.1 + 1e-6
    bound = layer.dt_rank**-0.5
    assert layer.dt_proj.weight.abs().max() <= bound


def reference_forward(layer: MambaLayer, u: torch.Tensor) -> torch.Tensor:
    """Figure 1(a) written out with the plain reference ops (the inside: :func:`mamba_inner_ref`)."""
    xz = u @ layer.in_proj.weight.T  # (b, l, 2 d_in)
    y = mamba_inner_ref(
        xz,
        layer.conv1d.weight[:, 0],
        layer.conv1d.bias,
        layer.x_proj.weight,
        layer.dt_proj.weight,
        -torch.exp(layer.A_log),
        layer.D,
        layer.dt_proj.bias,
    )  # (b, l, d_in)
    return F.layer_norm(y @ layer.out_proj.weight.T, (u.shape[-1],), layer.norm.weight, layer.norm.bias)


@pytest.mark.parametrize("length", [1, 7, 21])
def test_layer_matches_reference_composition(length):
    torch.manual_seed(1)
    layer = MambaLayer(d_model=16, d_state=4, d_conv=4)
    u = torch.randn(3, length, 16)
    torch.testing.assert_close(layer(u), reference_forward(layer, u), rtol=1e-4, atol=1e-5)


def test_layer_is_causal():
    torch.manual_seed(2)
    layer = MambaLayer(d_model=16, d_state=4, d_conv=4, layer_norm=False)
    u = torch.randn(2, 12, 16)
    v = u.clone()
    v[:, 8:] = torch.randn(2, 4, 16)  # change only the future
    torch.testing.assert_close(layer(u)[:, :8], layer(v)[:, :8])
    assert not torch.allclose(layer(u)[:, 8:], layer(v)[:, 8:])


def test_embedder_shapes_gradients_and_layernorm_option():
    torch.manual_seed(0)
    emb = MambaEmbedder(n_layers=2, d_model=16, d_state=4, d_conv=4)
    x = torch.randn(2, 5, 16, requires_grad=True)
    out = emb(x)
    assert out.shape == (2, 5, 16)
    out.square().sum().backward()
    assert all(p.grad is not None for p in emb.parameters())
    no_norm = MambaLayer(16, layer_norm=False)
    assert no_norm.norm is None and "norm.weight" not in no_norm.state_dict()


def test_double_precision_and_device_follow_the_module():
    emb = MambaEmbedder(n_layers=1, d_model=16, d_state=4).double()
    assert emb(torch.randn(2, 3, 16, dtype=torch.float64)).dtype == torch.float64


def test_bad_input_shape_is_named():
    with pytest.raises(ValueError, match="d_model=16"):
        MambaLayer(16)(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="n_layers"):
        MambaEmbedder(n_layers=0)


def test_transformer_is_post_norm_and_validates():
    emb = TransformerEmbedder.paper()
    assert all(not layer.norm_first for layer in emb.layers)
    assert emb(torch.randn(2, 21, 128)).shape == (2, 21, 128)
    with pytest.raises(ValueError, match="divisible"):
        TransformerEmbedder(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="d_model=128"):
        emb(torch.randn(2, 3, 64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_state_dict_moves_to_mamba_ssm_and_outputs_agree():
    mamba_simple = pytest.importorskip("mamba_ssm.modules.mamba_simple")
    torch.manual_seed(0)
    ours = MambaLayer(d_model=64, d_state=16, d_conv=4, layer_norm=False).cuda()
    theirs = mamba_simple.Mamba(d_model=64, d_state=16, d_conv=4, expand=2).cuda()
    theirs.load_state_dict(ours.state_dict())
    u = torch.randn(2, 33, 64, device="cuda")
    torch.testing.assert_close(ours(u), theirs(u), rtol=1e-3, atol=1e-3)
