"""The selective state-space model (S6) of Mamba: the recurrence, its parallel scan, and the dispatcher.

Paper: section II-A ("the SSM component of the Mamba essentially functions as a linear RNN,
h_t = Ā h_{t-1} + B̄ x_t") and Gu & Dao (2023), Algorithm 2.

Dimension letters (docs/notation.md):
    b  batch            l  length (tokens)
    d  d_inner (the SSM runs per channel of the expanded width e * d_model)
    n  d_state (state size per channel)

Layouts follow mamba-ssm: ``u, delta, z`` are (b, d, l); ``B, C`` are (b, n, l) (input-dependent: that is the
"selective" part); ``A`` is (d, n); ``D`` and ``delta_bias`` are (d,).

For every channel c = (batch, d) and step t, with Δ = softplus(delta + delta_bias) when ``delta_softplus``:

    Ā_t = exp(Δ_t A)                 (d, n)      zero-order hold
    B̄_t u_t ≈ Δ_t B_t u_t            (d, n)      Euler step for B, as in mamba-ssm
    h_t = Ā_t ⊙ h_{t-1} + B̄_t u_t    (d, n)      h_0 = 0
    y_t = C_t · h_t + D u_t          (d,)
    out_t = y_t ⊙ silu(z_t)          (d,)        when z is given

Three implementations of the same function live here:

* :func:`selective_scan_ref` — the recurrence, one step at a time, written to read like the math above.
* :func:`selective_scan_parallel` — the same numbers from an associative (log-depth) scan over l.
* :func:`selective_scan` — what the model calls: mamba-ssm's CUDA kernel on CUDA tensors when it is
  installed, otherwise the fused CPU scan of :mod:`ftmamba_lite.ops.fused_scan`, which never materialises the
  (b, l, d, n) state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_scan_inputs
from .fused_scan import selective_scan_fused

__all__ = [
    "associative_scan",
    "selective_scan",
    "selective_scan_parallel",
    "selective_scan_ref",
    "discretize",
    "mamba_ssm_available",
]


def discretize(
    delta: Tensor, A: Tensor, delta_bias: Tensor | None = None, delta_softplus: bool = False
) -> tuple[Tensor, Tensor]:
    """Return (Δ, Ā): the step size Δ (b, d, l) and Ā = exp(Δ A) (b, d, l, n) (zero-order hold)."""
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]  # (b, d, l) + (d, 1)
    if delta_softplus:
        delta = F.softplus(delta)
    dA = torch.exp(delta.unsqueeze(-1) * A[:, None, :])  # (b, d, l, 1) * (d, 1, n) -> (b, d, l, n)
    return delta, dA


def _compute_dtype(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Cast to float32, or keep float64 (half precision inputs are computed in float32, as mamba-ssm does)."""
    dtype = torch.promote_types(tensors[0].dtype, torch.float32)
    return tuple(t.to(dtype) for t in tensors)


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    """y + D u, gated by silu(z); all (b, d, l)."""
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def selective_scan_ref(
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
    """The selective SSM as a plain recurrence over t (Gu & Dao 2023, Algorithm 2; paper II-A).

    Same arguments and semantics as mamba-ssm's ``selective_scan_ref``.

    Args:
        u: input (b, d, l).
        delta: step size before bias/softplus (b, d, l).
        A: state matrix, diagonal per channel (d, n); negative for a stable system.
        B, C: input-dependent input/output projections (b, n, l).
        D: skip connection (d,), optional.
        z: gate (b, d, l), optional; the output is multiplied by silu(z).
        delta_bias: added to delta before softplus (d,), optional.
        delta_softplus: apply softplus to delta.

    Returns:
        out (b, d, l), in u's dtype.
    """
    check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype_in = u.dtype
    u, delta, A, B, C = _compute_dtype(u, delta, A, B, C)
    delta, dA = discretize(delta, A, delta_bias, delta_softplus)
    b, d, l = u.shape
    h = u.new_zeros(b, d, A.shape[1])  # h_0 = 0: (b, d, n)
    ys = []
    for t in range(l):
        dBu = (delta[:, :, t] * u[:, :, t])[:, :, None] * B[:, None, :, t]  # Δ_t u_t B_t: (b, d, n)
        h = dA[:, :, t] * h + dBu  # h_t = Ā_t h_{t-1} + B̄_t u_t
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))  # y_t = C_t · h_t
    y = torch.stack(ys, dim=-1)  # l x (b, d) -> (b, d, l)
    return _finish(y, u, D, z).to(dtype_in)


def associative_scan(a: Tensor, x: Tensor) -> Tensor:
    """Inclusive scan of h_t = a_t h_{t-1} + x_t along dim 2 (Hillis & Steele, 1986).

    The pairs (a, x) compose associatively: (a1, x1) then (a2, x2) = (a2 a1, a2 x1 + x2). After round k every
    position holds the composition of the 2^k steps ending at it, so ceil(log2 l) rounds give every h_t:
    depth O(log l), work O(l log l). Each round builds new tensors (no in-place writes), so autograd
    differentiates it directly.

    Args:
        a, x: (b, d, l, n).
    Returns:
        h: (b, d, l, n).
    """
    l = a.shape[2]
    offset = 1
    while offset < l:
        a_prev, x_prev = a[:, :, :-offset], x[:, :, :-offset]  # steps t - offset, for t >= offset
        a_cur, x_cur = a[:, :, offset:], x[:, :, offset:]
        x = torch.cat([x[:, :, :offset], a_cur * x_prev + x_cur], dim=2)
        a = torch.cat([a[:, :, :offset], a_cur * a_prev], dim=2)
        offset *= 2
    return x


def selective_scan_parallel(
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
    """The selective SSM through an associative scan over l (log depth); same numbers as the recurrence.

    Because h_t = Ā_t h_{t-1} + B̄_t u_t is linear in h, the steps compose associatively and can be
    combined in any bracketing (see :func:`associative_scan`). This version materialises the full
    (b, d, l, n) state: it teaches the idea; it is not the fast CPU path.

    Arguments and shapes as :func:`selective_scan_ref`. Returns out (b, d, l).
    """
    check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype_in = u.dtype
    u, delta, A, B, C = _compute_dtype(u, delta, A, B, C)
    delta, dA = discretize(delta, A, delta_bias, delta_softplus)
    dBu = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # (b, d, l, 1) * (b, 1, l, n)
    h = associative_scan(dA, dBu)  # (b, d, l, n)
    y = torch.einsum("bdln,bnl->bdl", h, C)  # y_t = C_t · h_t
    return _finish(y, u, D, z).to(dtype_in)


def mamba_ssm_available() -> bool:
    """True when mamba-ssm's compiled selective-scan kernel can be imported (the ``cuda`` extra)."""
    return _mamba_ssm_kernel() is not None


def _mamba_ssm_kernel() -> Callable[..., Tensor] | None:
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # not installed, or installed without its CUDA extension
        return None
    return selective_scan_fn


def selective_scan(
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
    """The selective scan the model calls: the fastest available implementation for the inputs' device.

    * CUDA tensors and mamba-ssm installed: mamba-ssm's fused CUDA kernel (``selective_scan_fn``).
    * Otherwise: :func:`ftmamba_lite.ops.fused_scan.selective_scan_fused`, the CPU scan that keeps only the
      running (b, d, n) state.

    Arguments and shapes as :func:`selective_scan_ref`. Returns out (b, d, l).
    """
    check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    if u.is_cuda:
        kernel = _mamba_ssm_kernel()
        if kernel is not None:
            return kernel(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return selective_scan_fused(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
