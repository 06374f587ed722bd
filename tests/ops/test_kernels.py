"""The kernels' launcher and their compile: arguments checked before a kernel reads them through their
addresses, and a cold start that compiles the backward's scan in a second process."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytest.importorskip("numba")

from ftmamba_lite.ops import kernels  # noqa: E402  (after the skip: it imports numba)


def conv_arguments(dtype: torch.dtype = torch.float32) -> dict[str, object]:
    x = torch.linspace(-1, 1, 2 * 5 * 3, dtype=dtype).view(2, 5, 3)  # (b, l, d)
    weight, bias = torch.full((2, 3), 0.5, dtype=dtype), torch.arange(3, dtype=dtype)  # (w, d), (d,)
    return {"x": x, "x_off": 0, "weight": weight, "bias": bias, "silu": False, "out": torch.empty_like(x)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_launcher_runs_every_item(dtype: torch.dtype) -> None:
    args = conv_arguments(dtype)
    kernels.conv_fwd(**args)
    x, weight, bias = args["x"], args["weight"], args["bias"]
    previous = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)  # x[t - 1], 0 before the start
    torch.testing.assert_close(args["out"], bias + weight[0] * previous + weight[1] * x, rtol=1e-6, atol=0)


def test_a_tensor_at_an_offset_is_read_where_it_starts() -> None:
    """The launcher passes a view's own first element (a slice of a larger tensor), not its storage's."""
    args = conv_arguments()
    wider = torch.full((4, 5, 3), 9.0)
    wider[1:3] = args["x"]
    expected = torch.empty_like(args["out"])
    kernels.conv_fwd(**args)
    kernels.conv_fwd(**{**args, "x": wider[1:3], "out": expected})
    torch.testing.assert_close(expected, args["out"], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"weight": torch.full((3, 2), 0.5).t()},
            "weight must be a contiguous 2-d CPU tensor, got 2-d, co",
        ),
        ({"bias": torch.zeros(1, 3)}, "bias must be a contiguous 1-d CPU tensor, got 2-d"),
        ({"out": torch.empty(2, 5, 3, dtype=torch.float64)}, "out is torch.float64; the tensors must all be"),
        ({"x": torch.zeros(2, 5, 3, dtype=torch.int32)}, "x is torch.int32"),
        ({"bias": [0.0, 1.0, 2.0]}, "bias must be a contiguous 1-d CPU tensor, got list"),
        ({"bias": torch.arange(3.0).numpy()}, "bias must be a contiguous 1-d CPU tensor, got ndarray"),
        (
            {"x": torch.zeros(2, 5, 3, device="meta")},
            "x must be a contiguous 3-d CPU .* on meta",
        ),
    ],
)
def test_an_argument_the_kernel_cannot_read_is_refused(change: dict[str, object], message: str) -> None:
    args = {**conv_arguments(), **change}
    before = args["out"].clone()
    with pytest.raises(TypeError, match=message):
        kernels.conv_fwd(**args)
    torch.testing.assert_close(args["out"], before, rtol=0, atol=0, equal_nan=True)


def test_a_missing_or_unknown_argument_is_refused() -> None:
    args = conv_arguments()
    del args["silu"]
    with pytest.raises(
        TypeError, match="conv_fwd\\(\\) takes the arguments x, x_off, weight, bias, silu, out"
    ):
        kernels.conv_fwd(**args)
    with pytest.raises(TypeError, match="got x, x_off, weight, bias, out, gate"):
        kernels.conv_fwd(**args, gate=True)


COLD_START = """
import os, sys
import numpy
if sys.argv[1] == "one-cpu":
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
if sys.argv[1] == "broken-helper":  # the helper starts and fails at once
    fork = os.fork
    os.fork = lambda: fork() or os._exit(1)
import torch
from ftmamba_lite.ops import kernels
from ftmamba_lite.mamba import MambaLayer

torch.manual_seed(0)
layer = MambaLayer(16)
x = torch.randn(2, 40, 16, requires_grad=True)
layer(x).pow(2).sum().backward()
hits = [kernel.compiled(numpy.float32).cache_hits for kernel in kernels.KERNELS]
print([kernel.name for kernel in kernels.KERNELS], hits)
print(repr(float(x.grad.double().sum())))
"""


def cold_start(tmp_path: Path, mode: str) -> list[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / mode)}
    run = subprocess.run(
        [sys.executable, "-c", COLD_START, mode], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.splitlines()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two cores",
)
def test_a_cold_start_compiles_the_backward_scan_in_a_second_process(tmp_path: Path) -> None:
    """With an empty cache and two cores, scan_bwd comes from the cache the forked helper filled; with one
    core, or a helper that fails, the process compiles it itself; the gradients are the same (to PyTorch's
    summation order, which changes with its thread count: one core means one thread)."""
    helped, one_cpu, broken = (
        cold_start(tmp_path, mode) for mode in ("two-cpus", "one-cpu", "broken-helper")
    )
    names = "['scan_fwd', 'scan_bwd', 'conv_fwd', 'conv_bwd']"
    assert helped[0] == f"{names} [0, 1, 0, 0]"
    assert one_cpu[0] == broken[0] == f"{names} [0, 0, 0, 0]"
    assert helped[1] == broken[1]  # the same machine code, from the cache or compiled here
    assert float(one_cpu[1]) == pytest.approx(float(helped[1]), rel=1e-6)  # PyTorch's sums at 1 thread


def test_without_a_writable_cache_a_kernel_still_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba raises at decoration when no cache directory is writable; a kernel then compiles uncached."""
    real_cfunc = kernels.cfunc

    def cfunc_without_cache_dir(signature: object, **options: object) -> object:
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return real_cfunc(signature, **options)

    monkeypatch.setattr(kernels, "cfunc", cfunc_without_cache_dir)
    source = textwrap.dedent(
        """
        def double_item(item, thread, p):
            x = carray(_pointer(p[0], DT), (p[1],))
            x[item] *= 2
        """
    )
    namespace = dict(vars(kernels))
    exec(source, namespace)  # a work item defined like the kernels' own
    double = kernels.Kernel(namespace["double_item"], (("x", 1),), lambda x: x.shape[0])
    x = torch.arange(4, dtype=torch.float32)
    double(x=x)
    assert x.tolist() == [0, 2, 4, 6]


@pytest.mark.parametrize("kernel", kernels.KERNELS, ids=lambda k: k.name)
def test_each_work_item_reads_its_arguments_where_the_launcher_packs_them(kernel: kernels.Kernel) -> None:
    """A work item's first lines read argument k at p[SLOT k] (an array with its ndim dimensions after it):
    the same names, order and dimensions as the Kernel's ``arguments``."""
    source = inspect.getsource(kernel.item)
    array = re.compile(r"^    (\w+) = carray\(_pointer\(p\[(\d+)\], DT\), \(([^)]*)\)\)$", re.M)
    scalar = re.compile(r"^    (\w+) = p\[(\d+)\]( != 0)?$", re.M)
    found = [(int(m.group(2)), m.group(1), m.group(3)) for m in array.finditer(source)]
    found += [(int(m.group(2)), m.group(1), None) for m in scalar.finditer(source)]
    read = {name: (offset, shape) for offset, name, shape in sorted(found)}
    assert list(read) == [name for name, _ in kernel.arguments]
    for k, (name, ndim) in enumerate(kernel.arguments):
        offset, shape = read[name]
        assert offset == kernels.SLOT * k, name
        expected = None if ndim == 0 else ", ".join(f"p[{offset + 1 + i}]" for i in range(ndim))
        assert (shape or "").rstrip(",") == (expected or ""), name
