"""Next-item models (Mamba4Rec, SASRec, popularity) on a :class:`SequenceDataset`: the engine's sequence task.

Dimension letters (docs/notation.md):
    b  batch of windows      l  window length      v  items of the catalogue (ids 1..v, 0 pads)

The protocol of Mamba4Rec (section 4.1, run with RecBole): leave-one-out split by time, cross-entropy over all
items, Adam (lr 1e-3), and full ranking of the whole catalogue for every user's held-out item, scored by
HR@10, NDCG@10 and MRR@10. Histories are not filtered of items the user has already seen (RecBole's full
ranking for sequential models does not mask them either). After every epoch the validation items are ranked;
the weights of the best validation NDCG@10 are kept and evaluated on the test items.

Training data: :func:`ftmamba_lite.datasets.movielens.training_windows` (every prefix of a training sequence
is one example, computed in one causal forward pass per window). Mini-batches group windows of similar length
(a shuffled pool of 8 batches is sorted by length and cut) so that little time goes to padding.

:class:`NextItemTask` holds all of this; :func:`fit_sequential` runs it on the one training loop,
:func:`ftmamba_lite.learn.engine.train` (callbacks: one ``on_step`` per mini-batch, one ``on_eval`` per epoch
with the validation metrics; the non-finite guard). Deterministic under one ``seed``: batch order and dropout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..datasets.movielens import LeaveOneOut, SequenceDataset, leave_one_out, pad_histories, training_windows
from ..metrics import evaluate
from .engine import Callback, Evaluation, History, Task, check_int, train

__all__ = [
    "SEQUENCE_METRICS",
    "NextItemTask",
    "evaluate_next_item",
    "fit_sequential",
    "score_histories",
]

SEQUENCE_METRICS = ("HR@10", "NDCG@10", "MRR@10")


@torch.no_grad()
def score_histories(
    model: nn.Module, histories: Sequence[np.ndarray], max_len: int, batch_size: int = 256
) -> Tensor:
    """Scores (u, v) of every catalogue item for every history (its last ``max_len`` items); column j is
    item j + 1."""
    items, lengths = pad_histories(histories, max_len)
    was_training = model.training
    model.eval()
    parts = []
    for start in range(0, len(items), batch_size):
        rows = slice(start, start + batch_size)
        width = max(1, int(lengths[rows].max()))
        batch = torch.from_numpy(items[rows, :width])  # (b, l)
        parts.append(model.scores(batch, torch.from_numpy(lengths[rows])))  # (b, v)
    model.train(was_training)
    return torch.cat(parts)


def evaluate_next_item(scores: Tensor | np.ndarray, targets: np.ndarray, k: int = 10) -> dict[str, float]:
    """HR@k, NDCG@k and MRR@k of ranking the catalogue (scores (u, v)) for one held-out item per user
    (targets (u,), ids 1..v), through :func:`ftmamba_lite.metrics.evaluate`."""
    n_users, n_items = scores.shape
    if len(targets) != n_users:
        raise ValueError(f"{n_users} score rows but {len(targets)} targets")
    relevant = np.zeros((n_users, n_items), dtype=bool)
    relevant[np.arange(n_users), np.asarray(targets) - 1] = True
    metrics = evaluate(scores, relevant, ks=(k,), ndcg_ks=(k,))
    return {name: metrics[name] for name in (f"HR@{k}", f"NDCG@{k}", f"MRR@{k}")}


class NextItemTask(Task):
    """Mamba4Rec's task: the training windows of a leave-one-out split, cross-entropy at every position,
    validation and test by full ranking (module docstring).

    Args:
        split: the leave-one-out split.
        max_len: the longest history a window holds (the model's ``max_len``).
        batch_size: windows per mini-batch.
        k: the cut-off of HR@k, NDCG@k, MRR@k.
    """

    def __init__(self, split: LeaveOneOut, max_len: int, batch_size: int = 16, k: int = 10) -> None:
        self.split, self.max_len, self.k = split, max_len, k
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.inputs, self.targets = training_windows(split.train, max_len)  # (m, l) each
        self.lengths = (self.targets > 0).sum(axis=1)  # (m,)
        self.n_examples = len(self.inputs)

    def epoch(self, generator: torch.Generator) -> list[Tensor]:
        """Shuffled mini-batches of window indices, similar lengths together (pools of 8 batches sorted)."""
        order = torch.randperm(self.n_examples, generator=generator).numpy()
        batches = []
        pool = 8 * self.batch_size
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        shuffle = torch.randperm(len(batches), generator=generator).numpy()
        return [torch.from_numpy(batches[i]) for i in shuffle]

    def loss(self, model: nn.Module, batch: Tensor) -> Tensor:
        idx = batch.numpy()
        width = int(self.lengths[idx].max())
        x = torch.from_numpy(self.inputs[idx, :width])  # (b, l)
        y = torch.from_numpy(self.targets[idx, :width])  # (b, l)
        return model.loss(x, y)

    def evaluate(self, model: nn.Module) -> Evaluation:
        scores = score_histories(model, self.split.valid_histories(), self.max_len)  # (u, v)
        metrics = evaluate_next_item(scores, self.split.valid_target, self.k)
        trained = any(p.requires_grad for p in model.parameters())
        targets = torch.as_tensor(self.split.valid_target) - 1
        loss = float(nn.functional.cross_entropy(scores, targets)) if trained else math.nan
        return Evaluation(metrics, loss)

    def test(self, model: nn.Module) -> dict[str, float]:
        scores = score_histories(model, self.split.test_histories(), self.max_len)
        return evaluate_next_item(scores, self.split.test_target, self.k)

    def describe(self, batch: Tensor, rows: Tensor | None) -> str:
        return f"training window(s) {batch.tolist()[:5]}{'...' if len(batch) > 5 else ''}"


def fit_sequential(
    model: nn.Module,
    data: SequenceDataset,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    k: int = 10,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    split: LeaveOneOut | None = None,
) -> History:
    """Train with cross-entropy over all items and Adam; validate every epoch; test the best epoch:
    :func:`ftmamba_lite.learn.engine.train` on a :class:`NextItemTask`.

    Args:
        model: from :func:`ftmamba_lite.learn.registry.build_sequence_model`; popularity is only evaluated.
        data: the sequences; split by :func:`leave_one_out` unless ``split`` is given.
        epochs: passes over the training windows.
        batch_size: windows per mini-batch, each up to ``model.max_len`` examples (16 windows of ML-100K hold
            about 1,400 prefixes, of the order of Mamba4Rec's batches).
        lr: Adam's learning rate (Mamba4Rec: 1e-3).
        seed: seeds the batch order and dropout.
        k: the cut-off of HR@k, NDCG@k, MRR@k; the best epoch is the one of the highest validation NDCG@k.
        callbacks: :class:`ftmamba_lite.learn.engine.Callback` hooks (``on_eval`` once per epoch).
        progress: show a tqdm bar over the steps.

    Returns:
        a :class:`~ftmamba_lite.learn.engine.History` (``test_metrics``, ``best_epoch``, ``epoch_seconds``);
        the model ends with the weights of the best epoch.
    """
    epochs = check_int("epochs", epochs, 0)
    task = NextItemTask(split or leave_one_out(data), getattr(model, "max_len", 1), batch_size, k)
    torch.manual_seed(seed)  # dropout
    per_epoch = -(-task.n_examples // task.batch_size)
    return train(
        model, task, epochs=epochs, lr=lr, seed=seed, eval_every=per_epoch, monitor=f"NDCG@{k}",
        callbacks=callbacks, progress=progress,
    )  # fmt: skip
