import pytest
import torch

from ftmamba_lite.ops.ssm import selective_scan, selective_scan_parallel, selective_scan_ref

LENGTHS = [1, 2, 3, 21, 100, 257]


def make_inputs(b, d, n, l, dtype=torch.float32, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=dtype) * scale).requires_grad_(requires_grad)

    A = (-torch.rand(d, n, generator=g, dtype=dtype) * 2 - 0.05).requires_grad_(requires_grad)
    return dict(
        u=r(b, d, l),
        delta=r(b, d, l, scale=0.5),
        A=A,
        B=r(b, n, l),
        C=r(b, n, l),
        D=r(d),
        z=r(b, d, l),
        delta_bias=r(d, scale=0.5),
    )


def test_recurrence_matches_hand_computation():
    # One channel, one state: h_t = exp(Δ a) h_{t-1} + Δ b_t u_t, y_t = c_t h_t.
    u = torch.tensor([[[1.0, 2.0, 0.5]]])
    delta = torch.tensor([[[0.5, 0.5, 0.5]]])
    A = torch.tensor([[-1.0]])
    B = torch.tensor([[[1.0, 1.0, 2.0]]])
    C = torch.tensor([[[1.0, 0.5, 1.0]]])
    a = torch.exp(torch.tensor(-0.5))
    h1 = 0.5 * 1.0 * 1.0
    h2 = a * h1 + 0.5 * 1.0 * 2.0
    h3 = a * h2 + 0.5 * 2.0 * 0.5
    expected = torch.tensor([[[h1 * 1.0, h2 * 0.5, h3 * 1.0]]])
    torch.testing.assert_close(selective_scan_ref(u, delta, A, B, C), expected)


@pytest.mark.parametrize("l", LENGTHS)
@pytest.mark.parametrize("options", [{}, {"D": True, "z": True, "delta_bias": True, "delta_softplus": True}])
def test_parallel_matches_reference_outputs_and_gradients(l, options):
    full = make_inputs(2, 6, 4, l, requires_grad=True, seed=l)
    kwargs = {k: full[k] for k in ("u", "delta", "A", "B", "C")}
    for name in ("D", "z", "delta_bias"):
        if options.get(name):
            kwargs[name] = full[name]
    softplus = options.get("delta_softplus", False)
    if not softplus:  # keep Δ positive so the recurrence is stable, as softplus would
        kwargs["delta"] = kwargs["delta"].detach().abs().requires_grad_(True)
    ref = selective_scan_ref(**kwargs, delta_softplus=softplus)
    par = selective_scan_parallel(**kwargs, delta_softplus=softplus)
    torch.testing.assert_close(par, ref, rtol=1e-5, atol=1e-5)
    grad_out = torch.randn(ref.shape, generator=torch.Generator().manual_seed(l))
    leaves = [v for v in kwargs.values() if v.requires_grad]
    g_ref = torch.autograd.grad(ref, leaves, grad_out, allow_unused=True, materialize_grads=True)
    g_par = torch.autograd.grad(par, leaves, grad_out, allow_unused=True, materialize_grads=True)
    for a, b in zip(g_par, g_ref, strict=True):
        # A, D and delta_bias sum b * l terms in float32: allow 1e-5 of the gradient's scale, not of 1
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * max(1.0, b.abs().max().item()))


@pytest.mark.parametrize("impl", [selective_scan_ref, selective_scan_parallel])
def test_gradcheck_float64(impl):
    inputs = make_inputs(1, 3, 2, 5, dtype=torch.float64, requires_grad=True)
    names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]

    def f(*args):
        return impl(*args, delta_softplus=True)

    assert torch.autograd.gradcheck(f, tuple(inputs[k] for k in names))


def test_dispatcher_matches_reference():
    inputs = make_inputs(3, 8, 16, 21)
    torch.testing.assert_close(
        selective_scan(**inputs, delta_softplus=True),
        selective_scan_ref(**inputs, delta_softplus=True),
        rtol=1e-5,
        atol=1e-5,
    )


def test_zero_input_keeps_zero_state_and_impulse_decays():
    # An impulse at t=0 decays as exp(Δ A t): the SSM's memory.
    l = 10
    u = torch.zeros(1, 1, l)
    u[..., 0] = 1.0
    delta = torch.full((1, 1, l), 0.3)
    A = torch.tensor([[-2.0]])
    ones = torch.ones(1, 1, l)
    y = selective_scan_ref(u, delta, A, ones, ones)
    t = torch.arange(l, dtype=torch.float32)
    torch.testing.assert_close(y.flatten(), 0.3 * torch.exp(-0.6 * t))


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"A": torch.randn(5, 4)}, "A must be"),
        ({"B": torch.randn(2, 3, 7)}, "B must have shape"),
        ({"C": torch.randn(2, 4, 6)}, "C must have shape"),
        ({"D": torch.randn(7)}, "D must have shape"),
        ({"z": torch.randn(2, 6, 8)}, "z must have shape"),
        ({"u": torch.randn(6, 7)}, "u must be"),
    ],
)
@pytest.mark.parametrize("impl", [selective_scan_ref, selective_scan_parallel, selective_scan])
def test_bad_shapes_raise_named_errors(bad, message, impl):
    inputs = make_inputs(2, 6, 4, 7)
    inputs.update(bad)
    with pytest.raises(ValueError, match=message):
        impl(**inputs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_dispatch_uses_mamba_ssm_and_matches_reference():
    from ftmamba_lite.ops.ssm import mamba_ssm_available

    if not mamba_ssm_available():
        pytest.skip("mamba-ssm (the 'cuda' extra) is not installed")
    inputs = {k: v.cuda() for k, v in make_inputs(2, 64, 16, 128).items()}
    out = selective_scan(**inputs, delta_softplus=True)
    ref = selective_scan_ref(**inputs, delta_softplus=True)
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3)
