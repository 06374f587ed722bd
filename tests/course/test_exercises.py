"""Every exercise checker accepts its right answer, rejects a wrong one with a hint, and flags ``...``."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ftmamba_lite.course import build_checks as bc
from ftmamba_lite.course import exercises

RIGHT_AND_WRONG = {
    "check_hm_token_count": (6, 5),
    "check_cls_index": (5, 0),
    "check_zoh_multiplier": (0.61, 0.5),
    "check_scan_rounds": (5, 21),
    "check_dt_rank": (12, 8),
    "check_attention_growth": (3.81, 4.0),
    "check_training_steps": (2_250, 750),
    "check_dot_score": (2.5, 4.5),
    "check_constant_score_mse": (
        {"mse": 0.5, "c": 0, "c_without_relu": -0.1},
        {"mse": 0.5, "c": 0, "c_without_relu": 0.0},
    ),
    "check_precision_ceiling": (0.65, 1.0),
    "check_over_under_count": (2, 3),
    "check_training_examples": (7, 8),
    "check_ssm_state_size": (
        {"numbers": 6_144, "depends_on_length": False},
        {"numbers": 6_144, "depends_on_length": True},
    ),
    "check_hm_positive_share": (
        {"share": 0.25, "best_constant": 0.25},
        {"share": 0.25, "best_constant": 0.5},
    ),
    "check_map_example": (0.833, 0.5),
    "check_cluster_ceiling": ({"P@5": 0.4, "R@5": 1, "HR@1": 1}, {"P@5": 0.4, "R@5": 0.4, "HR@1": 1}),
    "check_mismatch_share": (0.84, 0.1),
    "check_recommend_rows_left": (4, 10),
    "check_new_user_id_code": (943, 942),
}
"""A right answer given to the precision each question asks for, and a plausible wrong one."""


FUNCTION_CHECKERS = {
    "check_tokenizer_forward": bc.solve_tokenizer_forward,
    "check_recurrence": bc.solve_recurrence,
    "check_combine": bc.solve_combine,
    "check_blelloch_scan": bc.solve_blelloch_scan,
    "check_mamba_layer": bc.solve_mamba_layer,
    "check_hr_ndcg": bc.solve_hr_ndcg,
    "check_training_windows": bc.solve_training_windows,
}
"""The build-it-yourself checkers, which take the student's function, with the worked solution."""


def test_every_checker_is_tested() -> None:
    checkers = {name for name in exercises.__all__ if name.startswith("check_")}
    assert checkers == set(RIGHT_AND_WRONG) | set(FUNCTION_CHECKERS)
    assert not set(RIGHT_AND_WRONG) & set(FUNCTION_CHECKERS)


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


def test_multi_part_checkers_name_the_wrong_or_missing_part(capsys: pytest.CaptureFixture[str]) -> None:
    _, wrong = RIGHT_AND_WRONG["check_constant_score_mse"]
    assert not exercises.check_constant_score_mse(wrong)
    assert "check 'c_without_relu' (the other parts are right)" in capsys.readouterr().out
    assert not exercises.check_constant_score_mse({"mse": 0.5})  # one part of three is not an answer
    assert "the answer has no 'c', 'c_without_relu'" in capsys.readouterr().out
    assert not exercises.check_hm_positive_share(0.25)  # a bare number answers one part only
    assert "answer with a dict" in capsys.readouterr().out
    assert not exercises.check_ssm_state_size({"numbers": 6_144, "depends_on_length": 0})  # not a yes/no


@pytest.mark.parametrize(
    ("name", "close", "too_far"),
    [
        ("check_zoh_multiplier", 0.6065, 0.60),  # 2 figures of exp(-0.5) = 0.6065
        ("check_attention_growth", 3.812, 3.80),  # 3 figures of (41/21)^2 = 3.8118
        ("check_mismatch_share", 0.845, 0.85),  # 2 figures of 0.8448
    ],
)
def test_checkers_accept_the_stated_precision_and_no_less(name: str, close: float, too_far: float) -> None:
    assert getattr(exercises, name)(close)
    assert not getattr(exercises, name)(too_far)


