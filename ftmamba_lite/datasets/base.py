"""The one dataset shape every loader and generator returns.

A recommendation experiment in this package is always the same five things:

* a **user feature table** and an **item feature table** (pandas DataFrames whose row ``i`` describes user /
  item ``i``), each with its numeric and categorical columns declared;
* **training** and **validation** triples ``(user, item, target)`` that index those tables;
* a **test set**: users (rows of the user table) with a boolean relevance row over *all* items, and, where the
  dataset defines it, the full target matrix.

Models and :func:`ftmamba_lite.learn.engine.fit` consume this shape and nothing else, so no dataset-specific
code leaks into the model.
"""

from __future__ import annotations

import csv
import warnings
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
_TAIL_BYTES = 1 << 16  # how much of a file's end check_last_line reads
_CUT_NUMBER_ENDS = (".", "e", "E", "+", "-")  # a number can end in none of these


def _fields(line: str, sep: str, quotes: bool) -> list[str]:
    """One line's fields: with ``quotes`` and a one-character separator as CSV (quoted fields may hold the
    separator), otherwise split at every separator."""
    if quotes and len(sep) == 1:
        return next(csv.reader([line], delimiter=sep), [])
    return line.split(sep)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _line_count(path: Path) -> int:
    """Lines in a file (the last one counted when it lacks its newline)."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def check_last_line(path: Path, sep: str = ",", header: bool = True, quotes: bool = True) -> None:
    """Refuse a data file whose last line was cut short (an interrupted copy or download).

    A complete text file ends with a newline; only a file that does not is looked at. Its last line is
    compared with the lines before it: fewer fields, an empty last field where the others have values, a
    last value that stops where no number can (``"0."``, ``"1e"``, ``"-"``) in a column of numbers, or one
    without the decimal point every value above it has (``0.7345`` cut to ``0``) is an error. A last line
    that looks complete gets a warning instead: a number cut between two digits (``0.7345`` read as
    ``0.7``) cannot be told from a complete one.

    Args:
        path: the file. sep: its field separator. header: its first line names the columns.
        quotes: fields may be quoted (CSV); False for files read with quoting off.

    Raises:
        ValueError: naming the file, the line and its text.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    lines = [line for line in tail.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if size > _TAIL_BYTES:
        lines = lines[1:]  # the first line of the tail may start mid-line
    elif header:
        lines = lines[1:]  # the header: names, not values
    if len(lines) < 2:
        return  # nothing to compare the last line with
    last, before = _fields(lines[-1], sep, quotes), [_fields(line, sep, quotes) for line in lines[:-1]]
    width = len(before[-1])
    column = [row[-1] for row in before if len(row) == width]
    problem = None
    if len(last) < width:
        problem = f"it has {len(last)} field(s), the lines before it {width}"
    elif len(last) == width and column and all(_is_number(v) for v in column):
        value = last[-1].strip()
        if value == "":
            problem = "its last field is empty, where the lines before it hold numbers"
        elif value.endswith(_CUT_NUMBER_ENDS) or not _is_number(value):
            problem = (
                f"its last value {value!r} is not a complete number, where the lines before hold numbers"
            )
        elif "." not in value and all("." in v for v in column):
            problem = f"its last value {value!r} has no decimal point, where every line before has one"
    where = f"line {_line_count(path)}: {lines[-1][-60:]!r}"
    if problem is not None:
        raise ValueError(
            f"{path} was cut short: it does not end with a newline and its last line ({where}) is "
            f"incomplete: {problem}. Copy or download the file again"
        )
    warnings.warn(
        f"{path} does not end with a newline: its last line ({where}) may be cut short (a number cut between "
        "two digits looks complete). If the file is complete, add a newline at its end",
        UserWarning,
        stacklevel=3,
    )


def read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    """``pd.read_csv(path, **kwargs)``; errors (0 bytes, not UTF-8, malformed rows, a last line cut short:
    :func:`check_last_line`, unless only the header is read) name the file and line."""
    if kwargs.get("nrows") != 0:
        check_last_line(path, str(kwargs.get("sep", ",")), kwargs.get("header", "infer") is not None)
    try:
        return pd.read_csv(path, **kwargs)
    except _CSV_ERRORS as err:
        raise _csv_error(path, err) from err


def read_csv_chunks(path: Path, chunksize: int, **kwargs: object) -> Iterator[pd.DataFrame]:
    """``pd.read_csv(path, chunksize=...)`` chunk by chunk, with :func:`read_csv`'s errors."""
    check_last_line(path, str(kwargs.get("sep", ",")), kwargs.get("header", "infer") is not None)
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


def _row_numbers(values: object, name: str) -> np.ndarray:
    """``values`` as int64 row numbers; ValueError naming ``name`` and the first value that is not an integer
    (1.7, NaN, inf, "3", True) instead of truncating it."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"make_triples: {name} must be one-dimensional, got shape {array.shape}")
    if array.dtype == object:  # Python numbers (pandas' nullable integers come as such): as floats
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            pass
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating) or array.size == 0
    ):
        raise ValueError(
            f"make_triples: {name} must hold integer row numbers, got dtype {array.dtype}"
            + (f" (first value {array.tolist()[0]!r})" if array.size else "")
        )
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array) | (array != np.round(array)) | (np.abs(array) >= 2.0**63)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"make_triples: {name} {array[at].item()!r} at position {at} is not an integer "
                f"({int(bad.sum())} such value(s)): ids are row numbers of the feature table, never truncated"
            )
    return array.astype(np.int64)


def make_triples(user: np.ndarray, item: np.ndarray, target: np.ndarray) -> pd.DataFrame:
    """Build a triples frame with the canonical dtypes (int64, int64, float32).

    Raises:
        ValueError: a user or item that is not an integer row number (1.7, NaN, a string), arrays of
            different lengths, or a finite target beyond float32's range (it would become infinite); the
            message names the argument, the value and its position.
    """
    users, items = _row_numbers(user, "user"), _row_numbers(item, "item")
    targets = np.asarray(target)
    try:
        targets = targets.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"make_triples: target must be numeric, got dtype {targets.dtype}") from err
    if targets.ndim != 1 or not (len(users) == len(items) == len(targets)):
        raise ValueError(
            f"make_triples: user, item and target must be one-dimensional and of one length, got "
            f"{len(users)} users, {len(items)} items and target of shape {targets.shape}"
        )
    huge = np.isfinite(targets) & (np.abs(targets) > np.finfo(np.float32).max)
    if huge.any():
        at = int(np.flatnonzero(huge)[0])
        raise ValueError(
            f"make_triples: target {targets[at]:g} at position {at} is beyond float32's range "
            f"(|x| <= {np.finfo(np.float32).max:.3g}) and would become infinite: rescale the targets"
        )
    return pd.DataFrame({"user": users, "item": items, "target": targets.astype(np.float32)})
