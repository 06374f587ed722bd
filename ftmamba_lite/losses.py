"""Training losses of the two-tower model: the paper's MSE and the in-batch sampled softmax of retrieval.

Dimension letters (docs/notation.md):
    b  batch (training pairs)      o  output embedding width (paper: 32)      c  items (the catalogue)

* ``"mse"`` -- the paper's loss (Section III): (1/b) sum_r (s(u_r, i_r) - y_r)^2 on (user, item, target)
  triples. Suits explicit targets (ratings, the Spotify likes in {-1, 0, 1}) and implicit feedback with
  sampled negatives (target 1 for an interaction, 0 for an item the user never touched: the paper's H&M
  protocol).
* ``"softmax"`` -- the in-batch sampled softmax of two-tower retrieval (Yi et al. 2019,
  "Sampling-bias-corrected neural modeling"; TensorFlow Recommenders' ``tasks.Retrieval``). Every row r of
  the batch is a positive (user, item) pair; the other rows' items are its negatives:

      logits[r, j] = s(u_r, i_j) / tau - log q(i_j)        (b, b)
      loss = (1/b) sum_r -log softmax(logits[r])[r]

  with q(i) the probability that item i appears in a batch (its share of the training pairs; the logQ
  correction, without which popular items, frequent negatives, are pushed down) and tau a temperature. When
  one item occurs in several rows, the other occurrences are not negatives of row r ("accidental hits", masked
  out). Suits implicit feedback (clicks, purchases, views), needs no sampled negatives, and learns a ranking
  over the catalogue rather than a target value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .towers import NonFiniteOutputError, TwoTowerModel

__all__ = [
    "LOSSES",
    "in_batch_softmax",
    "in_batch_softmax_loss",
    "in_batch_softmax_loss_ref",
    "embed_unique_rows",
    "item_log_frequency",
    "mse",
]


def in_batch_softmax_loss(
    user_emb: Tensor,
    item_emb: Tensor,
    item_ids: Tensor | None = None,
    log_q: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """The in-batch sampled softmax (module docstring) from embeddings.

    Args:
        user_emb: f(u_r), (b, o).
        item_emb: g(i_r), (b, o); row r is the positive item of user r.
        item_ids: (b,) int64 item index of each row: rows with the same item as row r are masked out of row
            r's negatives (accidental hits). None: every other row is a negative.
        log_q: (b,) log of the sampling probability of each row's item (logQ correction); None: no correction.
        temperature: tau > 0.

    Returns:
        the mean cross-entropy, a scalar.
    """
    if user_emb.shape != item_emb.shape or user_emb.dim() != 2:
        raise ValueError(
            f"user_emb and item_emb must both be (b, o), got {tuple(user_emb.shape)} and "
            f"{tuple(item_emb.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = user_emb @ item_emb.T / temperature  # (b, b): s(u_r, i_j) / tau
    if log_q is not None:
        logits = logits - log_q[None, :]  # subtract log q(i_j) from column j
    if item_ids is not None:
        same = item_ids[:, None] == item_ids[None, :]  # (b, b)
        hits = same & ~torch.eye(len(item_ids), dtype=torch.bool, device=same.device)
        logits = logits.masked_fill(hits, -math.inf)
    labels = torch.arange(len(user_emb), device=user_emb.device)
    return F.cross_entropy(logits, labels)


def in_batch_softmax_loss_ref(
    user_emb: Tensor,
    item_emb: Tensor,
    item_ids: Tensor | None = None,
    log_q: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """Reference for :func:`in_batch_softmax_loss`: one row at a time, the sum over negatives written out."""
    b = len(user_emb)
    total = user_emb.new_zeros(())
    for r in range(b):
        terms = []
        for j in range(b):
            if j != r and item_ids is not None and item_ids[j] == item_ids[r]:
                continue  # an accidental hit: not a negative
            logit = (user_emb[r] * item_emb[j]).sum() / temperature
            terms.append(logit - (log_q[j] if log_q is not None else 0.0))
        positive = (user_emb[r] * item_emb[r]).sum() / temperature - (log_q[r] if log_q is not None else 0.0)
        total = total + torch.logsumexp(torch.stack(terms), dim=0) - positive
    return total / b


def item_log_frequency(train_item: Tensor, n_items: int) -> Tensor:
    """log q(i) for the logQ correction: log of item i's share of the training pairs, (c,) float32.

    Items never trained on get the log of half a pair's share (they never appear in a batch anyway).
    """
    counts = torch.bincount(train_item, minlength=n_items).to(torch.float32)
    return torch.log(counts.clamp(min=0.5) / max(len(train_item), 1))


def embed_unique_rows(
    embed: Callable[[Tensor | None, Tensor | None], Tensor], x_num: Tensor | None, x_cat: Tensor | None
) -> Tensor:
    """``embed(x_num, x_cat)`` (b, o), computed once per distinct row: a tower embeds each row on its own, so
    equal rows have equal embeddings, and the gradients of the copies add up in the shared row. In-batch
    softmax batches repeat rows often (MovieLens-100K, batch 1,024: 55 % distinct items), and a tower's cost
    is per row. x_num (b, k_num) float, x_cat (b, k_cat) int64 (integer codes, exact in float64)."""
    parts = [x for x in (x_num, x_cat) if x is not None and x.shape[-1] > 0]
    if not parts or len(parts[0]) < 2:
        return embed(x_num, x_cat)
    rows = torch.cat([x.to(torch.float64) for x in parts], dim=1)  # (b, k)
    _, inverse = torch.unique(rows, dim=0, return_inverse=True)  # (b,) the distinct row of each row
    n = int(inverse.max()) + 1
    if n == len(rows):
        return embed(x_num, x_cat)
    first = torch.full((n,), len(rows), dtype=torch.long).scatter_reduce(
        0, inverse, torch.arange(len(rows)), reduce="amin"
    )  # (n,) one row of each distinct value

    def pick(x: Tensor | None) -> Tensor | None:
        return None if x is None else x[first]

    try:
        return embed(pick(x_num), pick(x_cat))[inverse]  # (n, o) -> (b, o)
    except NonFiniteOutputError as err:  # name the batch's rows, not the distinct ones
        err.rows = err.rows[inverse]
        raise


def mse(
    model: TwoTowerModel,
    user_num: Tensor,
    user_cat: Tensor,
    item_num: Tensor,
    item_cat: Tensor,
    item: Tensor,
    target: Tensor,
    log_q: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """The paper's loss on a batch: mean (s(u_r, i_r) - y_r)^2 over its b rows (``item``, ``log_q``,
    ``temperature`` unused)."""
    return F.mse_loss(model(user_num, user_cat, item_num, item_cat), target)


def in_batch_softmax(
    model: TwoTowerModel,
    user_num: Tensor,
    user_cat: Tensor,
    item_num: Tensor,
    item_cat: Tensor,
    item: Tensor,
    target: Tensor,
    log_q: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """:func:`in_batch_softmax_loss` on a batch of positive pairs (``target`` unused: every row a positive).

    ``item`` (b,) are the rows' item indices (accidental hits), ``log_q`` (c,) the catalogue's log q(i),
    ``temperature`` tau.
    """
    user_emb = embed_unique_rows(model.embed_users, user_num, user_cat)  # (b, o)
    item_emb = embed_unique_rows(model.embed_items, item_num, item_cat)  # (b, o)
    return in_batch_softmax_loss(
        user_emb, item_emb, item, None if log_q is None else log_q[item], temperature=temperature
    )


LOSSES: dict[str, Callable[..., Tensor]] = {"mse": mse, "softmax": in_batch_softmax}
"""The losses :func:`ftmamba_lite.learn.engine.TwoTowerTask` accepts by name."""
