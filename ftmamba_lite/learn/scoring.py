"""Scoring and ranking the catalogue: the one evaluation path of the two-tower models.

Dimension letters (docs/notation.md):
    m  users      c  items (the catalogue)      b  batch of users      o  output embedding width

* :class:`SeenItems` -- the (user, item) pairs of training as sorted keys u * c + i with a row pointer per
  user (sparse: a 100,000-item catalogue needs no dense matrix); what is excluded from a known user's
  ranking and what negative sampling avoids.
* :func:`ranked_batches` -- :meth:`ftmamba_lite.towers.TwoTowerModel.score_batches` (the one batched
  scorer) with a known user's training items set to -inf, batches sized so that at most ``SCORE_BUDGET``
  scores exist at once.
* :func:`popularity_batches` -- the same batches for the popularity ranking (training counts), the floor a
  model has to beat.
* :func:`held_out_metrics` -- the metrics of :mod:`ftmamba_lite.metrics` on held-out (user, item) pairs,
  ranked against the whole catalogue batch by batch (:func:`ftmamba_lite.metrics.evaluate_batches`).
* :func:`score_test_users` -- a :class:`RecDataset`'s test users against the catalogue (the paper's protocol).
* :func:`top_k_fast` -- :func:`ftmamba_lite.metrics.top_k` without sorting whole rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from ..encoding import EncodedData
from ..metrics import evaluate_batches, top_k
from ..towers import TwoTowerModel

__all__ = [
    "SCORE_BUDGET",
    "SeenItems",
    "held_out_metrics",
    "popularity_batches",
    "ranked_batches",
    "score_test_users",
    "top_k_fast",
]

SCORE_BUDGET = 1 << 23
"""Scores held at once while ranking: users per batch = SCORE_BUDGET // c (8M floats, 32 MB)."""


class SeenItems:
    """The training (user, item) pairs of m users over c items as sorted keys u * c + i, and CSR rows."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> None:
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.keys = np.unique(np.asarray(users, dtype=np.int64) * self.n_items + np.asarray(items))
        self.pointer = np.searchsorted(self.keys // self.n_items, np.arange(self.n_users + 1))

    @classmethod
    def from_keys(cls, keys: np.ndarray, n_users: int, n_items: int) -> SeenItems:
        return cls(keys // n_items, keys % n_items, n_users, n_items)

    def items_of(self, user: int) -> np.ndarray:
        """The item rows user row ``user`` interacted with, ascending."""
        return self.keys[self.pointer[user] : self.pointer[user + 1]] % self.n_items

    def counts(self) -> np.ndarray:
        """(m,) number of distinct items per user."""
        return np.diff(self.pointer)

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(n,) whether each (user, item) pair was seen."""
        return np.isin(np.asarray(users, dtype=np.int64) * self.n_items + items, self.keys)

    def sample_unseen(
        self, users: np.ndarray, rng: np.random.Generator, max_rounds: int = 1000
    ) -> np.ndarray:
        """One item per entry of ``users`` drawn uniformly among the items that user never interacted with
        (rejection sampling, vectorised; every user must have an unseen item)."""
        items = rng.integers(0, self.n_items, size=len(users))
        redo = np.flatnonzero(self.contains(users, items))
        for _ in range(max_rounds):
            if not len(redo):
                return items
            items[redo] = rng.integers(0, self.n_items, size=len(redo))
            redo = redo[self.contains(users[redo], items[redo])]
        raise RuntimeError("negative sampling did not finish: some users interacted with nearly every item")


