"""The numba runtime of the CPU kernels: the one place that loads :mod:`ftmamba_lite.ops.kernels`, and the
buffers the kernels write into.

Dimension letters: b batch, l length (tokens), d d_inner (channels), n d_state (docs/notation.md).

* :func:`numba_kernels` -- the kernels' module, or None when numba is missing or disabled
  (``FTMAMBA_LITE_DISABLE_NUMBA=1``): the callers then take their PyTorch paths.
* :func:`kernels` -- the same, also for a backward whose forward ran on them before numba was disabled.
* :func:`buffer` -- an uninitialised tensor for a kernel's output.
* :func:`scratch` -- an uninitialised tensor for a kernel's scratch, reused from call to call.
* :func:`channel_groups`, :func:`scan_bwd_scratch` -- how the scan kernels split their work over threads.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DISABLE_NUMBA_ENV",
    "SCRATCH_POOL_BYTES",
    "buffer",
    "channel_groups",
    "kernels",
    "numba_kernels",
    "scan_bwd_scratch",
    "scratch",
]

DISABLE_NUMBA_ENV = "FTMAMBA_LITE_DISABLE_NUMBA"

_kernels: ModuleType | None = None
_kernels_tried = False


def numba_kernels() -> ModuleType | None:
    """The kernels' module, :mod:`ftmamba_lite.ops.kernels` (``scan_fwd``, ``scan_bwd``, ``conv_fwd``,
    ``conv_bwd``, with ``NB``, ``T``, ``get_num_threads`` and ``set_num_threads``; each kernel compiles on its
    first call). None when numba is not importable or ``FTMAMBA_LITE_DISABLE_NUMBA=1``.

    The environment variable is read on every call, so it can be flipped at run time (the tests do).
    """
    global _kernels, _kernels_tried
    if os.environ.get(DISABLE_NUMBA_ENV, "").strip() not in ("", "0"):
        return None
    if not _kernels_tried:
        _kernels_tried = True
        _kernels = _import_kernels()
    return _kernels


def _import_kernels() -> ModuleType | None:
    try:
        from . import kernels as module
    except ImportError:  # numba missing or broken: the PyTorch paths serve
        return None
    return module


def kernels() -> ModuleType:
    """As :func:`numba_kernels`, also when numba was disabled between a forward and its backward."""
    module = _kernels if _kernels is not None else _import_kernels()
    if module is None:
        raise RuntimeError("the numba kernels cannot be imported (is numba installed?)")
    return module


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
    return torch.from_numpy(np.empty(shape, dtype=_np_dtype(like)))


def _np_dtype(like: Tensor) -> type[np.floating]:
    """The kernels' numpy dtype for tensors like ``like``: float64 for float64, float32 otherwise."""
    return np.float64 if like.dtype == torch.float64 else np.float32


SCRATCH_POOL_BYTES = 2**30  # per thread; the least recently used scratch goes first

_pool = threading.local()


def scratch(like: Tensor, tag: str, *shape: int) -> Tensor:
    """An uninitialised tensor of ``shape`` in ``like``'s dtype for scratch that does not outlive the call
    (nothing returned or saved for the backward may be one): the same tensor again for the next call on this
    thread with the same tag, shape and dtype.

    A fresh buffer's memory is new to the process, and its first write page-faults (per 4 KiB page, or per
    2 MiB huge page that the kernel zeroes first): at the paper's 21 tokens a Mamba training step took about
    1,300 faults (benchmarks/README.md). Each thread keeps its own tensors (the warm-up compiles in a thread
    of its own), at most :data:`SCRATCH_POOL_BYTES` of them: a training step needs them all again, so the
    pool adds little to its peak memory. ``tag`` names the use; two uses in one call need two tags.
    """
    dtype = _np_dtype(like)
    key = (tag, shape, dtype)
    pool: OrderedDict[tuple, Tensor] | None = getattr(_pool, "tensors", None)
    if pool is None:
        pool = _pool.tensors = OrderedDict()
    found = pool.get(key)
    if found is not None:
        pool.move_to_end(key)
        return found
    tensor = torch.from_numpy(np.empty(shape, dtype=dtype))
    size = tensor.numel() * tensor.element_size()
    if size > SCRATCH_POOL_BYTES:
        return tensor
    pool[key] = tensor
    total = sum(t.numel() * t.element_size() for t in pool.values())
    while total > SCRATCH_POOL_BYTES:
        _, dropped = pool.popitem(last=False)
        total -= dropped.numel() * dropped.element_size()
    return tensor


def scan_bwd_scratch(like: Tensor, b: int, d: int) -> tuple[int, dict[str, Tensor]]:
    """The channel groups g per batch row of ``scan_bwd`` and its per-thread scratch arrays, by the kernel's
    argument names (dts, ys, Hs, Es, hr, dhs, sb, sa; shapes in its doc), in ``like``'s dtype (from
    :func:`scratch`)."""
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
    return groups, {
        name: scratch(like, f"scan_bwd.{name}", threads, *shape) for name, shape in shapes.items()
    }
