"""Answer checkers of the course exercises: ``check_<name>(answer)`` prints right or wrong with a hint and
returns a bool.

Every expected answer is computed here from the library (a module's parameter count, the scan's output, a
metric), never typed in, so the exercises stay true when the library changes. An answer left as ``...`` (the
placeholder in the notebooks) is reported as not answered yet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from ..mamba import MambaLayer
from ..metrics import evaluate, metric_ceiling
from ..tokenizer import FeatureTokenizer
from ..train import count_parameters
from .demos import impulse_response, work_depth

__all__ = [
    "METRICS_EXAMPLE",
    "check_attention_growth",
    "check_cls_index",
    "check_new_user_id_code",
    "check_combine",
    "check_dot_score",
    "check_dt_rank",
    "check_hm_negative_share",
    "check_impulse_output",
    "check_mamba_layer_parameters",
    "check_map_example",
    "check_match_rate",
    "check_metrics_example",
    "check_ndcg_at_rank",
    "check_over_under_total",
    "check_precision_ceiling",
    "check_recommend_rows_left",
    "check_relevant_per_user",
    "check_scan_rounds",
    "check_smallest_score",
    "check_spotify_token_count",
    "check_ssm_state_size",
    "check_steps_per_epoch",
    "check_tokenizer_parameters",
    "check_training_examples",
    "check_zoh_multiplier",
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


def _check_number(answer: object, expected: float, right: str, hint: str, rel_tol: float = 1e-3) -> bool:
    value = _number(answer)
    ok = value is not None and math.isclose(value, expected, rel_tol=rel_tol, abs_tol=1e-9)
    if answer is not ... and value is None:
        hint = f"give a single number. {hint}"
    return _report(ok, answer, right, hint)


# Notebook 01: the feature tokenizer -------------------------------------------------------------------------


def check_spotify_token_count(answer: object) -> bool:
    """How many tokens l does the Spotify user tower produce per user (20 numeric genre features)?"""
    expected = FeatureTokenizer(20, d_token=1).n_tokens
    return _check_number(
        answer,
        expected,
        f"l = k + 1 = {expected}: one token per genre feature plus [CLS].",
        "every feature becomes one token, and one more token is appended.",
    )


def check_tokenizer_parameters(answer: object) -> bool:
    """Trainable parameters of FeatureTokenizer(n_numerical=2, cardinalities=[3, 4], d_token=8)?"""
    expected = count_parameters(FeatureTokenizer(2, [3, 4], d_token=8))
    return _check_number(
        answer,
        expected,
        f"{expected}: numeric w_j, b_j (2 x 2 x 8) + tables (3+1 + 4+1 rows) x 8 + categorical b_j (2 x 8) "
        "+ [CLS] w, b (2 x 8).",
        "count w_j and b_j for each numeric feature, K_j + 1 rows (one for 'unknown') plus a bias b_j for "
        "each "
        "categorical feature, and the [CLS] token's w and b; each is a vector of d = 8 numbers.",
    )


def check_cls_index(answer: object) -> bool:
    """Index (from 0) of the [CLS] token for 3 numeric + 2 categorical features with the paper's placement."""
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
    """Ā for the state value A = -2 and the step Δ = 0.25 (zero-order hold)?"""
    expected = math.exp(0.25 * -2)
    return _check_number(
        answer, expected, f"Ā = exp(ΔA) = exp(-0.5) = {expected:.4f}.", "zero-order hold: Ā = exp(Δ A)."
    )


def check_impulse_output(answer: object) -> bool:
    """y_3 of one channel with Δ = 0.5, A = -1, B = C = 1, D = 0 and a unit impulse at t = 0?"""
    expected = float(impulse_response(0.5, -1.0, length=4)[3])
    return _check_number(
        answer,
        expected,
        f"y_3 = Ā^3 Δ u_0 = exp(-1.5) x 0.5 = {expected:.4f}.",
        "the impulse enters as B̄ u_0 = Δ u_0 = 0.5, then the state is multiplied by Ā = exp(ΔA) at each "
        "of the "
        "steps t = 1, 2, 3.",
    )


def check_scan_rounds(answer: object) -> bool:
    """Rounds (depth) of the Hillis-Steele scan over l = 21 tokens (the Spotify user tower)?"""
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
    """Compose the step (a1, x1) = (0.5, 1) followed by (a2, x2) = (0.8, 2) into one step (a, x)."""
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
    """Trainable parameters of MambaLayer(d_model=32, d_conv=4) (d_state 16, expand 2, LayerNorm)?"""
    expected = count_parameters(MambaLayer(32, d_conv=4))
    return _check_number(
        answer,
        expected,
        f"{expected:,} parameters.",
        "d_in = 64, r = ceil(32 / 16) = 2: add in_proj (32 x 128), conv1d (64 x 4 + 64), "
        "x_proj (64 x (r + 2n)), "
        "dt_proj (r x 64 + 64), A_log (64 x 16), D (64), out_proj (64 x 32) and the LayerNorm (2 x 32).",
    )


