"""Training a two-tower model on a :class:`~ftmamba_lite.datasets.base.RecDataset` (paper III).

The paper's protocol: mean squared error between the score s(u, i) and the target, Adam, batch size 32, one
epoch of 160,000 triples = 5,000 steps, learning rate 1e-4 (Spotify, H&M) or 1e-5 (vaccine messaging).
Test metrics are computed by scoring every test user against the whole catalogue.

Everything here is deterministic under one ``seed``: the model's initialisation (:func:`build_model`) and the
order of the mini-batches (:func:`fit`); the data's own seed is the loader's.
Progress goes to callbacks (:class:`Callback`) and a tqdm bar; nothing here draws.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import losses
from .config import ModelConfig
from .datasets.base import RecDataset
from .encoding import TableEncoder
from .metrics import evaluate
from .towers import TwoTowerModel, build_two_tower, make_two_tower

__all__ = [
    "Callback",
    "EncodedData",
    "History",
    "build_model",
    "count_parameters",
    "encode",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
    "score_test_users",
]


@dataclass
class EncodedData:
    """A dataset's tables as tensors: what the towers eat.

    ``user_num`` (m, k_num) float32, ``user_cat`` (m, k_cat) int64 for all m users (same for items, c rows);
    ``train``/``valid`` hold (user, item, target) columns as tensors.
    """

    user_num: Tensor
    user_cat: Tensor
    item_num: Tensor
    item_cat: Tensor
    train_user: Tensor
    train_item: Tensor
    train_target: Tensor
    valid_user: Tensor
    valid_item: Tensor
    valid_target: Tensor
    test_users: Tensor
    test_relevant: Tensor
    user_spec: dict
    item_spec: dict


def encode(data: RecDataset, standardize: bool = False) -> EncodedData:
    """Fit a :class:`TableEncoder` per tower on the feature tables and encode everything once."""
    tensors = {}
    specs = {}
    for side, table in (("user", data.users), ("item", data.items)):
        encoder = TableEncoder(table.numeric, table.categorical, standardize=standardize).fit(table.frame)
        tensors[f"{side}_num"], tensors[f"{side}_cat"] = encoder.transform(table.frame)
        specs[f"{side}_spec"] = {
            "n_numerical": len(table.numeric),
            "cardinalities": encoder.cardinalities,
            "feature_names": encoder.feature_names,
        }
    for split_name, split in (("train", data.train), ("valid", data.valid)):
        for column, dtype in (("user", np.int64), ("item", np.int64), ("target", np.float32)):
            values = split[column].to_numpy(dtype=dtype, copy=True)  # a writable copy for torch
            tensors[f"{split_name}_{column}"] = torch.from_numpy(values)
    return EncodedData(
        **tensors,
        test_users=torch.as_tensor(data.test_users, dtype=torch.long),
        test_relevant=torch.as_tensor(data.test_relevant),
        **specs,
    )


def build_model(
    data: RecDataset | EncodedData,
    embedder: str = "mamba",
    d_model: int = 128,
    n_layers: int | None = None,
    seed: int = 0,
    **kwargs: object,
) -> TwoTowerModel:
    """A two-tower model whose tokenizers fit ``data``'s feature tables, initialised from ``seed``.

    ``embedder`` is ``"mamba"`` or ``"transformer"``; ``n_layers`` defaults to the paper's (4 / 2); other
    keyword arguments go to :func:`ftmamba_lite.towers.make_two_tower` (e.g. ``similarity``, ``d_state``).
    """
    enc = data if isinstance(data, EncodedData) else encode(data)
    torch.manual_seed(seed)
    return make_two_tower(
        embedder, enc.user_spec, enc.item_spec, d_model=d_model, n_layers=n_layers, **kwargs
    )


@dataclass
class History:
    """What happened during :func:`fit`: the loss at every step and the metrics at every evaluation."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_metrics: list[dict[str, float]] = field(default_factory=list)
    valid_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False

    def loss_frame(self) -> pd.DataFrame:
        """One row per step: step, loss."""
        return pd.DataFrame({"step": self.steps, "loss": self.losses})

    def eval_frame(self) -> pd.DataFrame:
        """One row per evaluation: step, valid_loss and every metric (e.g. HR@5)."""
        rows = [
            {"step": s, "valid_loss": v, **m}
            for s, v, m in zip(self.eval_steps, self.valid_losses, self.eval_metrics, strict=True)
        ]
        return pd.DataFrame(rows)

    @property
    def final_metrics(self) -> dict[str, float]:
        return self.eval_metrics[-1] if self.eval_metrics else {}


class Callback:
    """Hooks :func:`fit` calls; override the ones you need (e.g. to update a live plot).

    Set ``self.stop = True`` in any hook to end training after the current step.
    """

    stop: bool = False

    def on_train_begin(self, history: History, total_steps: int) -> None: ...

    def on_step(self, history: History, step: int, loss: float) -> None: ...

    def on_eval(self, history: History, step: int, metrics: dict[str, float]) -> None: ...

    def on_train_end(self, history: History) -> None: ...


def _pairs(model: TwoTowerModel, enc: EncodedData, users: Tensor, items: Tensor) -> Tensor:
    """Scores of the (users[r], items[r]) pairs -> (b,)."""
    return model(enc.user_num[users], enc.user_cat[users], enc.item_num[items], enc.item_cat[items])


