"""The fused CPU selective scan against the reference recurrence, on both of its paths (numba and PyTorch)."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ftmamba_lite.ops import fused_scan, runtime
from ftmamba_lite.ops.fused_scan import scan_backend, selective_scan_fused
from ftmamba_lite.ops.runtime import DISABLE_NUMBA_ENV
from ftmamba_lite.ops.ssm import selective_scan, selective_scan_ref

HAS_NUMBA = importlib.util.find_spec("numba") is not None
BACKENDS = [
    pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")),
    pytest.param("numba-parallel", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")),
    "torch",
]
NAMES = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on one path of selective_scan_fused, selected with the environment variable: the numba
    kernels at one thread or at two, or PyTorch."""
    if request.param == "torch":
        monkeypatch.setenv(DISABLE_NUMBA_ENV, "1")
    else:
        monkeypatch.delenv(DISABLE_NUMBA_ENV, raising=False)
        request.getfixturevalue("set_kernel_threads")(2 if request.param == "numba-parallel" else 1)
    assert scan_backend("cpu") == request.param.removesuffix("-parallel")
    return request.param


def make_inputs(
    b: int,
    d: int,
    l: int,
    n: int,
    *,
    dtype: torch.dtype = torch.float32,
    with_D: bool = True,
    with_z: bool = True,
    with_bias: bool = True,
    delta_softplus: bool = True,
    seed: int = 0,
) -> dict[str, torch.Tensor | None]:
    """Inputs at the scale of a trained Mamba layer: A = -(1..n) perturbed, Δ from the mamba-ssm bias init.

    Without ``delta_softplus`` the scan takes Δ = delta + delta_bias as given, so both are made positive.
    """
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype)

    dt = torch.exp(
        torch.rand(d, generator=g, dtype=dtype) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)
    )
    A = -torch.arange(1, n + 1, dtype=dtype).repeat(d, 1) * torch.exp(0.3 * randn(d, n))
    delta = randn(b, d, l)
    bias = dt + torch.log(-torch.expm1(-dt))  # softplus^-1(dt)
    if not delta_softplus:
        delta, bias = F.softplus(delta + bias[:, None]), dt  # (b, d, l) + (d, 1)
    return {
        "u": randn(b, d, l),
        "delta": delta,
        "A": A,
        "B": randn(b, n, l),
        "C": randn(b, n, l),
        "D": randn(d) if with_D else None,
        "z": randn(b, d, l) if with_z else None,
        "delta_bias": bias if with_bias else None,
    }


def run_with_grads(
    fn: object, inputs: dict[str, torch.Tensor | None], delta_softplus: bool, dout: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Output of fn and the gradients of <out, dout> with respect to every tensor input."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items() if v is not None}
    args = {k: leaves.get(k) for k in NAMES}
    out = fn(**args, delta_softplus=delta_softplus)  # type: ignore[operator]
    if dout is None:
        dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    grads = torch.autograd.grad(out, list(leaves.values()), dout)
    return out, dict(zip(leaves, grads, strict=True))


def assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """Relative tolerance, with an absolute floor of rtol times the largest magnitude (sums cancel)."""
    atol = rtol * max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


FLAGS = [  # (D, z, delta_bias, delta_softplus)
    (True, True, True, True),
    (False, False, False, False),
    (True, False, True, False),
    (False, True, False, True),
]


@pytest.mark.parametrize("l", [1, 2, 3, 21, 100, 257])
@pytest.mark.parametrize("b, d, n", [(2, 8, 16), (1, 5, 4), (3, 3, 1)])
def test_matches_reference(backend: str, b: int, d: int, l: int, n: int) -> None:
    flags = FLAGS[(l + n) % len(FLAGS)]  # every flag combination meets several shapes
    inputs = make_inputs(
        b, d, l, n, with_D=flags[0], with_z=flags[1], with_bias=flags[2], delta_softplus=flags[3]
    )
    out, grads = run_with_grads(selective_scan_fused, inputs, flags[3])
    ref, ref_grads = run_with_grads(selective_scan_ref, inputs, flags[3])
    assert_close_scaled(out, ref)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert_close_scaled(grad, ref_grads[name])


@pytest.mark.parametrize("flags", FLAGS)
def test_flags_and_state_sizes_above_16(backend: str, flags: tuple[bool, bool, bool, bool]) -> None:
    """n > 16 runs as blocks of 16 on the numba path; every optional input on and off."""
    inputs = make_inputs(
        2, 6, 40, 20, with_D=flags[0], with_z=flags[1], with_bias=flags[2], delta_softplus=flags[3], seed=3
    )
    out, grads = run_with_grads(selective_scan_fused, inputs, flags[3])
    ref, ref_grads = run_with_grads(selective_scan_ref, inputs, flags[3])
    assert_close_scaled(out, ref)
    for name, grad in grads.items():
        assert_close_scaled(grad, ref_grads[name])


@pytest.mark.parametrize("b, d, l, n", [(2, 3, 5, 4), (1, 2, 1, 3), (2, 2, 4, 17)])
def test_gradcheck_float64(backend: str, b: int, d: int, l: int, n: int) -> None:
    inputs = make_inputs(b, d, l, n, dtype=torch.float64, seed=5)
    leaves = [inputs[k].clone().requires_grad_() for k in NAMES]  # type: ignore[union-attr]

    def fn(*args: torch.Tensor) -> torch.Tensor:
        return selective_scan_fused(*args, delta_softplus=True)

    assert fn(*leaves).dtype == torch.float64
    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_float64_matches_reference_tightly(backend: str) -> None:
    inputs = make_inputs(2, 4, 30, 16, dtype=torch.float64, seed=7)
    out, grads = run_with_grads(selective_scan_fused, inputs, True)
    ref, ref_grads = run_with_grads(selective_scan_ref, inputs, True)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], rtol=1e-10, atol=1e-10)


