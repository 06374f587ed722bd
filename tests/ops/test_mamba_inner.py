"""The fused inside of the Mamba layer (in_proj output -> gated SSM output) against its reference."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys

import pytest
import torch

from ftmamba_lite.mamba import MambaLayer
from ftmamba_lite.ops.mamba_inner import inner_backend, mamba_inner, mamba_inner_ref, warm_up
from ftmamba_lite.ops.runtime import DISABLE_NUMBA_ENV

HAS_NUMBA = importlib.util.find_spec("numba") is not None
NAMES = ["xz", "conv_weight", "conv_bias", "x_proj_weight", "dt_proj_weight", "A", "D", "delta_bias"]


def make_inputs(
    b: int, l: int, d: int, n: int, r: int, w: int, *, dtype: torch.dtype = torch.float32, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Inputs at the scale of an initialised layer: A = -(1..n) perturbed, Δ bias as mamba-ssm's init."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype) * scale

    log_dt = torch.rand(d, generator=g, dtype=dtype) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)
    dt = torch.exp(log_dt)
    return {
        "xz": randn(b, l, 2 * d),
        "conv_weight": randn(d, w, scale=w**-0.5),
        "conv_bias": randn(d, scale=0.1),
        "x_proj_weight": randn(r + 2 * n, d, scale=d**-0.5),
        "dt_proj_weight": randn(d, r, scale=r**-0.5),
        "A": -torch.arange(1, n + 1, dtype=dtype).repeat(d, 1) * torch.exp(0.3 * randn(d, n)),
        "D": randn(d),
        "delta_bias": dt + torch.log(-torch.expm1(-dt)),  # softplus^-1(dt)
    }


def run_with_grads(
    fn: object, inputs: dict[str, torch.Tensor | None]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Output of fn and the gradients of <y, dy> for a fixed random dy, with respect to every tensor input."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items() if v is not None}
    y = fn(**{k: leaves.get(k) for k in NAMES})  # type: ignore[operator]
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    return y, dict(zip(leaves, torch.autograd.grad(y, list(leaves.values()), dy), strict=True))


def assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """Relative tolerance, with an absolute floor of rtol times the largest magnitude (sums cancel)."""
    atol = rtol * max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


SHAPES = [  # (b, l, d, n, r, w): lengths across the T = 32 checkpoint chunks; n = 16 (B, C read in place)
    (3, 21, 32, 16, 2, 16),  # and n < 16 (zero-padded); b = 1 splits the channels into groups
    (2, 1, 8, 16, 1, 4),
    (2, 2, 16, 4, 1, 4),
    (1, 70, 24, 16, 3, 4),
    (1, 33, 12, 7, 2, 16),
    (4, 5, 8, 1, 1, 1),
]


@pytest.mark.parametrize("b, l, d, n, r, w", SHAPES)
def test_matches_reference(b: int, l: int, d: int, n: int, r: int, w: int, kernel_threads: int) -> None:
    inputs = make_inputs(b, l, d, n, r, w)
    y, grads = run_with_grads(mamba_inner, inputs)
    ref, ref_grads = run_with_grads(mamba_inner_ref, inputs)
    assert y.shape == (b, l, d)
    assert_close_scaled(y, ref)
    for name, grad in grads.items():
        assert_close_scaled(grad, ref_grads[name])


@pytest.mark.parametrize("missing", ["conv_bias", "D", "delta_bias"])
def test_optional_inputs_may_be_none(missing: str) -> None:
    inputs: dict[str, torch.Tensor | None] = {**make_inputs(2, 9, 8, 16, 1, 4, seed=2), missing: None}
    y, grads = run_with_grads(mamba_inner, inputs)
    ref, ref_grads = run_with_grads(mamba_inner_ref, inputs)
    assert missing not in grads
    assert_close_scaled(y, ref)
    for name, grad in grads.items():
        assert_close_scaled(grad, ref_grads[name])


@pytest.mark.parametrize("b, l, d, n", [(2, 3, 4, 3), (1, 35, 2, 16)])
def test_gradcheck_float64(b: int, l: int, d: int, n: int, kernel_threads: int) -> None:
    inputs = make_inputs(b, l, d, n, 1, 4, dtype=torch.float64, seed=5)
    leaves = [inputs[k].clone().requires_grad_() for k in NAMES]
    assert torch.autograd.gradcheck(mamba_inner, leaves, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_inference_forward_matches_training_forward() -> None:
    inputs = make_inputs(2, 40, 16, 16, 1, 4, seed=3)
    with torch.no_grad():
        y = mamba_inner(**inputs)  # type: ignore[arg-type]
    torch.testing.assert_close(y, mamba_inner(**{k: v.requires_grad_() for k, v in inputs.items()}).detach())


def test_backend_choice_and_composite_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba on CPU for d_state <= 16; above that, or with numba disabled, the composite of the fast ops."""
    if HAS_NUMBA:
        monkeypatch.delenv(DISABLE_NUMBA_ENV, raising=False)
        assert inner_backend("cpu", 16) == "numba"
    assert inner_backend("cpu", 17) == "composite"
    inputs = make_inputs(2, 6, 8, 20, 1, 4, seed=4)  # n = 20: composite, scan in blocks of 16
    y, grads = run_with_grads(mamba_inner, inputs)
    ref, ref_grads = run_with_grads(mamba_inner_ref, inputs)
    assert_close_scaled(y, ref)
    assert_close_scaled(grads["A"], ref_grads["A"])
    monkeypatch.setenv(DISABLE_NUMBA_ENV, "1")
    assert inner_backend("cpu", 16) == "composite"
    inputs = make_inputs(2, 6, 8, 16, 1, 4, seed=4)
    assert_close_scaled(mamba_inner(**inputs), mamba_inner_ref(**inputs))  # type: ignore[arg-type]


