"""Top-k ranking metrics of the paper: P@k, R@k, MRR@k, HR@k (Section III) and MAP@k (Section III-B).

Every function takes a score matrix ``scores`` (n_users, n_items), the model's s(u, i) for each test user u
and every catalogue item i (a numpy array or a torch tensor), and a boolean relevance matrix ``relevant`` of
the same shape (True where user u likes / bought item i).

Definitions, for one user u with ``top_k(u)`` the k items of highest score and ``n_rel(u)`` the number of
relevant items of u:

* ranking and ties: items are sorted by decreasing score with a *stable* sort, so equal scores keep the
  lower item index first (deterministic, independent of the platform);
* hits@k = number of relevant items in top_k(u);
* P@k = hits@k / k;
* R@k = hits@k / n_rel(u);
* MRR@k = 1 / (rank of the first relevant item in top_k(u)), ranks counted from 1, or 0 when there is none;
* HR@k = 1 if top_k(u) holds at least one relevant item, else 0;
* MAP@k (the H&M Kaggle competition's MAP@12) = AP@k averaged over users, with
  AP@k = (sum over positions j <= k holding a relevant item of P@j) / min(n_rel(u), k);
* NDCG@k = DCG@k / IDCG@k with binary gains: DCG@k = sum over positions j <= k holding a relevant item of
  1 / log2(j + 1), and IDCG@k the DCG@k of a perfect ranking, sum over j <= min(n_rel(u), k) of
  1 / log2(j + 1). With one relevant item (next-item prediction) NDCG@k = 1 / log2(rank + 1) when
  rank <= k, else 0.

A user with **no** relevant item scores 0 on every metric (R@k, AP@k and NDCG@k would be 0/0; they are
defined as 0) and still counts in the mean. So means over users are bounded by the share of users with a
relevant item: HR@1 <= that share whatever the model; :func:`metric_ceiling` gives the exact bound for
every metric. P@1 = MRR@1 = HR@1 always (the paper reports HR@1 only).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch

__all__ = [
    "check_scores_relevance",
    "evaluate",
    "evaluate_batches",
    "metric_ceiling",
    "parse_metric",
    "per_user_metrics",
    "top_k",
]

METRIC_NAMES = ("P", "R", "MRR", "HR", "NDCG", "MAP")

ArrayLike = np.ndarray | torch.Tensor


def _to_numpy(x: ArrayLike) -> np.ndarray:
    """A numpy view / copy of a numpy array, torch tensor (any device, half precision included) or list."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _check_scores(scores: ArrayLike) -> np.ndarray:
    """Scores as float64 (n_users, n_items); ValueError when not 2-D, not numeric, empty or with NaN."""
    array = _to_numpy(scores)
    if array.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_users, n_items), got shape {array.shape}")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"scores must be numeric, got dtype {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"scores must have at least one user and one item, got shape {array.shape}")
    array = array.astype(np.float64)
    n_nan = int(np.isnan(array).sum())
    if n_nan:
        raise ValueError(f"scores contain {n_nan} NaN value(s)")
    return array


