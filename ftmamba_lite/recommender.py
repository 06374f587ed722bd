"""Bring your own tables: :class:`Recommender` fits FT-Mamba on user, item and interaction DataFrames.

Dimension letters (docs/notation.md):
    m  users of the users table      c  items (the catalogue)      b  batch      o  output embedding width

Three calls, as in TensorFlow Recommenders, RecBole, LightFM or implicit::

    rec = Recommender("mamba").fit(interactions, users, items)      # DataFrames in
    rec.recommend([196, 186], k=10)                                 # or a DataFrame of (new) user rows
    rec.save("model/");  Recommender.load("model/")

What :meth:`Recommender.fit` does with the tables, in the package's own pieces:

* :class:`~ftmamba_lite.learn.tables.Tables` checks the tables, infers each feature's kind and fits a
  :class:`~ftmamba_lite.encoding.TableEncoder` per table; with ``use_ids`` (default) the user and item ids are
  categorical features too: known users get their own embedding row, a brand-new user falls back to its other
  features (its id maps to the "unknown" row, which ``id_dropout`` trains by hiding the id of that share of
  the training pairs);
* the model of :mod:`ftmamba_lite.learn.registry` is trained by the one training loop,
  :func:`ftmamba_lite.learn.engine.train`, on a :class:`~ftmamba_lite.learn.engine.TwoTowerTask`;
* with a validation set (given, or carved from the training interactions: ``validation_share`` of each
  user's interactions) the ranking metric ``metric`` is measured every ``eval_every`` steps, training stops
  after ``patience`` evaluations without improvement and the best weights are kept.

Two recipes (``protocol=``):

* ``"recommended"`` (default): the recipe measured to rank well on implicit feedback (``benchmarks/`` and
  docs: the peer benchmark on MovieLens-100K): the in-batch sampled softmax with the logQ correction and a
  temperature, AdamW, epochs with early stopping on a carved validation split, towers sized for tabular rows.
* ``"paper"``: the paper's protocol (Section III): MSE with one sampled negative per interaction (implicit
  feedback) or on the target column, Adam, batch 32, lr 1e-4, one epoch, d = 128 and 4 Mamba or 2
  Transformer layers. Notebooks 04-07 reproduce the paper with it.

Which loss for which data (``loss=``): ``"mse"`` learns a target value (explicit ratings, or interactions
against sampled negatives); ``"softmax"`` learns a ranking over the catalogue from positive pairs only (with
a target column, the rows with target > 0 are the positives). See :mod:`ftmamba_lite.losses`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from . import losses
from .encoding import EncodedData
from .learn.engine import Evaluation, History, TwoTowerTask, check_int, train
from .learn.pairs import carve_validation, describe_pairs, encoded_pairs, training_pairs
from .learn.registry import build_model, kind_names
from .learn.saved import read_recommender, write_recommender
from .learn.scoring import SeenItems, held_out_metrics, popularity_batches, ranked_batches, top_k_fast
from .learn.tables import Tables
from .metrics import parse_metric
from .towers import TwoTowerModel

__all__ = ["EMBEDDERS", "PROTOCOLS", "RECIPES", "Recommender", "Settings"]

EMBEDDERS = kind_names("two-tower", needs_targets=False)
"""The model kinds a Recommender fits (the oracle needs true targets, which a user's tables do not have)."""
PROTOCOLS = ("recommended", "paper")

RECIPES: dict[str, dict[str, Any]] = {
    "recommended": {
        "d_model": 32, "n_layers": 1, "readout": "mean", "similarity": "cosine", "loss": "softmax",
        "temperature": 0.1, "epochs": 20, "batch_size": 1024, "lr": 3e-3, "weight_decay": 0.0,
        "validation_share": 0.0, "patience": 3,
    },
    "paper": {
        "d_model": 128, "n_layers": None, "readout": "cls", "similarity": "dot", "loss": "mse",
        "temperature": 1.0, "epochs": 1, "batch_size": 32, "lr": 1e-4, "weight_decay": 0.0,
        "validation_share": 0.0, "patience": 3,
    },
}  # fmt: skip
"""The settings each protocol gives to what the caller leaves as None (module docstring). The recommended
recipe and the measurement behind each value (MovieLens-100K, ``benchmarks/recipe_log.md``): the in-batch
softmax (the paper's MSE with sampled negatives ranks below popularity); the mean of the output tokens as the
readout (the [CLS] token must collect a whole row through the sequence layer: NDCG@10 0.105 -> 0.120);
cosine similarity at tau = 0.1 (+7 %; 0.05 and 0.2 no better); 20 epochs of batch 1,024 at lr 3e-3 (10 -> 20
epochs +6 %; each distinct row of a batch embedded once); towers of d = 32 and one layer (d = 64: +2 % for
twice the time); no validation split by default (carving 10 % of each user's ratings for early stopping cost
more than it saved: 0.133 -> 0.104 for the MLP)."""
EMBEDDER_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "recommended": {"transformer": {"dim_feedforward": 64}},
    "paper": {},
}
"""Embedder options each protocol adds unless given (the recommended Transformer's feed-forward width
matches its d = 32)."""