def test_a_wrong_answer_hint_names_the_precision(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check_attention_growth(3.5)
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
    answers = answer if isinstance(entry.checker, tuple) else (answer,)
    assert len(answers) == len(entry.checkers)
    for checker, part in zip(entry.checkers, answers, strict=True):
        assert checker in exercises.__all__
        assert getattr(exercises, checker)(part) is True
        if callable(part):
            assert f"def {part.__name__}(" in shown, "a build-it solution shows its code"


def test_every_checker_has_a_solution() -> None:
    checkers = {name for name in exercises.__all__ if name.startswith("check_")}
    assert checkers == {name for s in exercises.SOLUTIONS.values() for name in s.checkers}


def test_unknown_solution_names_the_exercises() -> None:
    with pytest.raises(KeyError, match="04.2"):
        exercises.solution("04.9")


# Build-it-yourself checkers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FUNCTION_CHECKERS))
def test_a_function_checker_accepts_the_worked_solution(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert getattr(exercises, name)(FUNCTION_CHECKERS[name]) is True
    assert capsys.readouterr().out.startswith("Correct!")


def _unfinished(*args: object) -> object:
    raise NotImplementedError("write this function")


def _empty(*args: object) -> None:
    """A body left as ``...`` or ``pass``."""


@pytest.mark.parametrize("name", sorted(FUNCTION_CHECKERS))
@pytest.mark.parametrize("stub", [_unfinished, _empty, ...], ids=["raises", "returns-None", "placeholder"])
def test_an_unfinished_function_is_not_written_yet(
    name: str, stub: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert getattr(exercises, name)(stub) is False  # reported, never raised: the notebook keeps running
    assert capsys.readouterr().out.startswith("Not written yet")


def _crashing(*args: object) -> object:
    return args[0] @ args[0]  # a shape error inside the student's code


def _shift(result: torch.Tensor, t: int) -> torch.Tensor:
    result = result.clone()
    result[..., t] += 0.5
    return result


def _tokens_without_cls(x_num, x_cat, w):  # noqa: ANN001, ANN202
    return bc.solve_tokenizer_forward(x_num, x_cat, w)[:, :-1]


def _tokens_cls_without_bias(x_num, x_cat, w):  # noqa: ANN001, ANN202
    tokens = bc.solve_tokenizer_forward(x_num, x_cat, w).clone()
    tokens[:, -1] = w.cls_weight
    return tokens


def _tokens_without_unknown_row(x_num, x_cat, w):  # noqa: ANN001, ANN202
    tables = [table[:-1] for table in w.tables]  # the student's tables forget the 'unknown' row
    clipped = torch.minimum(x_cat, torch.tensor([len(t) - 1 for t in tables], dtype=x_cat.dtype))
    return bc.solve_tokenizer_forward(x_num, clipped, SimpleNamespace(**{**vars(w), "tables": tables}))


def _hillis_steele(a, x, combine):  # noqa: ANN001, ANN202
    offset = 1
    while offset < a.shape[-1]:
        new_a, new_x = combine((a[..., :-offset], x[..., :-offset]), (a[..., offset:], x[..., offset:]))
        a, x = torch.cat([a[..., :offset], new_a], -1), torch.cat([x[..., :offset], new_x], -1)
        offset *= 2
    return x


def _sequential_scan(a, x, combine):  # noqa: ANN001, ANN202
    steps = [(a[..., 0], x[..., 0])]
    for t in range(1, a.shape[-1]):
        steps.append(combine(steps[-1], (a[..., t], x[..., t])))
    return torch.stack([h for _, h in steps], dim=-1)


def _exclusive_then_combine(a, x, combine):  # noqa: ANN001, ANN202
    """The classic Blelloch scan (identity at the root, exclusive prefixes), finished by one more round."""
    length, steps = a.shape[-1], (a, x)
    a, x = a.clone(), x.clone()
    span = 1
    while span < length:
        right = torch.arange(2 * span - 1, length, 2 * span)
        a[..., right], x[..., right] = combine(
            (a[..., right - span], x[..., right - span]), (a[..., right], x[..., right])
        )
        span *= 2
    a[..., length - 1], x[..., length - 1] = 1.0, 0.0  # the identity step
    span = length // 2
    while span >= 1:
        right = torch.arange(2 * span - 1, length, 2 * span)
        left_a, left_x = a[..., right - span], x[..., right - span]
        parent_a, parent_x = a[..., right], x[..., right]
        a[..., right - span], x[..., right - span] = parent_a, parent_x
        a[..., right], x[..., right] = combine((parent_a, parent_x), (left_a, left_x))
        span //= 2
    return combine((a, x), steps)[1]  # exclusive prefix, then the step itself


def _windows_targets_not_shifted(train, max_len):  # noqa: ANN001, ANN202
    inputs, _ = bc.solve_training_windows(train, max_len)
    return inputs, inputs


def _windows_uncut(train, max_len):  # noqa: ANN001, ANN202
    return bc.solve_training_windows(train, 10_000)


WRONG_FUNCTIONS = [
    ("check_tokenizer_forward", _tokens_without_cls, "tokens has shape (5, 4, 8), expected (5, 5, 8)"),
    ("check_tokenizer_forward", _tokens_cls_without_bias, "in the [CLS] token"),
    ("check_tokenizer_forward", _tokens_without_unknown_row, "in a categorical token"),
    ("check_tokenizer_forward", _crashing, "raised RuntimeError"),
    (
        "check_recurrence",
        lambda *a: bc._recurrence_variant(*a, euler=True),
        "you used Euler's Ā = 1 + Δ A",
    ),
    ("check_recurrence", lambda *a: bc._recurrence_variant(*a, no_softplus=True), "softplus"),
    ("check_recurrence", lambda *a: bc._recurrence_variant(*a, no_skip=True), "skip term D u_t is missing"),
    ("check_recurrence", lambda *a: _shift(bc.solve_recurrence(*a), 3), "y[b=0, d_in=0, t=3] is"),
    ("check_recurrence", lambda *a: bc.solve_recurrence(*a).transpose(1, 2), "y has shape (2, 7, 3)"),
    ("check_combine", lambda first, second: bc.solve_combine(second, first), "applied the second step first"),
    ("check_combine", lambda first, second: (second[0] * first[0], second[1] + first[1]), "x[i=0] is"),
    ("check_blelloch_scan", _hillis_steele, "combined 49 pairs for l = 16: more than the 3 l = 48"),
    ("check_blelloch_scan", _sequential_scan, "called combine 15 times for l = 16"),
    (
        "check_blelloch_scan",
        lambda a, x, c: bc.solve_blelloch_scan(a, x, c).detach(),
        "does not depend on a and x through autograd",
    ),
    ("check_blelloch_scan", lambda a, x, c: bc.solve_blelloch_scan(a, x, c).flip(-1), "h[batch=0, t=0] is"),
    ("check_mamba_layer", lambda *a: bc._mamba_forward(*a, no_norm=True), "the LayerNorm after out_proj"),
    ("check_mamba_layer", lambda *a: bc._mamba_forward(*a, no_gate=True), "the gate is missing"),
    ("check_mamba_layer", lambda *a: bc._mamba_forward(*a, no_skip=True), "the skip term D x_t"),
    ("check_mamba_layer", lambda *a: bc._mamba_forward(*a, conv_tail=True), "must be causal"),
    (
        "check_hr_ndcg",
        lambda *a: (bc.solve_hr_ndcg(*a)[0], bc._hr_ndcg_variant(*a, "unnormalised")),
        "divide DCG@k by IDCG@k",
    ),
    (
        "check_hr_ndcg",
        lambda *a: (bc.solve_hr_ndcg(*a)[0], bc._hr_ndcg_variant(*a, "ideal_all")),
        "min(n_rel, k)",
    ),
    (
        "check_hr_ndcg",
        lambda *a: (bc.solve_hr_ndcg(*a)[0], bc._hr_ndcg_variant(*a, "log2_rank")),
        "log2(r + 1)",
    ),
    ("check_hr_ndcg", lambda s, r, k: (r[:, :k].any(1), bc.solve_hr_ndcg(s, r, k)[1]), "HR@3[user="),
    ("check_training_windows", _windows_targets_not_shifted, "should have inputs"),
    ("check_training_windows", _windows_uncut, "more than max_len = 4"),
    (
        "check_training_windows",
        lambda train, m: ([list(h[:-1]) for h in train], [list(h[1:]) for h in train]),
        "two (windows, l) integer arrays, padded with 0",
    ),
    ("check_hr_ndcg", lambda s, r, k: ("hr", "ndcg"), "HR@3 should be a tensor or an array, got str"),
    (
        "check_blelloch_scan",
        lambda a, x, c: 1 / 0 if a.requires_grad else bc.solve_blelloch_scan(a, x, c),
        "checking the result failed (ZeroDivisionError",
    ),
    ("check_training_windows", lambda train, m: bc.solve_training_windows(train[:-1], m), "examples"),
]
"""Deliberately wrong functions and what the checker's report must name (the mismatch, or the mistake)."""


@pytest.mark.parametrize(("name", "fn", "named"), WRONG_FUNCTIONS, ids=lambda v: getattr(v, "__name__", None))
def test_a_function_checker_catches_a_wrong_function_and_names_the_mismatch(
    name: str, fn: object, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert getattr(exercises, name)(fn) is False
    out = capsys.readouterr().out
    assert out.startswith("Not quite: on ") and "Hint:" in out
    assert named in out, out


def test_the_scan_checker_accepts_the_classic_exclusive_scan_finished_by_one_round(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert exercises.check_blelloch_scan(_exclusive_then_combine) is True


def test_a_function_checker_reports_where_the_first_mismatch_is(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check_recurrence(lambda *a: _shift(bc.solve_recurrence(*a), 3))
    out = capsys.readouterr().out
    assert "on b = 2, d_in = 3, n = 4, l = 7, y[b=0, d_in=0, t=3] is" in out and "expected" in out
