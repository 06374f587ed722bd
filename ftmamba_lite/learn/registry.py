"""Every kind of model the package trains, in one table: the names the API, the CLI and the widgets offer.

Dimension letters (docs/notation.md):
    m  users      c  items (the catalogue)      v  items of a sequence model's catalogue

A :class:`ModelKind` says what a name builds and how it is trained. Two families:

* ``"two-tower"`` (paper III): :class:`~ftmamba_lite.towers.TwoTowerModel` over the feature tables, trained
  on (user, item, target) triples -- FT-Mamba (``"mamba"``), FT-Transformer (``"transformer"``), and the
  baselines of :mod:`ftmamba_lite.learn.baselines` (``"mlp"``, ``"linear"``, ``"popularity"``, ``"oracle"``);
* ``"sequence"`` (Mamba4Rec): next-item models over item histories -- ``"mamba4rec"``, ``"sasrec"``, and
  ``"popularity"`` (training counts).

:func:`build_model` builds any two-tower kind for a dataset, :func:`build_sequence_model` any sequence kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import EMBEDDERS
from ..datasets.base import RecDataset
from ..datasets.movielens import LeaveOneOut, SequenceDataset, leave_one_out
from ..encoding import EncodedData, encode
from ..sequential import PopularityRecommender, make_sequence_model
from ..towers import TwoTowerModel, make_two_tower
from . import baselines

__all__ = [
    "MODEL_KINDS",
    "ModelKind",
    "build_model",
    "build_sequence_model",
    "kind_names",
]


@dataclass(frozen=True)
class ModelKind:
    """One model kind: its ``name``, ``family`` (``"two-tower"`` or ``"sequence"``), whether it is
    ``trained`` (popularity and the oracle are computed from the data), whether it has a ``sequence_layer``
    (Mamba or a Transformer over tokens: the models the paper compares), whether it needs the dataset's true
    targets (``oracle``), and a one-line ``description``."""

    name: str
    family: str
    trained: bool
    sequence_layer: bool
    description: str
    needs_targets: bool = False


MODEL_KINDS: tuple[ModelKind, ...] = (
    ModelKind(
        "mamba", "two-tower", True, True, "FT-Mamba: feature tokenizer + Mamba layers (the paper's model)"
    ),
    ModelKind("transformer", "two-tower", True, True, "FT-Transformer towers (the paper's comparison)"),
    ModelKind("mlp", "two-tower", True, False, "the paper's feed-forward network on the raw features"),
    ModelKind("linear", "two-tower", True, False, "one affine map per tower: a bilinear score"),
    ModelKind("popularity", "two-tower", False, False, "every user gets the most popular items"),
    ModelKind(
        "oracle", "two-tower", False, False, "the true targets of the test users (upper reference)", True
    ),
    ModelKind("mamba4rec", "sequence", True, True, "Mamba4Rec: Mamba layers over the item history"),
    ModelKind("sasrec", "sequence", True, True, "SASRec: causal self-attention over the item history"),
    ModelKind("popularity", "sequence", False, False, "every user gets the most popular items"),
)


def kind_names(
    family: str,
    *,
    trained: bool | None = None,
    sequence_layer: bool | None = None,
    needs_targets: bool | None = None,
) -> tuple[str, ...]:
    """The names of one family, in the table's order; the other arguments, when given, keep only the kinds
    with that value of the attribute of the same name (:class:`ModelKind`)."""
    if family not in {kind.family for kind in MODEL_KINDS}:
        raise ValueError(f"unknown model family {family!r}; choose 'two-tower' or 'sequence'")
    wanted = {"trained": trained, "sequence_layer": sequence_layer, "needs_targets": needs_targets}
    return tuple(
        kind.name
        for kind in MODEL_KINDS
        if kind.family == family and all(v is None or getattr(kind, k) == v for k, v in wanted.items())
    )


def build_model(
    data: RecDataset | EncodedData,
    embedder: str = "mamba",
    d_model: int = 128,
    n_layers: int | None = None,
    seed: int = 0,
    **kwargs: object,
) -> TwoTowerModel:
    """A two-tower model of kind ``embedder`` whose towers fit ``data``'s feature tables, initialised from
    ``seed``.

    ``"mamba"`` / ``"transformer"``: ``n_layers`` defaults to the paper's (4 / 2); other keyword arguments go
    to :func:`ftmamba_lite.towers.make_two_tower` (e.g. ``similarity``, ``d_state``). The baselines
    (``"mlp"``, ``"linear"``, ``"popularity"``, ``"oracle"``) take the arguments of
    :func:`ftmamba_lite.learn.baselines.build_baseline`; the oracle needs the :class:`RecDataset`.
    """
    names = kind_names("two-tower")
    if embedder not in names:
        raise ValueError(f"unknown model {embedder!r}; choose one of {names}")
    if embedder in EMBEDDERS:
        enc = data if isinstance(data, EncodedData) else encode(data)
        torch.manual_seed(seed)
        return make_two_tower(
            embedder, enc.user_spec, enc.item_spec, d_model=d_model, n_layers=n_layers, **kwargs
        )
    if embedder == "oracle":
        return baselines.build_baseline("oracle", data, **kwargs)
    return baselines.build_baseline(embedder, data, seed=seed, **kwargs)


def build_sequence_model(
    name: str, data: SequenceDataset, seed: int = 0, split: LeaveOneOut | None = None, **kwargs: object
) -> nn.Module:
    """``"mamba4rec"``, ``"sasrec"`` (initialised from ``seed``) or ``"popularity"`` (training counts of
    ``split``, default the leave-one-out split of ``data``) for ``data``'s catalogue; ``kwargs`` override
    the model's defaults (e.g. ``max_len=50``)."""
    names = kind_names("sequence")
    if name not in names:
        raise ValueError(f"unknown model {name!r}; choose one of {list(names)}")
    if name == "popularity":
        counts = (split or leave_one_out(data)).item_counts(data.n_items)
        return PopularityRecommender(torch.as_tensor(counts))
    torch.manual_seed(seed)
    return make_sequence_model(name, data.n_items, **kwargs)
