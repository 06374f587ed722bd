"""Shape checks shared by the scans and the Mamba layer's inner operation: errors that name the argument.

Layouts (mamba-ssm's): u, delta, z (b, d, l); B, C (b, n, l); A (d, n); D, delta_bias (d,).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["check_scan_inputs", "check_shapes"]


def check_scan_inputs(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
) -> None:
    """Raise a ValueError naming the argument whose shape does not fit the layouts of the module doc."""
    if u.dim() != 3:
        raise ValueError(f"u must be (batch, d_inner, length), got shape {tuple(u.shape)}")
    b, d, l = u.shape
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"A must be (d_inner={d}, d_state), got shape {tuple(A.shape)}")
    n = A.shape[1]
    expected = {
        "delta": (delta, (b, d, l)),
        "B": (B, (b, n, l)),
        "C": (C, (b, n, l)),
        "D": (D, (d,)),
        "z": (z, (b, d, l)),
        "delta_bias": (delta_bias, (d,)),
    }
    check_shapes(expected, f"for u of shape {(b, d, l)} and A of shape {(d, n)}")


def check_shapes(expected: dict[str, tuple[Tensor | None, tuple[int, ...]]], context: str) -> None:
    """Raise a ValueError naming the first given tensor of ``expected`` (name: (tensor or None, shape)) whose
    shape differs; ``context`` says what the shapes follow from."""
    for name, (tensor, shape) in expected.items():
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} {context}, got {tuple(tensor.shape)}")
