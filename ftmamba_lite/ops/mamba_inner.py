"""The inside of a Mamba layer, between in_proj and out_proj, as one operation (paper Figure 1(a)).

Dimension letters (docs/notation.md):
    b  batch            l  length (tokens)
    d  d_inner (d_in)   n  d_state          r  dt_rank          w  d_conv

From the in_proj output xz to the gated SSM output y, all tokens-major:

    x, z     = xz[..., :d], xz[..., d:]                (b, l, 2d) -> 2 x (b, l, d)
    x        = silu(causal_conv1d(x))                  (b, l, d)
    Δ, B, C  = split(x W_x^T, [r, n, n])               (b, l, r + 2n)      x_proj
    delta    = Δ W_Δ^T                                 (b, l, d)           dt_proj (its bias goes to the scan)
    y        = SSM(x, delta, A, B, C, D) ⊙ silu(z)     (b, l, d)           softplus(delta + bias) in the scan

Written as separate operations (:func:`mamba_inner_ref`), autograd stores and copies the pieces in other
layouts: the convolution and the scan want x and z contiguous, so the halves of xz are copied in the forward,
and the backward concatenates dx and dz into a (b, 2d, l) tensor that in_proj's backward then copies back to
(b, l, 2d). mamba-ssm fuses the same stretch for the same reason (``mamba_inner_fn``). :func:`mamba_inner`
runs it as one ``torch.autograd.Function`` on the numba kernels, which read x and z, and B and C, where they
lie (an array and a column offset) and write dx and dz straight into one (b, l, 2d) gradient; x_proj and
dt_proj stay matrix products, with their gradients written out by hand.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_shapes
from .conv import causal_conv1d, causal_conv1d_ref
from .runtime import buffer, channel_groups, kernels, numba_kernels, scan_bwd_scratch, scratch
from .ssm import selective_scan, selective_scan_ref

__all__ = ["mamba_inner", "mamba_inner_ref", "inner_backend", "warm_up"]


def _check(
    xz: Tensor,
    conv_weight: Tensor,
    conv_bias: Tensor | None,
    x_proj_weight: Tensor,
    dt_proj_weight: Tensor,
    A: Tensor,
    D: Tensor | None,
    delta_bias: Tensor | None,
) -> None:
    if xz.dim() != 3 or xz.shape[-1] % 2:
        raise ValueError(f"xz must be (batch, length, 2 * d_inner), got shape {tuple(xz.shape)}")
    d = xz.shape[-1] // 2
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"A must be (d_inner={d}, d_state), got shape {tuple(A.shape)}")
    r, n = dt_proj_weight.shape[-1], A.shape[1]
    expected = {
        "conv_weight": (conv_weight, (d, conv_weight.shape[-1])),
        "x_proj_weight": (x_proj_weight, (r + 2 * n, d)),
        "dt_proj_weight": (dt_proj_weight, (d, r)),
        "conv_bias": (conv_bias, (d,)),
        "D": (D, (d,)),
        "delta_bias": (delta_bias, (d,)),
    }
    check_shapes(expected, f"for d_inner={d}, dt_rank={r}, d_state={n}")


def _composite(
    xz: Tensor,
    conv_weight: Tensor,
    conv_bias: Tensor | None,
    x_proj_weight: Tensor,
    dt_proj_weight: Tensor,
    A: Tensor,
    D: Tensor | None,
    delta_bias: Tensor | None,
    conv: Any,
    scan: Any,
) -> Tensor:
    """The module doc's equations as separate operations, with the given convolution and scan."""
    r, n = dt_proj_weight.shape[1], A.shape[1]
    x, z = xz.transpose(1, 2).chunk(2, dim=1)  # (b, l, 2d) -> 2 x (b, d, l)
    x = conv(x, conv_weight, conv_bias, "silu")  # (b, d, l)
    x_dbl = F.linear(x.transpose(1, 2), x_proj_weight)  # (b, l, r + 2n)
    dt, B, C = torch.split(x_dbl, [r, n, n], dim=-1)
    delta = F.linear(dt, dt_proj_weight).transpose(1, 2)  # (b, l, d) -> (b, d, l)
    y = scan(x, delta, A, B.transpose(1, 2), C.transpose(1, 2), D, z, delta_bias, True)  # B, C (b, n, l)
    return y.transpose(1, 2)  # (b, d, l) -> (b, l, d)