def check_dt_rank(answer: object) -> bool:
    """The Δ projection rank r = dt_rank of a Mamba layer with d_model = 192?"""
    expected = MambaLayer(192).dt_rank
    return _check_number(answer, expected, f"r = ceil(192 / 16) = {expected}.", "r = ceil(d / 16).")


def check_attention_growth(answer: object) -> bool:
    """By what factor grows the number of attention scores when a tower's features go from 20 to 40?"""
    expected = ((40 + 1) / (20 + 1)) ** 2
    return _check_number(
        answer,
        expected,
        f"({41}/{21})^2 = {expected:.2f}: the l x l score matrix grows with the square of l = k + 1.",
        "count tokens l = k + 1 (do not forget [CLS]); attention scores every pair of tokens.",
        rel_tol=1e-2,
    )


# Notebook 04: two-tower training ----------------------------------------------------------------------------


def check_steps_per_epoch(answer: object) -> bool:
    """Optimisation steps in one epoch of the paper's 160,000 training triples at batch size 32?"""
    expected = 160_000 // 32
    return _check_number(
        answer, expected, f"{expected:,} steps: the paper trains exactly one epoch.", "triples / batch size."
    )


def check_dot_score(answer: object) -> bool:
    """The score s(u, i) = <f(u), g(i)> for f(u) = [1, 0, 2] and g(i) = [0.5, 3, 1]?"""
    expected = float(torch.dot(torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.5, 3.0, 1.0])))
    return _check_number(
        answer,
        expected,
        f"1 x 0.5 + 0 x 3 + 2 x 1 = {expected:g}.",
        "multiply coordinate by coordinate and add.",
    )


def check_smallest_score(answer: object) -> bool:
    """With the paper's ReLU after the towers' last layer, what is the smallest score s(u, i) possible?"""
    return _check_number(
        answer,
        0.0,
        "0: both embeddings are >= 0 coordinate-wise, so their dot product is >= 0, and a target of -1 "
        "can never "
        "be matched exactly.",
        "what does ReLU do to negative numbers, and what is the sign of a dot product of two such vectors?",
    )


# Notebook 05: evaluation ------------------------------------------------------------------------------------


def check_metrics_example(answer: Mapping[str, float] | object) -> bool:
    """P@3, R@3, MRR@3 and HR@1 of :data:`METRICS_EXAMPLE` (means over its two users), as a dict."""
    expected = evaluate(METRICS_EXAMPLE["scores"], METRICS_EXAMPLE["relevant"], ks=(1, 3))
    keys = ("P@3", "R@3", "MRR@3", "HR@1")
    hint = (
        "rank each user's items by score; P@3 = hits in the top 3 / 3, R@3 = hits / relevant items, "
        "MRR@3 = 1 / "
        "rank of the first hit, HR@1 = is the top item relevant; average the two users. Answer with a dict "
        "{'P@3': ..., 'R@3': ..., 'MRR@3': ..., 'HR@1': ...}."
    )
    if not isinstance(answer, Mapping):
        return _report(False, answer, "", hint)
    wrong = [
        k
        for k in keys
        if _number(answer.get(k)) is None or not math.isclose(_number(answer[k]), expected[k], abs_tol=1e-3)
    ]
    right = ", ".join(f"{k} = {expected[k]:.4g}" for k in keys)
    if wrong:
        hint = f"check {', '.join(wrong)} (the others are right). {hint}"
    return _report(not wrong, answer, f"{right}.", hint)


def check_precision_ceiling(answer: object) -> bool:
    """The best possible P@5 of a user who likes exactly 3 of 50 songs?"""
    relevant = np.zeros((1, 50), dtype=bool)
    relevant[0, :3] = True
    expected = metric_ceiling(relevant, ks=(5,))["P@5"]
    return _check_number(
        answer,
        expected,
        f"{expected:g}: even a perfect ranking has only 3 relevant songs to put in 5 slots; compare models "
        "with "
        "metric_ceiling, not with 1.",
        "a perfect ranking puts all relevant songs first; how many of the top 5 can be relevant?",
    )


