"""Answer checkers and worked solutions of the course exercises.

``check_<name>(answer)`` prints right or wrong with a hint and returns a bool; ``solution("04.2")`` prints the
worked solution of notebook 04's exercise 2 for an instructor and returns its answer (``None`` for the open
exercises). ``SOLUTIONS`` lists every exercise; the tests check that each solution passes its checker.

Two kinds of exercise. A numeric question's checker takes the number (or a dict with every part the question
asks for). A build-it-yourself exercise's checker takes the student's *function* and runs it on random inputs
against the library (:mod:`ftmamba_lite.course.build_checks`): the tokenizer's forward (01.2), the recurrence
with zero-order hold (02.2), the associative combine and Blelloch's scan (02.4), one Mamba layer from its
weights (03.1), HR@k and NDCG@k (05.1) and the leave-one-out training windows (08.2); its worked solution is a
function whose source :func:`solution` prints.

Every expected answer is computed here from the library (a module's parameter count, the scan's output, a
metric), never typed in, so the exercises stay true when the library changes. A question that asks for
"n significant figures" accepts any answer within half a unit of the n-th figure (0.112 for 0.1116 at 3
figures, 0.61 for exp(-0.5) at 2); whole numbers must be exact. An answer left as ``...`` (the placeholder in
the notebooks) is reported as not answered yet. Symbols: the repository's notation page, ``docs/notation.md``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..analysis import over_under
from ..mamba import MambaLayer
from ..metrics import evaluate, metric_ceiling
from ..tokenizer import FeatureTokenizer
from .build_checks import (
    check_blelloch_scan,
    check_combine,
    check_hr_ndcg,
    check_mamba_layer,
    check_recurrence,
    check_tokenizer_forward,
    check_training_windows,
    solve_blelloch_scan,
    solve_combine,
    solve_hr_ndcg,
    solve_mamba_layer,
    solve_recurrence,
    solve_tokenizer_forward,
    solve_training_windows,
)
from .demos import work_depth

__all__ = [
    "SOLUTIONS",
    "Solution",
    "check_attention_growth",
    "check_blelloch_scan",
    "check_cls_index",
    "check_cluster_ceiling",
    "check_combine",
    "check_constant_score_mse",
    "check_dot_score",
    "check_dt_rank",
    "check_hm_positive_share",
    "check_hm_token_count",
    "check_hr_ndcg",
    "check_mamba_layer",
    "check_map_example",
    "check_mismatch_share",
    "check_new_user_id_code",
    "check_over_under_count",
    "check_precision_ceiling",
    "check_recommend_rows_left",
    "check_recurrence",
    "check_scan_rounds",
    "check_ssm_state_size",
    "check_tokenizer_forward",
    "check_training_examples",
    "check_training_steps",
    "check_training_windows",
    "check_zoh_multiplier",
    "solution",
]


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


def _check_parts(
    answer: object, parts: Mapping[str, tuple[float | bool, int | None]], right: str, hint: str
) -> bool:
    """A dict answer with every part the question asks for: ``parts`` maps each key to (expected, sig);
    numbers to ``sig`` significant figures (exactly when None), yes/no parts as booleans. The verdict names
    the parts that are missing or wrong."""
    keys = "{" + ", ".join(f"{k!r}: ..." for k in parts) + "}"
    if answer is ...:
        return _report(False, answer, right, f"{hint} Answer with a dict {keys}.")
    if not isinstance(answer, Mapping):
        return _report(False, answer, right, f"answer with a dict {keys}. {hint}")
    missing = [k for k in parts if k not in answer]
    wrong = []
    for key, (expected, sig) in parts.items():
        if key in missing:
            continue
        got = answer[key]
        if isinstance(expected, bool):
            ok = isinstance(got, bool | np.bool_) and bool(got) == expected
        else:
            value = _number(got)
            ok = value is not None and _close(value, expected, sig)
        if not ok:
            wrong.append(key)
    if missing:
        hint = f"the answer has no {', '.join(map(repr, missing))}; answer with a dict {keys}. {hint}"
    elif wrong:
        hint = f"check {', '.join(map(repr, wrong))} (the other parts are right). {hint}"
    return _report(not missing and not wrong, answer, right, hint)


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


# Notebook 03: the Mamba block -------------------------------------------------------------------------------


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


def _constant_score() -> dict[str, float]:
    """The 04.3 answer: the best constant score c >= 0 (final ReLU), its MSE, and the best c without the
    ReLU, for targets with the shares of ``_TARGET_SHARES``."""
    mean = sum(y * p for y, p in _TARGET_SHARES.items())
    c = max(mean, 0.0)  # the MSE is a parabola in c with its minimum at the mean; ReLU forces c >= 0
    mse = sum(p * (y - c) ** 2 for y, p in _TARGET_SHARES.items())
    return {"mse": mse, "c": c, "c_without_relu": mean}


def check_constant_score_mse(answer: object) -> bool:
    """04.3: with the final ReLU (scores >= 0) and targets -1, 0, +1 in shares 0.3, 0.5, 0.2: the lowest MSE
    one constant score can reach (2 significant figures), the constant c that reaches it, and the best
    constant without the ReLU, as ``{"mse": ..., "c": ..., "c_without_relu": ...}``."""
    expected = _constant_score()
    return _check_parts(
        answer,
        {
            "mse": (expected["mse"], 2),
            "c": (expected["c"], 2),
            "c_without_relu": (expected["c_without_relu"], 2),
        },
        f"MSE {expected['mse']:.2f} at c = {expected['c']:g}: the mean target is "
        f"{expected['c_without_relu']:g}, below 0, so the best constant the ReLU allows is c = 0, and the "
        "MSE is the mean of y^2 = 0.3 + 0.2. "
        "Without the ReLU c = -0.1 would give the variance, 0.49.",
        "the MSE of a constant c, E[(y - c)^2], is smallest at the mean target; is that mean allowed when "
        "scores are >= 0?",
    )


# Notebook 05: evaluation ------------------------------------------------------------------------------------


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
    """06.1: if the loader drew 3 negatives per purchase: the share of target-1 triples and the best constant
    score under MSE (2 significant figures each), as ``{"share": ..., "best_constant": ...}``."""
    share = 1 / (1 + _NEGATIVES_PER_PURCHASE)
    return _check_parts(
        answer,
        {"share": (share, 2), "best_constant": (share, 2)},
        f"1 / (1 + 3) = {share:g}: each purchase gives one positive and three negatives; the best constant "
        f"under MSE is the mean target, which falls from 0.5 to {share:g} with it.",
        "count the triples one purchase produces and how many are positive; the MSE of a constant score is "
        "smallest at the mean target.",
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


_CLUSTER_QUESTION = {"clusters": 50, "messages": 100}


def _cluster_ceiling() -> dict[str, float]:
    """Best possible P@5, R@5, HR@1 of a test user when 100 messages fall into 50 equal clusters."""
    q = _CLUSTER_QUESTION
    relevant = np.zeros((1, q["messages"]), dtype=bool)
    relevant[0, : q["messages"] // q["clusters"]] = True  # the messages of the user's own cluster
    best = metric_ceiling(relevant, ks=(1, 5))
    return {"P@5": best["P@5"], "R@5": best["R@5"], "HR@1": best["HR@1"]}


def check_cluster_ceiling(answer: object) -> bool:
    """07.1: 100 messages in 50 equal clusters. The best possible P@5, R@5 and HR@1 of a test user (2
    significant figures), as ``{"P@5": ..., "R@5": ..., "HR@1": ...}``."""
    expected = _cluster_ceiling()
    return _check_parts(
        answer,
        {k: (v, 2) for k, v in expected.items()},
        f"P@5 = {expected['P@5']:g}, R@5 = {expected['R@5']:g}, HR@1 = {expected['HR@1']:g}: the user's "
        "cluster holds 100 / 50 = 2 messages; a perfect ranking puts both in the top 5 (2 hits of 5) and one "
        "at rank 1.",
        "a user's relevant messages are those of their own cluster: how many is that, and how many of them "
        "fit in a perfect top 5?",
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


_STATE_QUESTION = {"d_model": 96, "d_state": 16, "n_layers": 2, "expand": 2}


def _ssm_state_size() -> dict[str, object]:
    """State numbers per user over all Mamba layers of the 08.3 Mamba4Rec, and whether they grow with l."""
    from ..sequential import Mamba4Rec

    model = Mamba4Rec(n_items=10, **_STATE_QUESTION)
    numbers = sum(block.mamba.d_inner * block.mamba.d_state for block in model.blocks)
    return {"numbers": numbers, "depends_on_length": False}


def check_ssm_state_size(answer: object) -> bool:
    """08.3: a Mamba4Rec with d = 96, e = 2, n = 16 and 2 blocks: how many numbers do the SSM states hold per
    user (all layers), and does that depend on the history length? ``{"numbers": ..., "depends_on_length":
    True or False}``."""
    expected = _ssm_state_size()
    return _check_parts(
        answer,
        {"numbers": (expected["numbers"], None), "depends_on_length": (False, None)},
        f"2 layers x d_in x n = 2 x 192 x 16 = {expected['numbers']:,}, whatever the length of the history; "
        "attention instead keeps keys and values of all l items (2 l d per layer).",
        "h is (d_in, n) per user and layer, with d_in = e d; the recurrence overwrites it at every step.",
    )


# Worked solutions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """The worked solution of one exercise: ``checker`` names its ``check_*`` function (None for an open
    exercise; a tuple for an exercise with several functions to write, whose ``answer`` is then a tuple of
    the same length), ``answer`` computes the answer it accepts (a function for a build-it-yourself
    exercise), ``text`` is the reasoning an instructor shows."""

    checker: str | tuple[str, ...] | None
    answer: Callable[[], object] | None
    text: str

    @property
    def checkers(self) -> tuple[str, ...]:
        """The names of the checkers, as a tuple (empty for an open exercise)."""
        if self.checker is None:
            return ()
        return (self.checker,) if isinstance(self.checker, str) else self.checker


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
        "check_tokenizer_forward",
        lambda: solve_tokenizer_forward,
        "Numeric tokens broadcast x_j (b, k_num, 1) against w_j, b_j (k_num, d); a categorical token indexes "
        "row x_j of its table W_j (b, d) and adds b_j; [CLS] is w_{k+1} + b_{k+1} expanded to (b, 1, d); "
        "concatenate along the token axis: (b, l, d), l = k_num + k_cat + 1.",
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
        "check_recurrence",
        lambda: solve_recurrence,
        "Discretise once for all steps: Δ = softplus(delta) (b, d_in, l), Ā = exp(Δ A) (b, d_in, l, n) "
        "(zero-order hold). Then loop over t with h (b, d_in, n) starting at 0: h = Ā_t h + Δ_t u_t B_t, "
        "y_t = (h C_t).sum over n + D u_t; stack the l outputs to (b, d_in, l).",
    ),
    "02.3": Solution(
        "check_scan_rounds",
        lambda: int(work_depth([21]).query("algorithm == 'associative scan'")["depth"].iloc[0]),
        "Offsets 1, 2, 4, 8, 16 are below 21 and 32 is not: 5 rounds = ceil(log2 21).",
    ),
    "02.4": Solution(
        ("check_combine", "check_blelloch_scan"),
        lambda: (solve_combine, solve_blelloch_scan),
        "combine: h -> a2 (a1 h + x1) + x2 = (a2 a1) h + (a2 x1 + x2). The scan: an up-sweep where, for span "
        "s = 1, 2, 4, ..., position i = 2s - 1, 4s - 1, ... absorbs position i - s (l - 1 combines, the "
        "reduction tree), then a down-sweep where, for s = l/4, ..., 1, position i = 3s - 1, 5s - 1, ... "
        "absorbs the finished prefix at i - s (fewer than l combines). Each round is one call on index "
        "tensors, so the depth is at most 2 log2 l rounds and the work at most 2 (l - 1).",
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
        "check_mamba_layer",
        lambda: solve_mamba_layer,
        "in_proj and split into x, z (b, d_in, l); depthwise conv1d with padding w - 1, keep the first l "
        "outputs (causal), SiLU; x_proj splits into the rank-r delta, B, C (b, l, n); dt_proj with its bias "
        "gives delta (b, d_in, l); the selective scan with A = -exp(A_log), D, the gate silu(z) and "
        "delta_softplus; out_proj; LayerNorm.",
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
        "The answer depends on the CPU: read the verdict section 4 printed (timing.cost_verdict). README's "
        "benchmark measures the two embedders at the paper presets on several CPUs: where matrix products "
        "are fast (AVX-512 with AMX) the Transformer keeps level with Mamba at tabular lengths, elsewhere "
        "Mamba is ahead; on every CPU the ratio moves in Mamba's favour as l grows, because the attention "
        "term 4 l^2 d overtakes the projections and the feed-forward network once l approaches the "
        "feed-forward width f. With dim_feedforward=256 the Transformer's linear part shrinks, so it gets "
        "faster at short lengths and its l^2 term matters earlier.",
    ),
    "04.1": Solution(
        "check_training_steps",
        _training_steps,
        "48,000 / 64 = 750 batches per epoch; 3 epochs = 2,250 steps.",
    ),
    "04.2": Solution("check_dot_score", lambda: 2.5, "<f(u), g(i)> = 1 x 0.5 + 0 x 3 + 2 x 1 = 2.5."),
    "04.3": Solution(
        "check_constant_score_mse",
        _constant_score,
        "MSE(c) = E[(y - c)^2] is a parabola with its minimum at the mean target, 0.3 x (-1) + 0.2 x 1 = "
        "-0.1. With the ReLU the scores are >= 0, so the best constant is c = 0 and MSE = E[y^2] = 0.3 + 0.2 "
        "= 0.5; without it c = -0.1 and the MSE is the variance, 0.49. A model stuck there ranks every song "
        "alike.",
    ),
    "04.4": Solution(
        None,
        None,
        "With the final ReLU the test scores' spread is (almost) 0: every pair gets the same score, so the "
        "ranking is decided by ties (the same order for every user) and HR@k is a popularity-like value. "
        "Without it the spread is clearly above 0 and the rankings differ per user.",
    ),
    "05.1": Solution(
        "check_hr_ndcg",
        lambda: solve_hr_ndcg,
        "top = argsort(-scores)[:, :k] (n_users, k); hits = relevant at those positions; HR@k = hits.any(1); "
        "DCG@k = sum over r of hits[:, r - 1] / log2(r + 1); IDCG@k = sum over r <= min(n_rel, k) of "
        "1 / log2(r + 1); NDCG@k = DCG / IDCG, 0 for a user without relevant items.",
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
        lambda: {
            "share": 1 / (1 + _NEGATIVES_PER_PURCHASE),
            "best_constant": 1 / (1 + _NEGATIVES_PER_PURCHASE),
        },
        "One purchase gives 1 positive and 3 negatives: share 1 / 4 = 0.25. The best constant score under "
        "MSE is the mean target, so it falls from 0.5 to 0.25.",
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
    "07.1": Solution(
        "check_cluster_ceiling",
        _cluster_ceiling,
        "100 messages / 50 clusters = 2 relevant messages per test user. A perfect ranking puts both in the "
        "top 5: P@5 = 2 / 5 = 0.4, R@5 = 2 / 2 = 1, and one of them first: HR@1 = 1.",
    ),
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
        "check_training_windows",
        lambda: solve_training_windows,
        "For each history s_1..s_m the inputs are s_1..s_{m-1} and the targets s_2..s_m (the inputs shifted "
        "by one). Walk back from the newest target in steps of max_len: the window ending at target index "
        "end starts at max(0, end - max_len). Pad every row with 0 to the longest window.",
    ),
    "08.3": Solution(
        "check_ssm_state_size",
        _ssm_state_size,
        "d_in = e d = 2 x 96 = 192 channels per layer, each with n = 16 state values: 3,072 per layer, 6,144 "
        "for the 2 layers, independent of the history length (the recurrence overwrites the state).",
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
    answers = answer if isinstance(entry.checker, tuple) else (answer,)
    for checker, part in zip(entry.checkers, answers, strict=False):
        if callable(part):
            print(f"\n{inspect.getsource(part).rstrip()}\n\n(accepted by exercises.{checker})")
        else:
            print(f"Answer: {part!r} (accepted by exercises.{checker})")
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