def mamba_inner_ref(
    xz: Tensor,
    conv_weight: Tensor,
    conv_bias: Tensor | None,
    x_proj_weight: Tensor,
    dt_proj_weight: Tensor,
    A: Tensor,
    D: Tensor | None = None,
    delta_bias: Tensor | None = None,
) -> Tensor:
    """Reference: the module doc's equations with :func:`causal_conv1d_ref` and :func:`selective_scan_ref`.

    Args:
        xz: in_proj's output (b, l, 2d), x in the first half of the last dimension, z in the second.
        conv_weight: (d, w). conv_bias: (d,) or None.
        x_proj_weight: (r + 2n, d). dt_proj_weight: (d, r).
        A: (d, n). D: (d,) or None. delta_bias: (d,) or None (dt_proj's bias).

    Returns:
        y (b, l, d), the gated SSM output that out_proj reads.
    """
    _check(xz, conv_weight, conv_bias, x_proj_weight, dt_proj_weight, A, D, delta_bias)
    args = (xz, conv_weight, conv_bias, x_proj_weight, dt_proj_weight, A, D, delta_bias)
    return _composite(*args, conv=causal_conv1d_ref, scan=selective_scan_ref)


def inner_backend(device: torch.device | str = "cpu", d_state: int = 16) -> str:
    """What :func:`mamba_inner` runs for tensors on ``device``: "numba" (one fused operation) or "composite"
    (the separate operations, each dispatched to its fastest implementation: mamba-ssm and causal-conv1d on
    CUDA). The fused operation needs the numba kernels and d_state <= 16, their state block."""
    module = numba_kernels()
    if torch.device(device).type == "cpu" and module is not None and d_state <= module.NB:
        return "numba"
    return "composite"


