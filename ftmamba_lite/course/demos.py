"""Small demonstrations the notebooks compute (tensors in, arrays or tables out).

* :func:`combine` -- the associative combine of two scan steps (a, x) (notebook 02).
* :func:`impulse_response` -- the selective SSM of one channel driven by impulses (notebook 02, paper II-A).
* :func:`work_depth` -- rounds and operations of the recurrence and of the associative scan (notebook 02).
* :func:`token_influence` -- which output tokens a change of one input token reaches (notebook 01, the
  reason the paper appends [CLS] at the end, II-B).

Dimension letters: b batch, l length (tokens), d width (docs/notation.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..ops.ssm import selective_scan_ref

__all__ = ["combine", "impulse_response", "token_influence", "work_depth"]


def combine(first: tuple[Tensor, Tensor], second: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Step (a1, x1) followed by step (a2, x2), each the affine map h -> a h + x: (a2 a1, a2 x1 + x2).

    The associative combine of the scan (docs/notation.md, "Scan"); ``a`` and ``x`` of any broadcastable
    shapes, e.g. (..., l) for l steps at once.
    """
    (a1, x1), (a2, x2) = first, second
    return a2 * a1, a2 * x1 + x2


def impulse_response(
    delta: float,
    A: float,
    length: int = 40,
    impulses: Sequence[int] = (0,),
    reset_at: int | None = None,
    reset_delta: float = 8.0,
) -> np.ndarray:
    """Output y_t of one SSM channel (d_in = n = 1, B = C = 1, D = 0) for unit impulses of the input u.

    The step size is Δ_t = ``delta`` everywhere except at ``reset_at`` (if given), where the input is 0 and
    Δ_t = ``reset_delta``: a *selective* step, Ā_t = exp(Δ_t A) ≈ 0, that wipes the state (forgetting).
    Computed with the library's recurrence :func:`ftmamba_lite.ops.ssm.selective_scan_ref`, so
    h_t = exp(Δ_t A) h_{t-1} + Δ_t u_t and y_t = h_t.

    Args:
        delta: Δ > 0 of the ordinary steps.
        A: the (negative) state value A of the channel.
        length: l, number of steps.
        impulses: steps t where u_t = 1 (all other u_t = 0).
        reset_at: optional step of the forgetting token.
        reset_delta: Δ of the forgetting token.

    Returns:
        y: float64 (l,).
    """
    if delta <= 0 or reset_delta <= 0:
        raise ValueError(f"step sizes must be > 0, got delta={delta}, reset_delta={reset_delta}")
    u = torch.zeros(1, 1, length, dtype=torch.float64)  # (b, d_in, l)
    u[0, 0, list(impulses)] = 1.0
    dt = torch.full((1, 1, length), float(delta), dtype=torch.float64)  # Δ: (b, d_in, l)
    if reset_at is not None:
        u[0, 0, reset_at] = 0.0
        dt[0, 0, reset_at] = reset_delta
    a = torch.tensor([[float(A)]], dtype=torch.float64)  # A: (d_in, n)
    ones = torch.ones(1, 1, length, dtype=torch.float64)  # B = C = 1: (b, n, l)
    return selective_scan_ref(u, dt, a, ones, ones)[0, 0].numpy()


def work_depth(lengths: Sequence[int]) -> pd.DataFrame:
    """Depth (sequential rounds) and work (combine operations) of a scan over l steps.

    * recurrence: h_t = Ā_t h_{t-1} + B̄_t u_t one step after another: depth l, work l;
    * Hillis-Steele scan (:func:`ftmamba_lite.ops.ssm.selective_scan_parallel`): rounds with offsets 1, 2,
      4, ... < l, where round o combines l - o pairs at once: depth ceil(log2 l), work sum over rounds of
      (l - o).

    Returns:
        one row per (algorithm, length): ``algorithm``, ``length``, ``depth``, ``work``.
    """
    rows = []
    for length in lengths:
        offsets = [2**k for k in range(max(1, length - 1).bit_length()) if 2**k < length]
        rows.append({"algorithm": "recurrence", "length": length, "depth": length, "work": length})
        rows.append(
            {
                "algorithm": "associative scan",
                "length": length,
                "depth": len(offsets),
                "work": sum(length - o for o in offsets),
            }
        )
    return pd.DataFrame(rows).sort_values(["algorithm", "length"], ascending=[False, True], ignore_index=True)


@torch.no_grad()
def token_influence(layer: nn.Module, tokens: Tensor, eps: float = 1.0) -> np.ndarray:
    """How far a change of each input token travels through a sequence layer.

    Entry [t, j] is the norm of the change of output token t when input token j is shifted by ``eps`` in
    every coordinate (one row of ``tokens``). A causal layer (Mamba) gives a lower-triangular matrix: output
    t sees inputs j <= t only, so only the LAST output sees every token; attention gives a full matrix.

    Args:
        layer: a module (b, l, d) -> (b, l, d) in eval mode.
        tokens: (l, d) or (1, l, d).

    Returns:
        float64 (l, l): rows = output position t, columns = perturbed input position j.
    """
    x = tokens.reshape(1, *tokens.shape[-2:])  # (1, l, d)
    base = layer(x)[0]  # (l, d)
    length = x.shape[1]
    out = np.zeros((length, length))
    for j in range(length):
        shifted = x.clone()
        shifted[0, j] += eps
        out[:, j] = (layer(shifted)[0] - base).norm(dim=-1).double().numpy()
    return out
