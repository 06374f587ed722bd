"""Training a two-tower model on a :class:`~ftmamba_lite.datasets.base.RecDataset` (paper III).

The paper's protocol: mean squared error between the score s(u, i) and the target, Adam, batch size 32, one
epoch of 160,000 triples = 5,000 steps, learning rate 1e-4 (Spotify, H&M) or 1e-5 (vaccine messaging).
Test metrics are computed by scoring every test user against the whole catalogue.

Everything here is deterministic under one ``seed``: the model's initialisation (:func:`build_model`) and the
order of the mini-batches (:func:`fit`); the data's own seed is the loader's.
Progress goes to callbacks (:class:`Callback`) and a tqdm bar; nothing here draws.

Bad input fails early and by name: :func:`encode` refuses NaN or infinite targets and numeric features (naming
the split / column and row); :func:`fit` checks every setting, the test users and the truncations k against
the catalogue before the first step; a step whose loss or gradients are not finite stops training, puts back
the weights of the last finite step and raises :class:`NonFiniteLossError` (naming the step and the training
triples), with the :class:`History` so far attached (any other error during training carries it too, as
``err.history``). Checkpoints carry a sha256 digest, the package version, the dataset's name and the fitted
encoders; :func:`read_checkpoint` checks all of them and names the file in every error.
"""

from __future__ import annotations

import hashlib
import io
import math
import numbers
import os
import sys
import tempfile
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
from .towers import NonFiniteOutputError, TwoTowerModel, build_two_tower, make_two_tower

