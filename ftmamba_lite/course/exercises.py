"""Answer checkers and worked solutions of the course exercises.

``check_<name>(answer)`` prints right or wrong with a hint and returns a bool; ``solution("04.2")`` prints the
worked solution of notebook 04's exercise 2 for an instructor and returns its answer (``None`` for the open
exercises). ``SOLUTIONS`` lists every exercise; the tests check that each solution passes its checker.

Every expected answer is computed here from the library (a module's parameter count, the scan's output, a
metric), never typed in, so the exercises stay true when the library changes. A question that asks for
"n significant figures" accepts any answer within half a unit of the n-th figure (0.112 for 0.1116 at 3
figures, 0.61 for exp(-0.5) at 2); whole numbers must be exact. An answer left as ``...`` (the placeholder in
the notebooks) is reported as not answered yet. Symbols: the repository's notation page, ``docs/notation.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..analysis import over_under
from ..mamba import MambaLayer
from ..metrics import evaluate, metric_ceiling
from ..tokenizer import FeatureTokenizer
from ..towers import count_parameters
from .demos import impulse_response, work_depth

__all__ = [
    "METRICS_EXAMPLE",
    "SOLUTIONS",
    "Solution",
    "check_attention_growth",
    "check_cls_index",
    "check_new_user_id_code",
    "check_combine",
    "check_constant_score_mse",
    "check_dot_score",
    "check_dt_rank",
    "check_hm_positive_share",
    "check_hm_token_count",
    "check_impulse_output",
    "check_mamba_layer_parameters",
    "check_map_example",
    "check_metrics_example",
    "check_mismatch_share",
    "check_ndcg_at_rank",
    "check_over_under_count",
    "check_precision_ceiling",
    "check_recommend_rows_left",
    "check_relevant_per_user",
    "check_scan_rounds",
    "check_ssm_state_size",
    "check_tokenizer_parameters",
    "check_training_examples",
    "check_training_steps",
    "check_zoh_multiplier",
    "solution",
]

METRICS_EXAMPLE = {
    "scores": np.array(
        [
            [0.9, 0.1, 0.8, 0.3, 0.5, 0.2],  # user 0: s(0, i) for items i = 0..5
            [0.2, 0.7, 0.1, 0.9, 0.4, 0.6],  # user 1
        ]
    ),
    "relevant": np.array(
        [
            [False, True, True, False, True, False],  # user 0 likes items 1, 2, 4
            [False, False, False, True, False, True],  # user 1 likes items 3, 5
        ]
    ),
}
"""The notebook 05 exercise: two users, six items. Compute P@3, R@3, MRR@3 and HR@1 (means over the users)."""


def _number(answer: object) -> float | None:
    """The answer as a float, or None when it is not a single number (1-element arrays and tensors count)."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, torch.Tensor):
        answer = answer.detach().cpu().numpy()
    if isinstance(answer, np.ndarray):
        return float(answer.reshape(-1)[0]) if answer.size == 1 else None
    if isinstance(answer, int | float | np.integer | np.floating):
        return float(answer)
    return None


def _close(value: float, expected: float, sig: int | None) -> bool:
    """True when ``value`` is ``expected`` to ``sig`` significant figures (half a unit of the last figure),
    or equal up to float rounding when ``sig`` is None (whole-number answers)."""
    if sig is None or expected == 0:
        return math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9)
    unit = 10.0 ** (math.floor(math.log10(abs(expected))) - sig + 1)
    return abs(value - expected) <= 0.5 * unit * (1 + 1e-9) + 1e-12


def _report(ok: bool, answer: object, right: str, hint: str) -> bool:
    """Print the verdict (with the explanation when right, the hint when wrong) and return ``ok``."""
    if answer is ...:
        print(f"Not answered yet: replace ... with your answer. Hint: {hint}")
        return False
    if ok:
        print(f"Correct! {right}")
    else:
        print(f"Not quite: you answered {answer!r}. Hint: {hint}")
    return ok


def _check_number(answer: object, expected: float, right: str, hint: str, sig: int | None = None) -> bool:
    """Compare a single number with ``expected``: exactly, or to ``sig`` significant figures."""
    value = _number(answer)
    ok = value is not None and _close(value, expected, sig)
    if answer is not ... and value is None:
        hint = f"give a single number. {hint}"
    elif value is not None and not ok and sig is not None:
        hint = f"{hint} (The question asks for {sig} significant figures.)"
    return _report(ok, answer, right, hint)


# Notebook 01: the feature tokenizer -------------------------------------------------------------------------


