"""The kernels' runtime: which compiled set runs, and the reused scratch."""

from __future__ import annotations

import threading

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


def test_kernel_set_follows_numba_threads() -> None:
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert runtime.kernels().parallel is False
        if numba.config.NUMBA_NUM_THREADS > 1:
            numba.set_num_threads(2)
            assert runtime.kernels().parallel is True
            assert runtime.numba_kernels() is runtime.kernels()
    finally:
        numba.set_num_threads(before)
