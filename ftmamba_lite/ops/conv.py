"""Causal depthwise 1-D convolution, the short convolution inside the Mamba block (paper Figure 1(a)).

Dimension letters (docs/notation.md): b batch, d channels (d_inner), l length, w kernel width (d_conv).

    out[b, c, t] = act( bias[c] + sum_{k=0}^{w-1} weight[c, k] * x[b, c, t - (w - 1) + k] ),  x[..., <0] = 0

Every channel has its own kernel (depthwise) and step t sees only steps <= t (causal).
Same argument semantics as the ``causal-conv1d`` package's ``causal_conv1d_fn``.

:func:`causal_conv1d` picks, per call:

* CUDA tensors with the ``causal-conv1d`` package installed: its ``causal_conv1d_fn``;
* CPU tensors with numba (unless ``FTMAMBA_LITE_DISABLE_NUMBA=1``): the fused convolution + SiLU kernels of
  :mod:`ftmamba_lite.ops.kernels`, tokens-major (b, l, d) and vectorised over channels, with the
  pre-activation recomputed in the backward instead of stored;
* otherwise :func:`causal_conv1d_ref` (PyTorch's grouped ``conv1d``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .runtime import buffer, kernels, numba_kernels, scratch

__all__ = ["causal_conv1d", "causal_conv1d_ref", "conv_backend"]


def _check(x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None) -> None:
    if x.dim() != 3:
        raise ValueError(f"x must be (batch, channels, length), got shape {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"weight must be (channels={x.shape[1]}, width), got shape {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (x.shape[1],):
        raise ValueError(f"bias must be (channels={x.shape[1]},), got shape {tuple(bias.shape)}")
    if activation not in (None, "silu", "swish"):
        raise ValueError(f"activation must be None, 'silu' or 'swish', got {activation!r}")


def causal_conv1d_ref(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None
) -> Tensor:
    """Reference: left-pad by w - 1 and run a grouped ``conv1d``. x (b, d, l), weight (d, w) -> (b, d, l)."""
    _check(x, weight, bias, activation)
    d, w = weight.shape
    out = F.conv1d(F.pad(x, (w - 1, 0)), weight.unsqueeze(1), bias, groups=d)  # weight (d, 1, w)
    return F.silu(out) if activation in ("silu", "swish") else out


def _cuda_kernel() -> Callable[..., Tensor] | None:
    try:
        from causal_conv1d import causal_conv1d_fn
    except Exception:  # not installed, or installed without its CUDA extension
        return None
    return causal_conv1d_fn


def conv_backend(device: torch.device | str = "cpu") -> str:
    """The implementation :func:`causal_conv1d` runs on ``device``: "causal-conv1d", "numba" or "torch"."""
    device = torch.device(device)
    if device.type == "cuda" and _cuda_kernel() is not None:
        return "causal-conv1d"
    return "numba" if device.type == "cpu" and numba_kernels() is not None else "torch"


class _NumbaConv(torch.autograd.Function):
    """Causal depthwise convolution (+ SiLU) with the numba kernels ``conv_fwd`` / ``conv_bwd``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, silu: bool) -> Tensor:
        module = kernels()
        x_ = x.transpose(1, 2).contiguous()  # (b, d, l) -> (b, l, d)
        w_ = weight.t().contiguous()  # (d, w) -> (w, d)
        bias_ = bias.contiguous() if bias is not None else x.new_zeros(x.shape[1])
        out = buffer(x_, *x_.shape)
        module.conv_fwd(x=x_, x_off=0, weight=w_, bias=bias_, silu=silu, out=out)
        ctx.save_for_backward(x_, w_, bias_)
        ctx.silu, ctx.has_bias = silu, bias is not None
        return out.transpose(1, 2)  # (b, l, d) -> (b, d, l)

    @staticmethod
    def backward(ctx: Any, dout: Tensor) -> tuple[Tensor | None, ...]:
        module = kernels()
        x_, w_, bias_ = ctx.saved_tensors
        b, _, d = x_.shape
        dx, gp = buffer(x_, *x_.shape), scratch(x_, "conv.gp", *x_.shape)
        dw_part, db_part = scratch(x_, "conv.dw_part", b, w_.shape[0], d), scratch(x_, "conv.db_part", b, d)
        module.conv_bwd(
            x=x_, x_off=0, weight=w_, bias=bias_, silu=ctx.silu, dout=dout.transpose(1, 2).contiguous(),
            dx=dx, dx_off=0, dweight_part=dw_part, dbias_part=db_part, gp=gp,
        )  # fmt: skip
        dbias = db_part.sum(0) if ctx.has_bias else None
        return dx.transpose(1, 2), dw_part.sum(0).t(), dbias, None  # (b, l, d) -> (b, d, l); (w, d) -> (d, w)


def causal_conv1d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None
) -> Tensor:
    """The causal depthwise convolution the model calls: the fastest implementation for the device.

    Args:
        x: (b, d, l). weight: (d, w). bias: (d,), optional. activation: None, "silu" or "swish".

    Returns:
        (b, d, l) in x's dtype (computed in float64 for float64 inputs, float32 otherwise). Numbers as
        :func:`causal_conv1d_ref`.
    """
    _check(x, weight, bias, activation)
    backend = conv_backend(x.device)
    if backend == "causal-conv1d":
        kernel = _cuda_kernel()
        assert kernel is not None
        return kernel(x, weight, bias, activation)
    if backend == "torch":
        return causal_conv1d_ref(x, weight, bias, activation)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    bias = bias.to(dtype) if bias is not None else None
    out = _NumbaConv.apply(x.to(dtype), weight.to(dtype), bias, activation in ("silu", "swish"))
    return out.to(x.dtype)