def _hm_token_count() -> int:
    return FeatureTokenizer(1, [2, 2, 2, 2], d_token=1).n_tokens  # age + FN, Active, club, news frequency


def check_hm_token_count(answer: object) -> bool:
    """01.1: tokens l of the H&M user tower (1 numeric feature, age; 4 categorical), [CLS] included."""
    expected = _hm_token_count()
    return _check_number(
        answer,
        expected,
        f"l = k + 1 = 1 + 4 + 1 = {expected}: one token per feature, numeric or categorical, plus [CLS]. "
        "The number of categories changes the tables' rows, not the number of tokens.",
        "every feature becomes one token whatever its type or number of categories; then [CLS] is appended.",
    )


def check_tokenizer_parameters(answer: object) -> bool:
    """01.2: trainable parameters of FeatureTokenizer(n_numerical=2, cardinalities=[3, 4], d_token=8)?"""
    expected = count_parameters(FeatureTokenizer(2, [3, 4], d_token=8))
    return _check_number(
        answer,
        expected,
        f"{expected}: numeric w_j, b_j (2 x 2 x 8) + tables (3+1 + 4+1 rows) x 8 + categorical b_j (2 x 8) "
        "+ [CLS] w, b (2 x 8).",
        "count w_j and b_j for each numeric feature, K_j + 1 rows (one for 'unknown') plus a bias b_j for "
        "each categorical feature, and the [CLS] token's w and b; each is a vector of d = 8 numbers.",
    )


def check_cls_index(answer: object) -> bool:
    """01.3: index (from 0) of the [CLS] token for 3 numeric + 2 categorical features, placed as the paper."""
    expected = FeatureTokenizer(3, [2, 2], d_token=1, cls_position="end").cls_index
    return _check_number(
        answer,
        expected,
        f"index {expected}: numeric tokens 0-2, categorical 3-4, [CLS] last, so Mamba's last output "
        "has seen all.",
        "tokens come in the order numeric, categorical, [CLS]; positions count from 0.",
    )


# Notebook 02: the selective SSM -----------------------------------------------------------------------------


def check_zoh_multiplier(answer: object) -> bool:
    """02.1: Ā for the state value A = -2 and the step Δ = 0.25 (zero-order hold), 2 significant figures."""
    expected = math.exp(0.25 * -2)
    return _check_number(
        answer,
        expected,
        f"Ā = exp(ΔA) = exp(-0.5) = {expected:.4f}.",
        "zero-order hold: Ā = exp(Δ A).",
        sig=2,
    )


def check_impulse_output(answer: object) -> bool:
    """02.2: y_3 of one channel, Δ = 0.5, A = -1, B = C = 1, D = 0, unit impulse at t = 0 (3 figures)."""
    expected = float(impulse_response(0.5, -1.0, length=4)[3])
    return _check_number(
        answer,
        expected,
        f"y_3 = Ā^3 Δ u_0 = exp(-1.5) x 0.5 = {expected:.4f}.",
        "the impulse enters as B̄ u_0 = Δ u_0 = 0.5, then the state is multiplied by Ā = exp(ΔA) at each "
        "of the steps t = 1, 2, 3.",
        sig=3,
    )


def check_scan_rounds(answer: object) -> bool:
    """02.3: rounds (depth) of the Hillis-Steele scan over l = 21 tokens (the Spotify user tower)?"""
    table = work_depth([21])
    expected = int(table.loc[table["algorithm"] == "associative scan", "depth"].iloc[0])
    return _check_number(
        answer,
        expected,
        f"{expected} rounds, with offsets 1, 2, 4, 8, 16: ceil(log2 21) = {expected}, against 21 "
        "sequential steps.",
        "each round doubles the span a position covers; count offsets 1, 2, 4, ... below l.",
    )


def check_combine(answer: object) -> bool:
    """02.4: compose the step (a1, x1) = (0.5, 1) followed by (a2, x2) = (0.8, 2) into one step (a, x)."""
    a1, x1, a2, x2 = 0.5, 1.0, 0.8, 2.0
    expected = (a2 * a1, a2 * x1 + x2)
    hint = (
        "applying h -> a1 h + x1 and then h -> a2 h + x2 gives h -> a2 (a1 h + x1) + x2; give a pair (a, x)."
    )
    if answer is ...:
        return _report(False, answer, "", hint)
    try:
        values = [float(v) for v in answer]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        values = []
    ok = len(values) == 2 and all(
        math.isclose(v, e, rel_tol=1e-6) for v, e in zip(values, expected, strict=True)
    )
    right = f"(a, x) = ({expected[0]:g}, {expected[1]:g}): the composition is again a step of the same form."
    return _report(ok, answer, right, hint)


