"""Every exercise checker accepts its right answer, rejects a wrong one with a hint, and flags ``...``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftmamba_lite.course import exercises

RIGHT_AND_WRONG = {
    "check_hm_token_count": (6, 5),
    "check_tokenizer_parameters": (136, 120),
    "check_cls_index": (5, 0),
    "check_zoh_multiplier": (0.61, 0.5),
    "check_impulse_output": (0.112, np.exp(-1.5)),
    "check_scan_rounds": (5, 21),
    "check_combine": ((0.4, 2.8), (0.4, 1.6)),
    "check_mamba_layer_parameters": (9_984, 9_920),
    "check_dt_rank": (12, 8),
    "check_attention_growth": (3.81, 4.0),
    "check_training_steps": (2_250, 750),
    "check_dot_score": (2.5, 4.5),
    "check_constant_score_mse": (0.5, 0.49),
    "check_metrics_example": (
        {"P@3": 0.67, "R@3": 0.83, "MRR@3": 0.75, "HR@1": 0.5},
        {"P@3": 2 / 3, "R@3": 2 / 3, "MRR@3": 0.75, "HR@1": 0.5},
    ),
    "check_precision_ceiling": (0.65, 1.0),
    "check_over_under_count": (2, 3),
    "check_training_examples": (7, 8),
    "check_ndcg_at_rank": (0.5, (1 + 0.5 + 1 / np.log2(13)) / 3),
    "check_ssm_state_size": (4_096, 128),
    "check_hm_positive_share": (0.25, 0.5),
    "check_map_example": (0.833, 0.5),
    "check_relevant_per_user": (4, 1),
    "check_mismatch_share": (0.84, 0.1),
    "check_recommend_rows_left": (4, 10),
    "check_new_user_id_code": (943, 942),
}
"""A right answer given to the precision each question asks for, and a plausible wrong one."""


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
    assert exercises.check_hm_token_count(np.int64(6))
    assert exercises.check_hm_token_count(torch.tensor(6))
    assert exercises.check_zoh_multiplier(np.array([0.60653]))
    assert not exercises.check_hm_token_count("6")
    assert not exercises.check_hm_token_count(True)
    assert "single number" in capsys.readouterr().out


def test_metrics_checker_names_the_wrong_entries(capsys: pytest.CaptureFixture[str]) -> None:
    _, wrong = RIGHT_AND_WRONG["check_metrics_example"]
    exercises.check_metrics_example(wrong)
    assert "check R@3" in capsys.readouterr().out
    assert not exercises.check_metrics_example(0.5)


@pytest.mark.parametrize(
    ("name", "close", "too_far"),
    [
        ("check_impulse_output", 0.1116, 0.111),  # 3 significant figures of 0.5 exp(-1.5) = 0.11157
        ("check_zoh_multiplier", 0.6065, 0.60),  # 2 figures of exp(-0.5) = 0.6065
        ("check_attention_growth", 3.812, 3.80),  # 3 figures of (41/21)^2 = 3.8118
        ("check_mismatch_share", 0.845, 0.85),  # 2 figures of 0.8448
    ],
)
def test_checkers_accept_the_stated_precision_and_no_less(name: str, close: float, too_far: float) -> None:
    assert getattr(exercises, name)(close)
    assert not getattr(exercises, name)(too_far)


def test_a_wrong_answer_hint_names_the_precision(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check_impulse_output(0.2)
    assert "3 significant figures" in capsys.readouterr().out


def test_whole_number_answers_must_be_exact() -> None:
    assert not exercises.check_training_steps(2_251)
    assert exercises.check_training_steps(2_250.0)


@pytest.mark.parametrize("exercise", sorted(exercises.SOLUTIONS))
def test_every_solution_passes_its_checker(exercise: str, capsys: pytest.CaptureFixture[str]) -> None:
    entry = exercises.SOLUTIONS[exercise]
    answer = exercises.solution(exercise)
    shown = capsys.readouterr().out
    assert shown.startswith(f"Exercise {exercise}: ") and len(shown) > 40
    if entry.checker is None:
        assert answer is None
        return
    assert entry.checker in exercises.__all__
    assert getattr(exercises, entry.checker)(answer) is True


def test_every_checker_has_a_solution() -> None:
    checkers = {name for name in exercises.__all__ if name.startswith("check_")}
    assert checkers == {s.checker for s in exercises.SOLUTIONS.values() if s.checker}


def test_unknown_solution_names_the_exercises() -> None:
    with pytest.raises(KeyError, match="04.2"):
        exercises.solution("04.9")