class _NumbaInner(torch.autograd.Function):
    """:func:`mamba_inner` on the numba kernels; arguments as :func:`mamba_inner_ref`, all present."""

    @staticmethod
    def forward(
        ctx: Any,
        xz: Tensor,
        conv_weight: Tensor,
        conv_bias: Tensor,
        x_proj_weight: Tensor,
        dt_proj_weight: Tensor,
        A: Tensor,
        D: Tensor,
        delta_bias: Tensor,
        save: bool,
    ) -> Tensor:
        module = kernels()
        b, l, d2 = xz.shape
        d, r, n, nb = d2 // 2, dt_proj_weight.shape[1], A.shape[1], module.NB
        xz = xz.contiguous()
        w_t = conv_weight.t().contiguous()  # (d, w) -> (w, d): a tap is contiguous over channels
        x = buffer(xz, b, l, d)
        module.conv_fwd(x=xz, x_off=0, weight=w_t, bias=conv_bias, silu=True, out=x)
        x_dbl = F.linear(x, x_proj_weight)  # (b, l, r + 2n)
        delta = buffer(xz, b, l, d)
        torch.mm(x_dbl.view(b * l, -1)[:, :r], dt_proj_weight.t(), out=delta.view(b * l, d))  # dt_proj
        if n == nb:  # B and C are read inside x_dbl
            B_, b_off, C_, c_off = x_dbl, r, x_dbl, r + n
        else:  # zero-padded to the kernels' NB states (padded states stay 0)
            B_, b_off = F.pad(x_dbl[..., r : r + n], (0, nb - n)), 0  # (b, l, NB)
            C_, c_off = F.pad(x_dbl[..., r + n :], (0, nb - n)), 0  # (b, l, NB)
        At = F.pad(A, (0, nb - n)).t().contiguous()  # (d, n) -> (NB, d)
        items, chunks = b * channel_groups(b, d, module.get_num_threads()), -(-l // module.T)
        ckpt = buffer(xz, b, chunks - 1, nb, d) if save and chunks > 1 else buffer(xz, 1, 1, nb, 1)
        y = buffer(xz, b, l, d)
        # z is read in the second half of xz
        module.scan_fwd(
            u=x, delta=delta, delta_bias=delta_bias, softplus=True, At=At, B=B_, b_off=b_off, C=C_,
            c_off=c_off, D=D, z=xz, z_off=d, has_z=True, save=save, out=y, ckpt=ckpt,
            dtrow=scratch(xz, "inner.dtrow", items, d), hs=scratch(xz, "inner.hs", items, nb, d),
        )  # fmt: skip
        if save:
            ctx.save_for_backward(xz, w_t, conv_bias, x_proj_weight, dt_proj_weight, At, D, delta_bias,
                                  x, x_dbl, delta, B_, C_, ckpt)  # fmt: skip
            ctx.offsets = (n, b_off, c_off)
        return y

    @staticmethod
    def backward(ctx: Any, dy: Tensor) -> tuple[Tensor | None, ...]:
        module = kernels()
        (xz, w_t, conv_bias, x_proj_weight, dt_proj_weight, At, D, delta_bias,
         x, x_dbl, delta, B_, C_, ckpt) = ctx.saved_tensors  # fmt: skip
        n, b_off, c_off = ctx.offsets
        b, l, d = x.shape
        r, nb = dt_proj_weight.shape[1], module.NB
        groups, scan_scratch = scan_bwd_scratch(x, b, d)
        dy = dy.contiguous()
        dxz = buffer(x, b, l, 2 * d)  # dx into the first half (convolution), dz into the second (scan)
        du, ddelta = scratch(x, "inner.du", b, l, d), scratch(x, "inner.ddelta", b, l, d)
        dA_part = scratch(x, "inner.dA_part", b, nb, d)
        dD_part, dbias_part = scratch(x, "inner.dD_part", b, d), scratch(x, "inner.dbias_part", b, d)
        # dB and dC at B's and C's places, one (b, l, r + 2n) slab per channel group
        dBC = scratch(x, "inner.dBC", groups, b, l, B_.shape[-1])
        if n == nb:
            dB_, db_off, dC_, dc_off = dBC, b_off, dBC, c_off
        else:
            dB_, db_off, dC_, dc_off = dBC, 0, scratch(x, "inner.dC", *dBC.shape), 0
        # dz is written into the second half of dxz, dB and dC at their places in dBC
        module.scan_bwd(
            u=x, delta=delta, delta_bias=delta_bias, softplus=True, At=At, B=B_, b_off=b_off, C=C_,
            c_off=c_off, D=D, z=xz, z_off=d, has_z=True, ckpt=ckpt, dout=dy,
            du=du, ddelta=ddelta, dz=dxz, dz_off=d, dA_part=dA_part, dD_part=dD_part, dbias_part=dbias_part,
            dB_part=dB_, db_off=db_off, dC_part=dC_, dc_off=dc_off, **scan_scratch,
        )  # fmt: skip
        # dt_proj and x_proj backward: ddelta (b l, d) -> dΔ (b l, r); dx_dbl = [dΔ, dB, dC] (b l, r + 2n)
        ddelta2, x_dbl2 = ddelta.view(b * l, d), x_dbl.view(b * l, -1)  # (b, l, .) -> (b l, .)
        # The products with the narrow (r-wide) operands run as (r, .) @ (., .) and are transposed back: that
        # orientation ran 3-4.5x faster in PyTorch's CPU matmul at the paper's sizes (benchmarks/README.md)
        d_dt_proj = (x_dbl2[:, :r].t() @ ddelta2).t()  # (r, d) -> (d, r)
        d_dt = (dt_proj_weight.t().contiguous() @ ddelta2.t()).t()  # (r, b l) -> (b l, r)
        if n == nb:
            dx_dbl = (dBC.sum(0) if groups > 1 else dBC[0]).view(b * l, r + 2 * n)  # (b, l, r+2n) -> (b l, .)
            dx_dbl[:, :r] = d_dt
        else:
            dB, dC = dB_.sum(0)[..., :n], dC_.sum(0)[..., :n]  # (b, l, n) each
            dx_dbl = torch.cat([d_dt, dB.reshape(b * l, n), dC.reshape(b * l, n)], dim=1)
        d_x_proj = dx_dbl.t() @ x.view(b * l, d)  # (r + 2n, d)
        du.view(b * l, d).addmm_(dx_dbl, x_proj_weight)  # x feeds the scan and x_proj
        dw_part, db_part = scratch(x, "inner.dw_part", b, w_t.shape[0], d), scratch(x, "inner.db_part", b, d)
        gp = scratch(x, "inner.gp", b, l, d)
        module.conv_bwd(
            x=xz, x_off=0, weight=w_t, bias=conv_bias, silu=True, dout=du, dx=dxz, dx_off=0,
            dweight_part=dw_part, dbias_part=db_part, gp=gp,
        )  # fmt: skip
        return (
            dxz,
            dw_part.sum(0).t(),  # (w, d) -> (d, w)
            db_part.sum(0),
            d_x_proj,
            d_dt_proj,
            dA_part.sum(0)[:n].t(),  # (NB, d) -> (d, n)
            dD_part.sum(0),
            dbias_part.sum(0),
            None,
        )


def mamba_inner(
    xz: Tensor,
    conv_weight: Tensor,
    conv_bias: Tensor | None,
    x_proj_weight: Tensor,
    dt_proj_weight: Tensor,
    A: Tensor,
    D: Tensor | None = None,
    delta_bias: Tensor | None = None,
) -> Tensor:
    """What the Mamba layer runs between in_proj and out_proj; arguments, shapes and numbers as
    :func:`mamba_inner_ref`, implementation from :func:`inner_backend`.

    Returns y (b, l, d) in xz's dtype (computed in float64 for float64 inputs, float32 otherwise); the fused
    path returns it contiguous, so out_proj reads it without a copy.
    """
    _check(xz, conv_weight, conv_bias, x_proj_weight, dt_proj_weight, A, D, delta_bias)
    args = (xz, conv_weight, conv_bias, x_proj_weight, dt_proj_weight, A, D, delta_bias)
    if inner_backend(xz.device, A.shape[1]) == "composite":
        return _composite(*args, conv=causal_conv1d, scan=selective_scan)
    dtype = torch.float64 if xz.dtype == torch.float64 else torch.float32
    d = A.shape[0]
    zeros = xz.new_zeros(d, dtype=dtype)
    tensors = [t.to(dtype) if t is not None else zeros for t in args]
    save = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args)
    return _NumbaInner.apply(*tensors, save).to(xz.dtype)