# Notebook 03: the Mamba block -------------------------------------------------------------------------------


def check_mamba_layer_parameters(answer: object) -> bool:
    """03.1: trainable parameters of MambaLayer(d_model=32, d_conv=4) (d_state 16, expand 2, LayerNorm)?"""
    expected = count_parameters(MambaLayer(32, d_conv=4))
    return _check_number(
        answer,
        expected,
        f"{expected:,} parameters.",
        "d_in = 64, r = ceil(32 / 16) = 2: add in_proj (32 x 128), conv1d (64 x 4 + 64), "
        "x_proj (64 x (r + 2n)), dt_proj (r x 64 + 64), A_log (64 x 16), D (64), out_proj (64 x 32) and the "
        "LayerNorm (2 x 32).",
    )


def check_dt_rank(answer: object) -> bool:
    """03.2: the Δ projection rank r = dt_rank of a Mamba layer with d_model = 192?"""
    expected = MambaLayer(192).dt_rank
    return _check_number(answer, expected, f"r = ceil(192 / 16) = {expected}.", "r = ceil(d / 16).")


def check_attention_growth(answer: object) -> bool:
    """03.3: growth factor of the attention scores when a tower's features go from 20 to 40 (3 figures)."""
    expected = ((40 + 1) / (20 + 1)) ** 2
    return _check_number(
        answer,
        expected,
        f"(41/21)^2 = {expected:.3f}: the l x l score matrix grows with the square of l = k + 1.",
        "count tokens l = k + 1 (do not forget [CLS]); attention scores every pair of tokens.",
        sig=3,
    )


# Notebook 04: two-tower training ----------------------------------------------------------------------------

_STEPS_QUESTION = {"triples": 48_000, "batch": 64, "epochs": 3}
_TARGET_SHARES = {-1: 0.3, 0: 0.5, 1: 0.2}  # the 04.3 question's training targets


def _training_steps() -> int:
    q = _STEPS_QUESTION
    return math.ceil(q["triples"] / q["batch"]) * q["epochs"]


def check_training_steps(answer: object) -> bool:
    """04.1: optimisation steps of 3 epochs over 48,000 triples at batch size 64?"""
    expected = _training_steps()
    return _check_number(
        answer,
        expected,
        f"48,000 / 64 = 750 steps per epoch, x 3 epochs = {expected:,} (the paper: 160,000 / 32 = 5,000 "
        "steps, one epoch).",
        "one step uses one batch; an epoch passes over every triple once.",
    )


def check_dot_score(answer: object) -> bool:
    """04.2: the score s(u, i) = <f(u), g(i)> for f(u) = [1, 0, 2] and g(i) = [0.5, 3, 1]?"""
    expected = float(torch.dot(torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.5, 3.0, 1.0])))
    return _check_number(
        answer,
        expected,
        f"1 x 0.5 + 0 x 3 + 2 x 1 = {expected:g}.",
        "multiply coordinate by coordinate and add.",
    )


def _constant_score_mse() -> float:
    """The lowest MSE of one constant score c >= 0 on targets with the shares of ``_TARGET_SHARES``."""
    mean = sum(y * p for y, p in _TARGET_SHARES.items())
    c = max(mean, 0.0)  # the MSE is a parabola in c with its minimum at the mean; ReLU forces c >= 0
    return sum(p * (y - c) ** 2 for y, p in _TARGET_SHARES.items())


def check_constant_score_mse(answer: object) -> bool:
    """04.3: with the final ReLU (scores >= 0) and targets -1, 0, +1 in shares 0.3, 0.5, 0.2, the lowest MSE
    one constant score can reach (2 significant figures)?"""
    expected = _constant_score_mse()
    return _check_number(
        answer,
        expected,
        f"{expected:.2f}: the mean target is -0.1, below 0, so the best constant the ReLU allows is c = 0, "
        "and the MSE is the mean of y^2 = 0.3 + 0.2. Without the ReLU c = -0.1 would give 0.49.",
        "the MSE of a constant c is smallest at the mean target; is that mean allowed when scores are >= 0?",
        sig=2,
    )


# Notebook 05: evaluation ------------------------------------------------------------------------------------


