"""The MLP tower: a tower without tokenizer or sequence layer, for the ``"linear"`` and ``"mlp"`` baselines.

Dimension letters (docs/notation.md):
    b  batch      o  output embedding width (paper: 32)      h_1  the first layer's width
    k_num, k_cat  numeric and categorical features of one tower, K_j categories of categorical feature j
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["MLPTower", "batch_size"]


def batch_size(x_num: Tensor | None, x_cat: Tensor | None) -> int:
    """b, the rows of whichever of x_num (b, k_num) and x_cat (b, k_cat) is given."""
    if x_num is None and x_cat is None:
        raise ValueError("a tower needs x_num or x_cat")
    return (x_num if x_num is not None else x_cat).shape[0]


class MLPTower(nn.Module):
    """A tower without tokenizer or sequence layer: an MLP on the raw row [x_num, onehot(x_cat)].

    The input is x_num (b, k_num) concatenated with the one-hot codes of the k_cat categorical features
    (K_j + 1 columns each, the last one for "unknown"), of width k_num + sum_j (K_j + 1). The first layer is
    computed as ``W x_num + sum_j E_j[x_cat_j] + bias`` with one (K_j + 1, h_1) table E_j per feature, which
    is the same affine map (same parameters) without building the one-hot vector. Each further layer is a
    Linear; ReLU follows every layer but the last, and the last too when ``final_activation``.

    Args:
        n_numerical: k_num.
        cardinalities: K_j per categorical feature (known categories; the unknown row is added here).
        hidden: layer widths; the last one is o. ``(o,)`` with ``final_activation=False`` is a linear tower.
        final_activation: ReLU after the last layer (the paper's feed-forward network has it).
    """

    def __init__(
        self,
        n_numerical: int,
        cardinalities: Sequence[int] = (),
        hidden: Sequence[int] = (64, 32),
        final_activation: bool = True,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden must name at least one layer width")
        if n_numerical < 0 or n_numerical + len(cardinalities) == 0:
            raise ValueError(
                f"a tower needs features, got n_numerical={n_numerical}, {len(cardinalities)} categorical"
            )
        first = hidden[0]
        self.numeric = nn.Linear(n_numerical, first, bias=False) if n_numerical else None
        self.categorical = nn.ModuleList(nn.Embedding(int(k) + 1, first) for k in cardinalities)
        self.bias = nn.Parameter(torch.zeros(first))
        layers: list[nn.Module] = []
        for width_in, width_out in zip(hidden[:-1], hidden[1:], strict=True):
            layers.extend((nn.ReLU(), nn.Linear(width_in, width_out)))
        if final_activation:
            layers.append(nn.ReLU())
        self.rest = nn.Sequential(*layers)
        self.out_dim = hidden[-1]
        self._reset_first_layer(n_numerical + sum(int(k) + 1 for k in cardinalities))

    @torch.no_grad()
    def _reset_first_layer(self, fan_in: int) -> None:
        """Initialise the first layer like ``nn.Linear(fan_in, h_1)``: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        bound = fan_in**-0.5
        for module in (self.numeric, *self.categorical):
            if module is not None:
                module.weight.uniform_(-bound, bound)
        self.bias.uniform_(-bound, bound)

    def forward(self, x_num: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        """x_num (b, k_num) float, x_cat (b, k_cat) int64 with values in 0..K_j -> embedding (b, o)."""
        h = self.bias.expand(batch_size(x_num, x_cat), -1)  # (b, h_1)
        if self.numeric is not None:
            h = h + self.numeric(x_num)
        for j, table in enumerate(self.categorical):
            h = h + table(x_cat[:, j])  # E_j[x_cat_j] = onehot(x_cat_j) E_j
        return self.rest(h)  # (b, o)
