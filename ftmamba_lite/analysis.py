"""Over- and under-recommendation per item: the data behind the paper's Figure 5 (Section III-A).

Each test user u receives as many recommendations as items they like: the top-n_u items of their scores
with n_u = number of relevant items of u (a user who likes nothing receives none), ties broken by the lower
item index as in :func:`ftmamba_lite.metrics.top_k`. For every item i::

    difference(i) = recommended(i) - likes(i)

where recommended(i) counts the users it was recommended to and likes(i) the users it is relevant for. A
negative difference is an under-recommended item, a positive one an over-recommended item. Items are ranked
by their number of likes (like_rank 1 = most liked, ties by lower item index), so runs with different seeds,
whose most liked items differ, are aggregated by like_rank rather than by item. By construction the sum of
``recommended`` equals the sum of ``likes`` in every run.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .metrics import ArrayLike, check_scores_relevance

__all__ = ["over_under", "over_under_over_seeds", "over_under_summary", "confidence_half_width"]

Run = tuple[ArrayLike, ArrayLike]


def over_under(scores: ArrayLike, relevant: ArrayLike) -> pd.DataFrame:
    """Per-item recommended and liked counts for one run.

    Args:
        scores: (n_users, n_items) scores s(u, i) of the test users (numpy array or torch tensor).
        relevant: (n_users, n_items) boolean relevance.

    Returns:
        One row per item, in item order (row i = item i), with int64 columns ``item``, ``likes``,
        ``recommended``, ``difference`` (= recommended - likes) and ``like_rank`` (1 = most liked).
    """
    array, rel = check_scores_relevance(scores, relevant)
    n_items = array.shape[1]
    n_rel = rel.sum(axis=1)
    ranked = np.argsort(-array, axis=1, kind="stable")  # (n_users, n_items), best first
    recommended_mask = np.arange(n_items) < n_rel[:, None]  # position j is recommended to u iff j < n_u
    recommended = np.bincount(ranked[recommended_mask], minlength=n_items)
    likes = rel.sum(axis=0)
    like_rank = np.empty(n_items, dtype=np.int64)
    like_rank[np.lexsort((np.arange(n_items), -likes))] = np.arange(1, n_items + 1)
    return pd.DataFrame(
        {
            "item": np.arange(n_items, dtype=np.int64),
            "likes": likes.astype(np.int64),
            "recommended": recommended.astype(np.int64),
            "difference": (recommended - likes).astype(np.int64),
            "like_rank": like_rank,
        }
    )


def over_under_over_seeds(runs: Mapping[Hashable, Run] | Sequence[Run]) -> pd.DataFrame:
    """:func:`over_under` of several runs stacked into one tidy frame with a leading ``seed`` column.

    Args:
        runs: ``{seed_or_label: (scores, relevant)}``, or a sequence of ``(scores, relevant)`` pairs whose
            labels become 0, 1, 2, ...

    Returns:
        n_runs * n_items rows: ``seed``, ``item``, ``likes``, ``recommended``, ``difference``, ``like_rank``.
    """
    pairs = runs.items() if isinstance(runs, Mapping) else enumerate(runs)
    frames = [over_under(scores, relevant).assign(seed=label) for label, (scores, relevant) in pairs]
    if not frames:
        raise ValueError("runs is empty: give at least one (scores, relevant) pair")
    tidy = pd.concat(frames, ignore_index=True)
    return tidy[["seed", *(c for c in tidy.columns if c != "seed")]]


def confidence_half_width(values: ArrayLike, confidence: float = 0.95) -> float:
    """Half-width of the two-sided Student-t confidence interval of the mean of ``values`` (n,).

    half = t_{(1 + confidence) / 2, n - 1} * s / sqrt(n), with s the sample standard deviation (ddof=1) and
    the quantile from :data:`scipy.stats.t`; NaN for fewer than two values (no spread to estimate).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=np.float64).ravel()  # (n,)
    if x.size < 2:
        return math.nan
    return float(stats.t.ppf((1 + confidence) / 2, x.size - 1) * stats.sem(x))


def over_under_summary(tidy: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and confidence interval of ``difference`` per ``like_rank`` across runs (Figure 5's bars).

    Args:
        tidy: the output of :func:`over_under_over_seeds` (columns ``seed``, ``like_rank``, ``difference``).
        confidence: coverage of the two-sided Student-t interval mean +- t * std / sqrt(n_seeds).

    Returns:
        One row per like_rank (ascending): ``like_rank``, ``mean``, ``std`` (sample, ddof=1), ``n_seeds``,
        ``ci_low``, ``ci_high``. With a single run std and the interval are NaN.
    """
    missing = [c for c in ("seed", "like_rank", "difference") if c not in tidy.columns]
    if missing:
        raise ValueError(f"tidy frame lacks column(s) {missing}; pass the output of over_under_over_seeds")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    grouped = tidy.groupby("like_rank", sort=True)["difference"]
    out = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1), "n_seeds": grouped.size()})
    half_width = grouped.agg(confidence_half_width, confidence=confidence).to_numpy()  # (n_ranks,)
    out["ci_low"] = out["mean"] - half_width
    out["ci_high"] = out["mean"] + half_width
    return out.reset_index()
