"""Baselines for the two-tower towers: what a model without a sequence layer reaches (issue: simpler models).

Dimension letters (docs/notation.md):
    b  batch      m  users      c  items (the catalogue)      o  output embedding width (paper: 32)
    k_num, k_cat  numeric and categorical features of one tower, K_j categories of categorical feature j

Every baseline here is a :class:`~ftmamba_lite.towers.TwoTowerModel` (two modules (x_num, x_cat) -> (b, o) and
the dot product s(u, i) = <f(u), g(i)>), so :func:`ftmamba_lite.learn.engine.fit`, ``score_all`` and
:func:`ftmamba_lite.metrics.evaluate` treat them exactly like the Mamba and Transformer towers:

* ``"popularity"`` -- s(u, i) = the training-set positive rate of item i, the same for every user. The floor:
  a model that does not beat it does not personalise.
* ``"linear"`` -- f(u) = W_u [x_num, onehot(x_cat)] + b_u, same for g(i): a bilinear score of rank <= o.
  Enough whenever the target is (a monotone function of) a low-rank bilinear form of the raw features, as on
  Spotify, where the preference p(u) = u R is linear in the genre vector u and R has rank <= 10 < o.
* ``"mlp"`` -- the paper's feed-forward network (64 -> 32, ReLU after both) on [x_num, onehot(x_cat)]: the
  towers with the feature tokenizer and the Mamba / Transformer layers removed (the ablation of the sequence
  layer). A sequence layer over the feature tokens can only add to it by modelling interactions between the
  features of one row that a two-layer MLP learns badly (many features, many categorical combinations). It
  cannot help when a tower has one feature (Spotify's item tower: the song index, a one-token sequence) or
  when the target is additive in the features (Spotify's user tower).
* ``"oracle"`` -- s(u, i) = the true target of (u, i) for the test users (``RecDataset.test_targets``, where
  the dataset defines it): the upper reference. It equals :func:`ftmamba_lite.metrics.metric_ceiling`
  whenever the targets rank every relevant item first (Spotify: target +1 = relevant).

Popularity and oracle are parameter-free (their towers hold buffers only); they identify an item / a user by
its encoded feature row, like every tower does: rows with identical features are one group whose value is the
group's mean (pooled positive rate; mean target), rows never seen get the "unknown" value (rate 0; NaN for the
oracle, which knows the test users only). On Spotify every song has its own feature (its rank) and users with
the same genre vector have the same targets, so nothing is pooled.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..config import TRAINED_BASELINES, ModelConfig, TowerSpec
from ..datasets.base import RecDataset
from ..encoding import EncodedData, encode
from ..mlp import MLPTower, batch_size
from ..towers import TwoTowerModel, build_two_tower

__all__ = [
    "BASELINES",
    "ConstantTower",
    "LookupTower",
    "MLPTower",
    "build_baseline",
    "make_baseline",
    "oracle_model",
    "popularity_model",
]

BASELINES = ("popularity", "linear", "mlp", "oracle")


def _row_keys(x_num: Tensor | None, x_cat: Tensor | None) -> Tensor:
    """The encoded feature rows as float64 keys (b, k_num + k_cat); int64 codes below 2^53 stay exact."""
    b = batch_size(x_num, x_cat)
    parts = [x if x is not None else torch.zeros(b, 0) for x in (x_num, x_cat)]
    return torch.cat([p.to(torch.float64) for p in parts], dim=1)


class LookupTower(nn.Module):
    """A parameter-free tower: the embedding of a row is looked up by its (exact) encoded features.

    Args:
        keys: (g, k_num + k_cat) float64, g distinct encoded feature rows [x_num, x_cat].
        values: (g + 1, o); row r is the embedding of keys[r], the last row that of any unseen feature row
            (the "unknown" row, like index K_j of a categorical feature). Kept in float64, so scores are
            exact (popularity rates, oracle targets): the output is float64.
    """

    def __init__(self, keys: Tensor, values: Tensor) -> None:
        super().__init__()
        if values.shape[0] != keys.shape[0] + 1:
            raise ValueError(
                f"values needs g + 1 = {keys.shape[0] + 1} rows (keys, then unknown), got {values.shape[0]}"
            )
        self.register_buffer("keys", keys.to(torch.float64))
        self.register_buffer("values", values.to(torch.float64))
        self.out_dim = values.shape[1]

    def index(self, x_num: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        """Row of ``values`` of every input row: (b,) int64, g for rows that are not among the keys."""
        query = _row_keys(x_num, x_cat)  # (b, k)
        g = self.keys.shape[0]
        _, inverse = torch.unique(torch.cat([self.keys, query]), dim=0, return_inverse=True)
        slot = torch.full((int(inverse.max()) + 1,), g, dtype=torch.long)
        slot[inverse[:g]] = torch.arange(g)
        return slot[inverse[g:]]

    def forward(self, x_num: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        """x_num (b, k_num), x_cat (b, k_cat) -> values of their keys (b, o)."""
        return self.values[self.index(x_num, x_cat)]


class ConstantTower(nn.Module):
    """f(x) = 1 for every row: (b, k_num), (b, k_cat) -> ones (b, 1) float64. The user tower of popularity."""

    out_dim = 1

    def forward(self, x_num: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        return torch.ones(batch_size(x_num, x_cat), 1, dtype=torch.float64)


def _groups(x_num: Tensor, x_cat: Tensor) -> tuple[Tensor, Tensor]:
    """Distinct feature rows (g, k) float64 and the group of every row (n,) int64."""
    return torch.unique(_row_keys(x_num, x_cat), dim=0, return_inverse=True)


def popularity_model(enc: EncodedData) -> TwoTowerModel:
    """s(u, i) = share of the training triples of item i with target > 0 (0 for an item never trained on).

    A rank-1 two-tower model: f(u) = 1 (:class:`ConstantTower`), g(i) = rate(i) (:class:`LookupTower` over the
    catalogue's feature rows; items with identical features share their pooled rate). It ranks every user's
    items the same way. Note that it is a *rate*: an item trained on once and liked scores 1.
    """
    keys, item_group = _groups(enc.item_num, enc.item_cat)  # (g, k), (c,)
    g = keys.shape[0]
    group = item_group[enc.train_item]  # (n_train,)
    seen = torch.bincount(group, minlength=g).to(torch.float64)
    liked = torch.bincount(group, weights=(enc.train_target > 0).to(torch.float64), minlength=g)
    rate = torch.where(seen > 0, liked / seen.clamp(min=1), 0.0)
    values = torch.cat([rate, rate.new_zeros(1)]).unsqueeze(1)  # (g + 1, 1), unknown item: 0
    return TwoTowerModel(ConstantTower(), LookupTower(keys, values))


def oracle_model(data: RecDataset, enc: EncodedData | None = None) -> TwoTowerModel:
    """s(u, i) = the true target of test user u and item i (``data.test_targets``).

    A two-tower model of width o = number of distinct test-user feature rows g_u: f(u) = onehot(group of u)
    (g_u,), g(i) = column i of the (g_u, c) target matrix (mean over test users with identical features, and
    over items with identical features). Users or items it has no targets for score NaN, so it only evaluates
    on this dataset's test users (its validation loss in :func:`~ftmamba_lite.learn.engine.fit` is NaN).

    Args:
        data: the dataset; ValueError (naming it) when it defines no ``test_targets``.
        enc: the :class:`EncodedData` ``fit`` will use (default: ``encode(data)``); the oracle must see the
            same encoded features as the evaluation.
    """
    if data.test_targets is None:
        raise ValueError(
            f"dataset {data.name!r} defines no test_targets (true target matrix), so it has no oracle; "
            "compare with ftmamba_lite.metrics.metric_ceiling(data.test_relevant) instead"
        )
    enc = enc if enc is not None else encode(data)
    users = enc.test_users
    user_keys, user_group = _groups(enc.user_num[users], enc.user_cat[users])  # (g_u, k), (n_test,)
    item_keys, item_group = _groups(enc.item_num, enc.item_cat)  # (g_i, k), (c,)
    g_u, g_i = user_keys.shape[0], item_keys.shape[0]
    targets = torch.as_tensor(data.test_targets, dtype=torch.float64)  # (n_test, c)
    sums = torch.zeros(g_u, g_i, dtype=torch.float64).index_add_(
        1,
        item_group,
        torch.zeros(g_u, targets.shape[1], dtype=torch.float64).index_add_(0, user_group, targets),
    )
    counts = torch.bincount(user_group, minlength=g_u)[:, None] * torch.bincount(item_group, minlength=g_i)
    table = sums / counts  # (g_u, g_i)
    nan_row = torch.full((1, g_u), torch.nan, dtype=torch.float64)
    user_values = torch.cat([torch.eye(g_u, dtype=torch.float64), nan_row])  # (g_u + 1, g_u)
    item_values = torch.cat([table.T, nan_row])  # (g_i + 1, g_u)
    # NaN marks what the oracle does not know, by definition: its scores are not checked for finiteness.
    return TwoTowerModel(
        LookupTower(user_keys, user_values), LookupTower(item_keys, item_values), check_finite=False
    )


def make_baseline(
    kind: str,
    user: TowerSpec | dict,
    item: TowerSpec | dict,
    hidden: Sequence[int] | None = None,
    final_activation: bool = False,
    similarity: str = "dot",
) -> TwoTowerModel:
    """A trainable baseline two-tower model, ``"linear"`` or ``"mlp"``, from the towers' feature specs.

    Args:
        kind: ``"linear"``: one affine map per tower, hidden = (o,) (default (32,)), no activation;
            ``"mlp"``: :class:`~ftmamba_lite.mlp.MLPTower` with hidden default (64, 32);
            ``final_activation`` adds a ReLU after the last layer (the paper's feed-forward network has one;
            off by default, like the towers: see :class:`ftmamba_lite.towers.Tower`).
        user, item: ``{"n_numerical": k_num, "cardinalities": [K_j, ...], ...}`` (``EncodedData.user_spec``).
        similarity: ``"dot"`` (paper) or ``"cosine"``.

    The model keeps its :class:`~ftmamba_lite.config.ModelConfig` in ``model.config`` (checkpoints).
    """
    if kind not in TRAINED_BASELINES:
        raise ValueError(f"make_baseline builds the trained baselines {TRAINED_BASELINES}, got {kind!r}")
    config = ModelConfig(
        kind,
        user,
        item,
        hidden=None if hidden is None else tuple(hidden),
        final_activation=bool(final_activation),
        similarity=similarity,
    )  # fmt: skip
    return build_two_tower(config)


def build_baseline(
    kind: str, data: RecDataset | EncodedData, seed: int = 0, **kwargs: object
) -> TwoTowerModel:
    """A baseline for ``data``, called like :func:`ftmamba_lite.learn.registry.build_model` (which builds
    every kind); train it with :func:`ftmamba_lite.learn.engine.fit`.

    Args:
        kind: one of :data:`BASELINES`: ``"popularity"``, ``"linear"``, ``"mlp"``, ``"oracle"``.
        data: the dataset or its encoded tensors; the oracle needs the :class:`RecDataset` (its test_targets).
        seed: initialises the linear and MLP towers; popularity and oracle are deterministic.
        kwargs: to :func:`make_baseline` (linear, mlp: ``hidden``, ``final_activation``, ``similarity``) or
            :func:`oracle_model` (``enc``).

    ``model.config`` is set for linear and MLP. Popularity and oracle leave it None (so
    ``save_checkpoint`` refuses them): they are functions of the data, not learned, and rebuild from it
    in milliseconds.
    """
    if kind == "oracle":
        if not isinstance(data, RecDataset):
            raise ValueError(
                "the oracle reads RecDataset.test_targets: pass the RecDataset (and enc=EncodedData)"
            )
        return oracle_model(data, **kwargs)
    enc = data if isinstance(data, EncodedData) else encode(data)
    if kind == "popularity":
        if kwargs:
            raise ValueError(f"the popularity baseline takes no options, got {sorted(kwargs)}")
        return popularity_model(enc)
    if kind not in TRAINED_BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; choose one of {BASELINES}")
    torch.manual_seed(seed)
    return make_baseline(kind, enc.user_spec, enc.item_spec, **kwargs)
