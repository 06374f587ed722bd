"""Live measurements for the course notebooks: how the scans and the embedders scale with the length l.

* :func:`scan_timings` -- the library's three selective-scan implementations as l grows (notebook 02).
* :func:`embedder_costs` -- time and activation memory of a Mamba and a Transformer embedder as the number of
  feature tokens grows (notebook 03; the paper's O(l) versus O(l^2) claim, II-A).
* :func:`cpu_description`, :func:`cost_verdict` -- which CPU measured, and what its numbers say in one
  sentence (the ratio flips with the CPU: vector width, matrix units, cores).

Times are the best of a few repeats after a warm-up (the first call compiles / allocates): on a shared or
busy machine the fastest repeat is the one least disturbed by other work (as :mod:`timeit` recommends).
Memory is measured as the bytes of the tensors autograd saves for the backward pass (parameters
excluded): the activation memory
a training step holds, which is what grows with l. Both are measured on whatever machine runs the notebook.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

from .ops.ssm import selective_scan, selective_scan_parallel, selective_scan_ref
from .sequential import SequenceRecommender, make_sequence_model
from .towers import make_embedder

__all__ = [
    "sequence_costs",
    "SCANS",
    "best_seconds",
    "cost_verdict",
    "cpu_description",
    "embedder_costs",
    "saved_activation_bytes",
    "scan_timings",
]

SCANS: dict[str, Callable[..., Tensor]] = {
    "recurrence (selective_scan_ref)": selective_scan_ref,
    "parallel scan (selective_scan_parallel)": selective_scan_parallel,
    "fused scan (selective_scan)": selective_scan,
}
"""The implementations :func:`scan_timings` compares, by label."""


def best_seconds(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Fewest wall-clock seconds of ``fn()`` over ``repeat`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _scan_inputs(b: int, d_in: int, n: int, length: int, generator: torch.Generator) -> dict[str, Tensor]:
    """Random inputs of the selective scan in mamba-ssm's layout (docs/notation.md)."""

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator)

    return {
        "u": randn(b, d_in, length),  # (b, d_in, length)
        "delta": randn(b, d_in, length),  # (b, d_in, length), softplus inside the scan
        "A": -torch.rand(d_in, n, generator=generator) - 0.5,  # (d_in, n), negative
        "B": randn(b, n, length),  # (b, n, length)
        "C": randn(b, n, length),  # (b, n, length)
        "D": randn(d_in),  # (d_in,)
        "z": randn(b, d_in, length),  # (b, d_in, length)
    }


def scan_timings(
    lengths: Sequence[int],
    scans: Mapping[str, Callable[..., Tensor]] | None = None,
    batch: int = 4,
    d_inner: int = 32,
    d_state: int = 16,
    repeat: int = 3,
    max_seconds: float = 1.0,
) -> pd.DataFrame:
    """Forward time of each scan implementation for every length l (no gradient).

    An implementation whose call takes longer than ``max_seconds`` is not run at the longer lengths (the
    Python recurrence gets slow first), which keeps a notebook cell short.

    Returns:
        one row per (implementation, length): ``implementation``, ``length``, ``ms``.
    """
    scans = SCANS if scans is None else scans
    generator = torch.Generator().manual_seed(0)
    rows = []
    too_slow: set[str] = set()
    for length in sorted(lengths):
        inputs = _scan_inputs(batch, d_inner, d_state, length, generator)
        for label, scan in scans.items():
            if label in too_slow:
                continue
            with torch.no_grad():
                seconds = best_seconds(lambda s=scan, x=inputs: s(**x, delta_softplus=True), repeat=repeat)
            rows.append({"implementation": label, "length": length, "ms": 1000 * seconds})
            if seconds > max_seconds:
                too_slow.add(label)
    return pd.DataFrame(rows)


def saved_activation_bytes(module: nn.Module, x: Tensor) -> int:
    """Bytes of the tensors autograd saves during ``module(x)`` for the backward pass, parameters excluded,
    each storage counted once."""
    parameters = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(storages.values())


