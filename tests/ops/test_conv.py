"""The causal depthwise convolution against its reference, on the numba and the PyTorch paths."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from ftmamba_lite.ops.conv import causal_conv1d, causal_conv1d_ref, conv_backend
from ftmamba_lite.ops.runtime import DISABLE_NUMBA_ENV

HAS_NUMBA = importlib.util.find_spec("numba") is not None


NUMBA = pytest.mark.skipif(not HAS_NUMBA, reason="numba missing")


@pytest.fixture(params=[pytest.param(name, marks=NUMBA) for name in ("numba", "numba-parallel")] + ["torch"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The numba kernels at one thread or at two, or PyTorch."""
    if request.param == "torch":
        monkeypatch.setenv(DISABLE_NUMBA_ENV, "1")
    else:
        monkeypatch.delenv(DISABLE_NUMBA_ENV, raising=False)
        request.getfixturevalue("set_kernel_threads")(2 if request.param == "numba-parallel" else 1)
    assert conv_backend("cpu") == request.param.removesuffix("-parallel")
    return request.param


def make_inputs(
    b: int, d: int, l: int, w: int, with_bias: bool = True, dtype: torch.dtype = torch.float32, seed: int = 0
) -> list[torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(b, d, l, generator=g, dtype=dtype),
        torch.randn(d, w, generator=g, dtype=dtype) / w**0.5,
        torch.randn(d, generator=g, dtype=dtype) if with_bias else None,
    ]


def outputs_and_grads(
    fn: object, inputs: list[torch.Tensor | None], activation: str | None
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    leaves = [t.clone().requires_grad_() if t is not None else None for t in inputs]
    out = fn(*leaves, activation=activation)  # type: ignore[operator]
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    grads = torch.autograd.grad(out, [t for t in leaves if t is not None], dout)
    return out, list(grads)


def assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * max(1.0, expected.abs().max().item()))


@pytest.mark.parametrize("l", [1, 2, 3, 21, 100, 257])
@pytest.mark.parametrize("w", [4, 16])
@pytest.mark.parametrize("activation, with_bias", [("silu", True), (None, False), ("swish", False)])
def test_matches_reference(backend: str, l: int, w: int, activation: str | None, with_bias: bool) -> None:
    inputs = make_inputs(3, 5, l, w, with_bias)
    out, grads = outputs_and_grads(causal_conv1d, inputs, activation)
    ref, ref_grads = outputs_and_grads(causal_conv1d_ref, inputs, activation)
    assert_close_scaled(out, ref)
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        assert_close_scaled(grad, ref_grad)


def test_causal(backend: str) -> None:
    """Changing x at step t changes no output before t."""
    x, weight, bias = make_inputs(2, 4, 30, 16)
    x2 = x.clone()  # type: ignore[union-attr]
    x2[..., 17:] += 1.0
    out, out2 = causal_conv1d(x, weight, bias), causal_conv1d(x2, weight, bias)  # type: ignore[arg-type]
    torch.testing.assert_close(out[..., :17], out2[..., :17], rtol=0, atol=0)
    assert (out[..., 17:] != out2[..., 17:]).any()


def test_gradcheck_float64(backend: str) -> None:
    x, weight, bias = (t.requires_grad_() for t in make_inputs(2, 3, 7, 4, dtype=torch.float64))  # type: ignore[union-attr]
    assert causal_conv1d(x, weight, bias, "silu").dtype == torch.float64
    assert torch.autograd.gradcheck(lambda *a: causal_conv1d(*a, activation="silu"), (x, weight, bias))


def test_strided_input_like_the_mamba_layer(backend: str) -> None:
    """The layer passes x = chunk of a transposed (b, l, 2 d) projection: a non-contiguous view."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 21, 12, generator=g).transpose(1, 2)[:, :6]  # (b, d, l) view
    weight, bias = torch.randn(6, 16, generator=g), torch.randn(6, generator=g)
    assert_close_scaled(causal_conv1d(x, weight, bias, "silu"), causal_conv1d_ref(x, weight, bias, "silu"))


def test_long_sequence_finite(backend: str) -> None:
    inputs = make_inputs(2, 8, 10_000, 16)
    out, grads = outputs_and_grads(causal_conv1d, inputs, "silu")
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)


def test_half_precision_returns_its_dtype(backend: str) -> None:
    x, weight, bias = (t.to(torch.bfloat16) for t in make_inputs(2, 4, 9, 4))  # type: ignore[union-attr]
    out = causal_conv1d(x, weight, bias, "silu")
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, causal_conv1d_ref(x, weight, bias, "silu"), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(
    "args, message",
    [
        ((torch.randn(2, 3), torch.randn(3, 4), None, None), "x must be"),
        ((torch.randn(2, 3, 5), torch.randn(4, 4), None, None), "weight must be"),
        ((torch.randn(2, 3, 5), torch.randn(3, 4), torch.randn(2), None), "bias must be"),
        ((torch.randn(2, 3, 5), torch.randn(3, 4), None, "relu"), "activation must be"),
    ],
)
def test_bad_inputs(backend: str, args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        causal_conv1d(*args)  # type: ignore[arg-type]
