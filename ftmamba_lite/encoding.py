"""From a pandas table to the tensors the feature tokenizer takes.

:class:`TableEncoder` fits a category vocabulary per categorical column (and, optionally, a mean and standard
deviation per numeric column) on one DataFrame and then turns any DataFrame with the same columns into
``x_num`` (b, k_num) float32 and ``x_cat`` (b, k_cat) int64. A category never seen in fitting maps to the
reserved index K_j, the last row of that feature's lookup table (so tables have K_j + 1 rows).
A missing value (NaN/None) in a categorical column is a category of its own ("missing") when it occurs in
the fitting data, and "unknown" otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

__all__ = ["TableEncoder", "MISSING"]

MISSING = "<missing>"
_CATEGORY_TYPES = {str: "str", int: "int", float: "float", bool: "bool"}


class TableEncoder:
    """Fit on a DataFrame, then map DataFrames to ``(x_num, x_cat)`` tensors.

    Args:
        numeric: numeric column names (token order).
        categorical: categorical column names (token order, after the numeric ones).
        standardize: subtract the fitted mean and divide by the fitted standard deviation of each numeric
            column (off by default: the paper feeds raw values, e.g. Spotify's 0/1 genre indicators).
    """

    def __init__(
        self, numeric: Sequence[str] = (), categorical: Sequence[str] = (), standardize: bool = False
    ) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.standardize = standardize
        self.vocabularies: dict[str, dict[object, int]] = {}
        self.means: dict[str, float] = {}
        self.stds: dict[str, float] = {}
        self._fitted = False

    @property
    def cardinalities(self) -> list[int]:
        """K_j per categorical column (known categories; the tokenizer adds the unknown row)."""
        self._require_fitted()
        return [len(self.vocabularies[c]) for c in self.categorical]

    @property
    def feature_names(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError("TableEncoder is not fitted: call fit(frame) first")

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ValueError(f"unknown column(s) {missing}: the table has {list(frame.columns)}")

    def _numeric_values(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.numeric)), dtype=np.float32)
        for j, col in enumerate(self.numeric):
            series = frame[col]
            if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                raise ValueError(f"numeric column {col!r} has non-numeric dtype {series.dtype}")
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isnan(values).any():
                raise ValueError(
                    f"NaN in numeric column {col!r} ({int(np.isnan(values).sum())} rows): "
                    "impute it before encoding"
                )
            out[:, j] = values
        return out

    @staticmethod
    def _keys(series: pd.Series) -> list[object]:
        return [MISSING if pd.isna(v) else v for v in series.tolist()]

    def fit(self, frame: pd.DataFrame) -> TableEncoder:
        """Learn category vocabularies (sorted by their string form) and numeric statistics."""
        self._check_columns(frame)
        values = self._numeric_values(frame)
        self.means = {c: float(values[:, j].mean()) for j, c in enumerate(self.numeric)} if len(frame) else {}
        self.stds = (
            {c: float(values[:, j].std()) or 1.0 for j, c in enumerate(self.numeric)} if len(frame) else {}
        )
        self.vocabularies = {}
        for col in self.categorical:
            categories = sorted(set(self._keys(frame[col])), key=lambda v: (str(type(v)), str(v)))
            self.vocabularies[col] = {v: i for i, v in enumerate(categories)}
        self._fitted = True
        return self

    def transform(self, frame: pd.DataFrame, strict: bool = False) -> tuple[Tensor, Tensor]:
        """Encode a table.

        Args:
            frame: a DataFrame with every fitted column.
            strict: raise a ValueError naming the column and values when a category was never seen in
                fitting, instead of mapping it to the unknown index K_j.

        Returns:
            ``x_num`` float32 (b, k_num) and ``x_cat`` int64 (b, k_cat).
        """
        self._require_fitted()
        self._check_columns(frame)
        x_num = self._numeric_values(frame)
        if self.standardize and self.numeric:
            x_num = (x_num - np.array([self.means[c] for c in self.numeric], dtype=np.float32)) / np.array(
                [self.stds[c] for c in self.numeric], dtype=np.float32
            )
        x_cat = np.empty((len(frame), len(self.categorical)), dtype=np.int64)
        for j, col in enumerate(self.categorical):
            vocab = self.vocabularies[col]
            unknown = len(vocab)
            keys = self._keys(frame[col])
            codes = np.fromiter((vocab.get(v, unknown) for v in keys), dtype=np.int64, count=len(keys))
            if strict and (codes == unknown).any():
                unseen = sorted({str(k) for k, c in zip(keys, codes, strict=True) if c == unknown})[:5]
                raise ValueError(f"unseen category value(s) {unseen} in column {col!r}")
            x_cat[:, j] = codes
        return torch.from_numpy(x_num), torch.from_numpy(x_cat)

    def fit_transform(self, frame: pd.DataFrame) -> tuple[Tensor, Tensor]:
        return self.fit(frame).transform(frame)

    def to_state(self) -> dict[str, Any]:
        """The fitted encoder as plain JSON types (checkpoints store it beside the weights).

        Each vocabulary is a list of ``[type, value]`` pairs in code order (type one of ``"str"``, ``"int"``,
        ``"float"``, ``"bool"``), so that 1, 1.0, True and "1" stay distinct categories after a round trip.
        """
        self._require_fitted()
        vocabularies = {}
        for col in self.categorical:
            pairs = []
            for value in self.vocabularies[col]:  # dicts keep insertion order: code order
                plain = value.item() if isinstance(value, np.generic) else value
                kind = _CATEGORY_TYPES.get(type(plain))
                if kind is None:
                    raise TypeError(
                        f"category {value!r} of column {col!r} has type {type(value).__name__}; a saved "
                        f"encoder holds {sorted(_CATEGORY_TYPES.values())} values: convert the column first"
                    )
                pairs.append([kind, plain])
            vocabularies[col] = pairs
        return {
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "standardize": self.standardize,
            "means": dict(self.means),
            "stds": dict(self.stds),
            "vocabularies": vocabularies,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableEncoder:
        """The fitted encoder :meth:`to_state` described: ``from_state(e.to_state())`` encodes like ``e``."""
        encoder = cls(state["numeric"], state["categorical"], state["standardize"])
        encoder.means = {str(k): float(v) for k, v in state["means"].items()}
        encoder.stds = {str(k): float(v) for k, v in state["stds"].items()}
        parse = {"str": str, "int": int, "float": float, "bool": bool}
        encoder.vocabularies = {
            col: {parse[kind](value): code for code, (kind, value) in enumerate(pairs)}
            for col, pairs in state["vocabularies"].items()
        }
        encoder._fitted = True
        return encoder

    def __repr__(self) -> str:
        state = f"cardinalities={self.cardinalities}" if self._fitted else "not fitted"
        return f"TableEncoder(numeric={self.numeric}, categorical={self.categorical}, {state})"
