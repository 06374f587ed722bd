"""The benchmark's verdicts: a step target reads the median of its rounds' ratios, each round's Mamba time
over the same round's Transformer time."""

from __future__ import annotations

import pytest

from benchmarks.run import paired_ratio, targets


def step(model: str, l: int, ms: float, round_: int, status: str = "ok") -> dict[str, object]:
    return {"model": model, "l": l, "median_ms": ms, "round": round_, "status": status}


def test_a_step_ratio_is_the_median_of_the_rounds_ratios() -> None:
    rows = [
        step("mamba", 21, 20.0, 0), step("transformer", 21, 40.0, 0),  # 0.5
        step("transformer", 21, 30.0, 1), step("mamba", 21, 21.0, 1),  # 0.7
        step("mamba", 21, 18.0, 2), step("transformer", 21, 30.0, 2),  # 0.6
        step("mamba", 512, 1.0, 0), step("transformer", 512, 100.0, 0),  # another length: not mixed in
    ]  # fmt: skip
    assert paired_ratio(rows, ("mamba", 21), ("transformer", 21)) == pytest.approx(0.6)
    # the ratio of the medians would differ: 20 / 30
    assert paired_ratio(rows, ("mamba", 512), ("transformer", 512)) == pytest.approx(0.01)


def test_a_round_without_both_models_is_left_out() -> None:
    rows = [
        step("mamba", 21, 20.0, 0), step("transformer", 21, 40.0, 0),
        step("mamba", 21, 5.0, 1), step("transformer", 21, 0.0, 1, status="OOM"),
        step("mamba", 21, 5.0, 2),
    ]  # fmt: skip
    assert paired_ratio(rows, ("mamba", 21), ("transformer", 21)) == pytest.approx(0.5)
    assert paired_ratio(rows[2:], ("mamba", 21), ("transformer", 21)) is None


def test_the_targets_read_one_run_sections_and_rounds_alike() -> None:
    spotify = [
        {"model": "mamba", "median_ms": 30.0, "status": "ok"},
        {"model": "transformer", "median_ms": 40.0, "status": "ok"},
    ]
    rows = [step("mamba", 21, 20.0, 0), step("transformer", 21, 30.0, 0), step("mamba", 21, 25.0, 1)]
    rows += [step("transformer", 21, 40.0, 1)]
    verdicts = {t["target"]: t for t in targets({"step": rows, "spotify": spotify})}
    short = verdicts["Mamba / Transformer train step, 21 tokens"]
    assert short["value"] == pytest.approx((2 / 3 + 5 / 8) / 2)
    assert short["result"] == "not met"  # 0.646 > 0.6
    assert verdicts["Mamba / Transformer Spotify two-tower seed"]["result"] == "not met"  # 0.75
    assert verdicts["Mamba / Transformer train step, 512 tokens"]["result"] == "not measured"
