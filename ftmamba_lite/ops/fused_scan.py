"""The fused selective scan for CPU: h_t = Ā_t h_{t-1} + B̄_t u_t without materialising (b, l, d, n).

Paper section II-A (the SSM is a linear RNN) and Gu & Dao (2023), section 3.3.2 (kernel fusion: do not
materialise the expanded states; recomputation in the backward pass). mamba-ssm's CUDA kernel keeps the state
in SRAM; on a CPU the same idea keeps it in registers and L1:

* forward: one pass over l per channel (batch, d), with only the running (n,) state;
* backward: recompute the channel's states (chunk by chunk, from checkpoints the forward kept), then run the
  adjoint recurrence in reverse (dh_{t-1} = Ā_t dh_t + C_{t-1} dy_{t-1}), accumulating every gradient on the
  way.

Work is O(b l d n); memory O(b l d) plus checkpoints of the state every 32 steps, (b, l / 32, d, n), where the
parallel scan of :mod:`ftmamba_lite.ops.ssm` keeps O(b l d n log l) alive for autograd.

Dimension letters (docs/notation.md):
    b  batch            l  length (tokens)
    d  d_inner          n  d_state

Two implementations of one ``torch.autograd.Function`` contract, picked per call by :func:`scan_backend`:

* ``"numba"`` (CPU tensors, numba importable, ``FTMAMBA_LITE_DISABLE_NUMBA`` unset): the kernels of
  :mod:`ftmamba_lite.ops.kernels`, float32 or float64 (float64 compiles its own version on first use),
  parallel over channels.
* ``"torch"`` (everything else: CUDA without mamba-ssm, numba missing or disabled): the same algorithm in
  PyTorch, vectorised over (b, d, n) per step and over chunks of ``CHUNK`` steps for exp and the gradient
  reductions; memory O(b d n CHUNK). Slower than numba (benchmarks/README.md), still without the
  (b, l, d, n) state.

Half-precision inputs are computed in float32 and the output cast back, as in ``selective_scan_ref``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_scan_inputs
from .runtime import buffer, channel_groups, kernels, numba_kernels, scan_bwd_scratch, scratch

__all__ = ["scan_backend", "selective_scan_fused"]

CHUNK = 64  # steps per chunk of the PyTorch path


def scan_backend(device: torch.device | str = "cpu") -> str:
    """The implementation :func:`selective_scan_fused` runs for tensors on ``device``: "numba" or "torch"."""
    return "numba" if torch.device(device).type == "cpu" and numba_kernels() is not None else "torch"


def _step_size(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """Δ = softplus(delta + delta_bias) (either optional), (b, d, l)."""
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]  # (b, d, l) + (d, 1)
    return F.softplus(delta) if delta_softplus else delta


def _step_size_grad(ddt: Tensor, delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """Gradient with respect to ``delta`` from the one with respect to Δ, ``ddt``; all (b, d, l)."""
    if not delta_softplus:
        return ddt
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]  # (b, d, l) + (d, 1)
    return ddt * torch.sigmoid(delta)  # softplus' = sigmoid


def _gate_grads(y: Tensor, z: Tensor | None, dout: Tensor) -> tuple[Tensor, Tensor | None]:
    """(dy, dz) for out = y silu(z): dy = dout silu(z), dz = dout y silu'(z); (dout, None) without z."""
    if z is None:
        return dout, None
    s = torch.sigmoid(z)
    return dout * z * s, dout * y * s * (1 + z * (1 - s))


def _tokens_major(t: Tensor) -> Tensor:
    """(b, d, l) -> contiguous (b, l, d); free for the transposed views the Mamba layer passes."""
    return t.transpose(1, 2).contiguous()


