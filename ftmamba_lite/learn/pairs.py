"""The training pairs a :class:`~ftmamba_lite.recommender.Recommender` learns from its interactions.

Dimension letters (docs/notation.md):
    m  users      c  items (the catalogue)      n  training pairs

* :func:`carve_validation` -- a share of each user's interactions held out for early stopping;
* :func:`training_pairs` -- positives only (the in-batch softmax), or the interactions with their targets
  plus sampled negatives (MSE on implicit feedback: target 1 for an interaction, 0 for an item the user never
  touched, the paper's H&M protocol, Section III-B);
* :func:`encoded_pairs` -- the pairs as the tensors :class:`~ftmamba_lite.learn.engine.TwoTowerTask` trains
  on; with ``id_dropout`` the user table gets a second copy whose id is "unknown" (rows m..2m-1) and that
  share of the pairs points to it, so that the embedding new users get is trained.
"""

from __future__ import annotations

import numpy as np
import torch

from ..encoding import EncodedData
from .scoring import SeenItems
from .tables import Tables

__all__ = ["carve_validation", "describe_pairs", "encoded_pairs", "training_pairs"]


def carve_validation(
    u: np.ndarray, i: np.ndarray, y: np.ndarray, share: float, n_users: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Hold out ``share`` of each user's positive interactions, drawn at random (users with at least 3
    positives; at least one each): (training u, i, y, validation (user rows, item rows) or None)."""
    if share <= 0:
        return u, i, y, None
    positive = y > 0
    counts = np.bincount(u[positive], minlength=n_users)  # (m,)
    order = rng.permutation(len(u))
    order = order[np.argsort(u[order], kind="stable")]  # grouped by user, each user's pairs shuffled
    starts = np.searchsorted(u[order], np.arange(n_users))  # (m,) first position of each user
    rank = np.empty(len(u), dtype=np.int64)
    rank[order] = np.arange(len(u)) - starts[u[order]]  # (n,) position of a pair within its user's
    take = np.maximum(1, np.floor(share * counts).astype(np.int64))  # (m,)
    held = positive & (counts[u] >= 3) & (rank < take[u])
    if not held.any():
        return u, i, y, None
    keep = ~held
    return u[keep], i[keep], y[keep], (u[held], i[held])


def training_pairs(
    u: np.ndarray,
    i: np.ndarray,
    y: np.ndarray,
    loss: str,
    target: str | None,
    seen: SeenItems,
    n_negatives: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user rows, item rows, targets) to train on (module docstring); ValueError when the softmax has no
    positive row, naming the target column."""
    if loss == "softmax":
        keep = y > 0
        if not keep.any():
            raise ValueError(f"loss='softmax' trains on rows with {target!r} > 0, and there are none")
        return u[keep], i[keep], np.ones(int(keep.sum()))
    if target is not None:
        return u, i, y
    able = seen.counts() < seen.n_items  # users with an item left to be a negative
    negative_users = np.repeat(u[able[u]], n_negatives)
    negative_items = seen.sample_unseen(negative_users, rng)
    return (
        np.concatenate([u, negative_users]),
        np.concatenate([i, negative_items]),
        np.concatenate([y, np.zeros(len(negative_users))]),
    )


def encoded_pairs(
    tables: Tables, u: np.ndarray, i: np.ndarray, y: np.ndarray, id_dropout: float, rng: np.random.Generator
) -> EncodedData:
    """The pairs and both encoded tables as an :class:`EncodedData` without test users (module docstring)."""
    user_num, user_cat = tables.users.x_num, tables.users.x_cat
    if id_dropout > 0:
        anonymous = user_cat.clone()
        anonymous[:, -1] = tables.users.encoder.cardinalities[-1]  # the id column is last: K_id, "unknown"
        user_num, user_cat = torch.cat([user_num, user_num]), torch.cat([user_cat, anonymous])  # (2m, k)
        u = np.where(rng.random(len(u)) < id_dropout, u + len(tables.users), u)
    specs = {
        side.name: {
            "n_numerical": len(side.encoder.numeric),
            "cardinalities": side.encoder.cardinalities,
            "feature_names": side.encoder.feature_names,
        }
        for side in (tables.users, tables.items)
    }
    empty = torch.zeros(0, dtype=torch.long)
    return EncodedData(
        user_num=user_num,
        user_cat=user_cat,
        item_num=tables.items.x_num,
        item_cat=tables.items.x_cat,
        train_user=torch.from_numpy(np.array(u, dtype=np.int64)),
        train_item=torch.from_numpy(np.array(i, dtype=np.int64)),
        train_target=torch.from_numpy(np.array(y, dtype=np.float32)),
        valid_user=empty,
        valid_item=empty,
        valid_target=torch.zeros(0),
        test_users=empty,
        test_relevant=torch.zeros(0, len(tables.items), dtype=torch.bool),
        user_spec=specs["users"],
        item_spec=specs["items"],
    )


def describe_pairs(tables: Tables, u: np.ndarray, i: np.ndarray, y: np.ndarray, positions: list[int]) -> str:
    """The training pairs at ``positions`` in the user's own words: their ids and target values."""
    users, items = tables.users, tables.items
    named = [
        f"{users.id_column}={users.ids[u[p]]!r} with {items.id_column}={items.ids[i[p]]!r}"
        + ("" if tables.target is None else f" ({tables.target}={y[p]:g})")
        for p in positions[:3]
    ]
    more = f" and {len(positions) - 3} more" if len(positions) > 3 else ""
    return "the interaction(s) " + "; ".join(named) + more
