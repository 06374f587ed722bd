"""Fixtures of the kernel tests: the numba kernels run at one thread and at two."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import pytest

HAS_NUMBA = importlib.util.find_spec("numba") is not None


def use_kernel_threads(request: pytest.FixtureRequest, threads: int) -> None:
    """Give numba ``threads`` threads for this test (skip where its pool is smaller), restored afterwards."""
    if not HAS_NUMBA:
        pytest.skip("numba not installed")
    import numba

    from ftmamba_lite.ops import runtime

    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"numba's thread pool has {numba.config.NUMBA_NUM_THREADS} thread(s)")
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    request.addfinalizer(lambda: numba.set_num_threads(before))
    assert runtime.kernels().get_num_threads() == threads


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def kernel_threads(request: pytest.FixtureRequest) -> int:
    """Run the test with numba at one thread and at two."""
    use_kernel_threads(request, request.param)
    return request.param


@pytest.fixture
def set_kernel_threads(request: pytest.FixtureRequest) -> Callable[[int], None]:
    """:func:`use_kernel_threads` for this test, for fixtures that choose the count themselves."""
    return lambda threads: use_kernel_threads(request, threads)