def embedder_costs(
    n_tokens: Sequence[int],
    embedders: Sequence[str] = ("mamba", "transformer"),
    d_model: int = 32,
    n_layers: int | None = 1,
    batch: int = 32,
    repeat: int = 3,
    **embedder_kwargs: object,
) -> pd.DataFrame:
    """Time of one training step's forward + backward and its activation memory, per embedder and length.

    The embedders are the paper's presets (:func:`ftmamba_lite.towers.make_embedder`) at width ``d_model``
    with ``n_layers`` layers (None: the paper's 4 Mamba / 2 Transformer layers), fed random (b, l, d) tokens.

    Returns:
        one row per (embedder, l): ``embedder``, ``tokens`` (l), ``ms`` and ``activation_mb`` (MiB).
    """
    generator = torch.Generator().manual_seed(0)
    rows = []
    for kind in embedders:
        torch.manual_seed(0)
        module = make_embedder(kind, d_model, n_layers, **embedder_kwargs)
        for length in sorted(n_tokens):
            x = torch.randn(batch, length, d_model, generator=generator, requires_grad=True)  # (b, l, d)

            def step(module: nn.Module = module, x: Tensor = x) -> None:
                module(x).sum().backward()

            seconds = best_seconds(step, repeat=repeat)
            memory = saved_activation_bytes(module, x) / 2**20
            rows.append({"embedder": kind, "tokens": length, "ms": 1000 * seconds, "activation_mb": memory})
    return pd.DataFrame(rows)


_VECTOR_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "amx_tile": "AMX", "asimd": "NEON", "sve": "SVE"}


def cpu_description(cpuinfo: Path | str = "/proc/cpuinfo") -> str:
    """The CPU model and its vector extensions, e.g. "AMD EPYC (AVX2, AVX-512)", from Linux's cpuinfo
    (elsewhere, :func:`platform.processor`)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or fields.get("Model") or platform.machine() or "unknown CPU"
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    vector = [label for flag, label in _VECTOR_FLAGS.items() if flag in flags]
    return f"{name} ({', '.join(vector)})" if vector else name


def cost_verdict(costs: pd.DataFrame, cpu: str | None = None) -> str:
    """One sentence on what :func:`embedder_costs` measured: which embedder was faster, by what factor, at the
    shortest and the longest length, on which CPU (default: :func:`cpu_description`)."""
    wide = costs.pivot(index="tokens", columns="embedder", values="ms")  # (lengths, embedders)
    ratio = wide["mamba"] / wide["transformer"]

    def at(length: int) -> str:
        r = float(ratio.loc[length])
        faster = "Mamba" if r < 1 else "the Transformer"
        factor = 1 / r if r < 1 else r
        return f"{faster} is {factor:.2f}x faster at l = {length} (Mamba / Transformer {r:.2f})"

    short, long = int(ratio.index.min()), int(ratio.index.max())
    return f"On this CPU, {cpu or cpu_description()}: {at(short)}; {at(long)}."


def sequence_costs(
    lengths: Sequence[int],
    models: Sequence[str] = ("mamba4rec", "sasrec"),
    n_items: int = 1000,
    batch: int = 32,
    repeat: int = 3,
    **model_kwargs: object,
) -> pd.DataFrame:
    """Cost of each model as the history length l grows, on random histories of exactly l items.

    Per (model, l): ``train_ms`` (one training step: forward, cross-entropy at every position, backward,
    for a batch of ``batch`` histories), ``infer_ms_per_user`` (scoring the catalogue for one user, measured
    on the batch and divided by it) and ``activation_mb`` (what autograd keeps for the backward pass).
    """
    generator = torch.Generator().manual_seed(0)
    rows = []
    for name in models:
        torch.manual_seed(0)
        model = make_sequence_model(name, n_items, max_len=max(lengths), **model_kwargs)
        for length in sorted(lengths):
            items = torch.randint(1, n_items + 1, (batch, length + 1), generator=generator)  # (b, l + 1)
            x, y = items[:, :-1], items[:, 1:]  # (b, l) inputs and next items

            def step(model: SequenceRecommender = model, x: Tensor = x, y: Tensor = y) -> None:
                model.zero_grad(set_to_none=True)
                model.loss(x, y).backward()

            def infer(model: SequenceRecommender = model, x: Tensor = x) -> None:
                with torch.no_grad():
                    model.scores(x)

            model.train()
            train = best_seconds(step, repeat=repeat)
            model.eval()
            infer_seconds = best_seconds(infer, repeat=repeat)
            model.train()
            memory = saved_activation_bytes(model, x) / 2**20
            rows.append(
                {
                    "model": name,
                    "length": length,
                    "train_ms": 1000 * train,
                    "infer_ms_per_user": 1000 * infer_seconds / batch,
                    "activation_mb": memory,
                }
            )
    return pd.DataFrame(rows)
