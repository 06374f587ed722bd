"""Bring your own tables: :class:`Recommender` fits FT-Mamba on user, item and interaction DataFrames.

Dimension letters (docs/notation.md):
    m  users of the users table      c  items (the catalogue)      b  batch      o  output embedding width

Three calls, as in TensorFlow Recommenders, RecBole, LightFM or implicit::

    rec = Recommender("mamba").fit(interactions, users, items)      # DataFrames in
    rec.recommend([196, 186], k=10)                                 # or a DataFrame of (new) user rows
    rec.save("model/");  Recommender.load("model/")

What :meth:`Recommender.fit` does with the tables, in the package's own pieces:

* the feature columns of each table and their kinds are inferred (numeric dtype -> numeric, anything else ->
  categorical; override with ``numeric=`` / ``categorical=``) and held in a :class:`FeatureTable`; a
  :class:`~ftmamba_lite.encoding.TableEncoder` per table (numeric columns standardised) turns rows into
  ``x_num`` (m, k_num) and ``x_cat`` (m, k_cat). It is kept, so a new row is encoded exactly as in training;
* with ``use_ids`` (default) the user and item ids are categorical features too: known users get their own
  embedding row, a brand-new user falls back to its other features (its id maps to the "unknown" row K_j,
  which ``id_dropout`` trains by hiding the id of that share of the training triples);
* ``target=None`` means implicit feedback: every interaction is a positive (target 1) and ``n_negatives``
  items the user never interacted with are drawn uniformly as negatives (target 0), the paper's H&M protocol
  (Section III-B); a ``target`` column means the paper's MSE on its values (explicit feedback, e.g. ratings);
* the model is built from a :class:`~ftmamba_lite.config.ModelConfig` (the paper's presets: d = 128, 4 Mamba
  or 2 Transformer layers, the 64 -> 32 feed-forward network) or is a baseline of
  :mod:`ftmamba_lite.baselines`, and trained by :func:`ftmamba_lite.train.fit` (Adam, batch 32, lr 1e-4, one
  epoch: the paper's protocol) with the loss of :mod:`ftmamba_lite.losses`.

Which loss for which data (``loss=``):

* ``"mse"`` (default, the paper's): explicit targets (ratings, likes/dislikes), or implicit feedback with the
  sampled negatives above. It learns a target value; on implicit data it separates interactions from random
  items.
* ``"softmax"``: the in-batch sampled softmax of two-tower retrieval (TFRS' ``Retrieval`` task), with the logQ
  correction. For implicit feedback: no negatives are sampled, the other pairs of a batch are the negatives,
  and it learns a ranking over the whole catalogue directly. With a target column, the rows with target > 0
  are the positives.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import os
import platform
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .baselines import ConstantTower, LookupTower, build_baseline
from .config import ModelConfig, TowerSpec
from .datasets.base import FeatureTable, make_triples
from .encoding import TableEncoder
from .metrics import per_user_metrics, top_k
from .towers import TwoTowerModel, build_two_tower
from .train import Callback, EncodedData, History
from .train import fit as train_fit

__all__ = ["EMBEDDERS", "FORMAT", "Recommender", "top_k_fast"]

EMBEDDERS = ("mamba", "transformer", "mlp", "linear", "popularity")
FORMAT = 1
CONFIG_FILE = "recommender.json"
WEIGHTS_FILE = "weights.pt"
SCORE_BUDGET = 1 << 23
"""Scores held at once while recommending: users per batch = SCORE_BUDGET // c (8M floats, 32 MB)."""
ROWS_PER_PASS = 4096
"""Rows one tower embeds in one forward pass (its activations are rows x tokens x d_model floats)."""

try:
    _VERSION = version("ftmamba-lite")
except PackageNotFoundError:  # a source checkout that was never installed
    _VERSION = "unknown"
_TYPES = {str: "str", int: "int", float: "float", bool: "bool"}
_PARSE = {"str": str, "int": int, "float": float, "bool": bool}


def _typed(values: Sequence[object], column: str) -> list[list[object]]:
    """Ids as JSON ``[type, value]`` pairs (1, 1.0, True, "1" stay distinct); TypeError names the column."""
    out = []
    for value in values:
        plain = value.item() if isinstance(value, np.generic) else value
        kind = _TYPES.get(type(plain))
        if kind is None:
            raise TypeError(
                f"id {value!r} of column {column!r} has type {type(value).__name__}; a saved recommender "
                f"holds ids of type {sorted(_TYPES.values())}: convert the column first"
            )
        out.append([kind, plain])
    return out


def _untyped(pairs: list[list[object]]) -> np.ndarray:
    values = [_PARSE[kind](value) for kind, value in pairs]
    kinds = {kind for kind, _ in pairs}
    return np.array(values, dtype=np.int64 if kinds == {"int"} else object)