def test_half_precision_inputs_return_their_dtype(backend: str) -> None:
    inputs = make_inputs(2, 4, 9, 16, seed=8)
    half = {k: v.to(torch.bfloat16) if v is not None else None for k, v in inputs.items()}
    out = selective_scan_fused(**half, delta_softplus=True)
    ref = selective_scan_ref(**half, delta_softplus=True)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, ref, rtol=1e-2, atol=1e-2)


def test_long_sequence_stays_finite(backend: str) -> None:
    """10,000 tokens with Δ = softplus(N(0, 1) + the mamba-ssm bias init): no overflow, no NaN."""
    inputs = make_inputs(2, 8, 10_000, 16, seed=9)
    out, grads = run_with_grads(selective_scan_fused, inputs, True)
    assert torch.isfinite(out).all()
    for name, grad in grads.items():
        assert torch.isfinite(grad).all(), name


@pytest.mark.parametrize("l", [21, 100])
def test_inference_forward_matches_reference(backend: str, l: int) -> None:
    """Without autograd the forward keeps no checkpoints; the numbers are the same."""
    inputs = make_inputs(2, 8, l, 16, seed=10)
    with torch.no_grad():
        assert_close_scaled(
            selective_scan_fused(**inputs, delta_softplus=True),
            selective_scan_ref(**inputs, delta_softplus=True),
        )


def test_matches_reference_on_strided_views(backend: str) -> None:
    """The Mamba layer passes transposed views of (b, l, .) tensors; the result must not depend on strides."""
    b, d, l, n = 2, 6, 13, 16
    g = torch.Generator().manual_seed(11)
    xz = torch.randn(b, l, 2 * d, generator=g).transpose(1, 2)  # (b, 2d, l) view
    u, z = xz.chunk(2, dim=1)
    delta = torch.randn(b, l, d, generator=g).transpose(1, 2)
    x_dbl = torch.randn(b, l, 2 * n + 3, generator=g)
    B, C = x_dbl[..., 3 : 3 + n].transpose(1, 2), x_dbl[..., 3 + n :].transpose(1, 2)
    A = -torch.arange(1, n + 1.0).repeat(d, 1)
    args = (u, delta, A, B, C, torch.ones(d), z, torch.zeros(d))
    assert_close_scaled(selective_scan_fused(*args, True), selective_scan_ref(*args, True))


def test_never_saves_the_expanded_state(backend: str) -> None:
    """Nothing saved for the backward is as large as the (b, l, d, n) state (the parallel scan saves many)."""
    b, d, l, n = 2, 32, 257, 16
    inputs = {k: v.requires_grad_() for k, v in make_inputs(b, d, l, n).items() if v is not None}
    saved: list[int] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        selective_scan_fused(**inputs, delta_softplus=True)
    assert saved and max(saved) < b * l * d * n / 8


def test_bad_inputs_raise_value_error(backend: str) -> None:
    inputs = make_inputs(2, 4, 5, 3)
    inputs["B"] = torch.randn(2, 4, 5)
    with pytest.raises(ValueError, match="B must have shape"):
        selective_scan_fused(**inputs)
    with pytest.raises(ValueError, match="u must be"):
        selective_scan_fused(torch.randn(4, 5), *list(make_inputs(2, 4, 5, 3).values())[1:])