def check_metrics_example(answer: Mapping[str, float] | object) -> bool:
    """05.1: P@3, R@3, MRR@3 and HR@1 of :data:`METRICS_EXAMPLE` (means over its two users), as a dict,
    2 significant figures."""
    expected = evaluate(METRICS_EXAMPLE["scores"], METRICS_EXAMPLE["relevant"], ks=(1, 3))
    keys = ("P@3", "R@3", "MRR@3", "HR@1")
    hint = (
        "rank each user's items by score; P@3 = hits in the top 3 / 3, R@3 = hits / relevant items, "
        "MRR@3 = 1 / rank of the first hit, HR@1 = is the top item relevant; average the two users. Answer "
        "with a dict {'P@3': ..., 'R@3': ..., 'MRR@3': ..., 'HR@1': ...}."
    )
    if not isinstance(answer, Mapping):
        return _report(False, answer, "", hint)
    wrong = [k for k in keys if (v := _number(answer.get(k))) is None or not _close(v, expected[k], 2)]
    right = ", ".join(f"{k} = {expected[k]:.4g}" for k in keys)
    if wrong:
        hint = f"check {', '.join(wrong)} (the others are right). {hint}"
    return _report(not wrong, answer, f"{right}.", hint)


def _precision_ceiling() -> float:
    relevant = np.zeros((2, 50), dtype=bool)
    relevant[0, :3] = True  # user 0 likes 3 songs
    relevant[1, :12] = True  # user 1 likes 12
    return float(metric_ceiling(relevant, ks=(10,))["P@10"])


def check_precision_ceiling(answer: object) -> bool:
    """05.2: the best possible P@10 (mean over users) for two users who like 3 and 12 of 50 songs?"""
    expected = _precision_ceiling()
    return _check_number(
        answer,
        expected,
        f"({3}/10 + 10/10) / 2 = {expected:g}: a perfect ranking puts all 3 liked songs of the first user in "
        "its top 10 (3 hits) and fills the second user's top 10 with liked songs; compare models with "
        "metric_ceiling, not with 1.",
        "a perfect ranking puts liked songs first; how many of the top 10 can be liked, for each user?",
        sig=2,
    )


_POPULARITY_LIKES = (2, 3, 0, 1)  # songs liked by the four test users of the 05.3 question


def _over_under_count() -> int:
    """How often song B (the 2nd of one shared ranking A > B > C > ...) is recommended to the 05.3 users."""
    n_songs = 6
    scores = np.tile(np.arange(n_songs, 0, -1.0), (len(_POPULARITY_LIKES), 1))  # every user: A first, then B
    relevant = np.zeros(scores.shape, dtype=bool)
    for user, likes in enumerate(_POPULARITY_LIKES):
        relevant[user, n_songs - likes :] = True  # which songs they like does not change the counts asked
    table = over_under(scores, relevant).set_index("item")
    return int(table.loc[1, "recommended"])


def check_over_under_count(answer: object) -> bool:
    """05.3: popularity ranks A > B > C > ... for everyone; four test users like 2, 3, 0 and 1 songs. In the
    Figure 5 procedure, how many users get song B recommended?"""
    expected = _over_under_count()
    return _check_number(
        answer,
        expected,
        f"{expected}: each user receives as many recommendations as songs they like, from the top of the one "
        "shared ranking, so B reaches exactly the users who like 2 or more songs (2 and 3).",
        "a user who likes n_u songs receives the top n_u songs of the ranking; who gets a 2nd one?",
    )


# Notebook 06: H&M fashion -----------------------------------------------------------------------------------

_NEGATIVES_PER_PURCHASE = 3


def check_hm_positive_share(answer: object) -> bool:
    """06.1: the share of target-1 triples if the loader drew 3 negatives per purchase (2 figures)?"""
    expected = 1 / (1 + _NEGATIVES_PER_PURCHASE)
    return _check_number(
        answer,
        expected,
        f"1 / (1 + 3) = {expected:g}: each purchase gives one positive and three negatives, so the mean "
        "target, and with it the best constant score, falls from 0.5 to 0.25.",
        "count the triples one purchase produces, and how many of them are positive.",
        sig=2,
    )


def check_map_example(answer: object) -> bool:
    """06.2: AP@12 of one user with 2 relevant items, ranked 1st and 3rd of 12 (3 significant figures)?"""
    scores = np.linspace(1.0, 0.0, 12)[None, :]  # item i ranked (i + 1)-th
    relevant = np.zeros((1, 12), dtype=bool)
    relevant[0, [0, 2]] = True
    expected = evaluate(scores, relevant, ks=(1,), map_ks=(12,))["MAP@12"]
    return _check_number(
        answer,
        expected,
        f"(P@1 + P@3) / min(2, 12) = (1 + 2/3) / 2 = {expected:.4g}.",
        "average the precision at the positions holding a relevant item, divide by min(relevant items, 12).",
        sig=3,
    )