def _check_frame(frame: object, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """A non-empty DataFrame with ``columns``; errors name the table, the column and what it has."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError(f"the {name} table is empty: it needs at least one row")
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"the {name} table has no column {column!r}; it has {list(frame.columns)}")
        if frame[column].isna().any():
            row = frame.index[int(np.flatnonzero(frame[column].isna().to_numpy())[0])]
            raise ValueError(f"column {column!r} of the {name} table is missing a value (row {row!r})")
    return frame


def _rows_of(ids: pd.Index, values: pd.Series, column: str, table: str, what: str) -> np.ndarray:
    """Row of every value in ``ids``; ValueError naming the values absent from the table."""
    rows = ids.get_indexer(values)
    if (rows < 0).any():
        absent = pd.unique(values[rows < 0])
        raise ValueError(
            f"{what} {column!r} value(s) {list(absent[:5])}{' ...' if len(absent) > 5 else ''} "
            f"({len(absent)} in all) are not in the {table} table's {column!r} column"
        )
    return rows.astype(np.int64)


def _feature_table(
    frame: pd.DataFrame,
    id_column: str,
    features: Sequence[str] | None,
    numeric: Sequence[str],
    categorical: Sequence[str],
    use_ids: bool,
    name: str,
) -> FeatureTable:
    """The feature columns of one table and their kinds (numeric dtype -> numeric, else categorical)."""
    columns = [c for c in frame.columns if c != id_column] if features is None else list(features)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the {name} table has no feature column(s) {missing}; it has {list(frame.columns)}")
    kinds = {}
    for column in columns:
        if column in categorical:
            kinds[column] = "categorical"
        elif column in numeric:
            kinds[column] = "numeric"
        else:
            series = frame[column]
            is_num = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
            kinds[column] = "numeric" if is_num else "categorical"
    num = [c for c in columns if kinds[c] == "numeric" and c != id_column]
    cat = [c for c in columns if kinds[c] == "categorical" and c != id_column]
    if use_ids:
        cat.append(id_column)
    if not num and not cat:
        raise ValueError(
            f"the {name} table has no feature column besides {id_column!r} and use_ids=False: give it "
            f"feature columns or use the ids as features (use_ids=True)"
        )
    return FeatureTable(frame.reset_index(drop=True), tuple(num), tuple(cat))


def _encode(encoder: TableEncoder, frame: pd.DataFrame, name: str) -> tuple[Tensor, Tensor]:
    """``encoder.transform`` with errors that name the table."""
    try:
        return encoder.transform(frame)
    except ValueError as err:
        raise ValueError(f"the {name} table: {err}") from err


def _sample_negatives(
    users: np.ndarray, seen: np.ndarray, n_items: int, rng: np.random.Generator, max_rounds: int = 1000
) -> np.ndarray:
    """One item per entry of ``users`` drawn uniformly among the items that user never interacted with.

    ``seen`` holds the sorted keys u * c + i of the interacted (user, item) pairs (sparse: a 100,000-item
    catalogue needs no dense matrix). Rejection sampling, vectorised; every user must have an unseen item.
    """
    items = rng.integers(0, n_items, size=len(users))
    keys = users * n_items + items
    redo = np.flatnonzero(np.isin(keys, seen))
    for _ in range(max_rounds):
        if not len(redo):
            return items
        items[redo] = rng.integers(0, n_items, size=len(redo))
        redo = redo[np.isin(users[redo] * n_items + items[redo], seen)]
    raise RuntimeError("negative sampling did not finish: some users interacted with nearly every item")


def top_k_fast(scores: Tensor, k: int, max_ties: int = 256) -> np.ndarray:
    """:func:`ftmamba_lite.metrics.top_k` (the reference: a stable sort of every row) without sorting rows.

    ``torch.topk`` finds each row's k-th score t; the items scoring >= t (k of them unless there are ties at
    t) are sorted by (-score, item row), so ties keep the lower item row first, as in the reference. When a
    row has more than k + ``max_ties`` such items (many equal scores, e.g. -inf after ``exclude_seen``), the
    batch falls back to the reference. scores (b, c) -> item rows (b, k) int64, best first; ValueError on NaN.
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


class _EarlyStopping(Callback):
    """Every ``every`` steps: the ranking metric on the validation interactions; stop after ``patience``
    evaluations without improvement, and restore the best weights at the end."""

    def __init__(self, rec: Recommender, valid: tuple[np.ndarray, np.ndarray], every: int, patience: int):
        self.rec, self.valid, self.every, self.patience = rec, valid, every, patience
        self.best, self.best_state, self.bad, self.last = -math.inf, None, 0, 0
        self.rows: list[dict[str, float]] = []

    def _evaluate(self, step: int) -> None:
        self.rec._item_emb = self.rec._item_embeddings()  # the weights changed since the last evaluation
        metrics = self.rec._ranking_metrics(*self.valid, ks=self.rec._valid_ks())
        self.rows.append({"step": step, **metrics})
        self.last = step
        value = metrics[self.rec.metric]
        if value > self.best:
            self.best, self.bad = value, 0
            self.best_state = copy.deepcopy(self.rec.model_.state_dict())
        else:
            self.bad += 1
            self.stop = self.bad >= self.patience

    def on_step(self, history: History, step: int, loss: float) -> None:
        if step % self.every == 0:
            self._evaluate(step)

    def on_train_end(self, history: History) -> None:
        if history.steps and self.last != history.steps[-1]:
            self._evaluate(history.steps[-1])
        if self.best_state is not None:
            self.rec.model_.load_state_dict(self.best_state)


