"""The numba runtime of the CPU kernels: the one place that loads :mod:`ftmamba_lite.ops.kernels`, and the
buffers the kernels write into.

Dimension letters: b batch, l length (tokens), d d_inner (channels), n d_state (docs/notation.md).

* :func:`numba_kernels` -- the compiled kernels for numba's current thread count, or None when numba is
  missing or disabled (``FTMAMBA_LITE_DISABLE_NUMBA=1``): the callers then take their PyTorch paths.
* :func:`kernels` -- the same, also for a backward whose forward ran on them before numba was disabled.
* :func:`buffer` -- an uninitialised tensor for a kernel's output or scratch.
* :func:`channel_groups`, :func:`scan_bwd_scratch` -- how the scan kernels split their work over threads.
"""

from __future__ import annotations

import os
from types import ModuleType, SimpleNamespace

import numpy as np
import torch
from torch import Tensor

__all__ = ["DISABLE_NUMBA_ENV", "buffer", "channel_groups", "kernels", "numba_kernels", "scan_bwd_scratch"]

DISABLE_NUMBA_ENV = "FTMAMBA_LITE_DISABLE_NUMBA"

_kernels: ModuleType | None = None
_kernels_tried = False


def numba_kernels() -> SimpleNamespace | None:
    """The compiled kernels (``scan_fwd``, ``scan_bwd``, ``conv_fwd``, ``conv_bwd``, with ``NB``, ``T`` and
    ``get_num_threads``) for numba's thread count: :data:`~ftmamba_lite.ops.kernels.SERIAL` at one thread,
    :data:`~ftmamba_lite.ops.kernels.PARALLEL` otherwise. None when numba is not importable or
    ``FTMAMBA_LITE_DISABLE_NUMBA=1``.

    The environment variable is read on every call, so it can be flipped at run time (the tests do).
    """
    global _kernels, _kernels_tried
    if os.environ.get(DISABLE_NUMBA_ENV, "").strip() not in ("", "0"):
        return None
    if not _kernels_tried:
        _kernels_tried = True
        _kernels = _import_kernels()
    return None if _kernels is None else _for_threads(_kernels)


def _for_threads(module: ModuleType) -> SimpleNamespace:
    return module.PARALLEL if module.get_num_threads() > 1 else module.SERIAL


def _import_kernels() -> ModuleType | None:
    try:
        from . import kernels as module
    except ImportError:  # numba missing or broken: the PyTorch paths serve
        return None
    return module


def kernels() -> SimpleNamespace:
    """As :func:`numba_kernels`, also when numba was disabled between a forward and its backward."""
    module = _kernels if _kernels is not None else _import_kernels()
    if module is None:
        raise RuntimeError("the numba kernels cannot be imported (is numba installed?)")
    return _for_threads(module)


def channel_groups(b: int, d: int, threads: int) -> int:
    """Channel groups per batch row so that the b * groups work items give each thread at least 4."""
    return max(1, min(d, -(-4 * threads // b)))


def buffer(like: Tensor, *shape: int) -> Tensor:
    """An uninitialised CPU tensor of ``shape`` in ``like``'s dtype (float32 or float64), for the kernels'
    outputs and scratch.

    numpy allocates it: for large arrays numpy asks Linux for transparent huge pages (``madvise``), and the
    first write into a fresh array then page-faults several times faster than into one from PyTorch's
    allocator, a cost every call pays again at long lengths (measured in benchmarks/README.md).
    """
    return torch.from_numpy(np.empty(shape, dtype=np.float64 if like.dtype == torch.float64 else np.float32))


def scan_bwd_scratch(like: Tensor, b: int, d: int) -> tuple[int, dict[str, np.ndarray]]:
    """The channel groups g per batch row of ``scan_bwd`` and its per-thread scratch arrays, by the kernel's
    argument names (dts, ys, Hs, Es, hr, dhs, sb, sa; shapes in its doc), in ``like``'s dtype."""
    module = kernels()
    threads, steps, nb = module.get_num_threads(), module.T, module.NB
    groups = channel_groups(b, d, threads)
    m = -(-d // groups)  # channels of the widest group
    shapes = {
        "dts": (steps, m),
        "ys": (steps, m),
        "Hs": (steps + 1, nb, m),
        "Es": (steps, nb, m),
        "hr": (nb, m),
        "dhs": (nb, m),
        "sb": (m,),
        "sa": (m,),
    }
    return groups, {name: buffer(like, threads, *shape).numpy() for name, shape in shapes.items()}
