"""The operations inside a Mamba layer: tensors in, tensors out, each fast path beside its reference.

Dimension letters: b batch, l length (tokens), d d_inner (channels), n d_state, w d_conv (docs/notation.md).

* :mod:`~ftmamba_lite.ops.ssm` -- the selective scan: ``selective_scan_ref`` (the recurrence, step by step),
  ``selective_scan_parallel`` (an associative scan), ``selective_scan`` (what the model calls).
* :mod:`~ftmamba_lite.ops.fused_scan` -- ``selective_scan_fused``: the CPU scan that never materialises the
  (b, l, d, n) state (numba kernels, or the same algorithm in PyTorch).
* :mod:`~ftmamba_lite.ops.conv` -- ``causal_conv1d`` and ``causal_conv1d_ref``.
* :mod:`~ftmamba_lite.ops.mamba_inner` -- ``mamba_inner``, ``mamba_inner_ref``: in_proj's output to the gate;
  ``warm_up``: compile its kernels ahead of the first layer.
* :mod:`~ftmamba_lite.ops.kernels` -- the numba kernels themselves, work items run over numba's threads;
  :mod:`~ftmamba_lite.ops.runtime` loads them (the only module that does) and allocates their buffers and
  reused scratch.
* :mod:`~ftmamba_lite.ops.threads` -- the thread counts of PyTorch and of the kernels;
  :mod:`~ftmamba_lite.ops.cpus` -- the cores this process may use.
* :mod:`~ftmamba_lite.ops.checks` -- shape checks whose errors name the argument.

This subpackage imports nothing else of the package (``tests/test_layers.py``).
"""

from .conv import causal_conv1d, causal_conv1d_ref
from .fused_scan import selective_scan_fused
from .mamba_inner import mamba_inner, mamba_inner_ref
from .ssm import selective_scan, selective_scan_parallel, selective_scan_ref
from .threads import available_cpus, set_num_threads

__all__ = [
    "available_cpus",
    "causal_conv1d",
    "causal_conv1d_ref",
    "mamba_inner",
    "mamba_inner_ref",
    "selective_scan",
    "selective_scan_fused",
    "selective_scan_parallel",
    "selective_scan_ref",
    "set_num_threads",
]