def test_layer_runs_it_and_double_precision_follows_the_module() -> None:
    torch.manual_seed(0)
    layer = MambaLayer(d_model=16, d_state=16, d_conv=4).double()
    u = torch.randn(2, 7, 16, dtype=torch.float64, requires_grad=True)
    out = layer(u)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert u.grad is not None and all(p.grad is not None for p in layer.parameters())


def test_bad_shapes_are_named() -> None:
    inputs = make_inputs(2, 5, 8, 16, 1, 4)
    with pytest.raises(ValueError, match="xz must be"):
        mamba_inner(**{**inputs, "xz": torch.randn(2, 5, 15)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x_proj_weight must have shape"):
        mamba_inner(**{**inputs, "x_proj_weight": torch.randn(30, 8)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="A must be"):
        mamba_inner_ref(**{**inputs, "A": torch.randn(9, 16)})  # type: ignore[arg-type]


WARM_UP_CODE = """
import sys
import numba
import torch
from ftmamba_lite.mamba import MambaLayer
from ftmamba_lite.ops import kernels
from ftmamba_lite.ops.mamba_inner import warm_up

threads, mode = int(sys.argv[1]), sys.argv[2]
numba.set_num_threads(threads)
def compiled():
    return [len(kernel._compiled) for kernel in kernels.KERNELS]
print(compiled())
layer = MambaLayer(8)
x = torch.randn(3, 40, 8)
rng = torch.random.get_rng_state()
thread = warm_up(background=mode != "foreground")
if mode == "busy":
    layer(x).sum().backward()  # while the warm-up compiles
if thread is not None:
    thread.join(timeout=600)
print(compiled())
print(torch.equal(torch.random.get_rng_state(), rng))
layer(x).sum().backward()
print(compiled())
"""


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("mode", ["foreground", "background", "busy"])
@pytest.mark.parametrize("threads", [1, 2])
def test_warm_up_compiles_what_the_layer_runs(mode: str, threads: int) -> None:
    """In a fresh process: the warm-up compiles (or loads) each kernel for the dtype the layer runs, in the
    foreground or in a thread of its own (the layer then compiles nothing more); a layer may run meanwhile; no
    random numbers are drawn."""
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"numba's thread pool has {numba.config.NUMBA_NUM_THREADS} thread(s)")
    run = subprocess.run(
        [sys.executable, "-c", WARM_UP_CODE, str(threads), mode], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split("\n")
    assert lines[:4] == ["[0, 0, 0, 0]", "[1, 1, 1, 1]", "True", "[1, 1, 1, 1]"], run.stdout


def test_warm_up_is_a_no_op_without_the_fused_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_NUMBA_ENV, "1")
    assert warm_up(background=True) is None
