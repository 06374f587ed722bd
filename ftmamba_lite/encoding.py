"""From a pandas table to the tensors the feature tokenizer takes.

:class:`TableEncoder` fits a category vocabulary per categorical column (and, optionally, a mean and standard
deviation per numeric column) on one DataFrame and then turns any DataFrame with the same columns into
``x_num`` (b, k_num) float32 and ``x_cat`` (b, k_cat) int64. A category never seen in fitting maps to the
reserved index K_j, the last row of that feature's lookup table (so tables have K_j + 1 rows).
A missing value (NaN/None) in a categorical column is a category of its own (:data:`MISSING`) when it occurs
in the fitting data, and "unknown" otherwise; it never merges with a real category, not even one literally
named ``"<missing>"``.

Numeric columns are read, and standardised, in float64 and cast to float32 last, so timestamps 10 s apart
stay distinct and a spread of 1e20 does not become zeros. A NaN, an infinity or a value beyond float32's
range is an error naming the column. By default (``standardize="auto"``) a numeric column is standardised
only when its fitted values leave [-AUTO_LIMIT, AUTO_LIMIT] = [-1e3, 1e3]: raw values that can break the
towers (freshly initialised paper-preset towers score NaN from a raw value of 1e7 for Mamba, 1e21 for the
Transformer; a standardised column stays within sqrt(n rows) of 0). Columns inside the range, e.g. Spotify's
0/1 genre indicators, stay raw, as the paper feeds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .datasets.base import RecDataset
from .persistence import PARSERS, to_typed

__all__ = ["AUTO_LIMIT", "MISSING", "EncodedData", "TableEncoder", "encode"]


class _Missing:
    """The category of a missing value (NaN, None, pd.NA): one object, distinct from every real category
    (a string ``"<missing>"`` included); it prints and sorts as ``<missing>``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> tuple[type, tuple]:
        return (_Missing, ())  # a copy or an unpickled one is the same object