def test_dispatcher_uses_it_on_cpu(backend: str) -> None:
    inputs = make_inputs(2, 4, 7, 16)
    torch.testing.assert_close(
        selective_scan(**inputs, delta_softplus=True), selective_scan_fused(**inputs, delta_softplus=True)
    )


def test_environment_variable_selects_the_pytorch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_NUMBA_ENV, "1")
    assert scan_backend("cpu") == "torch"
    assert runtime.numba_kernels() is None
    assert scan_backend("meta") == "torch"
    monkeypatch.setenv(DISABLE_NUMBA_ENV, "0")
    assert scan_backend("cpu") == ("numba" if HAS_NUMBA else "torch")


def test_softplus_threshold_like_torch(backend: str) -> None:
    """Large pre-activations (softplus threshold 20) give Δ = delta exactly, as F.softplus does."""
    inputs = make_inputs(1, 3, 4, 4)
    inputs["delta"] = torch.full((1, 3, 4), 25.0)
    inputs["A"] = -torch.full((3, 4), 0.01)
    out, grads = run_with_grads(selective_scan_fused, inputs, True)
    ref, ref_grads = run_with_grads(selective_scan_ref, inputs, True)
    assert_close_scaled(out, ref)
    assert_close_scaled(grads["delta"], ref_grads["delta"])
    assert F.softplus(torch.tensor(25.0)) == 25.0


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_jit_without_a_writable_cache_still_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba raises at decoration when no cache directory is writable; the kernels then compile uncached."""
    from ftmamba_lite.ops import kernels

    real_njit = kernels.njit

    def njit_without_cache_dir(**options: object) -> object:
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return real_njit(**options)

    monkeypatch.setattr(kernels, "njit", njit_without_cache_dir)

    def f(x: float) -> float:
        return x + 1.0

    assert kernels._jit()(f)(1.0) == 2.0


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_each_dtype_of_a_kernel_has_its_own_cache_entry(tmp_path: Path) -> None:
    """numba names a cache file after the function and records no options in it: each dtype's compiled kernel
    has its own file, and a second process loads both from the cache, each computing what the first did."""
    code = textwrap.dedent(
        """
        import numpy as np
        import torch
        from ftmamba_lite.ops import kernels

        for dtype in (np.float32, np.float64):
            x = torch.from_numpy(np.linspace(-1, 1, 24, dtype=dtype).reshape(1, 3, 8))
            weight, bias = torch.full((2, 8), 0.5, dtype=x.dtype), torch.zeros(8, dtype=x.dtype)
            out = torch.empty_like(x)
            kernels.conv_fwd(x=x, x_off=0, weight=weight, bias=bias, silu=True, out=out)
            print(np.dtype(dtype).name, kernels.conv_fwd.compiled(dtype).cache_hits, repr(out.sum().item()))
        """
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        for _ in range(2)
    ]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    first, second = (run.stdout.split("\n")[:2] for run in runs)
    assert [line.split()[:2] for line in first] == [["float32", "0"], ["float64", "0"]]
    assert [line.split()[:2] for line in second] == [["float32", "1"], ["float64", "1"]]
    assert [line.split()[2] for line in first] == [line.split()[2] for line in second]
    names = {path.name.split("-")[0] for path in tmp_path.rglob("*.nbi")}
    assert {"kernels.conv_fwd_item_float32", "kernels.conv_fwd_item_float64"} <= names


@pytest.mark.skipif(
    not HAS_NUMBA or os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user"
)
def test_read_only_package_directory(tmp_path: Path) -> None:
    """A kernel defined in a read-only directory, with a read-only home: imports and runs (no cache)."""
    package = Path(fused_scan.__file__).parents[1]  # ftmamba_lite/
    code_dir, home = tmp_path / "code", tmp_path / "home"
    code_dir.mkdir()
    home.mkdir()
    (code_dir / "tiny.py").write_text(
        textwrap.dedent(
            """
            from ftmamba_lite.ops.kernels import _jit

            @_jit()
            def add_one(x):
                return x + 1.0
            """
        )
    )
    code_dir.chmod(0o555)
    home.chmod(0o555)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), PYTHONPATH=f"{code_dir}:{package.parent}")
    result = subprocess.run(
        [sys.executable, "-c", "import tiny; print(tiny.add_one(1.0))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.0"