class _NumbaScan(torch.autograd.Function):
    """The numba path: :func:`ftmamba_lite.ops.kernels.scan_fwd` / ``scan_bwd`` wrapped for autograd.

    The kernels work on tokens-major (b, l, d) arrays, the layout of the model's projections, so the
    transposed views of the Mamba layer cost no copy; they apply bias and softplus to delta themselves. Their
    state size is fixed at NB = 16 (n < 16 is zero-padded: padded states have A = B = C = 0 and stay 0;
    :func:`_numba_scan` splits n > 16 into blocks). When a gradient is needed (``save``), the forward keeps
    the state entering every chunk of T = 32 steps but the first, (b, ceil(l / T) - 1, NB, d): 1/32 of the
    expanded state, from which the backward recomputes one chunk at a time.
    """

    @staticmethod
    def forward(
        ctx: Any,
        u: Tensor,
        delta: Tensor,
        A: Tensor,
        B: Tensor,
        C: Tensor,
        D: Tensor | None,
        z: Tensor | None,
        delta_bias: Tensor | None,
        delta_softplus: bool,
        save: bool,
    ) -> Tensor:
        module = kernels()
        b, d, _ = u.shape
        n, nb = A.shape[1], module.NB
        u_, delta_ = _tokens_major(u), _tokens_major(delta)  # (b, l, d)
        bias_ = delta_bias.contiguous() if delta_bias is not None else u.new_zeros(d)
        At = F.pad(A, (0, nb - n)).t().contiguous()  # (d, n) -> (NB, d): the kernels run along channels
        B_ = F.pad(B.transpose(1, 2), (0, nb - n)).contiguous()  # (b, n, l) -> (b, l, NB)
        C_ = F.pad(C.transpose(1, 2), (0, nb - n)).contiguous()  # (b, n, l) -> (b, l, NB)
        D_ = D.contiguous() if D is not None else u.new_zeros(d)
        z_ = _tokens_major(z) if z is not None else buffer(u, 1, 1, 1)  # placeholder, unread
        items, chunks = b * channel_groups(b, d, module.get_num_threads()), -(-u_.shape[1] // module.T)
        ckpt = buffer(u, b, chunks - 1, nb, d) if save and chunks > 1 else buffer(u, 1, 1, nb, 1)
        out = buffer(u, *u_.shape)
        module.scan_fwd(
            u=u_, delta=delta_, delta_bias=bias_, softplus=delta_softplus, At=At, B=B_, b_off=0, C=C_,
            c_off=0, D=D_, z=z_, z_off=0, has_z=z is not None, save=save, out=out, ckpt=ckpt,
            dtrow=scratch(u, "scan.dtrow", items, d), hs=scratch(u, "scan.hs", items, nb, d),
        )  # fmt: skip
        ctx.save_for_backward(u_, delta_, bias_, At, B_, C_, D_, z_, ckpt)
        ctx.flags = (n, delta_softplus, D is not None, z is not None, delta_bias is not None)
        return out.transpose(1, 2)  # (b, l, d) -> (b, d, l)

    @staticmethod
    def backward(ctx: Any, dout: Tensor) -> tuple[Tensor | None, ...]:
        module = kernels()
        u_, delta_, bias_, At, B_, C_, D_, z_, ckpt = ctx.saved_tensors
        n, delta_softplus, has_D, has_z, has_bias = ctx.flags
        b, l, d = u_.shape
        nb = module.NB
        groups, scan_scratch = scan_bwd_scratch(u_, b, d)
        du, ddelta = buffer(u_, b, l, d), buffer(u_, b, l, d)
        dz = buffer(u_, b, l, d) if has_z else buffer(u_, 1, 1, 1)
        dA_part, dD_part = scratch(u_, "scan.dA_part", b, nb, d), scratch(u_, "scan.dD_part", b, d)
        dbias_part = scratch(u_, "scan.dbias_part", b, d)
        dB_part, dC_part = (
            scratch(u_, "scan.dB_part", groups, b, l, nb),
            scratch(u_, "scan.dC_part", groups, b, l, nb),
        )
        module.scan_bwd(
            u=u_, delta=delta_, delta_bias=bias_, softplus=delta_softplus, At=At, B=B_, b_off=0, C=C_,
            c_off=0, D=D_, z=z_, z_off=0, has_z=has_z, ckpt=ckpt, dout=_tokens_major(dout),
            du=du, ddelta=ddelta, dz=dz, dz_off=0, dA_part=dA_part, dD_part=dD_part, dbias_part=dbias_part,
            dB_part=dB_part, db_off=0, dC_part=dC_part, dc_off=0, **scan_scratch,
        )  # fmt: skip
        return (
            du.transpose(1, 2),  # (b, l, d) -> (b, d, l)
            ddelta.transpose(1, 2),  # (b, l, d) -> (b, d, l)
            dA_part.sum(0)[:n].t(),  # (NB, d) -> (d, n)
            dB_part.sum(0)[..., :n].transpose(1, 2),  # (g, b, l, NB) -> (b, n, l)
            dC_part.sum(0)[..., :n].transpose(1, 2),  # (g, b, l, NB) -> (b, n, l)
            dD_part.sum(0) if has_D else None,
            dz.transpose(1, 2) if has_z else None,  # (b, l, d) -> (b, d, l)
            dbias_part.sum(0) if has_bias else None,
            None,
            None,
        )


def _numba_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
    delta_softplus: bool,
) -> Tensor:
    """:class:`_NumbaScan` for any n: the states are independent, so n > 16 runs as blocks of 16 whose
    outputs add up (the skip D u and the gate silu(z) are applied once, after the sum)."""
    nb = kernels().NB
    n = A.shape[1]
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    save = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)  # checkpoints
    if n <= nb:
        return _NumbaScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, save)
    blocks = [
        _NumbaScan.apply(u, delta, A[:, s : s + nb], B[:, s : s + nb], C[:, s : s + nb], None, None,
                         delta_bias, delta_softplus, save)
        for s in range(0, n, nb)
    ]  # fmt: skip
    y = torch.stack(blocks).sum(0)  # (n / NB, b, d, l) -> (b, d, l)
    if D is not None:
        y = y + u * D[:, None]
    return y * F.silu(z) if z is not None else y