def _restored_on_failure(method: Callable[..., Recommender]) -> Callable[..., Recommender]:
    """``method`` that puts the object's attributes back as they were when it raises (bad input, Ctrl-C)."""

    @functools.wraps(method)
    def wrapper(self: Recommender, *args: Any, **kwargs: Any) -> Recommender:
        before = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:  # the recommender stays as it was
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    return wrapper


class Recommender:
    """FT-Mamba (or a Transformer or baseline) two-tower recommender on your own DataFrames.

    Args:
        embedder: ``"mamba"`` (FT-Mamba), ``"transformer"`` (FT-Transformer towers), or the baselines
            ``"mlp"``, ``"linear"``, ``"popularity"`` (:mod:`ftmamba_lite.baselines`).
        d_model, n_layers, hidden, similarity, final_activation: the model (:class:`ModelConfig`; defaults
            are the paper's presets: d = 128, 4 Mamba / 2 Transformer layers, hidden (64, 32), dot product).
        loss: ``"mse"`` (paper) or ``"softmax"`` (in-batch sampled softmax); see the module docstring.
        epochs, steps: training length; ``steps`` (when given) overrides ``epochs`` passes over the triples.
        batch_size, lr: Adam's batches and learning rate (default: the paper's 32 and 1e-4 for ``"mse"``;
            256 and 1e-3 for ``"softmax"``, whose negatives are the other rows of a batch).
        n_negatives: negatives sampled per interaction for implicit feedback with ``"mse"`` (paper: 1).
        use_ids: use the user and item ids as categorical features.
        id_dropout: share of training triples whose user id is hidden (mapped to "unknown"), so that the
            unknown-id embedding that new users get is trained.
        standardize: standardise numeric features with the training table's mean and std.
        eval_every, patience, metric: with ``fit(validation=...)``, evaluate ``metric`` (e.g. ``"NDCG@10"``,
            ``"HR@10"``) every ``eval_every`` steps, stop after ``patience`` evaluations without improvement,
            keep the best weights.
        seed: seeds the negatives, the id dropout, the initialisation and the batches.
        progress: show a progress bar while training.
        embedder_options: to the embedder (``d_state``, ``d_conv``, ``expand``, ``n_heads``, ...).

    Attributes after :meth:`fit`: ``model_`` (the :class:`TwoTowerModel`), ``history_`` (:class:`History`),
    ``validation_`` (a DataFrame of the validation metrics per evaluation, or None), ``n_users``, ``n_items``.
    """

    def __init__(
        self,
        embedder: str = "mamba",
        *,
        d_model: int = 128,
        n_layers: int | None = None,
        hidden: Sequence[int] | None = None,
        similarity: str = "dot",
        final_activation: bool = False,
        loss: str = "mse",
        epochs: int = 1,
        steps: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        n_negatives: int = 1,
        use_ids: bool = True,
        id_dropout: float = 0.1,
        standardize: bool = True,
        eval_every: int = 500,
        patience: int = 3,
        metric: str = "NDCG@10",
        seed: int = 0,
        progress: bool = True,
        **embedder_options: Any,
    ) -> None:
        if embedder not in EMBEDDERS:
            raise ValueError(f"unknown embedder {embedder!r}; choose one of {EMBEDDERS}")
        if loss not in ("mse", "softmax"):
            raise ValueError(f"unknown loss {loss!r}; choose 'mse' (paper) or 'softmax' (in-batch)")
        if embedder in ("mlp", "linear", "popularity") and (embedder_options or n_layers is not None):
            raise ValueError(
                f"the {embedder} baseline has no sequence layer: n_layers and embedder options "
                f"{sorted(embedder_options)} do not apply"
            )
        for name, value in (
            ("epochs", epochs),
            ("n_negatives", n_negatives),
            ("eval_every", eval_every),
            ("patience", patience),
            ("steps", steps),
            ("batch_size", batch_size),
        ):
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise ValueError(f"{name} must be a whole number >= 1, got {value}")
        if not 0 <= id_dropout < 1:
            raise ValueError(f"id_dropout must lie in [0, 1), got {id_dropout}")
        if lr is not None and lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        name, _, k = metric.partition("@")
        if name not in ("P", "R", "MRR", "HR", "NDCG") or not k.isdigit() or int(k) < 1:
            raise ValueError(
                f"metric must look like 'NDCG@10' or 'HR@10' (P, R, MRR, HR, NDCG), got {metric!r}"
            )
        softmax = loss == "softmax"
        self.options: dict[str, Any] = {
            "embedder": embedder,
            "d_model": d_model,
            "n_layers": n_layers,
            "hidden": None if hidden is None else [int(h) for h in hidden],
            "similarity": similarity,
            "final_activation": final_activation,
            "loss": loss,
            "epochs": epochs,
            "steps": steps,
            "batch_size": batch_size or (256 if softmax else 32),
            "lr": lr or (1e-3 if softmax else 1e-4),
            "n_negatives": n_negatives,
            "use_ids": use_ids,
            "id_dropout": id_dropout,
            "standardize": standardize,
            "eval_every": eval_every,
            "patience": patience,
            "metric": metric,
            "seed": seed,
            "progress": progress,
            "embedder_options": dict(embedder_options),
        }
        self.metric = metric
        self.model_: TwoTowerModel | None = None
        self.history_: History | None = None
        self.validation_: pd.DataFrame | None = None

    # --- fitting --------------------------------------------------------------------------------------------

    @_restored_on_failure
    def fit(
        self,
        interactions: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        *,
        user_id: str = "user_id",
        item_id: str = "item_id",
        target: str | None = None,
        user_features: Sequence[str] | None = None,
        item_features: Sequence[str] | None = None,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        validation: pd.DataFrame | None = None,
    ) -> Recommender:
        """Fit the encoders and train the model on the tables (module docstring); returns ``self``.

        Args:
            interactions: one row per interaction with ``user_id`` and ``item_id`` (and ``target``) columns.
            users, items: one row per user / item with the id column and feature columns; None: the ids of
                ``interactions`` are the only feature (``use_ids`` must then be on).
            user_id, item_id: the id columns' names (the same in every table).
            target: the column of explicit targets (MSE on them), or None for implicit feedback.
            user_features, item_features: the feature columns to use (default: every column but the id).
            numeric, categorical: columns whose kind is forced (default: numeric dtype -> numeric).
            validation: held-out interactions (``user_id``, ``item_id``) of known users and items: every
                ``eval_every`` steps the ranking metric ``metric`` is computed on them (training items
                excluded), training stops early after ``patience`` evaluations without improvement, and the
                best weights are kept.
        """
        o = self.options
        overlap = set(numeric) & set(categorical)
        if overlap:
            raise ValueError(f"column(s) {sorted(overlap)} are declared both numeric and categorical")
        needed = [user_id, item_id, *([target] if target is not None else [])]
        interactions = _check_frame(interactions, "interactions", needed)
        if target is not None and not pd.api.types.is_numeric_dtype(interactions[target]):
            raise ValueError(
                f"target column {target!r} must be numeric, got dtype {interactions[target].dtype}"
            )
        sides = {}
        for side, table, id_col, features in (
            ("user", users, user_id, user_features),
            ("item", items, item_id, item_features),
        ):
            name = f"{side}s"
            if table is None:
                if not o["use_ids"]:
                    raise ValueError(
                        f"no {name} table and use_ids=False: the {side} tower would have no feature"
                    )
                table = pd.DataFrame({id_col: pd.unique(interactions[id_col])})
            table = _check_frame(table, name, [id_col])
            duplicated = table[id_col].duplicated()
            if duplicated.any():
                raise ValueError(
                    f"the {name} table lists {id_col!r} value {table[id_col][duplicated].iloc[0]!r} "
                    "more than once"
                )
            features_table = _feature_table(table, id_col, features, numeric, categorical, o["use_ids"], name)
            encoder = TableEncoder(features_table.numeric, features_table.categorical, o["standardize"])
            encoder.fit(features_table.frame)
            sides[side] = (features_table, encoder)
        unknown_forced = (set(numeric) | set(categorical)) - {
            c for table, _ in sides.values() for c in table.frame.columns
        }
        if unknown_forced:
            raise ValueError(f"numeric/categorical name column(s) {sorted(unknown_forced)} that no table has")
        self._schema = {"user_id": user_id, "item_id": item_id, "target": target}
        self._encoders = {side: encoder for side, (_, encoder) in sides.items()}
        self._ids = {
            side: table.frame[col].to_numpy()
            for side, (table, _), col in (("user", sides["user"], user_id), ("item", sides["item"], item_id))
        }
        self._index = {side: pd.Index(ids) for side, ids in self._ids.items()}
        self._user_num, self._user_cat = _encode(self._encoders["user"], sides["user"][0].frame, "users")
        self._item_num, self._item_cat = _encode(self._encoders["item"], sides["item"][0].frame, "items")
        u = _rows_of(self._index["user"], interactions[user_id], user_id, "users", "interactions'")
        i = _rows_of(self._index["item"], interactions[item_id], item_id, "items", "interactions'")
        self.n_users, self.n_items = len(self._ids["user"]), len(self._ids["item"])
        self._set_seen(u, i)
        valid = None if validation is None else self._held_out(validation, "validation")
        if valid is not None and int(self.metric.partition("@")[2]) > self.n_items:
            raise ValueError(f"metric={self.metric!r} ranks more items than the catalogue's {self.n_items}")

        rng = np.random.default_rng(o["seed"])
        y = np.ones(len(u)) if target is None else interactions[target].to_numpy(dtype=np.float64)
        if not np.isfinite(y).all():
            raise ValueError(
                f"target column {target!r} holds {int((~np.isfinite(y)).sum())} infinite value(s)"
            )
        if o["loss"] == "softmax":
            keep = y > 0
            if not keep.any():
                raise ValueError(f"loss='softmax' trains on rows with {target!r} > 0, and there are none")
            u, i, y = u[keep], i[keep], np.ones(int(keep.sum()))
        elif target is None:  # implicit feedback: n_negatives uniform negatives per interaction (paper III-B)
            able = np.bincount(self._seen_users(), minlength=self.n_users) < self.n_items
            pos_u = np.repeat(u[able[u]], o["n_negatives"])
            neg_i = _sample_negatives(pos_u, self._seen_keys, self.n_items, rng)
            u, i = np.concatenate([u, pos_u]), np.concatenate([i, neg_i])
            y = np.concatenate([y, np.zeros(len(pos_u))])
        triples = make_triples(u, i, y)
        enc = self._encoded(triples, rng)
        model = self._build_model(enc)
        self.model_ = model
        n_train = len(triples)
        steps = o["steps"] or o["epochs"] * math.ceil(n_train / o["batch_size"])
        callbacks = []
        if valid is not None:
            callbacks.append(_EarlyStopping(self, valid, o["eval_every"], o["patience"]))
        self.history_ = train_fit(
            model,
            enc,
            steps=steps,
            batch_size=o["batch_size"],
            lr=o["lr"],
            seed=o["seed"],
            eval_every=None,
            ks=self._valid_ks(),
            callbacks=callbacks,
            progress=o["progress"],
            loss=o["loss"],
        )
        self.validation_ = pd.DataFrame(callbacks[0].rows) if callbacks else None
        self._item_emb = self._item_embeddings()
        return self

    def _set_seen(self, u: np.ndarray, i: np.ndarray) -> None:
        """The (user, item) pairs of training as sorted keys u * c + i, and as CSR rows per user."""
        self._seen_keys = np.unique(u.astype(np.int64) * self.n_items + i)
        self._seen_ptr = np.searchsorted(self._seen_keys // self.n_items, np.arange(self.n_users + 1))

    def _seen_users(self) -> np.ndarray:
        return self._seen_keys // self.n_items

    def _seen_items(self, row: int) -> np.ndarray:
        return self._seen_keys[self._seen_ptr[row] : self._seen_ptr[row + 1]] % self.n_items

    def _encoded(self, triples: pd.DataFrame, rng: np.random.Generator) -> EncodedData:
        """The tensors :func:`ftmamba_lite.train.fit` trains on.

        With ids as features and ``id_dropout`` > 0 the user table gets a second copy whose id is "unknown"
        (rows m..2m-1), and that share of the triples points to it. The test users of ``fit``'s final
        evaluation are up to 100 users, their training items the relevant ones (a training hit rate)."""
        user_num, user_cat = self._user_num, self._user_cat
        user = triples["user"].to_numpy(copy=True)
        if self.options["use_ids"] and self.options["id_dropout"] > 0:
            anonymous = user_cat.clone()
            anonymous[:, -1] = self._encoders["user"].cardinalities[-1]  # the id column is last: K_id
            user_num, user_cat = torch.cat([user_num, user_num]), torch.cat([user_cat, anonymous])
            user = np.where(rng.random(len(user)) < self.options["id_dropout"], user + self.n_users, user)
        test_users = np.unique(self._seen_users())[:100]
        relevant = np.zeros((len(test_users), self.n_items), dtype=bool)
        for r, row in enumerate(test_users):
            relevant[r, self._seen_items(row)] = True
        specs = {
            side: {
                "n_numerical": len(e.numeric),
                "cardinalities": e.cardinalities,
                "feature_names": e.feature_names,
            }
            for side, e in self._encoders.items()
        }
        empty = torch.zeros(0, dtype=torch.long)
        return EncodedData(
            user_num=user_num,
            user_cat=user_cat,
            item_num=self._item_num,
            item_cat=self._item_cat,
            train_user=torch.from_numpy(user),
            train_item=torch.from_numpy(triples["item"].to_numpy(copy=True)),
            train_target=torch.from_numpy(triples["target"].to_numpy(copy=True)),
            valid_user=empty,
            valid_item=empty,
            valid_target=torch.zeros(0),
            test_users=torch.from_numpy(test_users),
            test_relevant=torch.from_numpy(relevant),
            user_spec=specs["user"],
            item_spec=specs["item"],
        )

    def _build_model(self, enc: EncodedData) -> TwoTowerModel:
        o = self.options
        if o["embedder"] == "popularity":
            # build_baseline's popularity is the share of an item's triples with target > 0. On the positives
            # plus one pseudo-negative per item that share, n / (n + 1), orders items by their count n.
            positives = torch.from_numpy(self._seen_keys % self.n_items)
            counts = dataclasses.replace(
                enc,
                train_item=torch.cat([positives, torch.arange(self.n_items)]),
                train_user=torch.zeros(len(positives) + self.n_items, dtype=torch.long),
                train_target=torch.cat([torch.ones(len(positives)), torch.zeros(self.n_items)]),
            )
            return build_baseline("popularity", counts)
        config = ModelConfig(
            o["embedder"],
            TowerSpec(**enc.user_spec),
            TowerSpec(**enc.item_spec),
            d_model=o["d_model"],
            n_layers=o["n_layers"],
            similarity=o["similarity"],
            hidden=None if o["hidden"] is None else tuple(o["hidden"]),
            final_activation=o["final_activation"],
            options=o["embedder_options"],
        )
        torch.manual_seed(o["seed"])
        return build_two_tower(config)

    def _valid_ks(self) -> tuple[int, ...]:
        k = int(self.metric.partition("@")[2])
        return tuple(sorted({min(j, self.n_items) for j in (1, 5, 10, k)}))

    @property
    def schema(self) -> dict[str, str | None]:
        """The column names of ``fit``: ``{"user_id": ..., "item_id": ..., "target": ...}``."""
        self._require_fitted()
        return dict(self._schema)

    @property
    def features(self) -> dict[str, dict[str, list[str]]]:
        """The towers' feature columns by kind, in token order: ``{"user": {"numeric": [...], "categorical":
        [...]}, "item": {...}}`` (the ids, when used, are the last categorical column)."""
        self._require_fitted()
        return {
            side: {"numeric": list(e.numeric), "categorical": list(e.categorical)}
            for side, e in self._encoders.items()
        }

    # --- scoring --------------------------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if self.model_ is None:
            raise RuntimeError("this Recommender is not fitted: call fit(interactions, users, items) first")

    @torch.no_grad()
    def _item_embeddings(self) -> Tensor:
        """g(i) of the whole catalogue, (c, o), computed once after training (and stored by :meth:`save`)."""
        model = self.model_
        was = model.training
        model.eval()
        try:
            parts = [
                model.embed_items(
                    self._item_num[start : start + ROWS_PER_PASS],
                    self._item_cat[start : start + ROWS_PER_PASS],
                )
                for start in range(0, self.n_items, ROWS_PER_PASS)
            ]  # (ROWS_PER_PASS, o) each
            return torch.cat(parts)  # (c, o)
        finally:
            model.train(was)

    @torch.no_grad()
    def _score_batches(
        self, user_num: Tensor, user_cat: Tensor, known: np.ndarray, exclude_seen: bool
    ) -> Iterator[tuple[slice, Tensor]]:
        """Yield (batch slice, scores (b, c)) for the given user rows; ``known`` (n,) is each row's training
        user row or -1; with ``exclude_seen`` a known user's training items score -inf."""
        model = self.model_
        item_emb = self._item_emb
        was = model.training
        model.eval()
        try:
            step = max(1, min(ROWS_PER_PASS, SCORE_BUDGET // self.n_items))
            for start in range(0, len(known), step):
                part = slice(start, start + step)
                scores = (
                    model.embed_users(user_num[part], user_cat[part]) @ item_emb.T
                )  # (b, o) @ (o, c) -> (b, c)
                if exclude_seen:
                    for r, row in enumerate(known[part]):
                        if row >= 0:
                            scores[r, self._seen_items(row)] = -math.inf
                yield part, scores
        finally:
            model.train(was)

    def _user_rows(self, users: object, what: str) -> tuple[np.ndarray, Tensor, Tensor, np.ndarray]:
        """(ids, x_num, x_cat, known rows) of ``users``: a list of known ids or a DataFrame of user rows."""
        id_col = self._schema["user_id"]
        if isinstance(users, pd.DataFrame):
            if users.empty:
                raise ValueError(f"the {what} DataFrame is empty: it needs at least one user row")
            frame = users.reset_index(drop=True)
            if id_col not in frame.columns:
                frame[id_col] = None  # no id: a new user (the id's "unknown" row)
            ids = users[id_col].to_numpy() if id_col in users.columns else users.index.to_numpy()
            missing = [c for c in self._encoders["user"].feature_names if c not in frame.columns]
            if missing:
                raise ValueError(
                    f"the {what} DataFrame lacks the feature column(s) {missing} the model was fitted on; "
                    f"it has {list(users.columns)}"
                )
            x_num, x_cat = _encode(self._encoders["user"], frame, what)
            known = self._index["user"].get_indexer(pd.Series(ids)) if id_col in users.columns else None
            return ids, x_num, x_cat, np.full(len(ids), -1) if known is None else known
        if isinstance(users, str | bytes) or not hasattr(users, "__len__"):
            raise TypeError(f"{what} must be a list of known {id_col!r} values or a DataFrame of user rows")
        ids = pd.Series(list(users), dtype=object)
        if not len(ids):
            raise ValueError(f"{what} is empty: give at least one {id_col!r} value")
        rows = self._index["user"].get_indexer(ids)
        if (rows < 0).any():
            absent = list(pd.unique(ids[rows < 0])[:5])
            raise ValueError(
                f"{id_col!r} value(s) {absent} are not among the {self.n_users} users seen in fit; pass a "
                f"DataFrame with their feature columns to score new users"
            )
        return self._ids["user"][rows], self._user_num[rows], self._user_cat[rows], rows

    def recommend(self, users: object, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The k best items for each user.

        Args:
            users: a list of known user ids, or a DataFrame of user rows with the feature columns of ``fit``
                (known or brand-new users; unseen categories map to "unknown"; without the id column the
                frame's index names the users and nobody's training items are excluded).
            k: items per user, 1..c.
            exclude_seen: leave out the items a known user interacted with in training (a user who has seen
                all but j < k items gets j rows).

        Returns:
            a DataFrame with columns ``user_id, rank, item_id, score`` (the id columns under their names in
            ``fit``), k rows per user, best first; equal scores: lower item row first
            (:func:`ftmamba_lite.metrics.top_k`).
        """
        self._require_fitted()
        if isinstance(k, bool) or int(k) != k or not 1 <= k <= self.n_items:
            raise ValueError(
                f"k={k!r} is out of range: it must be a whole number between 1 and the catalogue size "
                f"{self.n_items}"
            )
        k = int(k)
        ids, x_num, x_cat, known = self._user_rows(users, "users")
        frames = []
        for part, scores in self._score_batches(x_num, x_cat, known, exclude_seen):
            best = top_k_fast(scores, k)  # (b, k) item rows, best first
            best_scores = np.take_along_axis(scores.numpy(), best, axis=1).astype(np.float64)
            keep = np.isfinite(best_scores)  # drop excluded items when fewer than k are left
            user_of = np.repeat(np.arange(part.start, part.start + len(best)), k).reshape(best.shape)
            frames.append(
                pd.DataFrame(
                    {
                        self._schema["user_id"]: ids[user_of[keep]],
                        "rank": np.tile(np.arange(1, k + 1), (len(best), 1))[keep],
                        self._schema["item_id"]: self._ids["item"][best[keep]],
                        "score": best_scores[keep],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def _held_out(self, interactions: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Held-out (user row, item row) pairs of known users and items; pairs seen in training dropped."""
        user_col, item_col = self._schema["user_id"], self._schema["item_id"]
        interactions = _check_frame(interactions, name, [user_col, item_col])
        u = _rows_of(self._index["user"], interactions[user_col], user_col, "users", f"{name}'s")
        i = _rows_of(self._index["item"], interactions[item_col], item_col, "items", f"{name}'s")
        new = ~np.isin(u * self.n_items + i, self._seen_keys)
        if not new.any():
            raise ValueError(f"every row of {name} was already seen in training: nothing is held out")
        return u[new], i[new]

    def _ranking_metrics(
        self, u: np.ndarray, i: np.ndarray, ks: Sequence[int], exclude_seen: bool = True
    ) -> dict:
        """Means over the held-out users of P, R, MRR, HR and NDCG at ``ks`` (:mod:`ftmamba_lite.metrics`)."""
        rows, user_of = np.unique(u, return_inverse=True)
        tables = []
        for part, scores in self._score_batches(
            self._user_num[rows], self._user_cat[rows], rows, exclude_seen
        ):
            relevant = np.zeros(scores.shape, dtype=bool)
            in_part = (user_of >= part.start) & (user_of < part.start + len(scores))
            relevant[user_of[in_part] - part.start, i[in_part]] = True
            tables.append(per_user_metrics(scores, relevant, ks=ks, ndcg_ks=ks))
        return {name: float(value) for name, value in pd.concat(tables).mean(axis=0).items()}

    def evaluate(self, interactions: pd.DataFrame, k: Sequence[int] | int = (1, 5, 10)) -> dict[str, float]:
        """The package's metrics (P@k, R@k, MRR@k, HR@k, NDCG@k) on held-out interactions of known users.

        Every held-out user's items are ranked against the whole catalogue with their training items excluded;
        held-out pairs already seen in training are dropped. ``k``: one truncation or several, each <= c.
        """
        self._require_fitted()
        ks = (k,) if isinstance(k, int) else tuple(k)
        for j in ks:
            if isinstance(j, bool) or int(j) != j or not 1 <= j <= self.n_items:
                raise ValueError(
                    f"k={j!r} is out of range: it must lie between 1 and the catalogue size {self.n_items}"
                )
        return self._ranking_metrics(*self._held_out(interactions, "interactions"), ks=ks)

    # --- saving ---------------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the model, encoders, ids, training pairs, config and versions into the folder ``path``.

        Written to a temporary folder first and moved into place, so a failed save leaves nothing
        half-written; an existing folder is replaced only with ``overwrite=True`` and only when it holds a
        saved recommender.
        """
        self._require_fitted()
        path = Path(path)
        occupied = path.is_file() or (path.is_dir() and any(path.iterdir()))
        if occupied:
            if not overwrite:
                raise FileExistsError(f"{path} exists and is not empty: pass overwrite=True to replace it")
            if not (path / CONFIG_FILE).is_file():
                raise FileExistsError(
                    f"{path} is not a saved recommender (no {CONFIG_FILE}): not replacing it"
                )
        tmp = path.with_name(f".{path.name}.saving-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            torch.save(
                {
                    "state_dict": self.model_.state_dict(),
                    "item_embeddings": self._item_emb,
                    "user_num": self._user_num,
                    "user_cat": self._user_cat,
                    "item_num": self._item_num,
                    "item_cat": self._item_cat,
                    "seen_keys": torch.from_numpy(self._seen_keys),
                },
                tmp / WEIGHTS_FILE,
            )
            config = {
                "format": FORMAT,
                "versions": {
                    "ftmamba_lite": _VERSION,
                    "torch": torch.__version__,
                    "numpy": np.__version__,
                    "pandas": pd.__version__,
                    "python": platform.python_version(),
                },
                "options": self.options,
                "schema": self._schema,
                "model": None if self.model_.config is None else self.model_.config.to_dict(),
                "encoders": {side: e.to_state() for side, e in self._encoders.items()},
                "ids": {side: _typed(ids, self._schema[f"{side}_id"]) for side, ids in self._ids.items()},
                "validation": None if self.validation_ is None else self.validation_.to_dict("list"),
                "sha256": {WEIGHTS_FILE: hashlib.sha256((tmp / WEIGHTS_FILE).read_bytes()).hexdigest()},
            }
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=1))
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recommender:
        """A recommender saved by :meth:`save`: recommendations are bit-identical to the saved one's.

        Raises FileNotFoundError naming a missing file, ValueError naming a damaged one (its checksum, JSON or
        format); warns when the saving versions of torch or ftmamba_lite differ from the running ones.
        """
        path = Path(path)
        config_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
        for file in (config_path, weights_path):
            if not file.is_file():
                raise FileNotFoundError(
                    f"{file} not found: {path} is not a folder written by Recommender.save"
                )
        try:
            config = json.loads(config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{config_path} is not valid JSON: {err}") from err
        if config.get("format") != FORMAT:
            raise ValueError(
                f"{config_path} has format {config.get('format')!r}; this version reads format {FORMAT}"
            )
        digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
        if digest != config["sha256"][WEIGHTS_FILE]:
            raise ValueError(
                f"{weights_path} does not match its checksum in {config_path}: the file is damaged or was "
                "changed"
            )
        running = {"ftmamba_lite": _VERSION, "torch": torch.__version__}
        changed = {k: (config["versions"][k], v) for k, v in running.items() if config["versions"][k] != v}
        if changed:
            warnings.warn(f"{path} was saved with other versions {changed} (saved, running)", stacklevel=2)
        payload = torch.load(weights_path, map_location="cpu", weights_only=True)
        options = dict(config["options"])
        rec = cls(options.pop("embedder"), **options.pop("embedder_options"), **options)
        rec._schema = config["schema"]
        rec._encoders = {side: TableEncoder.from_state(s) for side, s in config["encoders"].items()}
        rec._ids = {side: _untyped(pairs) for side, pairs in config["ids"].items()}
        rec._index = {side: pd.Index(ids) for side, ids in rec._ids.items()}
        rec.n_users, rec.n_items = len(rec._ids["user"]), len(rec._ids["item"])
        for name in ("user_num", "user_cat", "item_num", "item_cat"):
            setattr(rec, f"_{name}", payload[name])
        rec._seen_keys = payload["seen_keys"].numpy()
        rec._seen_ptr = np.searchsorted(rec._seen_keys // rec.n_items, np.arange(rec.n_users + 1))
        state = payload["state_dict"]
        if config["model"] is None:  # popularity: a lookup of the item rows' rates
            model = TwoTowerModel(
                ConstantTower(), LookupTower(state["item_tower.keys"], state["item_tower.values"])
            )
        else:
            model = build_two_tower(ModelConfig.from_dict(config["model"]))
        model.load_state_dict(state)
        rec.model_ = model
        rec._item_emb = payload["item_embeddings"]
        rec.validation_ = None if config["validation"] is None else pd.DataFrame(config["validation"])
        return rec

    def __repr__(self) -> str:
        state = (
            f"{self.n_users:,} users x {self.n_items:,} items" if self.model_ is not None else "not fitted"
        )
        return f"Recommender({self.options['embedder']!r}, loss={self.options['loss']!r}; {state})"
