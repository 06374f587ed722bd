"""The kernels' runtime: the reused scratch, and results that do not depend on the thread count."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch

from ftmamba_lite.ops import runtime


def test_scratch_is_reused_per_tag_shape_and_dtype() -> None:
    like32, like64 = torch.zeros(1), torch.zeros(1, dtype=torch.float64)
    a = runtime.scratch(like32, "test.a", 3, 4)
    assert a.shape == (3, 4) and a.dtype == torch.float32
    assert runtime.scratch(like32, "test.a", 3, 4) is a
    assert runtime.scratch(like32, "test.b", 3, 4).data_ptr() != a.data_ptr()
    assert runtime.scratch(like32, "test.a", 4, 3).data_ptr() != a.data_ptr()
    other = runtime.scratch(like64, "test.a", 3, 4)
    assert other.dtype == torch.float64 and other.data_ptr() != a.data_ptr()


def test_scratch_is_per_thread() -> None:
    mine = runtime.scratch(torch.zeros(1), "test.thread", 5)
    theirs: list[torch.Tensor] = []
    thread = threading.Thread(target=lambda: theirs.append(runtime.scratch(torch.zeros(1), "test.thread", 5)))
    thread.start()
    thread.join()
    assert theirs[0].data_ptr() != mine.data_ptr()
    assert runtime.scratch(torch.zeros(1), "test.thread", 5) is mine


def test_scratch_pool_keeps_at_most_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Least recently used first out; a tensor larger than the pool is never kept."""
    monkeypatch.setattr(runtime, "_pool", threading.local())
    monkeypatch.setattr(runtime, "SCRATCH_POOL_BYTES", 3 * 400)  # three 100-float tensors
    like = torch.zeros(1)
    first, second, third = (runtime.scratch(like, f"test.{i}", 100) for i in range(3))
    assert runtime.scratch(like, "test.0", 100) is first  # now the most recently used
    runtime.scratch(like, "test.3", 100)  # evicts test.1
    assert runtime.scratch(like, "test.0", 100) is first
    assert runtime.scratch(like, "test.2", 100) is third
    assert runtime.scratch(like, "test.1", 100) is not second
    big = runtime.scratch(like, "test.big", 1000)
    assert runtime.scratch(like, "test.big", 1000) is not big
    assert sum(t.numel() * t.element_size() for t in runtime._pool.tensors.values()) <= 3 * 400


def test_the_kernels_compute_the_same_at_one_thread_and_at_two(
    set_kernel_threads: Callable[[int], None],
) -> None:
    """Every work item writes its own outputs, so the thread count changes no bit of a result (with b >= 8 the
    callers split the channels into the same groups at either count)."""
    pytest.importorskip("numba")
    from ftmamba_lite.ops.mamba_inner import mamba_inner

    g = torch.Generator().manual_seed(0)
    d, n, r, w = 16, 16, 2, 4
    xz = torch.randn(8, 40, 2 * d, generator=g).requires_grad_()  # (b, l, 2d), two chunks of the scan
    params = [
        torch.randn(d, w, generator=g) / 2,  # conv_weight
        torch.randn(d, generator=g),  # conv_bias
        torch.randn(r + 2 * n, d, generator=g) / 4,  # x_proj_weight
        torch.randn(d, r, generator=g) / 2,  # dt_proj_weight
        -torch.rand(d, n, generator=g) - 0.5,  # A
        torch.randn(d, generator=g),  # D
        torch.randn(d, generator=g),  # delta_bias
    ]
    results = []
    for threads in (1, 2):
        set_kernel_threads(threads)
        leaves = [xz, *(p.clone().requires_grad_() for p in params)]
        y = mamba_inner(*leaves)
        y.pow(2).sum().backward()
        results.append([y.detach(), *(leaf.grad.clone() for leaf in leaves)])
        xz.grad = None
    for one, two in zip(*results, strict=True):
        assert torch.equal(one, two)