__all__ = [
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "EncodedData",
    "History",
    "NonFiniteLossError",
    "build_model",
    "count_parameters",
    "encode",
    "fit",
    "load_checkpoint",
    "read_checkpoint",
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
    user_encoder: TableEncoder | None = None
    item_encoder: TableEncoder | None = None
    dataset: str | None = None


def encode(data: RecDataset, standardize: bool | str = "auto") -> EncodedData:
    """Fit a :class:`TableEncoder` per tower on the feature tables and encode everything once.

    ``standardize`` as in :class:`TableEncoder` (default ``"auto"``: only numeric columns with values beyond
    +-AUTO_LIMIT are standardised, so Spotify's 0/1 genres stay raw as in the paper). The fitted encoders
    and the dataset's name are kept (``user_encoder``, ``item_encoder``, ``dataset``) for checkpoints.
    Raises ValueError naming the split and row when a target is NaN or infinite.
    """
    if not isinstance(data, RecDataset):
        raise TypeError(f"data must be a RecDataset (what the loaders return), got {type(data).__name__}")
    tensors: dict[str, object] = {}
    for side, table in (("user", data.users), ("item", data.items)):
        encoder = TableEncoder(table.numeric, table.categorical, standardize=standardize).fit(table.frame)
        tensors[f"{side}_num"], tensors[f"{side}_cat"] = encoder.transform(table.frame)
        tensors[f"{side}_spec"] = {
            "n_numerical": len(table.numeric),
            "cardinalities": encoder.cardinalities,
            "feature_names": encoder.feature_names,
        }
        tensors[f"{side}_encoder"] = encoder
    for split_name, split in (("train", data.train), ("valid", data.valid)):
        for column, dtype in (("user", np.int64), ("item", np.int64), ("target", np.float32)):
            try:
                values = split[column].to_numpy(dtype=dtype, copy=True)  # a writable copy for torch
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"{split_name} triples: column {column!r} is not {np.dtype(dtype)}: {err}"
                ) from err
            if column == "target" and not np.isfinite(values).all():
                rows = np.flatnonzero(~np.isfinite(values))
                raise ValueError(
                    f"{split_name} triples: target is NaN or infinite in {len(rows)} row(s), first row "
                    f"{int(rows[0])} (value {values[rows[0]]}): every target must be a finite number"
                )
            tensors[f"{split_name}_{column}"] = torch.from_numpy(values)
    return EncodedData(
        **tensors,
        test_users=torch.as_tensor(data.test_users, dtype=torch.long),
        test_relevant=torch.as_tensor(data.test_relevant),
        dataset=data.name,
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
    stop_reason: str | None = None

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


class NonFiniteLossError(ValueError):
    """Training met a NaN or infinite loss, score or gradient: :func:`fit` stopped at ``step``.

    The model holds the weights at which the last finite loss, ``history.losses[-1]``, was computed (the
    weights it was given when there is none): those before the update that led to the non-finite value, so
    exactly the weights of a run of ``len(history.losses) - 1`` steps. ``history`` is the :class:`History`
    so far; ``rows`` the positions (in the training triples) of the step's batch.
    """

    def __init__(self, message: str, step: int, history: History, rows: list[int]) -> None:
        super().__init__(message)
        self.step = step
        self.history = history
        self.rows = rows


def _int_setting(name: str, value: object, minimum: int) -> int:
    """An int >= minimum (bools and floats refused, numpy integers accepted); ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_fit_inputs(enc: EncodedData, ks: Sequence[int], map_ks: Sequence[int]) -> None:
    """Everything about the data that would fail only after training, checked before the first step."""
    n_train, c = len(enc.train_target), enc.item_num.shape[0]
    if n_train == 0:
        raise ValueError("the dataset has no training triples")
    if len(enc.test_users) == 0:
        raise ValueError("the dataset has no test users: fit evaluates on them (give n_test >= 1)")
    if tuple(enc.test_relevant.shape) != (len(enc.test_users), c):
        raise ValueError(
            f"test_relevant has shape {tuple(enc.test_relevant.shape)}, expected (n_test_users="
            f"{len(enc.test_users)}, n_items={c})"
        )
    for name, truncations in (("ks", ks), ("map_ks", map_ks)):
        if any(isinstance(k, bool) for k in truncations):
            raise ValueError(f"{name}={list(truncations)!r}: truncations must be ints between 1 and {c}")
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


def _batch_culprits(enc: EncodedData, idx: Tensor, rows: Tensor | None) -> str:
    """The training triples of one batch that went non-finite, for the error message: the rows the towers
    flagged, else (finite outputs, an overflowing loss or gradient) the one with the largest numeric input."""
    if rows is None or not rows.any():
        inputs = [enc.user_num[enc.train_user[idx]], enc.item_num[enc.train_item[idx]]]  # (b, k_num) each
        size = torch.cat([x.abs() for x in inputs], dim=1)  # (b, k_user + k_item)
        size = size.amax(dim=1) if size.shape[1] else torch.zeros(len(idx))
        rows = torch.zeros(len(idx), dtype=torch.bool)
        rows[int(size.argmax())] = True
    positions = idx[rows].tolist()
    first = positions[0]
    user, item = int(enc.train_user[first]), int(enc.train_item[first])
    scale = ""
    if enc.user_num.shape[1]:
        magnitude = enc.user_num[enc.train_user[idx[rows]]].abs().amax(dim=0)  # (k_num,)
        j = int(magnitude.argmax())
        names = enc.user_spec.get("feature_names") or [f"numeric feature {i}" for i in range(len(magnitude))]
        scale = f"; their users' numeric features reach |x| = {float(magnitude[j]):.3g} in {names[j]!r}"
    return (
        f"training triple(s) {positions[:5]}{'...' if len(positions) > 5 else ''} (first: user {user}, item "
        f"{item}, target {float(enc.train_target[first]):g}{scale})"
    )


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

    Raises:
        ValueError: before the first step, for a setting out of range (naming it), a k larger than the
            catalogue, no test users, non-finite targets or features in ``data``.
        NonFiniteLossError: a loss, score or gradient became NaN or infinite; training stopped at that step
            with the last finite step's weights restored, ``err.history`` holds the History.
    """
    steps = _int_setting("steps", steps, 1)
    batch_size = _int_setting("batch_size", batch_size, 1)
    seed = _int_setting("seed", seed, 0)
    if eval_every is not None:
        eval_every = _int_setting("eval_every", eval_every, 1)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not isinstance(model, TwoTowerModel):
        raise TypeError(
            f"model must be a TwoTowerModel (build_model, build_baseline), got {type(model).__name__}"
        )
    if isinstance(callbacks, Callback):
        raise TypeError("callbacks must be a sequence of Callback objects: pass [callback], not the callback")
    callbacks = list(callbacks)
    ks, map_ks = tuple(ks), tuple(map_ks)
    enc = data if isinstance(data, EncodedData) else encode(data)
    _check_fit_inputs(enc, ks, map_ks)
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
    before_step = [p.detach().clone() for p in trainable]  # the weights before the latest update
    history = History()
    start_time = time.perf_counter()
    for cb in callbacks:
        cb.stop = False
        cb.on_train_begin(history, steps)

    def evaluate_now(step: int) -> None:
        try:
            scores = score_test_users(model, enc)
            valid_loss = _valid_loss(model, enc)
        except NonFiniteOutputError as err:  # not a training step's: no weights to put back
            raise ValueError(f"evaluation after step {step}: {err}") from err
        metrics = evaluate(scores, enc.test_relevant.numpy(), ks=ks, map_ks=map_ks)
        history.eval_steps.append(step)
        history.eval_metrics.append(metrics)
        history.valid_losses.append(valid_loss)
        for cb in callbacks:
            cb.on_eval(history, step, metrics)

    def stop_non_finite(step: int, what: str, culprits: str, restore: bool) -> NonFiniteLossError:
        """Put back the last finite step's weights (``restore``), close the run, and the error to raise."""
        if restore:  # the current weights came from step - 1's update; put back those it started from
            with torch.no_grad():
                for p, saved in zip(trainable, before_step, strict=True):
                    p.copy_(saved)
            kept = f"the weights step {step - 1} started from (its loss was the last finite one)"
        else:
            kept = f"the weights step {step} started from (no update applied)"
        message = (
            f"training stopped at step {step} of {steps}: {what} is NaN or infinite for {culprits}. "
            f"The model keeps {kept}; err.history holds the History so far. Check the targets and the scale "
            f"of the numeric features (standardise them), or lower lr={lr:g}"
        )
        history.stopped_early = True
        history.stop_reason = message
        history.seconds = time.perf_counter() - start_time
        for cb in callbacks:
            cb.on_train_end(history)
        return NonFiniteLossError(message, step, history, idx.tolist())

    model.train()
    order = torch.randperm(n_train, generator=generator)
    cursor = 0
    bar = tqdm(total=steps, desc="training", disable=not progress, leave=False)
    try:
        if steps == 0:
            evaluate_now(0)
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
            value = loss.item()
            if not math.isfinite(value):  # the current weights came from the previous update: undo it
                raise stop_non_finite(step, "the loss", _batch_culprits(enc, idx, None), step > 1)
            loss.backward()
            # One sum per gradient is finite iff the gradient is (or its sum passes 3e38: as bad); a tenth of
            # torch.isfinite's cost here (paper Mamba towers: about 0.7 ms of a 350 ms step).
            sums = [p.grad.sum() for p in trainable if p.grad is not None]
            if sums and not math.isfinite(torch.stack(sums).sum().item()):  # the loss was finite: keep it
                history.steps.append(step)
                history.losses.append(value)
                raise stop_non_finite(step, "a gradient", _batch_culprits(enc, idx, None), False)
            with torch.no_grad():
                for saved, p in zip(before_step, trainable, strict=True):
                    saved.copy_(p)
            optimizer.step()
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
                history.stop_reason = "a callback set stop"
                break
    except NonFiniteOutputError as err:  # from a step's forward pass (evaluate_now raises a plain ValueError)
        what = "the score" if err.side == "score" else f"the {err.side} tower's embedding"
        raise stop_non_finite(step, what, _batch_culprits(enc, idx, err.rows), step > 1) from err
    except BaseException as err:  # Ctrl-C, a failing callback or evaluation: the History is not lost
        err.history = history  # type: ignore[attr-defined]
        raise
    finally:
        bar.close()
    history.seconds = time.perf_counter() - start_time
    for cb in callbacks:
        cb.on_train_end(history)
    return history


_MAGIC = (
    b"FTMAMBA-LITE CHECKPOINT 1\n"  # then the sha256 of the payload (64 hex digits), a newline, the payload
)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: not one, damaged, or of another version or dataset.

    ``path`` is the file. The message names it and says what is wrong.
    """

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"checkpoint {path}: {problem}")
        self.path = path


def _package_version() -> str:
    """The running ftmamba_lite's version (from the package itself, imported before any of its modules)."""
    return str(sys.modules[__package__].__version__)


@dataclass
class Checkpoint:
    """What :func:`read_checkpoint` returns: the model, the encoders that fitted its data, and its origin.

    ``user_encoder`` / ``item_encoder`` are None when the model was saved without its data;
    :meth:`score` then cannot encode raw rows.
    """

    model: TwoTowerModel
    user_encoder: TableEncoder | None
    item_encoder: TableEncoder | None
    dataset: str | None
    version: str
    path: Path

    def score(self, users: pd.DataFrame, items: pd.DataFrame) -> Tensor:
        """Scores (m, c) of raw user rows (m) against raw item rows (c), encoded by the saved encoders.

        Raises:
            ValueError: the checkpoint holds no encoders, or the rows lack a feature column the model was
                trained on (the message names the checkpoint, the side, the missing columns and the rows'
                other columns); columns beyond the features (an id, a text) are ignored.
        """
        if self.user_encoder is None or self.item_encoder is None:
            raise ValueError(
                f"checkpoint {self.path} holds no encoders (saved without data=): encode the rows yourself "
                "and call model.score_all"
            )
        for side, rows, encoder in (("user", users, self.user_encoder), ("item", items, self.item_encoder)):
            if not isinstance(rows, pd.DataFrame):
                raise TypeError(f"{side} rows must be a pandas DataFrame, got {type(rows).__name__}")
            features = encoder.feature_names
            missing = [c for c in features if c not in rows.columns]
            if missing:
                others = [c for c in rows.columns if c not in features]
                raise ValueError(
                    f"checkpoint {self.path} was trained on {side} features {features}; the {side} rows "
                    f"lack {missing} (their other columns: {others}): give rows with the model's feature "
                    "names (rename the columns), or use a model trained on these features"
                )
        user_num, user_cat = self.user_encoder.transform(users)
        item_num, item_cat = self.item_encoder.transform(items)
        return self.model.score_all(user_num, user_cat, item_num, item_cat)


def save_checkpoint(model: TwoTowerModel, path: str | Path, data: EncodedData | None = None) -> None:
    """Save the architecture (``model.config``, a :class:`~ftmamba_lite.config.ModelConfig`), the weights and,
    with ``data`` (the :class:`EncodedData` the model was trained on), its fitted encoders and dataset name;
    :func:`read_checkpoint` / :func:`load_checkpoint` restore them.

    The file holds a sha256 digest of its payload and the package version, both checked on load. It is
    written to a temporary file beside ``path`` and renamed, so an existing checkpoint is never left
    half-overwritten.
    """
    if not isinstance(model, TwoTowerModel):
        raise TypeError(f"model must be a TwoTowerModel, got {type(model).__name__}")
    if model.config is None:
        raise ValueError(
            "model.config is None: build the model with build_model / make_two_tower / make_baseline "
            "(popularity and oracle are rebuilt from the data, not saved)"
        )
    if data is not None and not isinstance(data, EncodedData):
        raise TypeError(
            f"data must be the EncodedData the model was trained on (encode()), got {type(data).__name__}"
        )
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"checkpoint path {path} is a directory: give a file name, e.g. {path / 'model.pt'}"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"checkpoint path {path}: the directory {path.parent} does not exist")
    encoders = None
    if data is not None and data.user_encoder is not None and data.item_encoder is not None:
        encoders = {"user": data.user_encoder.to_state(), "item": data.item_encoder.to_state()}
    payload = {
        "package": "ftmamba-lite",
        "version": _package_version(),
        "dataset": None if data is None else data.dataset,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "encoders": encoders,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    digest = hashlib.sha256(body).hexdigest().encode("ascii")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_MAGIC + digest + b"\n" + body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    dataset: str | RecDataset | EncodedData | None = None,
) -> Checkpoint:
    """Read and check a file written by :func:`save_checkpoint`: the model (weights bit-for-bit), the
    encoders, the dataset's name and the version.

    Args:
        path: the file.
        map_location: where the weights go (``torch.load``'s argument).
        dataset: when given (a name, a RecDataset or an EncodedData), a checkpoint of another dataset is
            refused; an EncodedData must also have the features the model was built for.

    Raises :class:`CheckpointError` (a ValueError naming the file) when the file is not a checkpoint of this
    package, its digest does not match (damaged, truncated), it was written by another version, or it
    belongs to another dataset; FileNotFoundError when it does not exist.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    blob = path.read_bytes()
    if not blob.startswith(_MAGIC):
        kind = "it does not start with the ftmamba-lite checkpoint header"
        if not blob:
            kind = "it is empty"
        elif blob.startswith(b"PK"):
            kind = "a bare torch.save archive, without the digest this version writes and checks"
        raise CheckpointError(
            path, f"not an ftmamba-lite checkpoint ({kind}; files are written by save_checkpoint)"
        )
    header_end = len(_MAGIC) + 65
    stored, body = blob[len(_MAGIC) : header_end - 1], blob[header_end:]
    if (
        blob[header_end - 1 : header_end] != b"\n"
        or hashlib.sha256(body).hexdigest().encode("ascii") != stored
    ):
        problem = "its contents do not match the stored sha256 digest: the file is damaged or truncated"
        raise CheckpointError(path, problem + " (re-save it from the model)")
    try:
        payload = torch.load(io.BytesIO(body), map_location=map_location, weights_only=True)
        config = ModelConfig.from_dict(payload["config"])
    except Exception as err:  # a digest-consistent file this version cannot read
        raise CheckpointError(path, f"unreadable payload ({type(err).__name__}: {err})") from err
    version = payload.get("version")
    if version != _package_version():
        raise CheckpointError(
            path,
            f"written by ftmamba-lite {version}, this is {_package_version()}: load it with that version",
        )
    expected = dataset if isinstance(dataset, str) or dataset is None else (
        dataset.name if isinstance(dataset, RecDataset) else dataset.dataset
    )  # fmt: skip
    if expected is not None and payload.get("dataset") != expected:
        raise CheckpointError(path, f"trained on dataset {payload.get('dataset')!r}, not {expected!r}")
    if isinstance(dataset, EncodedData):
        for side, spec in (("user", dataset.user_spec), ("item", dataset.item_spec)):
            saved = getattr(config, side)
            if saved.n_numerical != spec["n_numerical"] or list(saved.cardinalities) != list(
                spec["cardinalities"]
            ):
                problem = (
                    f"its {side} tower has {saved.n_numerical} numeric features and cardinalities "
                    f"{list(saved.cardinalities)}; the data has {spec['n_numerical']} and "
                    f"{list(spec['cardinalities'])}"
                )
                raise CheckpointError(path, problem)
    model = build_two_tower(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(path, f"its weights do not fit its config: {err}") from err
    encoders = payload.get("encoders") or {}
    user_encoder, item_encoder = (
        TableEncoder.from_state(encoders[side]) if side in encoders else None for side in ("user", "item")
    )
    return Checkpoint(model, user_encoder, item_encoder, payload.get("dataset"), version, path)


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    dataset: str | RecDataset | EncodedData | None = None,
) -> TwoTowerModel:
    """The model of :func:`read_checkpoint` (weights bit-for-bit); the checks and ``dataset``: see there."""
    return read_checkpoint(path, map_location, dataset).model


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
