"""The training engine: one loop for every model of the package (two towers, sequence models, Recommender).

What is trained on what is a :class:`Task` (TensorFlow Recommenders' split: the task holds the data, the loss
and the evaluation; the loop belongs to the trainer). :func:`train` runs any task:

* mini-batches: the task cuts one epoch into batches from a seeded generator; a new epoch reshuffles;
* Adam (fused: one kernel per step), for ``steps`` steps or ``epochs`` epochs;
* evaluation every ``eval_every`` steps and at the end (the task's :meth:`Task.evaluate`: metrics, a
  validation loss, and the scores of the last evaluation kept in :attr:`History.final_scores`);
* early stopping: with ``monitor`` (a metric name such as ``"NDCG@10"``) the best evaluation's weights are
  kept and restored at the end; with ``patience`` training stops after that many evaluations without
  improvement;
* the non-finite guard: a step whose loss, scores or gradients are NaN or infinite stops training, puts back
  the weights of the last finite step and raises :class:`NonFiniteLossError` (naming the step and, through
  :meth:`Task.describe`, the examples of the batch), the :class:`History` so far attached;
* progress through :class:`Callback` hooks and a tqdm bar; nothing here draws.

Every run is deterministic under one ``seed`` (batch order, dropout). The two tasks of the package are
:class:`TwoTowerTask` (here: the paper's triples, Section III) and
:class:`ftmamba_lite.learn.sequence.NextItemTask` (Mamba4Rec's next-item protocol); :func:`fit` is the
two-tower task's entry point, :func:`ftmamba_lite.learn.sequence.fit_sequential` the sequence one's.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import losses
from ..datasets.base import RecDataset
from ..encoding import EncodedData, encode
from ..metrics import evaluate
from ..towers import NonFiniteOutputError, TwoTowerModel
from .scoring import score_test_users

__all__ = [
    "Callback",
    "Evaluation",
    "History",
    "NonFiniteLossError",
    "Task",
    "TwoTowerTask",
    "check_int",
    "check_lr",
    "fit",
    "train",
]

EVAL_EVERY = 500
"""Steps between two evaluations of the two-tower runs (the points of the paper's Figure 4 curves)."""


@dataclass
class History:
    """What happened during :func:`train`: the loss at every step and the metrics at every evaluation.

    ``epoch_seconds`` holds the training time of each finished epoch (evaluation excluded); ``best_step``
    the step whose weights were kept (with ``monitor``; 0 for an untrained model); ``test_metrics`` what the
    task measured on its test set after training (sequence models); ``final_scores`` the scores (n, c) of
    the last evaluation, where the task keeps them (two towers), so nothing is scored twice.
    """

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_metrics: list[dict[str, float]] = field(default_factory=list)
    valid_losses: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False
    stop_reason: str | None = None
    best_step: int = 0
    steps_per_epoch: int = 0
    test_metrics: dict[str, float] = field(default_factory=dict)
    final_scores: np.ndarray | None = None

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
        """The metrics of the last evaluation."""
        return self.eval_metrics[-1] if self.eval_metrics else {}

    @property
    def best_epoch(self) -> int:
        """The epoch whose weights were kept (0: untrained, or no epoch finished before the best step)."""
        return self.best_step // self.steps_per_epoch if self.steps_per_epoch else 0

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean(self.epoch_seconds)) if self.epoch_seconds else math.nan


class Callback:
    """Hooks :func:`train` calls; override the ones you need (e.g. to update a live plot).

    Set ``self.stop = True`` in any hook to end training after the current step.
    """

    stop: bool = False

    def on_train_begin(self, history: History, total_steps: int) -> None: ...

    def on_step(self, history: History, step: int, loss: float) -> None: ...

    def on_eval(self, history: History, step: int, metrics: dict[str, float]) -> None: ...

    def on_train_end(self, history: History) -> None: ...


