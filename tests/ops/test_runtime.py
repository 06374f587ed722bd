"""launch: the kernels' work items split over the kernel threads."""

from __future__ import annotations

import importlib.util
import threading

import pytest
import torch

from ftmamba_lite.ops import runtime
from ftmamba_lite.ops.fused_scan import selective_scan_fused

HAS_NUMBA = importlib.util.find_spec("numba") is not None
pytestmark = pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")


@pytest.mark.parametrize("items", [1, 2, 7, 64])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_item_runs_once_with_its_own_scratch_row(items: int, threads: int) -> None:
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    calls: list[tuple[int, int, int, str]] = []
    lock = threading.Lock()

    def kernel(tag: str, lo: int, hi: int, w: int) -> None:
        with lock:
            calls.append((lo, hi, w, tag))

    try:
        runtime.launch(kernel, items, worker_index=True, tag="x")
        parts = numba.get_num_threads()
    finally:
        numba.set_num_threads(before)
    covered = sorted(i for lo, hi, _, _ in calls for i in range(lo, hi))
    assert covered == list(range(items))
    assert sorted(w for _, _, w, _ in calls) == list(range(min(parts, items)))
    assert {tag for *_, tag in calls} == {"x"}


def test_an_error_in_a_worker_thread_is_raised() -> None:
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two kernel threads")

    def kernel(lo: int, hi: int) -> None:
        if lo > 0:
            raise ValueError("from the second range")

    before = numba.get_num_threads()
    numba.set_num_threads(2)  # the test session runs one thread (tests/conftest.py)
    try:
        with pytest.raises(ValueError, match="second range"):
            runtime.launch(kernel, 4)
    finally:
        numba.set_num_threads(before)


def test_one_thread_and_two_give_the_same_numbers() -> None:
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two kernel threads")
    g = torch.Generator().manual_seed(0)
    b, d, l, n = 3, 24, 40, 16
    args = [
        torch.randn(b, d, l, generator=g),  # u
        torch.randn(b, d, l, generator=g) * 0.5,  # delta
        -torch.rand(d, n, generator=g) - 0.5,  # A
        torch.randn(b, n, l, generator=g),  # B
        torch.randn(b, n, l, generator=g),  # C
        torch.randn(d, generator=g),  # D
        torch.randn(b, d, l, generator=g),  # z
    ]
    results = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            leaves = [t.clone().requires_grad_() for t in args]
            out = selective_scan_fused(*leaves, delta_softplus=True)
            out.sum().backward()
            results.append([out.detach(), *(t.grad for t in leaves)])
    finally:
        numba.set_num_threads(before)
    for one, two in zip(*results, strict=True):
        torch.testing.assert_close(one, two, rtol=1e-6, atol=1e-6)
