"""Held-out splits of a user's own interaction table, for measuring a recommender honestly.

* :func:`hold_out_newest` -- each user's newest ``share`` of interactions (at least one) is held out: what a
  recommender fitted on the past recommends next (README's MovieLens split).
* :func:`hold_out_users` -- a share of the users is held out whole, interactions and user rows: they are new
  users at evaluation time, known by their features only (cold start), so what the features carry is measured,
  not assumed.

Both are deterministic under ``seed`` and name the column and what would be valid in every error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["hold_out_newest", "hold_out_users"]


def _check_share(share: float) -> float:
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise ValueError(f"share must be a number between 0 and 1 (exclusive), got {share!r}")
    return float(share)


def _check_columns(frame: object, name: str, columns: list[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the {name} table has no column(s) {missing}; it has {list(frame.columns)}")
    return frame


def hold_out_newest(
    interactions: pd.DataFrame, share: float = 0.1, *, user_id: str = "user_id", time: str = "timestamp"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training, held out): each user's newest ``share`` of interactions by ``time`` (at least one; users
    with a single interaction keep it for training). Ties in time keep the table's order (stable)."""
    share = _check_share(share)
    _check_columns(interactions, "interactions", [user_id, time])
    ordered = interactions.sort_values([user_id, time], kind="stable")
    position = ordered.groupby(user_id, sort=False).cumcount(ascending=False)  # 0 = the newest
    size = ordered.groupby(user_id, sort=False)[user_id].transform("size")
    held = (position < np.maximum(1, np.floor(share * size))) & (size > 1)
    return ordered[~held].reset_index(drop=True), ordered[held].reset_index(drop=True)


def hold_out_users(
    interactions: pd.DataFrame,
    users: pd.DataFrame,
    share: float = 0.1,
    *,
    seed: int = 0,
    user_id: str = "user_id",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(training interactions, training users, new users' interactions, new users' rows): ``share`` of the
    users who have interactions (at least one), drawn with ``seed``, leave training entirely.

    Fit on the first two; evaluate the new users with
    ``Recommender.evaluate(new_interactions, new_users=new_users)`` (their features only).
    """
    share = _check_share(share)
    _check_columns(interactions, "interactions", [user_id])
    _check_columns(users, "users", [user_id])
    active = pd.unique(interactions[user_id])
    if len(active) < 2:
        raise ValueError(f"hold_out_users needs at least 2 users with interactions, got {len(active)}")
    rng = np.random.default_rng(seed)
    n_new = min(len(active) - 1, max(1, round(share * len(active))))
    new = set(rng.choice(active, size=n_new, replace=False).tolist())
    is_new = interactions[user_id].isin(new)
    row_is_new = users[user_id].isin(new)
    return (
        interactions[~is_new].reset_index(drop=True),
        users[~row_is_new].reset_index(drop=True),
        interactions[is_new].reset_index(drop=True),
        users[row_is_new].reset_index(drop=True),
    )
