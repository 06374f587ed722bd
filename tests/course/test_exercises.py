"""Every exercise checker accepts its right answer, rejects a wrong one with a hint, and flags ``...``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftmamba_lite.course import exercises

RIGHT_AND_WRONG = {
    "check_spotify_token_count": (21, 20),
    "check_tokenizer_parameters": (136, 120),
    "check_cls_index": (5, 0),
    "check_zoh_multiplier": (0.6065, 0.5),
    "check_impulse_output": (0.5 * np.exp(-1.5), np.exp(-1.5)),
    "check_scan_rounds": (5, 21),
    "check_combine": ((0.4, 2.8), (0.4, 1.6)),
    "check_mamba_layer_parameters": (9_984, 9_920),
    "check_dt_rank": (12, 8),
    "check_attention_growth": (3.81, 2.0),
    "check_steps_per_epoch": (5_000, 160_000),
    "check_dot_score": (2.5, 4.5),
    "check_smallest_score": (0, -1),
    "check_metrics_example": (
        {"P@3": 2 / 3, "R@3": 5 / 6, "MRR@3": 0.75, "HR@1": 0.5},
        {"P@3": 2 / 3, "R@3": 2 / 3, "MRR@3": 0.75, "HR@1": 0.5},
    ),
    "check_precision_ceiling": (0.6, 1.0),
    "check_over_under_total": (0, 50),
    "check_training_examples": (7, 8),
    "check_ndcg_at_rank": (0.5, 1 / 3),
    "check_ssm_state_size": (4_096, 128),
    "check_hm_negative_share": (0.5, 1.0),
    "check_map_example": (5 / 6, 0.5),
    "check_relevant_per_user": (4, 1),
    "check_match_rate": (0.02, 0.5),
    "check_recommend_rows_left": (4, 10),
    "check_new_user_id_code": (943, 942),
}


def test_every_checker_is_tested() -> None:
    checkers = {name for name in exercises.__all__ if name.startswith("check_")}
    assert checkers == set(RIGHT_AND_WRONG)


@pytest.mark.parametrize("name", sorted(RIGHT_AND_WRONG))
def test_right_answer(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    right, _ = RIGHT_AND_WRONG[name]
    assert getattr(exercises, name)(right) is True
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("name", sorted(RIGHT_AND_WRONG))
def test_wrong_answer_gets_a_hint(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, wrong = RIGHT_AND_WRONG[name]
    assert getattr(exercises, name)(wrong) is False
    out = capsys.readouterr().out
    assert out.startswith("Not quite") and "Hint:" in out


@pytest.mark.parametrize("name", sorted(RIGHT_AND_WRONG))
def test_placeholder_is_not_an_answer(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert getattr(exercises, name)(...) is False
    assert capsys.readouterr().out.startswith("Not answered yet")


def test_numbers_arrive_in_any_numeric_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert exercises.check_spotify_token_count(np.int64(21))
    assert exercises.check_spotify_token_count(torch.tensor(21))
    assert exercises.check_zoh_multiplier(np.array([0.60653]))
    assert not exercises.check_spotify_token_count("21")
    assert not exercises.check_spotify_token_count(True)
    assert "single number" in capsys.readouterr().out


def test_metrics_checker_names_the_wrong_entries(capsys: pytest.CaptureFixture[str]) -> None:
    _, wrong = RIGHT_AND_WRONG["check_metrics_example"]
    exercises.check_metrics_example(wrong)
    assert "check R@3" in capsys.readouterr().out
    assert not exercises.check_metrics_example(0.5)
