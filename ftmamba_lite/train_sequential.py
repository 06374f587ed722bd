"""Training and evaluating next-item models (Mamba4Rec, SASRec, popularity) on a :class:`SequenceDataset`.

The protocol of Mamba4Rec (section 4.1, run with RecBole): leave-one-out split by time, cross-entropy over all
items, Adam (lr 1e-3), and full ranking of the whole catalogue for every user's held-out item, scored by
HR@10, NDCG@10 and MRR@10. Histories are not filtered of items the user has already seen (RecBole's full
ranking for sequential models does not mask them either). After every epoch the validation items are ranked;
the weights of the best validation NDCG@10 are kept and evaluated on the test items.

Training data: :func:`ftmamba_lite.datasets.movielens.training_windows` (every prefix of a training sequence
is one example, computed in one causal forward pass per window). Mini-batches group windows of similar length
(a shuffled pool of 8 batches is sorted by length and cut) so that little time goes to padding.

Everything is deterministic under one ``seed``: initialisation (:func:`build_sequence_model`), batch order and
dropout (:func:`fit_sequential`). Progress goes to :class:`ftmamba_lite.train.Callback` objects (one
``on_step`` per mini-batch, one ``on_eval`` per epoch with the validation metrics) and a tqdm bar.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .datasets.movielens import (
    LeaveOneOut,
    SequenceDataset,
    leave_one_out,
    pad_histories,
    training_windows,
)
from .metrics import evaluate
from .sequential import SEQUENCE_MODELS, PopularityRecommender, SequenceRecommender, make_sequence_model
from .timing import best_seconds
from .train import Callback, History

__all__ = [
    "MODEL_CHOICES",
    "SEQUENCE_METRICS",
    "SequenceHistory",
    "build_sequence_model",
    "evaluate_next_item",
    "fit_sequential",
    "score_histories",
    "sequence_costs",
]

MODEL_CHOICES = ("mamba4rec", "sasrec", "popularity")
SEQUENCE_METRICS = ("HR@10", "NDCG@10", "MRR@10")

Recommender = SequenceRecommender | PopularityRecommender


@dataclass
class SequenceHistory(History):
    """:class:`ftmamba_lite.train.History` of a sequence model: ``eval_steps``/``eval_metrics`` hold the
    validation metrics after each epoch, ``valid_losses`` the validation cross-entropy.

    Extra attributes: ``epoch_seconds`` (training time of each epoch, evaluation excluded), ``best_epoch``
    (the epoch whose weights were kept, 0 for an untrained model), ``test_metrics`` (of those weights).
    """

    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = 0
    test_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean(self.epoch_seconds)) if self.epoch_seconds else math.nan


def build_sequence_model(
    name: str, data: SequenceDataset, seed: int = 0, split: LeaveOneOut | None = None, **kwargs: object
) -> Recommender:
    """``"mamba4rec"``, ``"sasrec"`` (initialised from ``seed``) or ``"popularity"`` (training counts) for
    ``data``'s catalogue; ``kwargs`` override the model's defaults (e.g. ``max_len=50``)."""
    if name == "popularity":
        counts = (split or leave_one_out(data)).item_counts(data.n_items)
        return PopularityRecommender(torch.as_tensor(counts))
    if name not in SEQUENCE_MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {list(MODEL_CHOICES)}")
    torch.manual_seed(seed)
    return make_sequence_model(name, data.n_items, **kwargs)


@torch.no_grad()
def score_histories(
    model: Recommender, histories: Sequence[np.ndarray], max_len: int, batch_size: int = 256
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


def _batches(lengths: np.ndarray, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """Shuffled mini-batches of window indices, similar lengths together (pools of 8 batches sorted)."""
    order = torch.randperm(len(lengths), generator=generator).numpy()
    batches = []
    pool = 8 * batch_size
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).numpy()
    return [batches[i] for i in shuffle]


def fit_sequential(
    model: Recommender,
    data: SequenceDataset,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    k: int = 10,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    split: LeaveOneOut | None = None,
) -> SequenceHistory:
    """Train with cross-entropy over all items and Adam; validate every epoch; test the best epoch.

    Args:
        model: from :func:`build_sequence_model`; a popularity model is only evaluated.
        data: the sequences; split by :func:`leave_one_out` unless ``split`` is given.
        epochs: passes over the training windows.
        batch_size: windows per mini-batch, each up to ``model.max_len`` examples (16 windows of ML-100K hold
            about 1,500 prefixes, close to Mamba4Rec's batches of 2,048).
        lr: Adam's learning rate (Mamba4Rec: 1e-3).
        seed: seeds the batch order and dropout.
        k: the cut-off of HR@k, NDCG@k, MRR@k; the best epoch is the one of the highest validation NDCG@k.
        callbacks: :class:`ftmamba_lite.train.Callback` hooks (``on_eval`` once per epoch, validation).
        progress: show a tqdm bar over the steps.

    Returns:
        a :class:`SequenceHistory`; the model ends with the weights of the best epoch.
    """
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    split = split or leave_one_out(data)
    max_len = getattr(model, "max_len", 1)
    history = SequenceHistory()
    trainable = [p for p in model.parameters() if p.requires_grad]
    epochs = epochs if trainable else 0
    inputs, targets = training_windows(split.train, max_len)  # (m, l) each
    window_lengths = (targets > 0).sum(axis=1)  # (m,)
    steps_per_epoch = -(-len(inputs) // batch_size)
    total = epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout
    optimizer = torch.optim.Adam(trainable, lr=lr, fused=True) if trainable else None  # one kernel per step
    start_time = time.perf_counter()
    for cb in callbacks:
        cb.stop = False
        cb.on_train_begin(history, total)
    best_score, best_state = -math.inf, None

    def validate(epoch: int) -> None:
        nonlocal best_score, best_state
        scores = score_histories(model, split.valid_histories(), max_len)
        metrics = evaluate_next_item(scores, split.valid_target, k)
        targets = torch.as_tensor(split.valid_target) - 1
        loss = float(nn.functional.cross_entropy(scores, targets)) if trainable else math.nan
        history.eval_steps.append(len(history.steps))
        history.eval_metrics.append(metrics)
        history.valid_losses.append(loss)
        if metrics[f"NDCG@{k}"] > best_score:
            best_score, history.best_epoch = metrics[f"NDCG@{k}"], epoch
            best_state = copy.deepcopy(model.state_dict()) if trainable else None
        for cb in callbacks:
            cb.on_eval(history, len(history.steps), metrics)

    bar = tqdm(total=total, desc="training", disable=not progress, leave=False)
    try:
        if epochs == 0:
            validate(0)
        for epoch in range(1, epochs + 1):
            model.train()
            epoch_start = time.perf_counter()
            for idx in _batches(window_lengths, batch_size, generator):
                width = int(window_lengths[idx].max())
                x = torch.from_numpy(inputs[idx, :width])  # (b, l)
                y = torch.from_numpy(targets[idx, :width])  # (b, l)
                loss = model.loss(x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = loss.item()
                step = len(history.steps) + 1
                history.steps.append(step)
                history.losses.append(value)
                for cb in callbacks:
                    cb.on_step(history, step, value)
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{value:.3f}", refresh=False)
            history.epoch_seconds.append(time.perf_counter() - epoch_start)
            validate(epoch)
            if any(cb.stop for cb in callbacks):
                history.stopped_early = True
                break
    finally:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    test_scores = score_histories(model, split.test_histories(), max_len)
    history.test_metrics = evaluate_next_item(test_scores, split.test_target, k)
    history.seconds = time.perf_counter() - start_time
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def sequence_costs(
    lengths: Sequence[int],
    models: Sequence[str] = ("mamba4rec", "sasrec"),
    n_items: int = 1000,
    batch: int = 32,
    repeat: int = 3,
    **model_kwargs: object,
) -> pd.DataFrame:
    """Cost of each model as the history length l grows, on random histories of exactly l items.

    Per (model, l): ``train_ms`` (one training step: forward, cross-entropy at every position, backward,
    for a batch of ``batch`` histories), ``infer_ms_per_user`` (scoring the catalogue for one user, measured
    on the batch and divided by it) and ``activation_mb`` (what autograd keeps for the backward pass).
    """
    from .timing import saved_activation_bytes

    generator = torch.Generator().manual_seed(0)
    rows = []
    for name in models:
        torch.manual_seed(0)
        model = make_sequence_model(name, n_items, max_len=max(lengths), **model_kwargs)
        for length in sorted(lengths):
            items = torch.randint(1, n_items + 1, (batch, length + 1), generator=generator)  # (b, l + 1)
            x, y = items[:, :-1], items[:, 1:]  # (b, l) inputs and next items

            def step(model: SequenceRecommender = model, x: Tensor = x, y: Tensor = y) -> None:
                model.zero_grad(set_to_none=True)
                model.loss(x, y).backward()

            def infer(model: SequenceRecommender = model, x: Tensor = x) -> None:
                with torch.no_grad():
                    model.scores(x)

            model.train()
            train = best_seconds(step, repeat=repeat)
            model.eval()
            infer_seconds = best_seconds(infer, repeat=repeat)
            model.train()
            memory = saved_activation_bytes(model, x) / 2**20
            rows.append(
                {
                    "model": name,
                    "length": length,
                    "train_ms": 1000 * train,
                    "infer_ms_per_user": 1000 * infer_seconds / batch,
                    "activation_mb": memory,
                }
            )
    return pd.DataFrame(rows)