class NonFiniteLossError(ValueError):
    """Training met a NaN or infinite loss, score or gradient: :func:`train` stopped at ``step``.

    The model holds the weights at which the last finite loss, ``history.losses[-1]``, was computed (the
    weights it was given when there is none): those before the update that led to the non-finite value, so
    exactly the weights of a run of ``len(history.losses) - 1`` steps. ``history`` is the :class:`History`
    so far; ``rows`` the positions (in the task's training examples) of the step's batch.
    """

    def __init__(self, message: str, step: int, history: History, rows: list[int]) -> None:
        super().__init__(message)
        self.step = step
        self.history = history
        self.rows = rows


@dataclass
class Evaluation:
    """What one evaluation measured: ``metrics`` (name -> value), the validation loss (NaN when the task has
    none) and, optionally, the scores (n, c) it ranked."""

    metrics: dict[str, float]
    valid_loss: float = math.nan
    scores: np.ndarray | None = None


class Task:
    """What :func:`train` trains: the examples, how one batch's loss is computed, how the model is evaluated.

    Subclasses set ``n_examples`` and implement :meth:`epoch` and :meth:`loss`; :meth:`evaluate` (None: the
    task has nothing to evaluate), :meth:`test` and :meth:`describe` are optional.
    """

    n_examples: int = 0

    def epoch(self, generator: torch.Generator) -> list[Tensor]:
        """One epoch's mini-batches: tensors of example positions, in training order."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Tensor) -> Tensor:
        """The scalar loss of the examples ``batch``."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module) -> Evaluation | None:
        return None

    def test(self, model: nn.Module) -> dict[str, float]:
        """Metrics on the task's test set, measured once after training (with the kept weights)."""
        return {}

    def describe(self, batch: Tensor, rows: Tensor | None) -> str:
        """The examples of ``batch`` to blame for a non-finite value (``rows``: those flagged, if known)."""
        return f"example(s) {batch.tolist()[:5]}"


def check_int(name: str, value: object, minimum: int) -> int:
    """An int >= minimum (bools and floats refused, numpy integers accepted); ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_lr(lr: object) -> float:
    """A finite learning rate > 0 (bools refused); ValueError naming it."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    return float(lr)