def _chunk_states(h: Tensor, dt: Tensor, u: Tensor, A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    """Run the recurrence over one chunk of T steps from the state h (b, d, n) entering it.

    Args:
        h: (b, d, n); dt, u: (b, d, T); A: (d, n); B: (b, n, T).
    Returns:
        H (T, b, d, n) with H[t] = h_t, and Ā (T, b, d, n). Step-major so that each step is contiguous.
    """
    dA = torch.exp(dt.permute(2, 0, 1)[..., None] * A)  # (T, b, d, 1) * (d, n) -> (T, b, d, n)
    H = (dt * u).permute(2, 0, 1)[..., None] * B.permute(2, 0, 1)[:, :, None, :]  # (T,b,d,1)*(T,b,1,n): B̄ u
    for t in range(H.shape[0]):
        H[t].addcmul_(dA[t], h)  # h_t = Ā_t h_{t-1} + B̄_t u_t
        h = H[t]
    return H, dA


class _TorchScan(torch.autograd.Function):
    """The PyTorch path: chunked recurrence forward, chunked adjoint recurrence backward.

    The forward keeps the state entering every chunk (ceil(l / T), b, d, n); the backward recomputes each
    chunk's states and Ā from it, last chunk first, and carries dh across chunk boundaries.
    """

    @staticmethod
    def forward(
        ctx: Any,
        u: Tensor,
        delta: Tensor,
        A: Tensor,
        B: Tensor,
        C: Tensor,
        D: Tensor | None,
        z: Tensor | None,
        delta_bias: Tensor | None,
        delta_softplus: bool,
    ) -> Tensor:
        b, d, l = u.shape
        dt = _step_size(delta, delta_bias, delta_softplus)
        starts = range(0, l, CHUNK)
        h = u.new_zeros(b, d, A.shape[1])
        h_in = u.new_empty(len(starts), b, d, A.shape[1])  # state entering each chunk
        y = torch.empty_like(u)
        for k, s in enumerate(starts):
            h_in[k] = h
            H, _ = _chunk_states(h, dt[..., s : s + CHUNK], u[..., s : s + CHUNK], A, B[..., s : s + CHUNK])
            y[..., s : s + CHUNK] = torch.einsum("tbdn,bnt->bdt", H, C[..., s : s + CHUNK])  # C_t · h_t
            h = H[-1]
        if D is not None:
            y += u * D[:, None]
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, h_in)
        ctx.delta_softplus = delta_softplus
        return y * F.silu(z) if z is not None else y

    @staticmethod
    def backward(ctx: Any, dout: Tensor) -> tuple[Tensor | None, ...]:
        u, delta, A, B, C, D, z, delta_bias, h_in = ctx.saved_tensors
        l = u.shape[2]
        dt = _step_size(delta, delta_bias, ctx.delta_softplus)
        du, ddt = torch.empty_like(u), torch.empty_like(u)
        dz = torch.empty_like(u) if z is not None else None
        dA, dB, dC = torch.zeros_like(A), torch.empty_like(B), torch.empty_like(C)
        dD = torch.zeros_like(D) if D is not None else None
        dh = torch.zeros_like(h_in[0])  # (b, d, n): gradient flowing into the last state of the chunk
        for k in reversed(range(h_in.shape[0])):
            sl = slice(k * CHUNK, min((k + 1) * CHUNK, l))
            dt_c, u_c, B_c, C_c = dt[..., sl], u[..., sl], B[..., sl], C[..., sl]
            H, dA_c = _chunk_states(h_in[k], dt_c, u_c, A, B_c)  # (T, b, d, n) each
            y = torch.einsum("tbdn,bnt->bdt", H, C_c)  # (b, d, T)
            if D is not None:
                y += u_c * D[:, None]
            dy, dz_c = _gate_grads(y, z[..., sl] if z is not None else None, dout[..., sl])
            if dz is not None:
                dz[..., sl] = dz_c
            dH = dy.permute(2, 0, 1)[..., None] * C_c.permute(2, 0, 1)[:, :, None, :]  # (T,b,d,1)*(T,b,1,n)
            for t in reversed(range(dH.shape[0])):
                dH[t] += dh  # dh_t = C_t dy_t + Ā_{t+1} dh_{t+1}
                dh = dH[t] * dA_c[t]
            dC[..., sl] = torch.einsum("tbdn,bdt->bnt", H, dy)
            dB[..., sl] = torch.einsum("tbdn,bdt->bnt", dH, dt_c * u_c)
            sb = torch.einsum("tbdn,bnt->bdt", dH, B_c)  # dh_t · B_t
            q = dH * torch.cat([h_in[k][None], H[:-1]]) * dA_c  # dL/dĀ_t ⊙ Ā_t, with h_{t-1}: (T, b, d, n)
            du[..., sl] = dt_c * sb
            if D is not None:
                du[..., sl] += dy * D[:, None]
                dD += torch.einsum("bdt,bdt->d", dy, u_c)
            ddt[..., sl] = u_c * sb + torch.einsum("tbdn,dn->bdt", q, A)
            dA += torch.einsum("tbdn,bdt->dn", q, dt_c)
        ddelta = _step_size_grad(ddt, delta, delta_bias, ctx.delta_softplus)
        return du, ddelta, dA, dB, dC, dD, dz, ddelta.sum((0, 2)) if delta_bias is not None else None, None


def selective_scan_fused(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """The selective scan without the (b, l, d, n) state; arguments and numbers as ``selective_scan_ref``.

    Args:
        u: input (b, d, l).
        delta: step size before bias/softplus (b, d, l).
        A: state matrix (d, n).
        B, C: input-dependent projections (b, n, l).
        D: skip (d,), optional.
        z: gate (b, d, l), optional.
        delta_bias: (d,), optional.
        delta_softplus: apply softplus to delta + delta_bias.

    Returns:
        out (b, d, l) in u's dtype; computed in float64 for float64 inputs, float32 otherwise. Differentiable
        with respect to every tensor argument.
    """
    check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype_in = u.dtype
    dtype = torch.float64 if dtype_in == torch.float64 else torch.float32
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    D, z, delta_bias = (t.to(dtype) if t is not None else None for t in (D, z, delta_bias))
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    out = _numba_scan(*args) if scan_backend(u.device) == "numba" else _TorchScan.apply(*args)
    return out.to(dtype_in)