# Notebook 07: vaccine messaging -----------------------------------------------------------------------------


def check_relevant_per_user(answer: object) -> bool:
    """07.1: with 25 clusters and 100 messages, how many relevant messages has a test user on average?"""
    return _check_number(
        answer,
        100 / 25,
        "4: the 100 messages fall into 25 clusters, about 100 / 25 = 4 per cluster, and a user's relevant "
        "messages are those of the matching cluster.",
        "relevant messages are the ones in the cluster that matches the user's cluster.",
        sig=2,
    )


def _mismatch_share(clusters: int = 50, p_match: float = 0.9, p_other: float = 0.1) -> float:
    """Share of the target-1 pairs that come from non-matching clusters, for uniformly drawn pairs."""
    match = 1 / clusters
    return (1 - match) * p_other / ((1 - match) * p_other + match * p_match)


def check_mismatch_share(answer: object) -> bool:
    """07.2: with 50 equal clusters, what share of the target-1 training pairs have non-matching clusters
    (2 significant figures)?"""
    expected = _mismatch_share()
    return _check_number(
        answer,
        expected,
        f"0.98 x 0.1 / (0.98 x 0.1 + 0.02 x 0.9) = {expected:.2f}: most positive targets are noise, which is "
        "why the 50-cluster rows of Table II need many more steps.",
        "a pair matches with probability 1/50; multiply each case by its chance of target 1 and compare.",
        sig=2,
    )


# Notebook 08: Mamba for sequences ---------------------------------------------------------------------------


def _training_examples() -> int:
    from ..datasets.movielens import training_windows

    train = np.arange(1, 11)[:-2]  # leave-one-out keeps the first 8 of the 10 items for training
    return int((training_windows([train], max_len=200)[1] > 0).sum())


def check_training_examples(answer: object) -> bool:
    """08.1: a user rated 10 movies. How many (prefix -> next item) training examples under leave-one-out?"""
    expected = _training_examples()
    return _check_number(
        answer,
        expected,
        f"{expected}: the last two items are held out (validation, test); the 8 training items give the "
        "prefixes of length 1..7, each predicting the item after it.",
        "hold out the last item (test) and the one before (validation); a prefix needs a next item to "
        "predict.",
    )


_NDCG_RANKS = (1, 3, 12)  # where the model ranks the held-out item of each of three users (08.2)


def _ndcg_example() -> float:
    """Mean NDCG@10 of three users whose one held-out item is ranked 1st, 3rd and 12th among 20 items."""
    scores = np.tile(np.arange(20.0, 0.0, -1.0), (len(_NDCG_RANKS), 1))  # (3, 20): item j ranked (j + 1)-th
    relevant = np.zeros(scores.shape, dtype=bool)
    relevant[np.arange(len(_NDCG_RANKS)), np.array(_NDCG_RANKS) - 1] = True
    return float(evaluate(scores, relevant, ks=(), ndcg_ks=(10,))["NDCG@10"])


def check_ndcg_at_rank(answer: object) -> bool:
    """08.2: mean NDCG@10 of three users whose held-out item is ranked 1st, 3rd and 12th (3 figures)?"""
    expected = _ndcg_example()
    return _check_number(
        answer,
        expected,
        f"(1 / log2(2) + 1 / log2(4) + 0) / 3 = (1 + 0.5 + 0) / 3 = {expected:.3f}: one relevant item per "
        "user, so the ideal DCG is 1, and rank 12 is beyond the cut-off 10.",
        "a hit at rank r <= 10 counts 1 / log2(r + 1), a miss beyond 10 counts 0; average the users.",
        sig=3,
    )


def _ssm_state_size() -> int:
    from ..sequential import Mamba4Rec

    layer = Mamba4Rec(n_items=10).blocks[0].mamba
    return layer.d_inner * layer.d_state


def check_ssm_state_size(answer: object) -> bool:
    """08.3: how many numbers does the SSM state h of Mamba4Rec's one layer hold per user (paper defaults)?"""
    expected = _ssm_state_size()
    return _check_number(
        answer,
        expected,
        f"d_in x n = 128 x 32 = {expected:,}, whatever the length of the history; attention instead keeps "
        "keys and values of all l items (2 l d per layer).",
        "h is (d_in, n) per user, with d_in = e d; read e, d and n from the paper's defaults.",
    )


