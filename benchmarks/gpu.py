"""The GPU check: FT-Mamba's CUDA path (mamba-ssm's selective scan, causal-conv1d's convolution) against the
package's own kernels and against the Transformer, on one CUDA device.

    pip install -e ".[cuda]"                         # mamba-ssm and causal-conv1d, built for the torch there
    python -m benchmarks.gpu                         # a few minutes on one data-centre GPU
    python -m benchmarks.gpu --device cpu --quick    # a dry run of the script on the CPU (the tests run it)

1. agreement: the paper's Mamba embedder with the same weights on the device and on the CPU (the package's
   numba kernels, or its PyTorch path without numba): the largest difference of the outputs and of every
   parameter's gradient, relative to the largest value, float32.
2. forward + backward of the embedders at the paper presets, batch 32, l = 21 ... 4,096 tokens (21 and 128
   with ``--quick``): median milliseconds of the timed calls after one untimed call, synchronised with the
   device, and the peak device memory; Mamba over Transformer.
3. the Spotify two-tower training step (32 triples, both towers, forward, loss, backward, Adam), 200 steps (20
   with ``--quick``), Mamba over Transformer, from ``../shared/data/spotify`` (``--spotify DIR``; the
   synthetic environment where it is absent).

It prints the device, the implementations that ran (``mamba-ssm`` and ``causal-conv1d`` or the package's
fallbacks) and the tables, and writes ``benchmarks/out/gpu.csv`` (``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.run import OUT, SPOTIFY, _table

LENGTHS = [21, 128, 512, 2048, 4096]
QUICK_LENGTHS = [21, 128]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[], None], device: torch.device, reps: int) -> float:
    """Median milliseconds of ``reps`` calls after one untimed call (compiles, fills the allocator)."""
    step()
    _sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def implementations(device: torch.device) -> dict[str, str]:
    """What the Mamba layer runs on ``device``: the scan and the convolution."""
    from ftmamba_lite.ops.conv import conv_backend
    from ftmamba_lite.ops.mamba_inner import inner_backend
    from ftmamba_lite.ops.ssm import mamba_ssm_available

    inner = inner_backend(device)
    if inner == "numba":
        return {"layer": "numba (one fused operation)", "scan": "numba", "convolution": "numba"}
    scan = "mamba-ssm" if device.type == "cuda" and mamba_ssm_available() else "the package's fused scan"
    return {"layer": inner, "scan": scan, "convolution": conv_backend(device)}


def agreement(device: torch.device) -> dict[str, float]:
    """Section 1: the largest relative difference of the output and of the gradients, device against CPU."""
    from ftmamba_lite.mamba import MambaEmbedder

    torch.manual_seed(0)
    reference = MambaEmbedder.paper()
    x = torch.randn(4, 64, 128, generator=torch.Generator().manual_seed(1))  # (b, l, d_model)
    results = {}
    runs = []
    for where in (torch.device("cpu"), device):
        model = MambaEmbedder.paper().to(where)
        model.load_state_dict(reference.state_dict())
        out = model(x.to(where))  # (b, l, d_model)
        out.pow(2).mean().backward()
        runs.append({"output": out.detach().cpu(), **{n: p.grad.cpu() for n, p in model.named_parameters()}})
    for name, value in runs[0].items():
        scale = value.abs().max().clamp_min(1e-12)
        results[name] = float((runs[1][name] - value).abs().max() / scale)
    return results


def embedder_steps(device: torch.device, lengths: list[int], reps: int) -> list[dict[str, Any]]:
    """Section 2: forward + backward of each embedder at each length, batch 32."""
    from ftmamba_lite.mamba import MambaEmbedder
    from ftmamba_lite.transformer import TransformerEmbedder

    rows = []
    for l in lengths:
        row: dict[str, Any] = {"tokens": l}
        for name, make in (("mamba", MambaEmbedder.paper), ("transformer", TransformerEmbedder.paper)):
            torch.manual_seed(0)
            model = make().to(device)
            x = torch.randn(32, l, 128, device=device)  # (b, l, d_model)

            def step(model: torch.nn.Module = model, x: torch.Tensor = x) -> None:
                model.zero_grad(set_to_none=True)
                model(x)[:, -1].pow(2).mean().backward()  # the [CLS] token is the last one (paper II-B)

            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            try:
                row[f"{name}_ms"] = _timed(step, device, reps)
            except torch.OutOfMemoryError:
                row[f"{name}_ms"] = float("nan")
            row[f"{name}_peak_mb"] = (
                torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
            )
            del model, x
        row["ratio"] = row["mamba_ms"] / row["transformer_ms"]
        rows.append(row)
    return rows


def spotify_steps(device: torch.device, source: Path, steps: int) -> dict[str, float]:
    """Section 3: milliseconds per two-tower training step on the Spotify triples, per embedder."""
    import dataclasses

    from ftmamba_lite.datasets.spotify import load_spotify
    from ftmamba_lite.encoding import encode
    from ftmamba_lite.learn.engine import TwoTowerTask
    from ftmamba_lite.learn.registry import build_model

    data = load_spotify(str(source) if (source / "spotify_features.csv").is_file() else None, seed=0)
    enc = encode(data)
    on_device = dataclasses.replace(
        enc, **{f.name: getattr(enc, f.name).to(device) for f in dataclasses.fields(enc)
                if isinstance(getattr(enc, f.name), torch.Tensor)},
    )  # fmt: skip
    task = TwoTowerTask(on_device, batch_size=32)
    batches = task.epoch(torch.Generator().manual_seed(0))[:steps]
    result = {"source": data.source}
    for name in ("mamba", "transformer"):
        model = build_model(enc, name, seed=0).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        order = itertools.cycle(batches)

        def step(
            model: torch.nn.Module = model,
            optimizer: torch.optim.Optimizer = optimizer,
            order: itertools.cycle = order,
        ) -> None:
            optimizer.zero_grad(set_to_none=True)
            task.loss(model, next(order)).backward()
            optimizer.step()

        result[f"{name}_ms"] = _timed(step, device, len(batches))
    result["ratio"] = result["mamba_ms"] / result["transformer_ms"]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", help="the device to check (default cuda)")
    parser.add_argument("--quick", action="store_true", help="21 and 128 tokens, 20 Spotify steps")
    parser.add_argument("--spotify", default=str(SPOTIFY), help="directory of the Spotify data")
    parser.add_argument("--out", default=str(OUT), help="where gpu.csv goes")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run on a GPU machine, or pass --device cpu for a dry run")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}")
    print("implementations: " + ", ".join(f"{k} {v}" for k, v in implementations(device).items()))

    differences = agreement(device)
    worst = max(differences, key=differences.get)
    print(f"\n(1) device against CPU, same weights: output {differences['output']:.2e}, largest gradient "
          f"difference {differences[worst]:.2e} ({worst}), relative to the largest value")  # fmt: skip

    lengths = QUICK_LENGTHS if args.quick else LENGTHS
    rows = embedder_steps(device, lengths, reps=3 if args.quick else 10)
    print("\n(2) forward + backward, batch 32, paper presets\n")
    table = [
        [f"{r['tokens']:,}", f"{r['mamba_ms']:.2f}", f"{r['transformer_ms']:.2f}", f"{r['ratio']:.2f}",
         f"{r['mamba_peak_mb']:.0f} / {r['transformer_peak_mb']:.0f}"]
        for r in rows
    ]  # fmt: skip
    print(_table(["tokens", "Mamba ms", "Transformer ms", "Mamba / Transformer", "peak MB"], table))

    spotify = spotify_steps(device, Path(args.spotify), steps=20 if args.quick else 200)
    print(
        f"\n(3) Spotify two-tower training step ({spotify['source']}): Mamba {spotify['mamba_ms']:.2f} ms,"
        f" Transformer {spotify['transformer_ms']:.2f} ms, Mamba / Transformer {spotify['ratio']:.2f}"
    )

    import pandas as pd

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows).assign(device=name, section="embedders")
    extra = pd.DataFrame([{**spotify, "device": name, "section": "spotify"}])
    pd.concat([frame, extra]).to_csv(out / "gpu.csv", index=False)
    print(f"\nwrote {out / 'gpu.csv'}")


if __name__ == "__main__":
    main()
