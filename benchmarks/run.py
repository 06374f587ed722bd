"""Speed and memory of FT-Mamba's CPU path against the Transformer baseline and a pure-PyTorch Mamba peer.

    python -m benchmarks.run            # everything (about 65 minutes on 2 cores)
    python -m benchmarks.run --quick    # a subset of a, b and c (no j), under 2 minutes
    python -m benchmarks.run --only a,b # some sections

Sections (see benchmarks/README.md for what every ratio means):
    a  selective scan, forward + backward, one layer at the paper size, against the sequence length
    b  training step (forward, backward, Adam) of the embedders at the paper presets, batch 32
    c  one Spotify seed at paper scale (5,000 steps) through ``ftmamba_lite.learn.engine.fit``
    j  numba's JIT: first call with an empty cache, and with the cache filled

Every configuration runs in its own subprocess (``--worker``), so that its peak resident memory is its own
and an out-of-memory stops only that configuration; address space is capped (``--mem-gb``) so that a
configuration that does not fit fails with an allocation error instead of waking the kernel's OOM killer.
Results: a table on stdout, CSV files and ``report.html`` (plotly) in ``benchmarks/out/``.

Dimension letters (docs/notation.md): b batch, l length, d d_inner (scan) or d_model (embedders), n d_state.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
METRIC = "wall"  # what the tables compare: "wall" (median wall-clock) or "cpu" (median process CPU time)
REPO = Path(__file__).resolve().parents[1]
SPOTIFY = REPO.parent / "shared" / "data" / "spotify"

SCAN_LENGTHS = [21, 64, 256, 1024, 4096]
STEP_LENGTHS = [21, 128, 512, 2048, 4096, 10_000]
SCAN_IMPLS = ["fused", "parallel", "reference", "mambapy"]
# model -> lengths it runs at (full run); "before" is this package with the pre-fusion scan and convolution
STEP_MODELS = {
    "mamba": STEP_LENGTHS,
    "transformer": STEP_LENGTHS,
    "mambapy": STEP_LENGTHS,
    "mamba-torch-path": [21, 512, 2048],
    "mamba-before": [21, 512, 2048],
}
QUICK_SCAN = {"lengths": [21, 128], "impls": SCAN_IMPLS}
QUICK_STEP = {"mamba": [21, 512], "transformer": [21, 512], "mambapy": [21], "mamba-torch-path": [21]}


# ----------------------------------------------------------------------------------------------------------
# workers: run in a subprocess, print one line "RESULT {json}"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _time_repeats(step: Callable[[], None], min_reps: int, budget_s: float) -> dict[str, Any]:
    """Wall-clock and process CPU seconds of each timed repetition, after one untimed warm-up call (it
    compiles the numba kernels on an empty cache and fills PyTorch's allocator): compile and warm-up are never
    timed. A configuration whose warm-up took longer than the budget is timed once more only (long
    configurations would otherwise run for many minutes)."""
    t0, c0 = time.perf_counter(), time.process_time()
    step()
    warmup, warmup_cpu = time.perf_counter() - t0, time.process_time() - c0
    times: list[float] = []
    cpu_times: list[float] = []
    reps = 1 if warmup > budget_s else min_reps
    start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start < budget_s and len(times) < 20):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        if time.perf_counter() - start > budget_s and len(times) >= reps:
            break
    return {"times": times, "cpu_times": cpu_times, "warmup_s": warmup, "warmup_cpu_s": warmup_cpu}


def _scan_inputs(b: int, d: int, l: int, n: int) -> list[Any]:
    """Inputs of one Mamba layer's scan at realistic scale: Δ bias from mamba-ssm's init, A = -(1..n)."""
    import torch

    g = torch.Generator().manual_seed(0)
    dt = torch.exp(torch.rand(d, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    tensors = [
        torch.randn(b, l, d, generator=g).transpose(1, 2),  # u (b, d, l), the layer's tokens-major view
        torch.randn(b, l, d, generator=g).transpose(1, 2),  # delta
        -torch.arange(1, n + 1.0).repeat(d, 1),  # A (d, n)
        torch.randn(b, l, n, generator=g).transpose(1, 2),  # B (b, n, l)
        torch.randn(b, l, n, generator=g).transpose(1, 2),  # C (b, n, l)
        torch.ones(d),  # D
        torch.randn(b, l, d, generator=g).transpose(1, 2),  # z
        dt + torch.log(-torch.expm1(-dt)),  # delta_bias = softplus^-1(dt)
    ]
    return [t.requires_grad_() for t in tensors]


def _mambapy_scan(u: Any, delta: Any, A: Any, B: Any, C: Any, D: Any, z: Any, delta_bias: Any) -> Any:
    """mambapy's ``Mamba.selective_scan`` (Blelloch pscan over (b, l, d, n)), with the bias, softplus and gate
    that mambapy applies around it, on our (b, d, l) layout."""
    import torch.nn.functional as F
    from mambapy.pscan import pscan

    x, z_ = u.transpose(1, 2), z.transpose(1, 2)  # (b, d, l) -> (b, l, d)
    dt = F.softplus(delta.transpose(1, 2) + delta_bias)  # (b, l, d)
    deltaA = (dt.unsqueeze(-1) * A).exp()  # (b, l, d, n)
    BX = dt.unsqueeze(-1) * B.transpose(1, 2).unsqueeze(2) * x.unsqueeze(-1)  # (b, l, d, n)
    hs = pscan(deltaA, BX)  # (b, l, d, n)
    y = (hs @ C.transpose(1, 2).unsqueeze(-1)).squeeze(3) + D * x  # (b, l, d)
    return (y * F.silu(z_)).transpose(1, 2)  # (b, d, l)


def worker_scan(spec: dict[str, Any]) -> dict[str, Any]:
    """Section a: one implementation, one length; forward + backward of one layer's scan."""
    import torch

    from ftmamba_lite.ops.fused_scan import selective_scan_fused
    from ftmamba_lite.ops.ssm import selective_scan_parallel, selective_scan_ref

    impls: dict[str, Callable[..., Any]] = {
        "fused": lambda *a: selective_scan_fused(*a, delta_softplus=True),
        "parallel": lambda *a: selective_scan_parallel(*a, delta_softplus=True),
        "reference": lambda *a: selective_scan_ref(*a, delta_softplus=True),
        "mambapy": _mambapy_scan,
    }
    fn = impls[spec["impl"]]
    inputs = _scan_inputs(spec["b"], spec["d"], spec["l"], spec["n"])
    if spec["l"] <= 64:  # the numbers agree (check on the short lengths, where the reference is cheap)
        with torch.no_grad():
            ref = selective_scan_ref(*inputs, delta_softplus=True)
            err = (fn(*inputs) - ref).abs().max().item() / ref.abs().max().item()
        assert err < 1e-4, f"{spec['impl']} disagrees with the reference: relative error {err:.2e}"
    dout = torch.randn(spec["b"], spec["d"], spec["l"])

    def step() -> None:
        out = fn(*inputs)
        out.backward(dout)
        for t in inputs:
            t.grad = None

    return _time_repeats(step, spec["min_reps"], spec["budget_s"])


def _embedder(name: str) -> Any:
    import torch

    if name == "transformer":
        from ftmamba_lite.transformer import TransformerEmbedder

        return TransformerEmbedder.paper()
    if name == "mambapy":
        from mambapy.mamba import Mamba, MambaConfig

        return Mamba(MambaConfig(d_model=128, n_layers=4, d_state=16, expand_factor=2, d_conv=16))
    from ftmamba_lite import mamba
    from ftmamba_lite.ops.conv import causal_conv1d_ref
    from ftmamba_lite.ops.ssm import selective_scan_parallel

    if name == "mamba-before":  # what the package ran before the fused kernels: parallel scan, grouped conv1d
        # the module, not the function of the same name that ftmamba_lite.ops exports
        inner = importlib.import_module("ftmamba_lite.ops.mamba_inner")
        mamba.mamba_inner = functools.partial(  # type: ignore[assignment]
            inner._composite, conv=causal_conv1d_ref, scan=selective_scan_parallel
        )
    torch.manual_seed(0)
    return mamba.MambaEmbedder.paper()


def worker_step(spec: dict[str, Any]) -> dict[str, Any]:
    """Section b: one embedder, one length; forward, backward and Adam on (32, l, 128) tokens."""
    import torch

    if spec["model"] == "mamba-torch-path":
        os.environ["FTMAMBA_LITE_DISABLE_NUMBA"] = "1"
    model = _embedder(spec["model"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)  # as train.fit
    x = torch.randn(spec["b"], spec["l"], 128, generator=torch.Generator().manual_seed(0))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(x)  # (b, l, d)
        out[:, -1].pow(2).mean().backward()  # the [CLS] token is the last one (paper II-B)
        optimizer.step()

    return _time_repeats(step, spec["min_reps"], spec["budget_s"])


def worker_spotify(spec: dict[str, Any]) -> dict[str, Any]:
    """Section c: one seed of the paper's Spotify experiment, for one embedder."""
    from ftmamba_lite.datasets.spotify import load_spotify
    from ftmamba_lite.encoding import encode
    from ftmamba_lite.learn.engine import fit
    from ftmamba_lite.learn.registry import build_model

    enc = encode(load_spotify(spec["source"], seed=0))
    model = build_model(enc, spec["model"], seed=0)
    history = fit(model, enc, steps=spec["steps"], seed=0, eval_every=None, progress=False)
    return {"times": [history.seconds], "cpu_times": [history.seconds], "metrics": history.final_metrics}


def worker_jit(spec: dict[str, Any]) -> dict[str, Any]:
    """Section j: the first and second forward + backward of the paper's Mamba embedder on (32, 21, 128)
    tokens (float32) in a fresh process: the first compiles the kernels unless numba's cache has them."""
    import torch

    from ftmamba_lite.mamba import MambaEmbedder

    torch.manual_seed(0)
    model = MambaEmbedder.paper()
    x = torch.randn(32, 21, 128)

    def step() -> None:
        model(x)[:, -1].pow(2).mean().backward()

    t0, c0 = time.perf_counter(), time.process_time()
    step()
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    step()
    return {"times": [first], "cpu_times": [first_cpu], "second_call_s": time.perf_counter() - t0}


WORKERS = {"scan": worker_scan, "step": worker_step, "spotify": worker_spotify, "jit": worker_jit}


def run_worker(spec: dict[str, Any]) -> None:
    from ftmamba_lite.ops.threads import set_num_threads

    set_num_threads(spec.get("threads", 2))  # PyTorch's and numba's, in the order that keeps both
    mem = int(spec["mem_gb"] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    try:
        result = WORKERS[spec["kind"]](spec)
        result["status"] = "ok"
    except (MemoryError, RuntimeError) as err:  # torch reports a failed allocation as RuntimeError
        if "memory" not in str(err).lower() and not isinstance(err, MemoryError):
            raise
        result = {"status": "OOM", "error": str(err).splitlines()[0][:200]}
    result["peak_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------------------------------------
# parent: run the workers, collect, print, save


def run_config(spec: dict[str, Any], timeout_s: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one configuration in a subprocess; status ok, OOM, timeout, killed or error."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, env=env or dict(os.environ)
        )
    except subprocess.TimeoutExpired:
        return {**spec, "status": f"timeout>{timeout_s:.0f}s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        status = "killed (OOM?)" if proc.returncode in (-9, 137) else f"error rc={proc.returncode}"
        tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
        return {**spec, "status": status, "error": tail}
    result = {**spec, **json.loads(lines[-1][len("RESULT ") :])}
    if result["status"] == "ok":
        result["wall_ms"] = 1e3 * statistics.median(result["times"])
        result["cpu_ms"] = 1e3 * statistics.median(result["cpu_times"])
        result["median_ms"] = result[f"{METRIC}_ms"]
        result["reps"] = len(result["times"])
    return result


def _fmt_ms(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    if r["status"] != "ok":
        return r["status"]
    return f"{r['median_ms']:.1f}"


def _ratio(num: dict[str, Any] | None, den: dict[str, Any] | None) -> str:
    if num is None or den is None or num["status"] != "ok" or den["status"] != "ok":
        return "-"
    return f"{num['median_ms'] / den['median_ms']:.3f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def section_scan(args: argparse.Namespace) -> list[dict[str, Any]]:
    lengths = QUICK_SCAN["lengths"] if args.quick else SCAN_LENGTHS
    impls = [i for i in SCAN_IMPLS if i != "mambapy" or _has_mambapy()]
    results = []
    for l in lengths:
        for impl in impls:
            spec = {"kind": "scan", "impl": impl, "b": 32, "d": 256, "n": 16, "l": l, "mem_gb": args.mem_gb}
            spec["threads"] = args.threads
            spec.update(min_reps=3 if args.quick else 5, budget_s=3.0 if args.quick else 15.0)
            results.append(run_config(spec, timeout_s=60 if args.quick else 180))
            print(f"  a  {impl:>10}  l={l:>5}  {_fmt_ms(results[-1])} ms", flush=True)
    by = {(r["impl"], r["l"]): r for r in results}
    rows = []
    for l in lengths:
        fused = by.get(("fused", l))
        rows.append(
            [str(l)]
            + [_fmt_ms(by.get((i, l))) for i in impls]
            + [_ratio(fused, by.get((i, l))) for i in impls if i != "fused"]
        )
    headers = ["l"] + [f"{i} ms" for i in impls] + [f"fused/{i}" for i in impls if i != "fused"]
    print(f"\n(a) selective scan, forward + backward, b=32 d_inner=256 n=16 (median {METRIC} ms)\n")
    print(_table(headers, rows))
    return results


PAIR = ("mamba", "transformer")  # the pair whose ratio the targets read: timed in alternating rounds


def section_step(args: argparse.Namespace) -> list[dict[str, Any]]:
    plan = QUICK_STEP if args.quick else STEP_MODELS
    if not _has_mambapy():
        print("  (mambapy not installed: `pip install mambapy` to benchmark the peer; skipped)")
        plan = {m: ls for m, ls in plan.items() if m != "mambapy"}
    rounds = 1 if args.quick else args.rounds
    results = []
    for l in sorted({l for ls in plan.values() for l in ls}):
        # At a length a target reads, Mamba and the Transformer run in `rounds` alternating pairs of processes
        # (the machine's speed moves between processes; the target reads the median of the rounds' ratios);
        # every other configuration once
        targeted = any(section == "step" and num[1] == l for _, section, num, _, _ in TARGETS)
        pair_rounds = rounds if targeted else 1
        runs = [(m, r) for r in range(pair_rounds) for m in (PAIR if r % 2 == 0 else PAIR[::-1])]
        runs += [(m, 0) for m in plan if m not in PAIR]
        for model, round_ in runs:
            if l not in plan.get(model, ()):
                continue
            spec = {
                "kind": "step",
                "model": model,
                "b": 32,
                "l": l,
                "mem_gb": args.mem_gb,
                "threads": args.threads,
                "round": round_,
            }
            spec.update(min_reps=3 if args.quick else 5, budget_s=4.0 if args.quick else 30.0)
            results.append(run_config(spec, timeout_s=90 if args.quick else 600))
            r = results[-1]
            rss = f"{r['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in r else ""
            print(f"  b  {model:>16}  l={l:>6}  round {round_}  {_fmt_ms(r)} ms  {rss}", flush=True)
    by = {(r["model"], r["l"]): r for r in results if r.get("round", 0) == 0}
    models = list(plan)
    rows = []
    for l in sorted({r["l"] for r in results}):
        mamba, peer = by.get(("mamba", l)), by.get(("mambapy", l))
        cells = [str(l)] + [_fmt_ms(by.get((m, l))) for m in models]
        paired = paired_ratio(results, ("mamba", l), ("transformer", l))
        cells += ["-" if paired is None else f"{paired:.3f}", _ratio(mamba, peer)]
        cells += [_ratio(by.get(("mamba-torch-path", l)), mamba), _ratio(by.get(("mamba-before", l)), mamba)]
        cells += [
            f"{by[(m, l)]['peak_rss_mb']:.0f}" if (m, l) in by and "peak_rss_mb" in by[(m, l)] else "-"
            for m in ("mamba", "transformer", "mambapy")
        ]
        rows.append(cells)
    headers = (
        ["l"]
        + [f"{m} ms" for m in models]
        + ["mamba/transformer", "mamba/mambapy", "torch-path/numba", "before/after"]
        + ["mamba MB", "transformer MB", "mambapy MB"]
    )
    print(
        f"\n(b) training step (forward, backward, Adam), batch 32, d_model 128 (median {METRIC} ms; the first"
        f" round's; mamba/transformer: at the targets' lengths the median of {rounds} round(s)' ratios)\n"
    )
    print(_table(headers, rows))
    return results


def section_spotify(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Section c. Kept apart from a and b: it needs
    ``ftmamba_lite.learn.engine`` and the Spotify data."""
    try:
        import ftmamba_lite.learn.engine  # noqa: F401
    except ImportError:
        print("\n(c) pending: ftmamba_lite.learn.engine is not available")
        return []
    if not (Path(args.spotify) / "spotify_features.csv").exists():
        print(f"\n(c) skipped: no Spotify data at {args.spotify}")
        return []
    steps = 100 if args.quick else 5000
    results = []
    for model in ("mamba", "transformer"):
        spec = {"kind": "spotify", "model": model, "steps": steps, "source": str(args.spotify)}
        spec.update(mem_gb=args.mem_gb, threads=args.threads)
        results.append(run_config(spec, timeout_s=3600))
        print(f"  c  {model:>12}  {steps} steps  {_fmt_ms(results[-1])} ms", flush=True)
    rows = []
    for r in results:
        ok = r["status"] == "ok"
        metrics = r.get("metrics", {})
        rows.append(
            [
                r["model"],
                f"{r['median_ms'] / 1e3:.1f}" if ok else r["status"],
                f"{r['median_ms'] / steps:.1f}" if ok else "-",
                f"{metrics.get('HR@1', float('nan')):.3f}" if ok else "-",
                f"{r.get('peak_rss_mb', float('nan')):.0f}",
            ]
        )
    print(f"\n(c) one Spotify seed, {steps} steps of batch 32 with test evaluation at the end\n")
    print(_table(["embedder", "wall s", "ms / step", "HR@1", "peak MB"], rows))
    return results


def section_jit(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Section j at one thread and at two, each on its own empty cache (with a cold cache the process
    compiles the backward's scan in a second process, ``ftmamba_lite.ops.kernels._cold_start``)."""
    results = []
    for threads in (1, 2):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            for label in ("empty cache", "cache filled"):
                spec = {"kind": "jit", "label": label, "mem_gb": args.mem_gb, "threads": threads}
                results.append(run_config(spec, timeout_s=600, env=env))
    rows = [
        [
            str(r["threads"]),
            r["label"],
            f"{r['times'][0]:.2f}" if r["status"] == "ok" else r["status"],
            f"{r['cpu_times'][0]:.2f}",
            f"{r['second_call_s']:.4f}",
        ]
        for r in results
        if r["status"] == "ok"
    ]
    print(
        "\n(j) numba JIT: first forward + backward of the paper's Mamba embedder, (32, 21, 128) tokens,"
        " in a fresh process (s)\n"
    )
    print(_table(["threads", "cache", "first call s", "its CPU s", "second call s"], rows))
    return results


def _has_mambapy() -> bool:
    import importlib.util

    return importlib.util.find_spec("mambapy") is not None


VECTOR_FLAGS = (
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
)


def _machine() -> dict[str, str]:
    """CPU model (with family and model number: some hosts name only the vendor), its vector extensions from
    /proc/cpuinfo's flags, cores, versions and the load average."""
    import numba
    import torch

    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    cpu = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields:
        cpu += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    flags = set(fields.get("flags", "").split())
    vector = [f for f in VECTOR_FLAGS if f in flags]
    return {
        "cpu": cpu,
        "vector_extensions": " ".join(vector) if vector else "none of " + " ".join(VECTOR_FLAGS),
        "cores": str(os.cpu_count()),
        "torch": torch.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
        "load_average_1min": f"{os.getloadavg()[0]:.2f}",
    }


# the targets, each as (label, section, numerator, denominator, limit); ratios of one run (the steps': the
# median of the rounds' ratios, see paired_ratio)
TARGETS = [
    ("Mamba / Transformer train step, 21 tokens", "step", ("mamba", 21), ("transformer", 21), 0.6),
    ("Mamba / Transformer train step, 512 tokens", "step", ("mamba", 512), ("transformer", 512), 0.45),
    ("Mamba / Transformer train step, 4,096 tokens", "step", ("mamba", 4096), ("transformer", 4096), 0.3),
    ("Mamba / Transformer Spotify two-tower seed", "spotify", ("mamba", None), ("transformer", None), 0.6),
]
COLD_START_TARGET_S = 3.0


def paired_ratio(
    rows: list[dict[str, Any]], num: tuple[str, int | None], den: tuple[str, int | None]
) -> float | None:
    """The median over rounds of num's time / den's time in the same round (``round`` 0 when a section runs
    once); None when no round has both. num and den are (model, length or None)."""
    by_round: dict[int, dict[str, float]] = {}
    for r in rows:
        for key in (num, den):
            if r["status"] == "ok" and r["model"] == key[0] and (key[1] is None or r["l"] == key[1]):
                by_round.setdefault(r.get("round", 0), {})[key[0]] = r["median_ms"]
    pairs = [times for times in by_round.values() if num[0] in times and den[0] in times]
    ratios = [times[num[0]] / times[den[0]] for times in pairs]
    return statistics.median(ratios) if ratios else None


def targets(results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every target of the issue with its measured value and met / not met / not measured."""
    measured = [
        (label, limit, paired_ratio(results.get(section, []), num, den))
        for label, section, num, den, limit in TARGETS
    ]
    for threads in (1, 2):
        cold = [
            r
            for r in results.get("jit", [])
            if r["status"] == "ok" and r["label"] == "empty cache" and r.get("threads", 2) == threads
        ]
        label = f"first Mamba forward + backward, empty numba cache, {threads} thread(s) (s)"
        measured.append((label, COLD_START_TARGET_S, cold[0]["times"][0] if cold else None))
    rows = []
    for label, limit, value in measured:
        result = "not measured" if value is None else ("met" if value <= limit else "not met")
        rows.append({"target": label, "limit": f"<= {limit}", "value": value, "result": result})
    return rows


def save(results: dict[str, list[dict[str, Any]]], machine: dict[str, str], out: Path) -> None:
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out.mkdir(parents=True, exist_ok=True)
    for name, rows in results.items():
        if rows:
            frame = pd.DataFrame(
                [{k: v for k, v in r.items() if k not in ("times", "metrics")} for r in rows]
            )
            frame["cpu"], frame["vector_extensions"] = machine["cpu"], machine["vector_extensions"]
            frame.to_csv(out / f"{name}.csv", index=False)
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("(a) scan fwd+bwd, ms", "(b) train step, ms", "(b) train step, peak RSS MB"),
    )
    for impl in SCAN_IMPLS:
        pts = [r for r in results.get("scan", []) if r["impl"] == impl and r["status"] == "ok"]
        if pts:
            fig.add_trace(
                go.Scatter(x=[r["l"] for r in pts], y=[r["median_ms"] for r in pts], name=impl), 1, 1
            )
    for model in STEP_MODELS:
        pts = [r for r in results.get("step", []) if r["model"] == model and r["status"] == "ok"]
        if pts:
            x = [r["l"] for r in pts]
            fig.add_trace(go.Scatter(x=x, y=[r["median_ms"] for r in pts], name=f"{model}"), 1, 2)
            fig.add_trace(
                go.Scatter(x=x, y=[r["peak_rss_mb"] for r in pts], name=f"{model} RSS", showlegend=False),
                1,
                3,
            )
    fig.update_xaxes(type="log", title_text="tokens l")
    fig.update_yaxes(type="log")
    title = ", ".join(f"{k} {v}" for k, v in machine.items())
    fig.update_layout(title=f"ftmamba-lite CPU benchmarks ({title})", height=520, width=1500)
    fig.write_html(out / "report.html", include_plotlyjs="cdn")
    (out / "machine.json").write_text(json.dumps(machine, indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a subset that runs in under 2 minutes")
    parser.add_argument(
        "--only", help="sections to run, comma-separated (default a,b,c,j; with --quick a,b,c)"
    )
    parser.add_argument("--mem-gb", type=float, default=20.0, help="address-space cap of every configuration")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch and numba threads per configuration")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="section b: alternating pairs of Mamba and Transformer processes at the targets' lengths "
        "(--quick: 1)",
    )
    parser.add_argument(
        "--metric",
        choices=["wall", "cpu"],
        default="wall",
        help="compare median wall-clock time (default) or median process CPU time (use with --threads 1 when "
        "other processes share the machine: it does not count the time spent waiting for a core)",
    )
    parser.add_argument("--spotify", default=str(SPOTIFY), help="directory of the Spotify data (section c)")
    parser.add_argument("--out", default=str(OUT), help="where the CSV and HTML go")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(json.loads(args.worker))
        return
    global METRIC
    METRIC = args.metric
    machine = {**_machine(), "threads": str(args.threads), "metric": args.metric}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))  # CPU and vector extensions
    if float(machine["load_average_1min"]) > 0.5:
        print("WARNING: the machine is busy (load average above 0.5); timings will be inflated and noisy")
    sections = {"a": ("scan", section_scan), "b": ("step", section_step)}
    sections.update(c=("spotify", section_spotify), j=("jit", section_jit))
    results: dict[str, list[dict[str, Any]]] = {}
    start = time.perf_counter()
    for key in (args.only or ("a,b,c" if args.quick else "a,b,c,j")).split(","):
        name, fn = sections[key.strip()]
        print(f"\n== section {key}: {name}", flush=True)
        results[name] = fn(args)
    machine["load_average_1min_end"] = f"{os.getloadavg()[0]:.2f}"
    results["targets"] = targets(results)
    rows = [[t["target"], t["limit"], "-" if t["value"] is None else f"{t['value']:.3f}", t["result"]]
            for t in results["targets"]]  # fmt: skip
    print(
        f"\ntargets at {args.threads} thread(s) (the cold starts: at the count each row names), on"
        f" {machine['cpu']} [{machine['vector_extensions']}]\n"
    )
    print(_table(["target", "limit", "measured", "result"], rows))
    save(results, machine, Path(args.out))
    print(f"\nwrote {args.out}/*.csv and report.html in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