def score_test_users(model: TwoTowerModel, enc: EncodedData) -> Tensor:
    """Scores of every test user against every item: (n_test, c)."""
    users = enc.test_users
    return model.score_all(enc.user_num[users], enc.user_cat[users], enc.item_num, enc.item_cat)


@torch.no_grad()
def _valid_loss(model: TwoTowerModel, enc: EncodedData, batch_size: int = 4096) -> float:
    n = len(enc.valid_target)
    if n == 0:
        return math.nan
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, n, batch_size):
        part = slice(start, start + batch_size)
        pred = _pairs(model, enc, enc.valid_user[part], enc.valid_item[part])
        total += F.mse_loss(pred, enc.valid_target[part], reduction="sum").item()
    model.train(was_training)
    return total / n


def fit(
    model: TwoTowerModel,
    data: RecDataset | EncodedData,
    steps: int = 5000,
    batch_size: int = 32,
    lr: float = 1e-4,
    seed: int = 0,
    eval_every: int | None = 500,
    ks: Sequence[int] = (1, 5, 10),
    map_ks: Sequence[int] = (),
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    loss: str = "mse",
) -> History:
    """Train with MSE (or ``loss``) and Adam on the training triples (paper III); evaluate on the test users.

    Args:
        model: a :class:`TwoTowerModel` built for this data (:func:`build_model`).
        data: the dataset, or its :func:`encode`-d tensors (encode once to train several models).
        steps: optimisation steps (paper: 5,000 = one epoch of 160,000 triples at batch size 32).
        batch_size: triples per step (paper: 32).
        lr: Adam's learning rate (paper: 1e-4; vaccine messaging 1e-5).
        seed: seeds the order of the mini-batches (shuffled anew every epoch).
        eval_every: evaluate every this many steps (and always at the end); None evaluates only at the end.
        ks, map_ks: truncations for :func:`ftmamba_lite.metrics.evaluate`.
        callbacks: :class:`Callback` objects notified of every step and evaluation.
        progress: show a tqdm progress bar (notebook-aware).
        loss: ``"mse"`` (paper) or ``"softmax"``, the in-batch sampled softmax with logQ correction (every
            training triple is a positive pair); see :mod:`ftmamba_lite.losses` for which suits which data.

    Returns:
        a :class:`History`; the model is trained in place.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got steps={steps}, batch_size={batch_size}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    enc = data if isinstance(data, EncodedData) else encode(data)
    n_train = len(enc.train_target)
    if n_train == 0:
        raise ValueError("the dataset has no training triples")
    # --- the loss (ftmamba_lite.losses) ---
    if loss not in losses.LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(losses.LOSSES)}")
    loss_fn = losses.LOSSES[loss]
    log_q = losses.item_log_frequency(enc.train_item, len(enc.item_cat)) if loss == "softmax" else None
    # --- end of the loss ---
    batch_size = min(batch_size, n_train)
    generator = torch.Generator().manual_seed(seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:  # a fixed scorer (the popularity and oracle baselines): no steps, one evaluation
        steps = 0
    optimizer = torch.optim.Adam(trainable, lr=lr, fused=True) if trainable else None  # one kernel per step
    history = History()
    start_time = time.perf_counter()
    for cb in callbacks:
        cb.stop = False
        cb.on_train_begin(history, steps)

    def evaluate_now(step: int) -> None:
        scores = score_test_users(model, enc)
        metrics = evaluate(scores, enc.test_relevant.numpy(), ks=ks, map_ks=map_ks)
        history.eval_steps.append(step)
        history.eval_metrics.append(metrics)
        history.valid_losses.append(_valid_loss(model, enc))
        for cb in callbacks:
            cb.on_eval(history, step, metrics)

    model.train()
    if steps == 0:
        evaluate_now(0)
    order = torch.randperm(n_train, generator=generator)
    cursor = 0
    bar = tqdm(total=steps, desc="training", disable=not progress, leave=False)
    try:
        for step in range(1, steps + 1):
            if cursor + batch_size > n_train:  # a new epoch: reshuffle
                order, cursor = torch.randperm(n_train, generator=generator), 0
            idx = order[cursor : cursor + batch_size]
            cursor += batch_size
            users, items = enc.train_user[idx], enc.train_item[idx]
            loss = loss_fn(  # the batch's loss (the argument ``loss`` named it; loss_fn holds it now)
                model, enc.user_num[users], enc.user_cat[users], enc.item_num[items], enc.item_cat[items],
                items, enc.train_target[idx], log_q,
            )  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = loss.item()
            history.steps.append(step)
            history.losses.append(value)
            for cb in callbacks:
                cb.on_step(history, step, value)
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{value:.4f}")
            stop = any(cb.stop for cb in callbacks)
            if (eval_every and step % eval_every == 0) or step == steps or stop:
                evaluate_now(step)
            if stop:
                history.stopped_early = True
                break
    finally:
        bar.close()
    history.seconds = time.perf_counter() - start_time
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def save_checkpoint(model: TwoTowerModel, path: str | Path) -> None:
    """Save the architecture (``model.config``, a :class:`~ftmamba_lite.config.ModelConfig`) and the weights;
    :func:`load_checkpoint` restores both."""
    if model.config is None:
        raise ValueError(
            "model.config is None: build the model with build_model / make_two_tower / make_baseline "
            "(popularity and oracle are rebuilt from the data, not saved)"
        )
    torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict()}, Path(path))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> TwoTowerModel:
    """Rebuild a model saved by :func:`save_checkpoint`, weights included (bit-for-bit)."""
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)
    model = build_two_tower(ModelConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