# Worked solutions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """The worked solution of one exercise: ``checker`` names its ``check_*`` function (None for an open
    exercise), ``answer`` computes the answer it accepts, ``text`` is the reasoning an instructor shows."""

    checker: str | None
    answer: Callable[[], object] | None
    text: str


SOLUTIONS: dict[str, Solution] = {
    "00.1": Solution(
        "check_recommend_rows_left",
        lambda: 4,
        "exclude_seen=True removes the user's training items before the top k are taken: 14 - 10 = 4 items "
        "are left, so recommend returns 4 rows even though k = 10.",
    ),
    "00.2": Solution(
        "check_new_user_id_code",
        lambda: 943,
        "The 943 known ids get the codes 0 ... 942 (K_j = 943); every id never seen in fitting maps to the "
        "reserved unknown row, code K_j = 943, the last row of the (K_j + 1)-row lookup table.",
    ),
    "00.3": Solution(
        None,
        None,
        "MSE with one sampled negative per rating learns to separate a rated item from one random item, "
        "which popularity already does well; the in-batch softmax compares each positive with every other "
        "item of the batch (popularity-corrected), which is the ranking the metrics measure.",
    ),
    "01.1": Solution(
        "check_hm_token_count",
        _hm_token_count,
        "Each feature gives one token, numeric (x_j w_j + b_j) or categorical (a row of W_j plus b_j), "
        "however many categories it has; [CLS] adds one more: l = k + 1 = (1 + 4) + 1 = 6.",
    ),
    "01.2": Solution(
        "check_tokenizer_parameters",
        lambda: count_parameters(FeatureTokenizer(2, [3, 4], d_token=8)),
        "d = 8. Numeric: w_j, b_j for 2 features = 4 x 8 = 32. Tables: (3 + 1) + (4 + 1) = 9 rows x 8 = 72. "
        "Categorical biases: 2 x 8 = 16. [CLS]: w, b = 16. Total 32 + 72 + 16 + 16 = 136 = "
        "d (2 k_num + sum (K_j + 1) + k_cat + 2).",
    ),
    "01.3": Solution(
        "check_cls_index",
        lambda: FeatureTokenizer(3, [2, 2], d_token=1, cls_position="end").cls_index,
        "Order: numeric tokens 0, 1, 2; categorical 3, 4; [CLS] last at index 5 (l = 6).",
    ),
    "01.4": Solution(
        None,
        None,
        "With cls_position='start' [CLS] is token 0 and the tower reads output 0. Under Mamba output 0 "
        "depends on token 0 only (the top row of the heatmap), so the tower's embedding would ignore every "
        "feature: it is the same vector for every user. Under attention output 0 sees every token, so the "
        "position does not matter there.",
    ),
    "02.1": Solution(
        "check_zoh_multiplier",
        lambda: math.exp(-0.5),
        "Ā = exp(Δ A) = exp(0.25 x (-2)) = exp(-0.5) = 0.607 (0.61 to 2 figures). Euler would give "
        "1 + Δ A = 0.5.",
    ),
    "02.2": Solution(
        "check_impulse_output",
        lambda: float(impulse_response(0.5, -1.0, length=4)[3]),
        "h_0 = Δ B u_0 = 0.5; each later step multiplies by Ā = exp(-0.5) and adds nothing: "
        "h_3 = 0.5 exp(-1.5) = 0.112; y_3 = C h_3 = 0.112.",
    ),
    "02.3": Solution(
        "check_scan_rounds",
        lambda: int(work_depth([21]).query("algorithm == 'associative scan'")["depth"].iloc[0]),
        "Offsets 1, 2, 4, 8, 16 are below 21 and 32 is not: 5 rounds = ceil(log2 21).",
    ),
    "02.4": Solution(
        "check_combine",
        lambda: (0.4, 2.8),
        "h -> 0.8 (0.5 h + 1) + 2 = 0.4 h + 2.8, so (a, x) = (a2 a1, a2 x1 + x2) = (0.4, 2.8).",
    ),
    "02.5": Solution(
        None,
        None,
        "With gradients, the parallel scan keeps every round's (b, d_in, l, n) tensors for the backward "
        "pass: memory grows like l log l times b d_in n (out of memory beyond a few thousand tokens), while "
        "the fused scan stores only the inputs and recomputes the states (memory O(b d_in l)). Training "
        "needs the backward pass, so memory, not the forward time, limits the parallel scan.",
    ),
    "03.1": Solution(
        "check_mamba_layer_parameters",
        lambda: count_parameters(MambaLayer(32, d_conv=4)),
        "d = 32, d_in = 64, n = 16, r = 2, w = 4. in_proj 32 x 128 = 4,096; conv1d 64 x 4 + 64 = 320; "
        "x_proj 64 x (2 + 32) = 2,176; dt_proj 2 x 64 + 64 = 192; A_log 64 x 16 = 1,024; D 64; "
        "out_proj 64 x 32 = 2,048; LayerNorm 64. Total 9,984.",
    ),
    "03.2": Solution("check_dt_rank", lambda: MambaLayer(192).dt_rank, "r = ceil(192 / 16) = 12."),
    "03.3": Solution(
        "check_attention_growth",
        lambda: (41 / 21) ** 2,
        "l = k + 1 goes from 21 to 41, and a head scores l x l pairs: (41 / 21)^2 = 3.81, not 4.",
    ),
    "03.4": Solution(
        None,
        None,
        "At the paper presets the Mamba embedder is faster on this CPU at every length measured, and the "
        "ratio falls as l grows (README's benchmark: 0.78 at 21 tokens, 0.33 at 4,096), because the "
        "attention term 4 l^2 d overtakes the projections and the feed-forward network once l approaches "
        "the feed-forward width f. With dim_feedforward=256 the Transformer's linear part shrinks, so it "
        "gets faster at short lengths and its l^2 term matters earlier.",
    ),
    "04.1": Solution(
        "check_training_steps",
        _training_steps,
        "48,000 / 64 = 750 batches per epoch; 3 epochs = 2,250 steps.",
    ),
    "04.2": Solution("check_dot_score", lambda: 2.5, "<f(u), g(i)> = 1 x 0.5 + 0 x 3 + 2 x 1 = 2.5."),
    "04.3": Solution(
        "check_constant_score_mse",
        _constant_score_mse,
        "MSE(c) = E[(y - c)^2] is a parabola with its minimum at the mean target, 0.3 x (-1) + 0.2 x 1 = "
        "-0.1. "
        "With the ReLU the scores are >= 0, so the best constant is c = 0 and MSE = E[y^2] = 0.3 + 0.2 = 0.5 "
        "(without the ReLU: the variance, 0.49). A model stuck there ranks every song alike.",
    ),
    "04.4": Solution(
        None,
        None,
        "With the final ReLU the test scores' spread is (almost) 0: every pair gets the same score, so the "
        "ranking is decided by ties (the same order for every user) and HR@k is a popularity-like value. "
        "Without it the spread is clearly above 0 and the rankings differ per user.",
    ),
    "05.1": Solution(
        "check_metrics_example",
        lambda: evaluate(METRICS_EXAMPLE["scores"], METRICS_EXAMPLE["relevant"], ks=(1, 3)),
        "User 0 ranks items 0, 2, 4, 3, 5, 1 and likes {1, 2, 4}: top 3 holds 2 hits, first hit at rank 2, "
        "top item not liked. User 1 ranks 3, 1, 5, 4, 0, 2 and likes {3, 5}: 2 hits in the top 3, first hit "
        "at rank 1. P@3 = (2/3 + 2/3) / 2 = 0.67; R@3 = (2/3 + 2/2) / 2 = 0.83; MRR@3 = (1/2 + 1) / 2 "
        "= 0.75; HR@1 = (0 + 1) / 2 = 0.5.",
    ),
    "05.2": Solution(
        "check_precision_ceiling",
        _precision_ceiling,
        "A perfect ranking gives the first user 3 hits in 10 (P@10 = 0.3) and the second 10 in 10 (1.0); "
        "the mean is 0.65.",
    ),
    "05.3": Solution(
        "check_over_under_count",
        _over_under_count,
        "The users receive their top 2, top 3, nothing and their top 1: A, B / A, B, C / - / A. B is "
        "recommended twice, A three times, C once.",
    ),
    "05.4": Solution(
        None,
        None,
        "The users with HR@5 = 0 under the oracle like no song at all; under a trained model they also "
        "include users whose few liked songs are ranked below 5. Users who like nothing cap every metric "
        "below 1, which is why metric_ceiling, not 1, is the bar.",
    ),
    "06.1": Solution(
        "check_hm_positive_share",
        lambda: 1 / (1 + _NEGATIVES_PER_PURCHASE),
        "One purchase gives 1 positive and 3 negatives: 1 / 4 = 0.25.",
    ),
    "06.2": Solution(
        "check_map_example",
        lambda: 5 / 6,
        "Hits at ranks 1 and 3: P@1 = 1, P@3 = 2/3. AP@12 = (1 + 2/3) / min(2, 12) = 0.833.",
    ),
    "06.3": Solution(
        None,
        None,
        "With negatives drawn in proportion to popularity, popular articles appear as negatives as often as "
        "they appear as positives, so popularity stops predicting the target and the popularity baseline "
        "learned from the triples gets worse; the model must learn who buys what instead.",
    ),
    "07.1": Solution("check_relevant_per_user", lambda: 4, "100 messages / 25 clusters = 4 per cluster."),
    "07.2": Solution(
        "check_mismatch_share",
        _mismatch_share,
        "P(match) = 1/50 = 0.02. Target 1 arises with 0.02 x 0.9 = 0.018 from matching pairs and "
        "0.98 x 0.1 = 0.098 from the others: 0.098 / 0.116 = 0.84 of the positives are noise.",
    ),
    "07.3": Solution(
        None,
        None,
        "In the paper the message index worked better than the 768 text features. With the text features "
        "the model must first learn which text region forms a cluster; with the index, one embedding row per "
        "message can learn its cluster directly, so the index usually learns faster here.",
    ),
    "08.1": Solution(
        "check_training_examples",
        _training_examples,
        "The 10th item is the test target and the 9th the validation target; items 1-8 are training data, "
        "whose prefixes 1..7 each predict the next item: 7 examples.",
    ),
    "08.2": Solution(
        "check_ndcg_at_rank",
        _ndcg_example,
        "NDCG@10 of one user = 1 / log2(rank + 1) if rank <= 10, else 0 (one relevant item: ideal DCG = 1). "
        "Ranks 1, 3, 12 give 1, 0.5 and 0; the mean is 0.5 (0.500).",
    ),
    "08.3": Solution(
        "check_ssm_state_size",
        _ssm_state_size,
        "d_in = e d = 2 x 64 = 128 channels, each with n = 32 state values: 4,096 numbers, independent of "
        "the history length.",
    ),
    "08.4": Solution(
        None,
        None,
        "On the synthetic data the successor rule needs only the last item, so a second block or a larger "
        "state has little to add; on MovieLens-100K run several seeds (the reproduce command) and compare "
        "the differences with the spread between seeds before concluding.",
    ),
}
"""Every exercise of notebooks 01-08 by id ("NN.k": notebook NN, exercise k)."""


def solution(exercise: str) -> object:
    """Print the worked solution of exercise ``"NN.k"`` (e.g. ``"04.2"``) and return its answer (None for an
    open exercise)."""
    if exercise not in SOLUTIONS:
        raise KeyError(f"no exercise {exercise!r}; the exercises are {', '.join(SOLUTIONS)}")
    entry = SOLUTIONS[exercise]
    answer = entry.answer() if entry.answer is not None else None
    print(f"Exercise {exercise}: {entry.text}")
    if entry.checker is not None:
        print(f"Answer: {answer!r} (accepted by exercises.{entry.checker})")
    return answer


# Notebook 00: quick start -----------------------------------------------------------------------------------


def check_recommend_rows_left(answer: object) -> bool:
    """A user has interacted with all but 4 items of the catalogue: how many rows does
    ``recommend([user], k=10)`` return (``exclude_seen=True``)?"""
    import pandas as pd

    from ..recommender import Recommender

    items = pd.DataFrame({"item_id": range(14)})
    seen = pd.DataFrame({"user_id": ["a"] * 10 + ["b"], "item_id": [*range(10), 0]})
    rec = Recommender("popularity", progress=False).fit(seen, items=items)
    expected = len(rec.recommend(["a"], k=10))
    return _check_number(
        answer,
        expected,
        f"{expected}: the items the user interacted with are left out, and only {expected} are left.",
        "exclude_seen removes the user's training items before the top k are taken.",
    )


def check_new_user_id_code(answer: object) -> bool:
    """The user-id column was fitted on the 943 MovieLens users (codes 0..942). Which code does the id of a
    brand-new user get?"""
    import pandas as pd

    from ..encoding import TableEncoder

    encoder = TableEncoder(categorical=["user_id"]).fit(pd.DataFrame({"user_id": range(1, 944)}))
    expected = int(encoder.transform(pd.DataFrame({"user_id": [10_000]}))[1][0, 0])
    return _check_number(
        answer,
        expected,
        f"{expected} = K_j: the reserved 'unknown' row, the last of the id's lookup table (K_j + 1 rows).",
        "an unseen category maps to index K_j, one past the known codes 0..K_j - 1.",
    )