def check_over_under_total(answer: object) -> bool:
    """The sum over all songs of (recommended - liked) in one run of the Figure 5 analysis?"""
    return _check_number(
        answer,
        0.0,
        "0: each user receives exactly as many recommendations as songs they like, so the totals agree.",
        "how many recommendations does each user get, compared with how many songs they like?",
    )


# Notebook 08: Mamba for sequences ---------------------------------------------------------------------------


def check_training_examples(answer: object) -> bool:
    """A user rated 10 movies. How many (prefix -> next item) training examples give them leave-one-out?"""
    from ..datasets.movielens import training_windows

    train = np.arange(1, 11)[:-2]  # leave-one-out keeps the first 8 of the 10 items for training
    expected = int((training_windows([train], max_len=200)[1] > 0).sum())
    return _check_number(
        answer,
        expected,
        f"{expected}: the last two items are held out (validation, test); the 8 training items give the "
        "prefixes of length 1..7, each predicting the item after it.",
        "hold out the last item (test) and the one before (validation); a prefix needs a next item to "
        "predict.",
    )


def check_ndcg_at_rank(answer: object) -> bool:
    """NDCG@10 of one user whose held-out item the model ranks 3rd?"""
    scores = np.arange(12.0, 0.0, -1.0)[None]  # (1, 12): item 0 ranked first, item 2 third
    relevant = np.arange(12)[None] == 2
    value = evaluate(scores, relevant, ks=(), ndcg_ks=(10,))["NDCG@10"]
    return _check_number(
        answer,
        value,
        f"1 / log2(3 + 1) = {value:g}: one relevant item, so the ideal DCG is 1.",
        "DCG counts a hit at rank r as 1 / log2(r + 1); with one relevant item the ideal DCG is 1.",
    )


def check_ssm_state_size(answer: object) -> bool:
    """How many numbers does the SSM state h of Mamba4Rec's one layer hold per user (paper defaults)?"""
    from ..sequential import Mamba4Rec

    layer = Mamba4Rec(n_items=10).blocks[0].mamba
    expected = layer.d_inner * layer.d_state
    return _check_number(
        answer,
        expected,
        f"d_in x n = {layer.d_inner} x {layer.d_state} = {expected:,}, whatever the length of the history; "
        "attention instead keeps keys and values of all l items (2 l d per layer).",
        "h is (d_in, n) per user, with d_in = e d; read e, d and n from the paper's defaults.",
    )


# Notebook 06: H&M fashion -----------------------------------------------------------------------------------


def check_hm_negative_share(answer: object) -> bool:
    """The share of positive (target 1) triples in the H&M training data, by construction?"""
    return _check_number(
        answer,
        0.5,
        "0.5: every transaction drawn gives one positive and one negative triple.",
        "how many negatives does the loader draw per transaction?",
        rel_tol=1e-2,
    )


def check_map_example(answer: object) -> bool:
    """AP@12 of one user with 2 relevant items, ranked 1st and 3rd of 12 (the competition's MAP@12 for one
    user)?"""
    scores = np.linspace(1.0, 0.0, 12)[None, :]  # item i ranked (i + 1)-th
    relevant = np.zeros((1, 12), dtype=bool)
    relevant[0, [0, 2]] = True
    expected = evaluate(scores, relevant, ks=(1,), map_ks=(12,))["MAP@12"]
    return _check_number(
        answer,
        expected,
        f"(P@1 + P@3) / min(2, 12) = (1 + 2/3) / 2 = {expected:.4g}.",
        "average the precision at the positions holding a relevant item, divide by min(relevant items, 12).",
    )


# Notebook 07: vaccine messaging -----------------------------------------------------------------------------


def check_relevant_per_user(answer: object) -> bool:
    """With 25 clusters and 100 messages, how many relevant messages does a test user have on average?"""
    return _check_number(
        answer,
        100 / 25,
        "4: the 100 messages fall into 25 clusters, about 100 / 25 = 4 per cluster, and a user's relevant "
        "messages are those of the matching cluster.",
        "relevant messages are the ones in the cluster that matches the user's cluster.",
        rel_tol=1e-2,
    )


def check_match_rate(answer: object) -> bool:
    """With 50 clusters and uniformly drawn pairs, what share of training pairs has matching clusters?"""
    return _check_number(
        answer,
        1 / 50,
        "about 1/50 = 0.02 (exactly so when clusters are equal in size): matches get rarer as k grows, which "
        "is one reason why Table II's metrics fall with k.",
        "a pair matches when the message lies in the one cluster (of k) that matches the user's.",
        rel_tol=0.05,
    )


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