def check_scores_relevance(scores: ArrayLike, relevant: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a (scores, relevant) pair to numpy float64 and bool arrays (n_users, n_items).

    Raises ValueError when: the shapes differ (naming both), ``relevant`` is not boolean (0/1 integers are
    refused rather than cast, so a target matrix in {-1, 0, 1} is never mistaken for relevance), ``scores``
    is not a non-empty numeric 2-D array, or ``scores`` holds NaN (+-inf rank first / last).
    """
    rel = _to_numpy(relevant)
    array = _check_scores(scores)
    if rel.shape != array.shape:
        raise ValueError(f"scores has shape {array.shape} but relevant has shape {rel.shape}")
    if rel.dtype != np.bool_:
        raise ValueError(f"relevant must be a boolean array, got dtype {rel.dtype} (use e.g. targets == 1)")
    return array, rel


def _check_ks(ks: Iterable[int], n_items: int) -> tuple[int, ...]:
    """The truncations as unique ints (first-seen order); ValueError unless 1 <= k <= n_items."""
    out: list[int] = []
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        raise ValueError(f"truncations must be a sequence of ints, got {ks!r}")
    for k in ks:
        if isinstance(k, bool):
            raise ValueError(f"k={k!r} is a bool: truncations must be ints between 1 and {n_items}")
        try:
            k = operator.index(k)
        except TypeError:
            raise ValueError(f"k={k!r} is not an int: truncations are ints between 1 and {n_items}") from None
        if not 1 <= k <= n_items:
            raise ValueError(f"k={k} is out of range: it must be between 1 and the catalogue size {n_items}")
        if k not in out:
            out.append(k)
    return tuple(out)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices (n_users, k) of the k highest scores, stable: ties keep the lower item index first."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def top_k(scores: ArrayLike, k: int) -> np.ndarray:
    """The k recommended items of every user: int64 (n_users, k), best first.

    Items are sorted by decreasing score with a stable sort, so among equal scores the lower item index comes
    first. Raises ValueError for k outside 1..n_items (naming k and the catalogue size) or NaN scores.
    """
    array = _check_scores(scores)
    (k,) = _check_ks((k,), array.shape[1])
    return _top_k(array, k)


def per_user_metrics(
    scores: ArrayLike,
    relevant: ArrayLike,
    ks: Iterable[int] = (1, 5, 10),
    map_ks: Iterable[int] = (),
    ndcg_ks: Iterable[int] = (),
) -> pd.DataFrame:
    """One row per user (index = row of ``scores``) with the columns ``P@k``, ``R@k``, ``MRR@k``, ``HR@k``
    for k in ``ks`` (grouped by metric, in that order), then ``MAP@k`` for k in ``map_ks``, then ``NDCG@k``
    for k in ``ndcg_ks``.

    Definitions and the rule for users without relevant items: see the module docstring.
    """
    array, rel = check_scores_relevance(scores, relevant)
    n_users, n_items = array.shape
    ks, map_ks = _check_ks(ks, n_items), _check_ks(map_ks, n_items)
    ndcg_ks = _check_ks(ndcg_ks, n_items)
    if not ks and not map_ks and not ndcg_ks:
        raise ValueError("give at least one truncation k in ks, map_ks or ndcg_ks")
    k_max = max(ks + map_ks + ndcg_ks)
    hits = np.take_along_axis(rel, _top_k(array, k_max), axis=1)  # (n_users, k_max): position j relevant?
    cum_hits = hits.cumsum(axis=1)  # hits@j for j = 1..k_max
    n_rel = rel.sum(axis=1)
    has_rel = n_rel > 0
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, k_max + 1)  # rank of the first hit
    columns: dict[str, np.ndarray] = {}
    for k in ks:
        columns[f"P@{k}"] = cum_hits[:, k - 1] / k
    for k in ks:
        columns[f"R@{k}"] = np.divide(cum_hits[:, k - 1], n_rel, out=np.zeros(n_users), where=has_rel)
    for k in ks:
        columns[f"MRR@{k}"] = np.where(first <= k, 1.0 / first, 0.0)
    for k in ks:
        columns[f"HR@{k}"] = (cum_hits[:, k - 1] > 0).astype(np.float64)
    precision_at_hits = hits * cum_hits / np.arange(1, k_max + 1)  # P@j at relevant positions j, else 0
    for k in map_ks:
        ap_sum = precision_at_hits[:, :k].sum(axis=1)
        columns[f"MAP@{k}"] = np.divide(ap_sum, np.minimum(n_rel, k), out=np.zeros(n_users), where=has_rel)
    discounts = 1.0 / np.log2(np.arange(2, k_max + 2))  # position j = 1..k_max -> 1 / log2(j + 1)
    ideal_dcg = np.concatenate([[0.0], np.cumsum(discounts)])  # ideal_dcg[m]: m relevant items on top
    for k in ndcg_ks:
        dcg = (hits[:, :k] * discounts[:k]).sum(axis=1)
        ideal = ideal_dcg[np.minimum(n_rel, k)]
        columns[f"NDCG@{k}"] = np.divide(dcg, ideal, out=np.zeros(n_users), where=has_rel)
    return pd.DataFrame(columns, index=pd.RangeIndex(n_users, name="user"))


def parse_metric(name: str) -> tuple[str, int]:
    """``"NDCG@10"`` -> ``("NDCG", 10)``; ValueError naming what would be valid."""
    metric, _, k = str(name).partition("@")
    if metric not in METRIC_NAMES or not k.isdigit() or int(k) < 1:
        raise ValueError(
            f"a metric looks like 'NDCG@10' or 'HR@10' ({', '.join(METRIC_NAMES)} at k >= 1), got {name!r}"
        )
    return metric, int(k)


def evaluate(
    scores: ArrayLike,
    relevant: ArrayLike,
    ks: Iterable[int] = (1, 5, 10),
    map_ks: Iterable[int] = (),
    ndcg_ks: Iterable[int] = (),
) -> dict[str, float]:
    """Means over users of :func:`per_user_metrics`: ``{"P@1": ..., ..., "HR@10": ..., "MAP@12": ...}``.

    Example: ``evaluate(scores, ds.test_relevant)`` for the paper's Table I columns; ``map_ks=(12,)`` adds
    the H&M competition's MAP@12; ``ndcg_ks=(10,)`` adds NDCG@10 (the Mamba4Rec paper's metric). Too many
    users for one score matrix: :func:`evaluate_batches`.
    """
    return evaluate_batches([(scores, relevant)], ks=ks, map_ks=map_ks, ndcg_ks=ndcg_ks)


def _reusable(truncations: Iterable[int]) -> Iterable[int]:
    """A tuple of an iterable of truncations (read once per batch); anything else as it is, for the checks."""
    if isinstance(truncations, Iterable) and not isinstance(truncations, str | bytes):
        return tuple(truncations)
    return truncations


def evaluate_batches(
    batches: Iterable[tuple[ArrayLike, ArrayLike]],
    ks: Iterable[int] = (1, 5, 10),
    map_ks: Iterable[int] = (),
    ndcg_ks: Iterable[int] = (),
) -> dict[str, float]:
    """:func:`evaluate` over users that come in batches of (scores (b, c), relevant (b, c)): the mean over
    all their users, one batch's scores in memory at a time."""
    ks, map_ks, ndcg_ks = (_reusable(t) for t in (ks, map_ks, ndcg_ks))
    sums: pd.Series | None = None
    n_users = 0
    for scores, relevant in batches:
        table = per_user_metrics(scores, relevant, ks=ks, map_ks=map_ks, ndcg_ks=ndcg_ks)
        sums = table.sum(axis=0) if sums is None else sums + table.sum(axis=0)
        n_users += len(table)
    if sums is None or n_users == 0:
        raise ValueError("no users to evaluate: give at least one row of scores")
    return {name: float(value) / n_users for name, value in sums.items()}


def metric_ceiling(
    relevant: ArrayLike, ks: Iterable[int] = (1, 5, 10), map_ks: Iterable[int] = ()
) -> dict[str, float]:
    """What a perfect ranking scores on ``relevant`` (n_users, n_items): :func:`evaluate` of the oracle scores
    ``relevant.astype(float)`` (every relevant item ranked above every other one).

    Per user, in closed form: P@k = min(n_rel, k) / k (below 1 when the user has fewer than k relevant
    items), R@k = min(n_rel, k) / n_rel, MRR@k = HR@k = MAP@k = 1, and 0 for all of them when n_rel = 0.
    Compare a model's metrics to these numbers, not to 1.
    """
    rel = _to_numpy(relevant)
    if rel.dtype != np.bool_:
        raise ValueError(f"relevant must be a boolean array, got dtype {rel.dtype} (use e.g. targets == 1)")
    return evaluate(rel.astype(np.float64), rel, ks=ks, map_ks=map_ks)
