"""The user's three tables as the towers see them: columns, kinds, encoders, ids (for :class:`Recommender`).

Dimension letters (docs/notation.md):
    m  users of the users table      c  items (the catalogue)      k_num, k_cat  numeric, categorical features

:meth:`Tables.fit` reads the users, items and interactions DataFrames once: it checks every column it is told
about (errors name the table, the column, the row and what would be valid), infers each feature's kind
(numeric dtype -> numeric, anything else -> categorical; ``numeric=`` / ``categorical=`` force it), fits a
:class:`~ftmamba_lite.encoding.TableEncoder` per table and encodes both tables to ``x_num`` (m, k_num) and
``x_cat`` (m, k_cat). It keeps the ids, so that a new row is encoded exactly as in training and the ids of the
user's tables can be mapped to rows and back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from ..datasets.base import FeatureTable
from ..encoding import TableEncoder
from ..persistence import ids_from_json, ids_to_json

__all__ = ["OUTPUT_COLUMNS", "Side", "Tables", "check_frame"]

OUTPUT_COLUMNS = ("rank", "score")
"""Columns :meth:`Recommender.recommend` adds beside the id columns: no id column may take these names."""
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_frame(frame: object, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """A non-empty DataFrame with ``columns``, none missing a value; errors name the table, the column, the
    row and what the table has."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError(f"the {name} table is empty: it needs at least one row")
    if frame.columns.duplicated().any():
        raise ValueError(
            f"the {name} table has the column(s) {list(frame.columns[frame.columns.duplicated()])} twice"
        )
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"the {name} table has no column {column!r}; it has {list(frame.columns)}")
        if frame[column].isna().any():
            row = frame.index[int(np.flatnonzero(frame[column].isna().to_numpy())[0])]
            raise ValueError(f"column {column!r} of the {name} table is missing a value (row {row!r})")
    return frame


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
        series = frame[column]
        is_num = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if column in categorical or (column not in numeric and not is_num):
            kinds[column] = "categorical"
        elif not is_num:
            raise ValueError(
                f"column {column!r} of the {name} table is declared numeric but has dtype {series.dtype}: "
                "convert it, or declare it categorical"
            )
        else:
            kinds[column] = "numeric"
            values = series.to_numpy(dtype=np.float64)
            finite = np.isfinite(values) | np.isnan(values)
            too_big = ~finite | (np.abs(np.nan_to_num(values)) > FLOAT32_MAX)
            if too_big.any():
                row = frame.index[int(np.flatnonzero(too_big)[0])]
                raise ValueError(
                    f"column {column!r} of the {name} table holds {float(values[too_big][0])!r} at row "
                    f"{row!r}: numeric features must be finite and within float32's range "
                    f"(|x| <= {FLOAT32_MAX:.3g})"
                )
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


@dataclass
class Side:
    """One side (users or items): its id column, the ids in row order, the fitted encoder and the encoded
    table ``x_num`` (rows, k_num), ``x_cat`` (rows, k_cat)."""

    name: str
    id_column: str
    ids: np.ndarray
    encoder: TableEncoder
    x_num: Tensor
    x_cat: Tensor

    def __post_init__(self) -> None:
        self.index = pd.Index(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, values: pd.Series, what: str) -> np.ndarray:
        """Row of every id in ``values``; ValueError naming the ids absent from this table."""
        rows = self.index.get_indexer(values)
        if (rows < 0).any():
            absent = pd.unique(values[rows < 0])
            raise ValueError(
                f"{what} {self.id_column!r} value(s) {list(absent[:5])}{' ...' if len(absent) > 5 else ''} "
                f"({len(absent)} in all) are not in the {self.name} table's {self.id_column!r} column"
            )
        return rows.astype(np.int64)

    def encode(self, frame: pd.DataFrame, what: str) -> tuple[Tensor, Tensor]:
        """``encoder.transform`` of ``frame`` with errors that name the table."""
        missing = [c for c in self.encoder.feature_names if c not in frame.columns and c != self.id_column]
        if missing:
            raise ValueError(
                f"the {what} table lacks the feature column(s) {missing} the model was fitted on; it has "
                f"{list(frame.columns)}"
            )
        try:
            return self.encoder.transform(frame)
        except ValueError as err:
            raise ValueError(f"the {what} table: {err}") from err

    def to_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id_column": self.id_column,
            "ids": ids_to_json(self.ids, self.id_column),
            "encoder": self.encoder.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], x_num: Tensor, x_cat: Tensor) -> Side:
        encoder = TableEncoder.from_state(state["encoder"])
        return cls(state["name"], state["id_column"], ids_from_json(state["ids"]), encoder, x_num, x_cat)