MISSING = _Missing()
STATE_FORMAT = 2  # to_state's layout: 2 stores missing values as ["missing", null]
AUTO_LIMIT = 1e3  # |x| above this in the fitting data: "auto" standardises the column (see the module doc)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class TableEncoder:
    """Fit on a DataFrame, then map DataFrames to ``(x_num, x_cat)`` tensors.

    Args:
        numeric: numeric column names (token order).
        categorical: categorical column names (token order, after the numeric ones).
        standardize: ``True``: subtract the fitted mean and divide by the fitted standard deviation of every
            numeric column (float64 statistics); ``False``: feed raw values (the paper's choice, e.g.
            Spotify's 0/1 genre indicators); ``"auto"`` (default): standardise exactly the columns whose
            fitted values leave [-AUTO_LIMIT, AUTO_LIMIT], keep the others raw. ``standardized`` lists the
            columns it chose.
    """

    def __init__(
        self,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        standardize: bool | str = "auto",
    ) -> None:
        for name, columns in (("numeric", numeric), ("categorical", categorical)):
            if isinstance(columns, str):
                raise TypeError(f"{name} must be a sequence of column names, got the string {columns!r}")
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        repeated = sorted({c for c in self.feature_names if self.feature_names.count(c) > 1})
        if repeated:
            raise ValueError(f"column(s) {repeated} are named more than once in numeric / categorical")
        if standardize not in (True, False, "auto"):
            raise ValueError(f"standardize must be True, False or 'auto', got {standardize!r}")
        self.standardize = standardize
        self.vocabularies: dict[str, dict[object, int]] = {}
        self.means: dict[str, float] = {}
        self.stds: dict[str, float] = {}
        self.standardized: list[str] = []
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
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ValueError(f"unknown column(s) {missing}: the table has {list(frame.columns)}")
        repeated = sorted(
            {str(c) for c in frame.columns[frame.columns.duplicated()] if c in self.feature_names}
        )
        if repeated:
            raise ValueError(f"the table has more than one column named {repeated}: rename them first")

    def _numeric_values(self, frame: pd.DataFrame) -> np.ndarray:
        """The numeric columns as float64 (b, k_num); ValueError naming the column on NaN, inf or a value
        beyond float32's range (the towers' precision)."""
        out = np.empty((len(frame), len(self.numeric)), dtype=np.float64)
        for j, col in enumerate(self.numeric):
            series = frame[col]
            if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                raise ValueError(f"numeric column {col!r} has non-numeric dtype {series.dtype}")
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isnan(values).any():
                raise ValueError(
                    f"NaN in numeric column {col!r} ({int(np.isnan(values).sum())} rows, first row "
                    f"{int(np.flatnonzero(np.isnan(values))[0])}): impute it before encoding"
                )
            huge = np.abs(values) > _FLOAT32_MAX
            if huge.any():
                row = int(np.flatnonzero(huge)[0])
                raise ValueError(
                    f"numeric column {col!r} holds {values[row]:g} at row {row} ({int(huge.sum())} rows): "
                    f"values must be finite and within float32's range (|x| <= {_FLOAT32_MAX:.3g})"
                )
            out[:, j] = values
        return out

    @staticmethod
    def _statistics(values: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of one float64 column, computed on values scaled by their largest
        magnitude so that squares of 1e30 do not overflow; a constant column gets std 1."""
        scale = float(np.abs(values).max()) if len(values) else 0.0
        if scale == 0.0:
            return 0.0, 1.0
        scaled = values / scale
        mean = float(scaled.mean())
        std = float(np.sqrt(np.mean((scaled - mean) ** 2)))
        return mean * scale, (std * scale) or 1.0

    @staticmethod
    def _keys(series: pd.Series) -> list[object]:
        return [MISSING if pd.isna(v) else v for v in series.tolist()]

    @staticmethod
    def _order(value: object) -> tuple[str, str, int]:
        """Vocabulary order: by type name, then string form; missing sorts as the string "<missing>" (just
        after a real "<missing>" category), so that codes are those of encoders fitted before it had its
        own object."""
        if value is MISSING:
            return str(str), repr(MISSING), 1
        return str(type(value)), str(value), 0

    def fit(self, frame: pd.DataFrame) -> TableEncoder:
        """Learn category vocabularies (sorted by their string form) and numeric statistics."""
        self._check_columns(frame)
        if len(frame) == 0:
            raise ValueError("cannot fit a TableEncoder on a table with 0 rows")
        values = self._numeric_values(frame)
        self.means, self.stds = {}, {}
        for j, col in enumerate(self.numeric):
            self.means[col], self.stds[col] = self._statistics(values[:, j])
        if self.standardize == "auto":
            self.standardized = [
                c for j, c in enumerate(self.numeric) if np.abs(values[:, j]).max() > AUTO_LIMIT
            ]
        else:
            self.standardized = list(self.numeric) if self.standardize else []
        self.vocabularies = {}
        for col in self.categorical:
            categories = sorted(set(self._keys(frame[col])), key=self._order)
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
        x_num = self._numeric_values(frame)  # (b, k_num) float64
        for j, col in enumerate(self.numeric):
            if col in self.standardized:
                x_num[:, j] = (x_num[:, j] - self.means[col]) / self.stds[col]
                far = np.abs(x_num[:, j]) > _FLOAT32_MAX
                if far.any():
                    raise ValueError(
                        f"numeric column {col!r}: row {int(np.flatnonzero(far)[0])} lies "
                        f"{x_num[far, j][0]:.3g} standard deviations from the fitted mean (beyond float32)"
                    )
        x_num = x_num.astype(np.float32)  # after the float64 arithmetic
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
        ``"float"``, ``"bool"``, or ``["missing", None]`` for missing values), so that 1, 1.0, True, "1",
        "<missing>" and a missing value stay distinct categories after a round trip.
        """
        self._require_fitted()
        vocabularies = {}
        for col in self.categorical:
            pairs = []
            for value in self.vocabularies[col]:  # dicts keep insertion order: code order
                if value is MISSING:
                    pairs.append(["missing", None])
                    continue
                pairs.append(to_typed(value, col, "category"))
            vocabularies[col] = pairs
        return {
            "format": STATE_FORMAT,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "standardize": self.standardize,
            "standardized": list(self.standardized),
            "means": dict(self.means),
            "stds": dict(self.stds),
            "vocabularies": vocabularies,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableEncoder:
        """The fitted encoder :meth:`to_state` described: ``from_state(e.to_state())`` encodes like ``e``.

        A state without ``"format"`` (written before missing values had their own entry) reads its
        ``["str", "<missing>"]`` as the missing category, which is what it held.

        Raises:
            ValueError: ``state`` is not such a description (a key or a column's statistics or vocabulary
                missing, an unknown category type, a repeated category, a newer format); the message says
                what is wrong.
        """
        try:
            encoder = cls._from_state(state)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"not a TableEncoder state ({type(err).__name__}: {err})") from err
        no_statistics = [c for c in encoder.numeric if c not in encoder.means or c not in encoder.stds]
        no_vocabulary = [c for c in encoder.categorical if not encoder.vocabularies.get(c)]
        if no_statistics or no_vocabulary:
            raise ValueError(
                f"not a TableEncoder state: no statistics for numeric column(s) {no_statistics}, no "
                f"vocabulary for categorical column(s) {no_vocabulary}"
            )
        for col, pairs in state["vocabularies"].items():
            if len(encoder.vocabularies[col]) != len(pairs):
                raise ValueError(f"not a TableEncoder state: the vocabulary of {col!r} repeats a category")
        return encoder

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> TableEncoder:
        """:meth:`from_state` without its checks of the result."""
        version = state.get("format", 1)
        if not isinstance(version, int) or version > STATE_FORMAT:
            raise ValueError(f"format {version!r} is newer than this version reads ({STATE_FORMAT})")
        encoder = cls(state["numeric"], state["categorical"], state["standardize"])
        # States written before "auto" existed hold a bool and no "standardized" list.
        encoder.standardized = list(
            state.get("standardized", encoder.numeric if state["standardize"] is True else [])
        )
        encoder.means = {str(k): float(v) for k, v in state["means"].items()}
        encoder.stds = {str(k): float(v) for k, v in state["stds"].items()}
        parse: dict[str, Any] = {**PARSERS, "missing": lambda value: MISSING}
        if version < STATE_FORMAT:  # missing values were stored as the string "<missing>"
            parse["str"] = lambda value: MISSING if value == repr(MISSING) else str(value)
        encoder.vocabularies = {
            col: {parse[kind](value): code for code, (kind, value) in enumerate(pairs)}
            for col, pairs in state["vocabularies"].items()
        }
        encoder._fitted = True
        return encoder

    def __repr__(self) -> str:
        state = f"cardinalities={self.cardinalities}" if self._fitted else "not fitted"
        return f"TableEncoder(numeric={self.numeric}, categorical={self.categorical}, {state})"


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