@dataclass
class Settings:
    """Every setting of a :class:`Recommender`, checked once (:meth:`checked`); None takes the protocol's
    (:data:`RECIPES`).

    Fields:
        embedder: ``"mamba"`` (FT-Mamba), ``"transformer"`` (FT-Transformer towers), or the baselines
            ``"mlp"``, ``"linear"``, ``"popularity"`` (:mod:`ftmamba_lite.learn.baselines`).
        protocol: ``"recommended"`` (default) or ``"paper"``: the defaults of every setting left None
            (module docstring; :data:`RECIPES`).
        d_model, n_layers, hidden, similarity, final_activation, readout: the model
            (:class:`~ftmamba_lite.config.ModelConfig`; ``readout`` ``"cls"`` or ``"mean"``).
        loss: ``"mse"`` or ``"softmax"`` (in-batch sampled softmax); ``temperature`` is the softmax's tau.
        epochs, steps: training length; ``steps`` (when given) overrides ``epochs`` passes over the pairs.
        batch_size, lr, weight_decay: the optimiser's batches, learning rate and decoupled weight decay.
        n_negatives: negatives sampled per interaction for implicit feedback with ``"mse"`` (paper: 1).
        use_ids: use the user and item ids as categorical features.
        id_dropout: share of training pairs whose user id is hidden (mapped to "unknown"), so that the
            unknown-id embedding that new users get is trained.
        standardize: standardise numeric features with the training table's mean and std.
        validation_share: without ``fit(validation=...)``, the share of each user's interactions (users
            with at least 3) held out for early stopping; 0 trains on everything for the full length.
        eval_every, patience, metric: evaluate ``metric`` (e.g. ``"NDCG@10"``) on the validation pairs every
            ``eval_every`` steps (default: once an epoch), stop after ``patience`` evaluations without
            improvement, keep the best weights.
        seed: seeds the split, the negatives, the id dropout, the initialisation and the batches.
        progress: show a progress bar while training.
        embedder_options: to the embedder (``d_state``, ``d_conv``, ``expand``, ``n_heads``, ...).
    """

    embedder: str = "mamba"
    protocol: str = "recommended"
    d_model: int | None = None
    n_layers: int | None = None
    hidden: list[int] | None = None
    similarity: str | None = None
    readout: str | None = None
    final_activation: bool = False
    loss: str | None = None
    epochs: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    temperature: float | None = None
    n_negatives: int = 1
    use_ids: bool = True
    id_dropout: float = 0.1
    standardize: bool = True
    validation_share: float | None = None
    eval_every: int | None = None
    patience: int | None = None
    metric: str = "NDCG@10"
    seed: int = 0
    progress: bool = True
    embedder_options: dict[str, Any] = field(default_factory=dict)

    def checked(self) -> Settings:
        """These settings with the protocol's defaults filled in; ValueError naming a bad one."""
        if self.embedder not in EMBEDDERS:
            raise ValueError(f"unknown embedder {self.embedder!r}; choose one of {EMBEDDERS}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of {PROTOCOLS}")
        filled = {k: (RECIPES[self.protocol][k] if getattr(self, k) is None else getattr(self, k))
                  for k in RECIPES[self.protocol]}  # fmt: skip
        if self.embedder in ("mlp", "linear", "popularity"):
            filled["n_layers"] = self.n_layers  # no sequence layer: nothing to fill in
        if self.embedder in EMBEDDER_RECIPES[self.protocol]:
            filled["embedder_options"] = {
                **EMBEDDER_RECIPES[self.protocol][self.embedder],
                **self.embedder_options,
            }
        s = replace(self, **filled)
        if s.loss not in losses.LOSSES:
            raise ValueError(f"unknown loss {s.loss!r}; choose one of {sorted(losses.LOSSES)}")
        if s.embedder in ("mlp", "linear", "popularity") and (
            s.embedder_options or self.n_layers is not None
        ):
            raise ValueError(
                f"the {s.embedder} baseline has no sequence layer: n_layers and embedder options "
                f"{sorted(s.embedder_options)} do not apply"
            )
        for name in ("d_model", "epochs", "n_negatives", "batch_size", "patience"):
            check_int(name, getattr(s, name), 1)
        for name in ("n_layers", "steps", "eval_every"):
            if getattr(s, name) is not None:
                check_int(name, getattr(s, name), 1)
        check_int("seed", s.seed, 0)
        for name, low, high in (("id_dropout", 0, 1), ("validation_share", 0, 0.5)):
            value = getattr(s, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value < high:
                raise ValueError(f"{name} must be a number in [{low}, {high}), got {value!r}")
        for name, strict in (("lr", True), ("temperature", True), ("weight_decay", False)):
            value = getattr(s, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0 or (strict and value == 0):
                raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, got {value!r}")
        parse_metric(s.metric)
        return s


def _validator(
    tables: Tables, seen: SeenItems, valid: tuple[np.ndarray, np.ndarray], monitor: str
) -> Callable[[TwoTowerModel], Evaluation]:
    """The early-stopping evaluation: the validation pairs ranked against the catalogue, ``seen`` excluded,
    at k = 1, 5, 10 and the monitored metric's k (each at most the catalogue size)."""
    n_items = len(tables.items)
    ks = tuple(sorted({min(j, n_items) for j in (1, 5, 10, parse_metric(monitor)[1])}))
    x_num, x_cat = tables.users.x_num, tables.users.x_cat

    def validate(model: TwoTowerModel) -> Evaluation:
        item_emb = model.item_embeddings(tables.items.x_num, tables.items.x_cat)  # (c, o)

        def score_rows(rows: np.ndarray) -> Iterator[tuple[slice, Tensor]]:
            return ranked_batches(model, x_num[rows], x_cat[rows], item_emb, rows, seen)

        return Evaluation(held_out_metrics(score_rows, *valid, ks))

    return validate


def _known(rows: np.ndarray, known: np.ndarray | None) -> np.ndarray:
    """The training user row of each of ``rows`` (``known`` None: the rows are training rows)."""
    return rows if known is None else known[rows]


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
            ``"mlp"``, ``"linear"``, ``"popularity"`` (:mod:`ftmamba_lite.learn.baselines`).
        options: any field of :class:`Settings` (``protocol``, ``loss``, ``epochs``, ``lr``, ...); other
            keyword arguments go to the embedder (``d_state``, ``d_conv``, ``expand``, ``n_heads``, ...).

    Attributes after :meth:`fit`: ``model_`` (the :class:`TwoTowerModel`), ``history_`` (:class:`History`),
    ``validation_`` (a DataFrame of the validation metrics per evaluation, or None), ``n_users``, ``n_items``.
    """

    def __init__(self, embedder: str = "mamba", **options: Any) -> None:
        known = {f for f in Settings.__dataclass_fields__ if f != "embedder_options"}
        embedder_options = {k: v for k, v in options.items() if k not in known}
        settings = Settings(embedder, **{k: v for k, v in options.items() if k in known})
        self.settings = replace(settings, embedder_options=embedder_options).checked()
        self.model_: TwoTowerModel | None = None
        self.history_: History | None = None
        self.validation_: pd.DataFrame | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The settings in effect, as a dict."""
        return asdict(self.settings)

    @property
    def metric(self) -> str:
        return self.settings.metric

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
            validation: held-out interactions of known users and items for early stopping (default: carved
                from ``interactions``, ``validation_share``).
        """
        s = self.settings
        tables = Tables.fit(
            interactions, users, items, user_id=user_id, item_id=item_id, target=target,
            user_features=user_features, item_features=item_features, numeric=numeric,
            categorical=categorical, use_ids=s.use_ids, standardize=s.standardize,
        )  # fmt: skip
        self.tables = tables
        self.n_users, self.n_items = len(tables.users), len(tables.items)
        name, k = parse_metric(s.metric)
        if k > self.n_items and validation is not None:
            raise ValueError(f"metric={s.metric!r} ranks more items than the catalogue's {self.n_items}")
        self._monitor = f"{name}@{min(k, self.n_items)}"  # a carved split on a small catalogue: all items
        u, i = tables.pairs(interactions, "interactions")
        y = np.ones(len(u)) if target is None else interactions[target].to_numpy(dtype=np.float64)
        rng = np.random.default_rng(s.seed)
        everything = SeenItems(u, i, self.n_users, self.n_items)  # excluded from recommendations after fit
        if validation is not None:
            self.seen = everything
            valid = self._held_out(validation, "validation")
        else:
            share = s.validation_share if s.embedder in kind_names("two-tower", trained=True) else 0.0
            u, i, y, valid = carve_validation(u, i, y, share, self.n_users, rng)
            self.seen = SeenItems(u, i, self.n_users, self.n_items)  # training's: validation ranks the rest
        self._pairs = training_pairs(u, i, y, s.loss, tables.target, self.seen, s.n_negatives, rng)
        enc = encoded_pairs(tables, *self._pairs, s.id_dropout if s.use_ids else 0.0, rng)
        self.model_ = model = self._build(enc)
        evaluator = None if valid is None else _validator(tables, self.seen, valid, self._monitor)
        task = TwoTowerTask(
            enc, batch_size=s.batch_size, loss=s.loss, temperature=s.temperature, evaluator=evaluator,
            describer=lambda positions: describe_pairs(tables, *self._pairs, positions),
        )  # fmt: skip
        per_epoch = max(1, task.n_examples // task.batch_size)
        monitor = None if valid is None else self._monitor
        self.history_ = train(
            model, task, steps=s.steps or s.epochs * per_epoch, lr=s.lr, weight_decay=s.weight_decay,
            seed=s.seed, eval_every=s.eval_every or per_epoch, monitor=monitor, patience=s.patience,
            progress=s.progress,
        )  # fmt: skip
        frame = self.history_.eval_frame()
        self.validation_ = frame.drop(columns="valid_loss") if len(frame) else None
        self._item_emb = model.item_embeddings(tables.items.x_num, tables.items.x_cat)  # (c, o)
        self.seen = everything
        return self

    def _build(self, enc: EncodedData) -> TwoTowerModel:
        s = self.settings
        if s.embedder == "popularity":
            # build_baseline's popularity is the share of an item's pairs with target > 0. On the positives
            # plus one pseudo-negative per item that share, n / (n + 1), orders items by their count n.
            positives = torch.from_numpy(self.seen.keys % self.n_items)
            counts = replace(
                enc,
                train_item=torch.cat([positives, torch.arange(self.n_items)]),
                train_user=torch.zeros(len(positives) + self.n_items, dtype=torch.long),
                train_target=torch.cat([torch.ones(len(positives)), torch.zeros(self.n_items)]),
            )
            return build_model(counts, "popularity")
        common: dict[str, Any] = {"similarity": s.similarity, "final_activation": s.final_activation}
        if s.hidden is not None:
            common["hidden"] = tuple(s.hidden)
        if s.embedder in ("mlp", "linear"):
            return build_model(enc, s.embedder, seed=s.seed, **common)
        common["readout"] = s.readout
        return build_model(
            enc,
            s.embedder,
            d_model=s.d_model,
            n_layers=s.n_layers,
            seed=s.seed,
            **common,
            **s.embedder_options,
        )

    # --- using the model ------------------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if self.model_ is None:
            raise RuntimeError("this Recommender is not fitted: call fit(interactions, users, items) first")

    @property
    def schema(self) -> dict[str, str | None]:
        """The column names of ``fit``: ``{"user_id": ..., "item_id": ..., "target": ...}``."""
        self._require_fitted()
        return self.tables.schema

    @property
    def features(self) -> dict[str, dict[str, list[str]]]:
        """The towers' feature columns by kind, in token order (the ids, when used, last)."""
        self._require_fitted()
        return self.tables.features()

    def _check_k(self, k: object) -> int:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= self.n_items:
            raise ValueError(
                f"k={k!r} is out of range: it must be a whole number between 1 and the catalogue size "
                f"{self.n_items}"
            )
        return int(k)

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
            ``fit``), k rows per user, best first; equal scores: lower item row first.
        """
        self._require_fitted()
        k = self._check_k(k)
        ids, x_num, x_cat, known = self.tables.user_inputs(users, "users")
        seen = self.seen if exclude_seen else None
        frames = []
        with torch.no_grad():
            for part, scores in ranked_batches(self.model_, x_num, x_cat, self._item_emb, known, seen):
                best = top_k_fast(scores, k)  # (b, k) item rows, best first
                best_scores = np.take_along_axis(scores.numpy(), best, axis=1).astype(np.float64)
                keep = np.isfinite(best_scores)  # drop excluded items when fewer than k are left
                user_of = np.repeat(np.arange(part.start, part.start + len(best)), k).reshape(best.shape)
                frames.append(pd.DataFrame({
                    self.tables.users.id_column: ids[user_of[keep]],
                    "rank": np.tile(np.arange(1, k + 1), (len(best), 1))[keep],
                    self.tables.items.id_column: self.tables.items.ids[best[keep]],
                    "score": best_scores[keep],
                }))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def _held_out(self, interactions: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Held-out (user row, item row) pairs of known users and items; pairs seen in training dropped."""
        u, i = self.tables.pairs(interactions, name)
        new = ~self.seen.contains(u, i)
        if not new.any():
            raise ValueError(f"every row of {name} was already seen in training: nothing is held out")
        return u[new], i[new]

    def evaluate(
        self,
        interactions: pd.DataFrame,
        k: Sequence[int] | int = (1, 5, 10),
        *,
        new_users: pd.DataFrame | None = None,
        baseline: bool = True,
    ) -> dict[str, float]:
        """The package's metrics (P@k, R@k, MRR@k, HR@k, NDCG@k) on held-out interactions, and popularity's.

        Every held-out user ranks the whole catalogue; the items of their held-out interactions are the
        relevant ones. Known users (default): their training items are excluded and held-out pairs already
        seen in training are dropped. ``new_users``: the rows of users never seen in training (the id column
        and their feature columns; :func:`ftmamba_lite.datasets.splits.hold_out_users`), scored from their
        features only (the id is hidden), nothing excluded.

        Args:
            interactions: the held-out (user id, item id) pairs.
            k: one truncation or several, each between 1 and the catalogue size.
            new_users: see above.
            baseline: add the popularity ranking's metrics (``"popularity NDCG@10"``, ...: every user's
                unseen items by their training count) and warn when the model's ``metric`` does not beat it.
        """
        self._require_fitted()
        ks = tuple(self._check_k(j) for j in ((k,) if isinstance(k, int) else k))
        if new_users is None:
            users, items = self._held_out(interactions, "interactions")
            x_num, x_cat, known, seen = self.tables.users.x_num, self.tables.users.x_cat, None, self.seen
        else:
            users, items, x_num, x_cat = self.tables.new_user_pairs(interactions, new_users)
            known, seen = np.full(len(x_num), -1), None

        def score_rows(rows: np.ndarray) -> Iterator[tuple[slice, Tensor]]:
            return ranked_batches(
                self.model_, x_num[rows], x_cat[rows], self._item_emb, _known(rows, known), seen
            )

        with torch.no_grad():
            metrics = held_out_metrics(score_rows, users, items, ks)
            if not baseline:
                return metrics
            counts = np.bincount(self.seen.keys % self.n_items, minlength=self.n_items)
            popular = held_out_metrics(
                lambda rows: popularity_batches(counts, _known(rows, known), seen), users, items, ks
            )
        name = self.metric if self.metric in metrics else f"NDCG@{max(ks)}"
        if metrics[name] <= popular[name]:
            warnings.warn(
                f"{self.settings.embedder} does not beat the popularity ranking on these interactions: "
                f"{name} {metrics[name]:.4f} against popularity's {popular[name]:.4f}",
                stacklevel=2,
            )
        return {**metrics, **{f"popularity {key}": value for key, value in popular.items()}}

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the model, encoders, ids, training pairs and settings into the folder ``path``
        (:func:`ftmamba_lite.learn.saved.write_recommender`: every file under one manifest of digests; an
        existing saved recommender is replaced only with ``overwrite=True``, and never lost if saving
        fails)."""
        self._require_fitted()
        return write_recommender(
            path,
            self.options,
            self.model_,
            self._item_emb,
            self.seen,
            self.tables,
            self.validation_,
            overwrite,
        )

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """A recommender saved by :meth:`save`: recommendations are bit-identical to the saved one's.

        Raises FileNotFoundError naming a missing folder or manifest, and
        :class:`~ftmamba_lite.persistence.CorruptFileError` (a ValueError) naming a file that is missing,
        changed or damaged, or of another format (:func:`ftmamba_lite.learn.saved.read_recommender`).
        """
        saved = read_recommender(path)
        settings = dict(saved.settings)
        rec = cls(settings.pop("embedder"), **settings.pop("embedder_options"), **settings)
        rec.tables, rec.seen, rec.model_, rec._item_emb = (
            saved.tables,
            saved.seen,
            saved.model,
            saved.item_emb,
        )
        rec.n_users, rec.n_items = len(rec.tables.users), len(rec.tables.items)
        rec.validation_ = saved.validation
        return rec

    def __repr__(self) -> str:
        state = (
            f"{self.n_users:,} users x {self.n_items:,} items" if self.model_ is not None else "not fitted"
        )
        return f"Recommender({self.settings.embedder!r}, loss={self.settings.loss!r}; {state})"