class _Monitor:
    """Best-weights keeping and patience for one metric (``name`` None: keeps nothing, never stops)."""

    def __init__(self, model: nn.Module, name: str | None, patience: int | None) -> None:
        self.model, self.name, self.patience = model, name, patience
        self.best, self.best_state, self.bad = -math.inf, None, 0

    def update(self, history: History, step: int, metrics: dict[str, float]) -> bool:
        """Record one evaluation; True when patience ran out."""
        if self.name is None:
            return False
        if self.name not in metrics:
            raise ValueError(f"monitor={self.name!r} is not among the evaluated metrics {sorted(metrics)}")
        if metrics[self.name] > self.best:
            self.best, self.bad, history.best_step = metrics[self.name], 0, step
            self.best_state = copy.deepcopy(self.model.state_dict())
            return False
        self.bad += 1
        return self.patience is not None and self.bad >= self.patience

    def restore(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def train(
    model: nn.Module,
    task: Task,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    lr: float = 1e-4,
    weight_decay: float = 0.0,
    seed: int = 0,
    eval_every: int | None = EVAL_EVERY,
    monitor: str | None = None,
    patience: int | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
) -> History:
    """Train ``model`` on ``task`` (module docstring): the one training loop of the package.

    Args:
        model: any module the task's loss takes; a model without trainable parameters is evaluated once.
        task: the examples, loss and evaluation (:class:`TwoTowerTask`, ``NextItemTask``).
        steps, epochs: the training length; exactly one of them.
        lr, weight_decay: Adam's learning rate and (decoupled, AdamW) weight decay.
        seed: seeds the batch order.
        eval_every: evaluate every this many steps (and always at the end); None: only at the end.
        monitor: keep the weights of the best evaluation of this metric and restore them at the end.
        patience: with ``monitor``, stop after this many evaluations without improvement.
        callbacks: :class:`Callback` objects notified of every step and evaluation.
        progress: show a tqdm progress bar (notebook-aware).

    Returns:
        a :class:`History`; the model is trained in place.

    Raises:
        NonFiniteLossError: a loss, score or gradient became NaN or infinite (module docstring).
        Any other error during training carries the History so far as ``err.history``.
    """
    if (steps is None) == (epochs is None):
        raise ValueError(f"give steps or epochs (exactly one), got steps={steps!r}, epochs={epochs!r}")
    if isinstance(callbacks, Callback):
        raise TypeError("callbacks must be a sequence of Callback objects: pass [callback], not the callback")
    run = _Run(model, task, check_lr(lr), weight_decay, check_int("seed", seed, 0), monitor, list(callbacks))
    if run.trainable:
        total = (
            check_int("steps", steps, 1)
            if epochs is None
            else check_int("epochs", epochs, 0) * len(run.first)
        )
    else:  # a fixed scorer (popularity, oracle): no steps, one evaluation
        total = 0
    eval_every = None if eval_every is None else check_int("eval_every", eval_every, 1)
    patience = None if patience is None else check_int("patience", patience, 1)
    return run.loop(total, eval_every, patience, progress)


class _Run:
    """The state of one :func:`train` call: the optimiser, the weights before the latest update, the best
    weights so far (``monitor``), the History, and the loop over the steps."""

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        lr: float,
        weight_decay: float,
        seed: int,
        monitor: str | None,
        callbacks: list[Callback],
    ) -> None:
        self.model, self.task, self.lr, self.callbacks = model, task, lr, callbacks
        self.generator = torch.Generator().manual_seed(seed)
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.first = task.epoch(self.generator) if self.trainable else []
        self.history = History(steps_per_epoch=len(self.first))
        self.optimizer = None
        if self.trainable and weight_decay:
            self.optimizer = torch.optim.AdamW(self.trainable, lr=lr, weight_decay=weight_decay, fused=True)
        elif self.trainable:
            self.optimizer = torch.optim.Adam(self.trainable, lr=lr, fused=True)  # one kernel per step
        self.before_step = [
            p.detach().clone() for p in self.trainable
        ]  # the weights before the latest update
        self.keeper = _Monitor(model, monitor, None)
        self.total, self.start = 0, time.perf_counter()

    def loop(self, total: int, eval_every: int | None, patience: int | None, progress: bool) -> History:
        """Run ``total`` steps (0: evaluate once), evaluating every ``eval_every`` and at the end."""
        history, callbacks = self.history, self.callbacks
        self.total, self.keeper.patience = total, patience
        for cb in callbacks:
            cb.stop = False
            cb.on_train_begin(history, total)
        self.model.train()
        bar = tqdm(total=total, desc="training", disable=not progress, leave=False)
        queue: list[Tensor] = []
        epoch_start, batch, step, reason = time.perf_counter(), torch.zeros(0, dtype=torch.long), 0, None
        try:
            if total == 0:
                self.evaluate(0)
            for step in range(1, total + 1):
                if not queue:  # a new epoch: reshuffle
                    queue = list(reversed(self.first if step == 1 else self.task.epoch(self.generator)))
                batch = queue.pop()
                value = self.step(step, batch)
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{value:.4f}")
                if not queue:
                    history.epoch_seconds.append(time.perf_counter() - epoch_start)
                reason = self.after_step(step, eval_every)
                if reason is not None:
                    break
                if not queue:
                    epoch_start = time.perf_counter()
        except NonFiniteOutputError as err:  # from a step's forward pass (evaluate raises a plain ValueError)
            what = "the score" if err.side == "score" else f"the {err.side} tower's embedding"
            raise self.non_finite(step, what, batch, err.rows, step > 1) from err
        except BaseException as err:  # Ctrl-C, a failing callback or evaluation: the History is not lost
            err.history = history  # type: ignore[attr-defined]
            raise
        finally:
            bar.close()
        self.keeper.restore()
        history.test_metrics = self.task.test(self.model)
        self.close(reason)
        return history

    def step(self, step: int, batch: Tensor) -> float:
        """One optimisation step on ``batch``, guarded: a non-finite loss or gradient raises (module doc)."""
        history = self.history
        loss = self.task.loss(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        value = loss.item()
        if not math.isfinite(value):  # the current weights came from the previous update: undo it
            raise self.non_finite(step, "the loss", batch, None, step > 1)
        loss.backward()
        # One sum per gradient is finite iff the gradient is (or its sum passes 3e38: as bad); a tenth of
        # torch.isfinite's cost here (paper Mamba towers: about 0.7 ms of a 350 ms step).
        sums = [p.grad.sum() for p in self.trainable if p.grad is not None]
        if sums and not math.isfinite(torch.stack(sums).sum().item()):  # the loss was finite: keep it
            history.steps.append(step)
            history.losses.append(value)
            raise self.non_finite(step, "a gradient", batch, None, False)
        with torch.no_grad():
            for saved, p in zip(self.before_step, self.trainable, strict=True):
                saved.copy_(p)
        self.optimizer.step()
        history.steps.append(step)
        history.losses.append(value)
        for cb in self.callbacks:
            cb.on_step(history, step, value)
        return value

    def after_step(self, step: int, eval_every: int | None) -> str | None:
        """Evaluate when due; the reason to stop now, or None."""
        stop = any(cb.stop for cb in self.callbacks)
        if (eval_every and step % eval_every == 0) or step == self.total or stop:
            patience_out = self.evaluate(step)
            if patience_out:
                name, best = self.keeper.name, self.history.best_step
                return f"no better {name} in {self.keeper.patience} evaluations (best at step {best})"
            stop = stop or any(cb.stop for cb in self.callbacks)
        return "a callback set stop" if stop else None

    def evaluate(self, step: int) -> bool:
        """Evaluate the task now and record it; True when the monitor's patience ran out."""
        try:
            result = self.task.evaluate(self.model)
        except NonFiniteOutputError as err:  # not a training step's: no weights to put back
            raise ValueError(f"evaluation after step {step}: {err}") from err
        if result is None:
            return False
        history = self.history
        history.eval_steps.append(step)
        history.eval_metrics.append(result.metrics)
        history.valid_losses.append(result.valid_loss)
        history.final_scores = result.scores
        for cb in self.callbacks:
            cb.on_eval(history, step, result.metrics)
        return self.keeper.update(history, step, result.metrics)

    def close(self, reason: str | None) -> None:
        """End the run: the stop reason, the seconds, the callbacks' ``on_train_end``."""
        self.history.stopped_early = reason is not None
        self.history.stop_reason = reason
        self.history.seconds = time.perf_counter() - self.start
        for cb in self.callbacks:
            cb.on_train_end(self.history)

    def non_finite(
        self, step: int, what: str, batch: Tensor, rows: Tensor | None, restore: bool
    ) -> Exception:
        """Put back the last finite step's weights (``restore``), close the run, and the error to raise."""
        if restore:  # the current weights came from step - 1's update; put back those it started from
            with torch.no_grad():
                for p, saved in zip(self.trainable, self.before_step, strict=True):
                    p.copy_(saved)
            kept = f"the weights step {step - 1} started from (its loss was the last finite one)"
        else:
            kept = f"the weights step {step} started from (no update applied)"
        message = (
            f"training stopped at step {step} of {self.total}: {what} is NaN or infinite for "
            f"{self.task.describe(batch, rows)}. The model keeps {kept}; err.history holds the History so "
            "far. Check the targets and the scale of the numeric features (standardise them), or lower "
            f"lr={self.lr:g}"
        )
        self.close(message)
        return NonFiniteLossError(message, step, self.history, batch.tolist())


class TwoTowerTask(Task):
    """The paper's task (Section III): (user, item, target) triples, the loss of :mod:`ftmamba_lite.losses`,
    evaluation of the test users against the whole catalogue.

    Args:
        enc: the encoded dataset (:func:`ftmamba_lite.encoding.encode`).
        batch_size: triples per step (paper: 32); at most the number of triples.
        loss: a name of :data:`ftmamba_lite.losses.LOSSES`.
        ks, map_ks: truncations for :func:`ftmamba_lite.metrics.evaluate` on the test users.
        evaluator: replaces the test-user evaluation (the :class:`~ftmamba_lite.recommender.Recommender`
            ranks its validation interactions); None with no test users: nothing to evaluate.
        temperature: the softmax loss's tau.
        describer: names the training triples at the given positions in the user's words, for the message
            of a non-finite step (default: their positions, user and item rows and target).
    """

    def __init__(
        self,
        enc: EncodedData,
        batch_size: int = 32,
        loss: str = "mse",
        ks: Sequence[int] = (1, 5, 10),
        map_ks: Sequence[int] = (),
        evaluator: Callable[[TwoTowerModel], Evaluation] | None = None,
        temperature: float = 1.0,
        describer: Callable[[list[int]], str] | None = None,
    ) -> None:
        if loss not in losses.LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(losses.LOSSES)}")
        self.enc, self.ks, self.map_ks = enc, tuple(ks), tuple(map_ks)
        _check_inputs(enc, self.ks, self.map_ks, need_test=evaluator is None and len(enc.test_users) > 0)
        self.n_examples = len(enc.train_target)
        self.batch_size = min(check_int("batch_size", batch_size, 1), self.n_examples)
        self.loss_fn = losses.LOSSES[loss]
        self.temperature = temperature
        self.log_q = (
            losses.item_log_frequency(enc.train_item, len(enc.item_cat)) if loss == "softmax" else None
        )
        self.evaluator, self.describer = evaluator, describer

    def epoch(self, generator: torch.Generator) -> list[Tensor]:
        order = torch.randperm(self.n_examples, generator=generator)
        b = self.batch_size
        return [order[start : start + b] for start in range(0, self.n_examples - b + 1, b)]

    def loss(self, model: nn.Module, batch: Tensor) -> Tensor:
        enc = self.enc
        users, items = enc.train_user[batch], enc.train_item[batch]
        return self.loss_fn(
            model, enc.user_num[users], enc.user_cat[users], enc.item_num[items], enc.item_cat[items],
            items, enc.train_target[batch], self.log_q, self.temperature,
        )  # fmt: skip

    def evaluate(self, model: nn.Module) -> Evaluation | None:
        if self.evaluator is not None:
            return self.evaluator(model)
        if not len(self.enc.test_users):
            return None
        scores = score_test_users(model, self.enc)
        metrics = evaluate(scores, self.enc.test_relevant.numpy(), ks=self.ks, map_ks=self.map_ks)
        return Evaluation(metrics, _valid_loss(model, self.enc), scores.numpy())

    def describe(self, batch: Tensor, rows: Tensor | None) -> str:
        """The training triples of one batch that went non-finite: the rows the towers flagged, else (finite
        outputs, an overflowing loss or gradient) the one with the largest numeric input."""
        enc = self.enc
        if rows is None or not rows.any():
            inputs = [enc.user_num[enc.train_user[batch]], enc.item_num[enc.train_item[batch]]]  # (b, k_num)
            size = torch.cat([x.abs() for x in inputs], dim=1)  # (b, k_user + k_item)
            size = size.amax(dim=1) if size.shape[1] else torch.zeros(len(batch))
            rows = torch.zeros(len(batch), dtype=torch.bool)
            rows[int(size.argmax())] = True
        positions = batch[rows].tolist()
        first = positions[0]
        user, item = int(enc.train_user[first]), int(enc.train_item[first])
        if self.describer is not None:
            return self.describer(positions)
        scale = ""
        if enc.user_num.shape[1]:
            magnitude = enc.user_num[enc.train_user[batch[rows]]].abs().amax(dim=0)  # (k_num,)
            j = int(magnitude.argmax())
            names = enc.user_spec.get("feature_names") or [
                f"numeric feature {i}" for i in range(len(magnitude))
            ]
            scale = f"; their users' numeric features reach |x| = {float(magnitude[j]):.3g} in {names[j]!r}"
        return (
            f"training triple(s) {positions[:5]}{'...' if len(positions) > 5 else ''} (first: user {user}, "
            f"item {item}, target {float(enc.train_target[first]):g}{scale})"
        )


