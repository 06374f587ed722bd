"""The notebook's live cost measurements: the CPU they name and the sentence they print."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ftmamba_lite import timing


def test_cpu_description_names_the_model_and_its_vector_extensions(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t: fpu avx2 avx512f amx_tile\n")
    assert timing.cpu_description(info) == "Intel(R) Xeon(R) CPU @ 2.20GHz (AVX2, AVX-512, AMX)"
    info.write_text("model name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2\n")
    assert timing.cpu_description(info) == "AMD EPYC 7B13 (AVX2)"


def test_cost_verdict_says_which_embedder_was_faster_at_each_end() -> None:
    rows = [("mamba", 8, 2.0), ("transformer", 8, 4.0), ("mamba", 64, 9.0), ("transformer", 64, 6.0)]
    costs = pd.DataFrame(rows, columns=["embedder", "tokens", "ms"])
    sentence = timing.cost_verdict(costs, cpu="Test CPU (AVX2)")
    assert sentence.startswith("On this CPU, Test CPU (AVX2): ")
    assert "Mamba is 2.00x faster at l = 8 (Mamba / Transformer 0.50)" in sentence
    assert "the Transformer is 1.50x faster at l = 64 (Mamba / Transformer 1.50)" in sentence
