"""The prepared GPU check (``benchmarks/gpu.py``) runs end to end: here as its dry run on the CPU, where the
device's path is the package's own, so the agreement section must find no difference at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_on_the_cpu(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.gpu", "--device", "cpu", "--quick", "--out", str(tmp_path)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "device: CPU" in run.stdout
    assert "output 0.00e+00, largest gradient difference 0.00e+00" in run.stdout
    frame = pd.read_csv(tmp_path / "gpu.csv")
    embedders = frame[frame["section"] == "embedders"]
    assert embedders["tokens"].tolist() == [21, 128]
    assert (embedders["mamba_ms"] > 0).all() and (embedders["transformer_ms"] > 0).all()
    spotify = frame[frame["section"] == "spotify"].iloc[0]
    assert spotify["ratio"] == spotify["mamba_ms"] / spotify["transformer_ms"]


def test_without_a_cuda_device_the_check_says_so() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if "device: " in run.stdout:  # this machine has a CUDA device: the check ran
        assert run.returncode == 0, run.stderr[-3000:]
        return
    assert run.returncode != 0
    assert "no CUDA device here" in run.stderr