def _check_inputs(enc: EncodedData, ks: Sequence[int], map_ks: Sequence[int], need_test: bool) -> None:
    """Everything about the data that would fail only after training, checked before the first step."""
    n_train, c = len(enc.train_target), enc.item_num.shape[0]
    if n_train == 0:
        raise ValueError("the dataset has no training triples")
    if need_test and tuple(enc.test_relevant.shape) != (len(enc.test_users), c):
        raise ValueError(
            f"test_relevant has shape {tuple(enc.test_relevant.shape)}, expected (n_test_users="
            f"{len(enc.test_users)}, n_items={c})"
        )
    for name, truncations in (("ks", ks), ("map_ks", map_ks)):
        if any(isinstance(k, bool) for k in truncations):
            raise ValueError(f"{name}={list(truncations)!r}: truncations must be ints between 1 and {c}")
    if need_test:
        evaluate(np.zeros((1, c)), np.zeros((1, c), dtype=bool), ks=ks, map_ks=map_ks)  # k range, not empty
    for name in ("train_target", "valid_target", "user_num", "item_num"):
        values = getattr(enc, name)
        if values.numel() and not torch.isfinite(values).all():
            row = int((~torch.isfinite(values.reshape(len(values), -1))).any(dim=1).nonzero()[0])
            raise ValueError(
                f"EncodedData.{name} is NaN or infinite at row {row}: targets and features must be finite"
            )
    for split, n_rows in (("train_user", enc.user_num.shape[0]), ("train_item", c)):
        index = getattr(enc, split)
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= n_rows):
            raise ValueError(f"EncodedData.{split} indexes rows outside 0..{n_rows - 1}")