class Tables:
    """The fitted users and items sides and the interactions' column names (module docstring)."""

    def __init__(self, users: Side, items: Side, target: str | None) -> None:
        self.users, self.items, self.target = users, items, target

    @classmethod
    def fit(
        cls,
        interactions: pd.DataFrame,
        users: pd.DataFrame | None,
        items: pd.DataFrame | None,
        *,
        user_id: str,
        item_id: str,
        target: str | None,
        user_features: Sequence[str] | None,
        item_features: Sequence[str] | None,
        numeric: Sequence[str],
        categorical: Sequence[str],
        use_ids: bool,
        standardize: bool | str,
    ) -> Tables:
        """Check the tables, infer the features, fit and apply the encoders (module docstring)."""
        roles = {"user_id": user_id, "item_id": item_id, "target": target}
        named = [(role, col) for role, col in roles.items() if col is not None]
        for role, column in named:
            if not isinstance(column, str):
                raise TypeError(f"{role} must name a column (a str), got {column!r}")
            if column in OUTPUT_COLUMNS:
                raise ValueError(
                    f"{role}={column!r}: recommend returns the columns {list(OUTPUT_COLUMNS)} beside the "
                    f"ids, so an id or target column may not be named {column!r}: rename it first"
                )
        for (role_a, a), (role_b, b) in ((x, y) for i, x in enumerate(named) for y in named[i + 1 :]):
            if a == b:
                raise ValueError(
                    f"{role_a} and {role_b} both name the column {a!r}: each needs its own column"
                )
        overlap = set(numeric) & set(categorical)
        if overlap:
            raise ValueError(f"column(s) {sorted(overlap)} are declared both numeric and categorical")
        needed = [user_id, item_id, *([target] if target is not None else [])]
        interactions = check_frame(interactions, "interactions", needed)
        if target is not None:
            _check_target(interactions, target)
        sides = {}
        for side, table, id_col, features in (
            ("users", users, user_id, user_features),
            ("items", items, item_id, item_features),
        ):
            if table is None:
                if not use_ids:
                    raise ValueError(
                        f"no {side} table and use_ids=False: the {side[:-1]} tower would have no feature"
                    )
                table = pd.DataFrame({id_col: pd.unique(interactions[id_col])})
            table = check_frame(table, side, [id_col])
            duplicated = table[id_col].duplicated()
            if duplicated.any():
                row = table.index[int(np.flatnonzero(duplicated.to_numpy())[0])]
                raise ValueError(
                    f"the {side} table lists {id_col!r} value {table[id_col][duplicated].iloc[0]!r} more "
                    f"than once (again at row {row!r}): one row per {side[:-1]}"
                )
            features_table = _feature_table(table, id_col, features, numeric, categorical, use_ids, side)
            encoder = TableEncoder(features_table.numeric, features_table.categorical, standardize)
            encoder.fit(features_table.frame)
            ids = features_table.frame[id_col].to_numpy()
            x_num, x_cat = encoder.transform(features_table.frame)
            sides[side] = Side(side, id_col, ids, encoder, x_num, x_cat)
        known = {c for s in (users, items) if s is not None for c in s.columns} | {user_id, item_id}
        unknown_forced = (set(numeric) | set(categorical)) - known
        if unknown_forced:
            raise ValueError(f"numeric/categorical name column(s) {sorted(unknown_forced)} that no table has")
        return cls(sides["users"], sides["items"], target)

    @property
    def schema(self) -> dict[str, str | None]:
        return {"user_id": self.users.id_column, "item_id": self.items.id_column, "target": self.target}

    def pairs(self, frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(user rows, item rows) of an interactions-like frame; errors name ``name`` and the ids."""
        frame = check_frame(frame, name, [self.users.id_column, self.items.id_column])
        owner = f"{name}'" if name.endswith("s") else f"{name}'s"
        u = self.users.rows(frame[self.users.id_column], owner)
        i = self.items.rows(frame[self.items.id_column], owner)
        return u, i

    def user_inputs(self, users: object, what: str) -> tuple[np.ndarray, Tensor, Tensor, np.ndarray]:
        """(ids, x_num, x_cat, known rows or -1) of ``users``: a list of known ids or a DataFrame of rows."""
        side, id_col = self.users, self.users.id_column
        if isinstance(users, pd.DataFrame):
            if users.empty:
                raise ValueError(f"the {what} DataFrame is empty: it needs at least one user row")
            frame = users.reset_index(drop=True)
            has_ids = id_col in users.columns
            if not has_ids:
                frame[id_col] = None  # no id: a new user (the id's "unknown" row)
            ids = users[id_col].to_numpy() if has_ids else users.index.to_numpy()
            x_num, x_cat = side.encode(frame, what)
            known = side.index.get_indexer(pd.Series(ids)) if has_ids else np.full(len(ids), -1)
            return ids, x_num, x_cat, known
        if isinstance(users, str | bytes) or not hasattr(users, "__len__"):
            raise TypeError(f"{what} must be a list of known {id_col!r} values or a DataFrame of user rows")
        ids = pd.Series(list(users), dtype=object)
        if not len(ids):
            raise ValueError(f"{what} is empty: give at least one {id_col!r} value")
        rows = side.index.get_indexer(ids)
        if (rows < 0).any():
            absent = list(pd.unique(ids[rows < 0])[:5])
            raise ValueError(
                f"{id_col!r} value(s) {absent} are not among the {len(side)} users seen in fit; pass a "
                f"DataFrame with their feature columns to score new users"
            )
        return side.ids[rows], side.x_num[rows], side.x_cat[rows], rows

    def new_user_pairs(
        self, interactions: pd.DataFrame, new_users: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, Tensor, Tensor]:
        """(user rows of ``new_users``, item rows, x_num, x_cat) of held-out interactions of users never seen
        in training, whose rows ``new_users`` gives: their features are encoded with the id hidden (its
        "unknown" row), as a recommender meets a new user."""
        id_col, item_col = self.users.id_column, self.items.id_column
        interactions = check_frame(interactions, "interactions", [id_col, item_col])
        new_users = check_frame(new_users, "new_users", [id_col])
        index = pd.Index(new_users[id_col])
        if not index.is_unique:
            raise ValueError(f"new_users lists a {id_col!r} value more than once: one row per user")
        users = index.get_indexer(interactions[id_col])
        if (users < 0).any():
            absent = list(pd.unique(interactions[id_col][users < 0])[:5])
            raise ValueError(f"interactions' {id_col!r} value(s) {absent} have no row in new_users")
        items = self.items.rows(interactions[item_col], "interactions'")
        _, x_num, x_cat, _ = self.user_inputs(new_users.drop(columns=id_col), "new_users")  # id hidden
        return users.astype(np.int64), items, x_num, x_cat

    def features(self) -> dict[str, dict[str, list[str]]]:
        return {
            side.name[:-1]: {
                "numeric": list(side.encoder.numeric),
                "categorical": list(side.encoder.categorical),
            }
            for side in (self.users, self.items)
        }

    def to_state(self) -> dict[str, Any]:
        return {"users": self.users.to_state(), "items": self.items.to_state(), "target": self.target}

    @classmethod
    def from_state(cls, state: dict[str, Any], tensors: dict[str, Tensor]) -> Tables:
        users = Side.from_state(state["users"], tensors["user_num"], tensors["user_cat"])
        items = Side.from_state(state["items"], tensors["item_num"], tensors["item_cat"])
        return cls(users, items, state["target"])

    def tensors(self) -> dict[str, Tensor]:
        return {
            "user_num": self.users.x_num,
            "user_cat": self.users.x_cat,
            "item_num": self.items.x_num,
            "item_cat": self.items.x_cat,
        }


def _check_target(interactions: pd.DataFrame, target: str) -> None:
    """The target column: numeric, finite, within float32's range; errors name the row and its ids."""
    column = interactions[target]
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise ValueError(f"target column {target!r} must be numeric, got dtype {column.dtype}")
    values = column.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (np.abs(np.nan_to_num(values)) > FLOAT32_MAX)
    if bad.any():
        row = interactions.index[int(np.flatnonzero(bad)[0])]
        raise ValueError(
            f"target column {target!r} holds {float(values[bad][0])!r} at row {row!r} ({int(bad.sum())} such "
            f"row(s)): targets must be finite numbers within float32's range (|y| <= {FLOAT32_MAX:.3g})"
        )