def ranked_batches(
    model: TwoTowerModel,
    user_num: Tensor,
    user_cat: Tensor,
    item_emb: Tensor,
    known: np.ndarray,
    seen: SeenItems | None,
) -> Iterator[tuple[slice, Tensor]]:
    """(rows, scores (b, c)) for the given user rows in batches of at most ``SCORE_BUDGET`` scores;
    ``known`` (n,) is each row's training user row or -1; with ``seen`` a known user's training items
    score -inf."""
    batch = max(1, SCORE_BUDGET // max(1, item_emb.shape[0]))
    for part, scores in model.score_batches(user_num, user_cat, item_emb, batch_size=batch):
        if seen is not None:
            for r, row in enumerate(known[part]):
                if row >= 0:
                    scores[r, seen.items_of(int(row))] = -math.inf
        yield part, scores


def popularity_batches(
    counts: np.ndarray, known: np.ndarray, seen: SeenItems | None
) -> Iterator[tuple[slice, Tensor]]:
    """The popularity ranking as score batches like :func:`ranked_batches`: every user scores item i by its
    training count ``counts[i]`` (c,); with ``seen`` a known user's training items score -inf."""
    c = len(counts)
    batch = max(1, SCORE_BUDGET // max(1, c))
    row = torch.as_tensor(counts, dtype=torch.float32)  # (c,)
    for start in range(0, len(known), batch):
        part = slice(start, min(start + batch, len(known)))
        scores = row.expand(part.stop - start, c).clone()  # (b, c)
        if seen is not None:
            for r, user in enumerate(known[part]):
                if user >= 0:
                    scores[r, seen.items_of(int(user))] = -math.inf
        yield part, scores


def held_out_metrics(
    score_rows: Callable[[np.ndarray], Iterator[tuple[slice, Tensor]]],
    users: np.ndarray,
    items: np.ndarray,
    ks: Sequence[int],
) -> dict[str, float]:
    """Means over the held-out users of P, R, MRR, HR and NDCG at ``ks``: every user of the (user row, item
    row) pairs ranks the whole catalogue and the pair's items are the relevant ones
    (:func:`ftmamba_lite.metrics.evaluate_batches`). ``score_rows(rows)`` yields the score batches of the
    given user rows (:func:`ranked_batches`, :func:`popularity_batches`)."""
    rows, user_of = np.unique(users, return_inverse=True)

    def batches() -> Iterator[tuple[Tensor, np.ndarray]]:
        for part, scores in score_rows(rows):
            relevant = np.zeros(scores.shape, dtype=bool)  # (b, c)
            in_part = (user_of >= part.start) & (user_of < part.stop)
            relevant[user_of[in_part] - part.start, items[in_part]] = True
            yield scores, relevant

    return evaluate_batches(batches(), ks=ks, ndcg_ks=ks)


def score_test_users(model: TwoTowerModel, enc: EncodedData) -> Tensor:
    """Scores of every test user of ``enc`` against every item: (n_test, c)."""
    users = enc.test_users
    return model.score_all(enc.user_num[users], enc.user_cat[users], enc.item_num, enc.item_cat)


def top_k_fast(scores: Tensor, k: int, max_ties: int = 256) -> np.ndarray:
    """:func:`ftmamba_lite.metrics.top_k` (the reference: a stable sort of every row) without sorting rows.

    ``torch.topk`` finds each row's k-th score t; the items scoring >= t (k of them unless there are ties at
    t) are sorted by (-score, item row), so ties keep the lower item row first, as in the reference. When a
    row has more than k + ``max_ties`` such items (many equal scores, e.g. -inf after excluding seen items),
    the batch falls back to the reference. scores (b, c) -> item rows (b, k) int64, best first; ValueError
    on NaN.
    """
    if torch.isnan(scores).any():
        raise ValueError(f"scores contain {int(torch.isnan(scores).sum())} NaN value(s)")
    kth = torch.topk(scores, k, dim=1).values[:, -1:]  # (b, 1): the k-th best score of every row
    candidate = scores >= kth  # (b, c)
    counts = candidate.sum(dim=1)  # (b,) >= k
    if int(counts.max()) > k + max_ties:
        return top_k(scores, k)
    rows, cols = candidate.nonzero(as_tuple=True)  # row-major: grouped by row
    values = scores[rows, cols].to(torch.float64).numpy()
    order = np.lexsort((cols.numpy(), -values, rows.numpy()))  # by row, then score down, then item row up
    starts = np.concatenate([[0], np.cumsum(counts.numpy())[:-1]])  # (b,) first candidate of each row
    return cols.numpy()[order][starts[:, None] + np.arange(k)]  # (b, k)