@torch.no_grad()
def _valid_loss(model: TwoTowerModel, enc: EncodedData, batch_size: int = 4096) -> float:
    """The MSE on the validation triples (NaN when there are none)."""
    n = len(enc.valid_target)
    if n == 0:
        return math.nan
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, n, batch_size):
        part = slice(start, start + batch_size)
        users, items = enc.valid_user[part], enc.valid_item[part]
        pred = model(enc.user_num[users], enc.user_cat[users], enc.item_num[items], enc.item_cat[items])
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
    eval_every: int | None = EVAL_EVERY,
    ks: Sequence[int] = (1, 5, 10),
    map_ks: Sequence[int] = (),
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    loss: str = "mse",
) -> History:
    """Train a two-tower model with MSE (or ``loss``) and Adam on the training triples (paper III); evaluate
    on the test users: :func:`train` on a :class:`TwoTowerTask`.

    Args:
        model: a :class:`TwoTowerModel` built for this data (:func:`ftmamba_lite.learn.registry.build_model`).
        data: the dataset, or its :func:`~ftmamba_lite.encoding.encode`-d tensors (encode once to train
            several models).
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
        a :class:`History` (its ``final_scores`` hold the test users' scores); the model is trained in place.

    Raises:
        ValueError: before the first step, for a setting out of range (naming it), a k larger than the
            catalogue, non-finite targets or features in ``data``.
        NonFiniteLossError: a loss, score or gradient became NaN or infinite; training stopped at that step
            with the last finite step's weights restored, ``err.history`` holds the History.
    """
    steps = check_int("steps", steps, 1)
    check_lr(lr)
    if not isinstance(model, TwoTowerModel):
        raise TypeError(
            f"model must be a TwoTowerModel (build_model, build_baseline), got {type(model).__name__}"
        )
    enc = data if isinstance(data, EncodedData) else encode(data)
    task = TwoTowerTask(enc, batch_size=batch_size, loss=loss, ks=ks, map_ks=map_ks)
    return train(
        model, task, steps=steps, lr=lr, seed=seed, eval_every=eval_every, callbacks=callbacks,
        progress=progress,
    )  # fmt: skip