def warm_up(background: bool = True) -> threading.Thread | None:
    """Compile the kernels that :func:`mamba_inner` runs (or load them from numba's on-disk cache), ahead of
    the first Mamba layer: one forward and backward of a (1, 2, 2) input, in a daemon thread when
    ``background`` (the notebooks' setup cell starts it: the compile overlaps reading).

    A layer called meanwhile waits for the kernel being compiled and then runs what the warm-up compiled, the
    same code it would have compiled itself, so no result depends on the warm-up; it draws no random numbers.
    Returns the thread, or None when it ran in the foreground or the fused path is not available.
    """
    if inner_backend("cpu") != "numba":
        return None
    threads = kernels().get_num_threads()  # numba keeps a count per thread: the warm-up uses the caller's

    def run() -> None:
        kernels().set_num_threads(threads)
        d, n = 2, 16
        xz = torch.linspace(-1.0, 1.0, 2 * 2 * d).view(1, 2, 2 * d).requires_grad_()  # (b, l, 2d)
        shapes = [(d, 4), (d,), (1 + 2 * n, d), (d, 1), (d, n), (d,), (d,)]  # conv_weight ... delta_bias
        weights = [torch.full(shape, 0.1) for shape in shapes]
        mamba_inner(xz, *weights).sum().backward()

    if not background:
        run()
        return None
    thread = threading.Thread(target=run, name="ftmamba-lite-warm-up", daemon=True)
    thread.start()
    return thread
