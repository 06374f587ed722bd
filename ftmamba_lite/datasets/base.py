"""The one dataset shape every loader and generator returns.

A recommendation experiment in this package is always the same five things:

* a **user feature table** and an **item feature table** (pandas DataFrames whose row ``i`` describes user /
  item ``i``), each with its numeric and categorical columns declared;
* **training** and **validation** triples ``(user, item, target)`` that index those tables;
* a **test set**: users (rows of the user table) with a boolean relevance row over *all* items, and, where the
  dataset defines it, the full target matrix.

Models and :func:`ftmamba_lite.learn.engine.fit` consume this shape and nothing else, so no dataset-specific code
leaks into the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TRIPLE_COLUMNS = ("user", "item", "target")


def _first_non_utf8_line(path: Path) -> str:
    """Where a file first stops being UTF-8: "line 3, byte 0xff at column 1" (read line by line)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                return f"line {number}, byte 0x{line[err.start]:02x} at column {err.start + 1}"
    return "a multi-byte character split across lines"


def _csv_error(path: Path, err: Exception) -> ValueError:
    """The ValueError for a CSV pandas could not read, naming the file (and the line where it can)."""
    if isinstance(err, pd.errors.EmptyDataError):
        size = path.stat().st_size
        what = "is empty (0 bytes)" if size == 0 else f"has no header line ({size} bytes of blank space)"
        return ValueError(f"{path} {what}: expected a CSV file with a header line")
    if isinstance(err, UnicodeDecodeError):
        return ValueError(f"{path} is not UTF-8 text at {_first_non_utf8_line(path)}: save it as UTF-8")
    return ValueError(f"{path} is not a valid CSV file: {err}")


_CSV_ERRORS = (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError)


def read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    """``pd.read_csv(path, **kwargs)``; errors (0 bytes, not UTF-8, malformed rows) name the file and line."""
    try:
        return pd.read_csv(path, **kwargs)
    except _CSV_ERRORS as err:
        raise _csv_error(path, err) from err


def read_csv_chunks(path: Path, chunksize: int, **kwargs: object) -> Iterator[pd.DataFrame]:
    """``pd.read_csv(path, chunksize=...)`` chunk by chunk, with :func:`read_csv`'s errors."""
    try:
        yield from pd.read_csv(path, chunksize=chunksize, **kwargs)
    except _CSV_ERRORS as err:
        raise _csv_error(path, err) from err


def duplicate_lines(values: pd.Series) -> str:
    """The file lines (header = line 1, the values in file order) of repeated values, up to 3 of them:
    "'pop' on lines 2 and 22"."""
    lines: dict[object, list[int]] = {}
    for position in np.flatnonzero(values.duplicated(keep=False).to_numpy()):
        lines.setdefault(values.iloc[position], []).append(int(position) + 2)
    parts = [
        f"{value!r} on lines {', '.join(map(str, at[:-1]))} and {at[-1]}"
        for value, at in list(lines.items())[:3]
    ]
    return "; ".join(parts)


@dataclass(frozen=True)
class FeatureTable:
    """A feature table with its columns declared as numeric or categorical.

    ``frame`` row ``i`` describes entity ``i`` (a user or an item). Numeric columns are floats; categorical
    columns hold any hashable values (they are encoded to indices by
    :class:`ftmamba_lite.encoding.TableEncoder`).
    """

    frame: pd.DataFrame
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [c for c in (*self.numeric, *self.categorical) if c not in self.frame.columns]
        if missing:
            raise ValueError(f"feature table has no column(s) {missing}; it has {list(self.frame.columns)}")
        overlap = set(self.numeric) & set(self.categorical)
        if overlap:
            raise ValueError(f"column(s) {sorted(overlap)} declared both numeric and categorical")
        if not self.numeric and not self.categorical:
            raise ValueError("a feature table needs at least one numeric or categorical column")

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> tuple[str, ...]:
        """Feature columns in token order: numeric first, then categorical (the tokenizer's order)."""
        return (*self.numeric, *self.categorical)


@dataclass(frozen=True)
class RecDataset:
    """Everything one experiment needs, in the shape every loader returns.

    Attributes:
        name: short dataset name (``"spotify"``, ``"hm"``, ``"vaccine"``).
        users: user features; ``users.frame`` has one row per user index.
        items: item features; ``items.frame`` has one row per item index (the catalogue).
        train: DataFrame with columns ``user``, ``item`` (int64 row indices) and ``target`` (float32).
        valid: same columns as ``train``.
        test_users: int64 array (n_test,): user indices of the test users.
        test_relevant: bool array (n_test, n_items): ``test_relevant[u, i]`` is True when test user ``u``
            likes / bought item ``i``.
        test_targets: float array (n_test, n_items) with the full target matrix, or None where the dataset
            does not define one.
        source: a human-readable statement of where the data came from (a path, a URL, or ``"synthetic
            (seed=...)"``): notebooks print it so a reader always knows which data ran.
        info: free-form extra facts a loader wants to keep (e.g. the environment's matrices).
    """

    name: str
    users: FeatureTable
    items: FeatureTable
    train: pd.DataFrame
    valid: pd.DataFrame
    test_users: np.ndarray
    test_relevant: np.ndarray
    test_targets: np.ndarray | None = None
    source: str = "unknown"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_users, n_items = len(self.users), len(self.items)
        for split_name, split in (("train", self.train), ("valid", self.valid)):
            missing = [c for c in TRIPLE_COLUMNS if c not in split.columns]
            if missing:
                raise ValueError(f"{split_name} triples lack column(s) {missing}")
            if len(split) and (split["user"].min() < 0 or split["user"].max() >= n_users):
                raise ValueError(f"{split_name} triples index users outside 0..{n_users - 1}")
            if len(split) and (split["item"].min() < 0 or split["item"].max() >= n_items):
                raise ValueError(f"{split_name} triples index items outside 0..{n_items - 1}")
        if self.test_relevant.shape != (len(self.test_users), n_items):
            raise ValueError(
                f"test_relevant has shape {self.test_relevant.shape}, expected "
                f"(n_test_users={len(self.test_users)}, n_items={n_items})"
            )
        if self.test_relevant.dtype != np.bool_:
            raise ValueError(f"test_relevant must be boolean, got {self.test_relevant.dtype}")
        if self.test_targets is not None and self.test_targets.shape != self.test_relevant.shape:
            raise ValueError("test_targets and test_relevant must have the same shape")

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def summary(self) -> str:
        """One paragraph describing the dataset (shown at the top of notebooks and CLI runs)."""
        rel = self.test_relevant.sum(axis=1)
        return (
            f"{self.name}: {self.n_users:,} users x {self.n_items:,} items; "
            f"user features {list(self.users.columns)[:6]}{'...' if len(self.users.columns) > 6 else ''} "
            f"({len(self.users.numeric)} numeric, {len(self.users.categorical)} categorical); "
            f"item features {list(self.items.columns)}; "
            f"{len(self.train):,} train / {len(self.valid):,} valid triples "
            f"(mean target {self.train['target'].mean():.3f}); "
            f"{len(self.test_users)} test users with {rel.mean():.1f} relevant items on average. "
            f"Source: {self.source}."
        )


def make_triples(user: np.ndarray, item: np.ndarray, target: np.ndarray) -> pd.DataFrame:
    """Build a triples frame with the canonical dtypes (int64, int64, float32)."""
    return pd.DataFrame(
        {
            "user": np.asarray(user, dtype=np.int64),
            "item": np.asarray(item, dtype=np.int64),
            "target": np.asarray(target, dtype=np.float32),
        }
    )
