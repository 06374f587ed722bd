"""The feature tokenizer: a table row -> a sequence of tokens (paper II-B, Eq. (1); Gorishniy et al. 2021).

Dimension letters (docs/notation.md):
    b  batch                 k  features of the tower (numeric + categorical)
    d  d_token (= d_model)   l  tokens = k + 1 with the [CLS] token
    K_j categories of categorical feature j; its table has K_j + 1 rows, the last one for "unknown"

    T_j = x_j w_j + b_j          numeric feature j          (w_j, b_j in R^d)
    T_j = e_{x_j}^T W_j + b_j    categorical feature j      (W_j in R^{(K_j + 1) x d})
    T_[CLS] = w_{k+1} + b_{k+1}  the token of a constant 1  (appended at the END in the paper)

Tokens come out in the order numeric features, categorical features, and [CLS] last (``cls_position="end"``,
the paper's choice for Mamba: the last token is the one that has seen every other token) or first
(``"start"``, FT-Transformer's choice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["FeatureTokenizer"]


class FeatureTokenizer(nn.Module):
    """Eq. (1) of the paper: numeric and categorical features and a [CLS] token -> (b, l, d) tokens.

    Args:
        n_numerical: number of numeric features.
        cardinalities: K_j for every categorical feature (known categories). Each lookup table gets K_j + 1
            rows; index K_j is reserved for a category never seen when the vocabulary was fitted
            (see :class:`ftmamba_lite.encoding.TableEncoder`).
        d_token: token width d.
        cls_position: ``"end"`` (paper) or ``"start"`` (FT-Transformer).
        feature_names: optional names (numeric first, then categorical) used in error messages.

    Memory note (paper footnote 2): the tables hold d * sum_j (K_j + 1) parameters, so they grow with both
    the number of features and the number of categories per feature.
    """

    def __init__(
        self,
        n_numerical: int,
        cardinalities: Sequence[int] = (),
        d_token: int = 128,
        cls_position: str = "end",
        feature_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        cardinalities = [int(c) for c in cardinalities]
        if n_numerical < 0:
            raise ValueError(f"n_numerical must be >= 0, got {n_numerical}")
        if any(c < 1 for c in cardinalities):
            raise ValueError(f"every cardinality K_j must be >= 1, got {cardinalities}")
        if n_numerical + len(cardinalities) == 0:
            raise ValueError("the tokenizer needs at least one numeric or categorical feature")
        if cls_position not in ("end", "start"):
            raise ValueError(f"cls_position must be 'end' or 'start', got {cls_position!r}")
        if d_token < 1:
            raise ValueError(f"d_token must be >= 1, got {d_token}")
        k = n_numerical + len(cardinalities)
        if feature_names is None:
            feature_names = [f"numeric feature {j}" for j in range(n_numerical)] + [
                f"categorical feature {j}" for j in range(len(cardinalities))
            ]
        if len(feature_names) != k:
            raise ValueError(f"feature_names has {len(feature_names)} names for {k} features")
        self.n_numerical = n_numerical
        self.cardinalities = cardinalities
        self.d_token = d_token
        self.cls_position = cls_position
        self.feature_names = list(feature_names)

        s = 1 / math.sqrt(d_token)  # FT-Transformer's uniform(-1/sqrt(d), 1/sqrt(d)) initialisation

        def param(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(*shape).uniform_(-s, s))

        self.num_weight = param(n_numerical, d_token)  # w_j: (k_num, d)
        self.num_bias = param(n_numerical, d_token)  # b_j: (k_num, d)
        # All categorical tables in one embedding; feature j's rows start at cat_offsets[j].
        rows = [c + 1 for c in cardinalities]
        self.cat_embedding = nn.Embedding(sum(rows), d_token)
        nn.init.uniform_(self.cat_embedding.weight, -s, s)
        self.cat_bias = param(len(cardinalities), d_token)  # b_j: (k_cat, d)
        offsets = torch.tensor([0, *rows[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("cat_offsets", offsets, persistent=False)
        self.cls_weight = param(d_token)  # w_{k+1}
        self.cls_bias = param(d_token)  # b_{k+1}

    @property
    def n_categorical(self) -> int:
        return len(self.cardinalities)

    @property
    def n_tokens(self) -> int:
        """l = k + 1: one token per feature plus [CLS]."""
        return self.n_numerical + self.n_categorical + 1

    @property
    def cls_index(self) -> int:
        """Position of the [CLS] token in the output sequence."""
        return self.n_tokens - 1 if self.cls_position == "end" else 0

    @staticmethod
    def _as_tensor(x: Tensor | np.ndarray | None, name: str) -> Tensor | None:
        """A numpy array becomes a tensor (same dtype); anything else but a tensor or None is a TypeError."""
        if isinstance(x, np.ndarray):
            if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
                raise TypeError(f"{name} must be a numeric array, got numpy dtype {x.dtype}")
            return torch.from_numpy(np.ascontiguousarray(x))
        if x is not None and not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, a numpy array or None, got {type(x).__name__}")
        return x

    def _validate(self, x_num: Tensor | None, x_cat: Tensor | None) -> tuple[Tensor, Tensor]:
        k_num, k_cat = self.n_numerical, self.n_categorical
        device = self.num_weight.device
        x_num, x_cat = self._as_tensor(x_num, "x_num"), self._as_tensor(x_cat, "x_cat")
        if x_num is None:
            if k_num:
                raise ValueError(f"x_num is missing: the tokenizer expects {k_num} numeric features")
            batch = x_cat.shape[0] if x_cat is not None else 0
            x_num = torch.empty(batch, 0, device=device)
        if x_cat is None:
            if k_cat:
                raise ValueError(f"x_cat is missing: the tokenizer expects {k_cat} categorical features")
            x_cat = torch.empty(x_num.shape[0], 0, dtype=torch.long, device=device)
        if x_num.dim() != 2 or x_num.shape[1] != k_num:
            raise ValueError(f"x_num must be (batch, {k_num}), got shape {tuple(x_num.shape)}")
        if x_cat.dim() != 2 or x_cat.shape[1] != k_cat:
            raise ValueError(f"x_cat must be (batch, {k_cat}), got shape {tuple(x_cat.shape)}")
        if x_num.shape[0] != x_cat.shape[0]:
            raise ValueError(f"x_num has {x_num.shape[0]} rows but x_cat has {x_cat.shape[0]}")
        if k_num and not x_num.is_floating_point():
            raise ValueError(f"x_num must be a floating-point tensor, got {x_num.dtype}")
        if k_cat and (x_cat.is_floating_point() or x_cat.is_complex() or x_cat.dtype == torch.bool):
            raise ValueError(f"x_cat must be an integer tensor of category indices, got {x_cat.dtype}")
        if k_num and x_num.numel():
            for what, test in (("NaN", torch.isnan), ("an infinite value", torch.isinf)):
                bad = test(x_num).any(dim=0)  # (k_num,)
                if bad.any():
                    names = [self.feature_names[j] for j in bad.nonzero().flatten().tolist()]
                    raise ValueError(f"{what} in numeric column(s) {names}: numeric values must be finite")
            limit = torch.finfo(self.num_weight.dtype).max
            if torch.finfo(x_num.dtype).max > limit:  # a wider input (float64) than the weights
                beyond = x_num.abs() > limit  # (b, k_num): would become inf when cast to the weights' dtype
                if beyond.any():
                    row, j = (int(i) for i in beyond.nonzero()[0])
                    dtype = str(self.num_weight.dtype).removeprefix("torch.")
                    raise ValueError(
                        f"numeric column {self.feature_names[j]!r} holds {float(x_num[row, j]):g} at row "
                        f"{row} ({int(beyond.sum())} value(s) in all): beyond {dtype}'s range "
                        f"(|x| <= {limit:.3g}) it would become infinite; scale or standardise the column"
                    )
        if k_cat and x_cat.numel():
            limits = torch.tensor(self.cardinalities, device=x_cat.device)  # K_j: (k_cat,)
            bad = ((x_cat < 0) | (x_cat > limits)).any(dim=0)
            if bad.any():
                j = int(bad.nonzero()[0])
                col = x_cat[:, j]
                raise ValueError(
                    f"index out of range in categorical column {self.feature_names[k_num + j]!r}: "
                    f"values must lie in 0..{self.cardinalities[j]} (K_j + 1 rows, the last for unknown), "
                    f"got min {int(col.min())}, max {int(col.max())}"
                )
        return x_num, x_cat

    def forward(self, x_num: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        """Tokenize a batch of rows.

        Args:
            x_num: float tensor (b, k_num) of finite numeric features (or None when there are none), within
                the range of the weights' dtype (float32: |x| <= 3.4e38); a numpy array is converted.
            x_cat: long tensor (b, k_cat) of category indices in 0..K_j (or None when there are none).

        Returns:
            tokens (b, l, d) with l = k_num + k_cat + 1, the [CLS] token last (or first).
        """
        x_num, x_cat = self._validate(x_num, x_cat)
        b = x_num.shape[0]
        x_num = x_num.to(self.num_weight.dtype)
        num = (
            x_num.unsqueeze(-1) * self.num_weight + self.num_bias
        )  # (b, k_num, 1) * (k_num, d) -> (b, k_num, d)
        cat = self.cat_embedding(x_cat + self.cat_offsets) + self.cat_bias  # (b, k_cat, d)
        cls = (self.cls_weight + self.cls_bias).expand(b, 1, self.d_token)  # (b, 1, d)
        parts = (num, cat, cls) if self.cls_position == "end" else (cls, num, cat)
        return torch.cat(parts, dim=1)  # (b, l, d)
