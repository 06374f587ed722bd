"""Threads: one call that sets PyTorch's and numba's thread counts, and how many cores this process may use
(:func:`available_cpus`, from :mod:`ftmamba_lite.ops.cpus`: a container's CPU quota included)."""

from __future__ import annotations

import torch

from .cpus import available_cpus, cgroup_cpu_quota
from .runtime import numba_kernels

__all__ = ["available_cpus", "cgroup_cpu_quota", "set_num_threads"]


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in PyTorch's operators and in the numba kernels (capped at numba's pool size).

    Set both when several training processes share the cores: each library otherwise starts one spinning
    thread per core, and processes that oversubscribe the cores slow each other down many times over.
    """
    if n < 1:
        raise ValueError(f"the number of threads must be >= 1, got {n}")
    if numba_kernels() is not None:
        import numba

        # numba's pool starts here if it has not yet, and starting it resets the OpenMP thread count that
        # PyTorch's own operators read to numba's pool size: so numba first, PyTorch last.
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)
