"""MovieLens as interaction sequences, the leave-one-out split, and a synthetic sequence generator.

The data of sequential recommendation (Mamba4Rec section 4.1): each user's rated movies ordered by time.
A :class:`SequenceDataset` holds one int64 array per user, item ids 1..v in time order (0 is kept for
padding); :func:`leave_one_out` splits it as RecBole's ``LS: valid_and_test`` does: the last item of every
user is the test target, the second-to-last the validation target, the rest is training data, in which every
prefix predicts the item after it.

Sources :func:`load_movielens` reads (``source=``):

* a directory in the GroupLens layout: ``u.data`` (+ ``u.user``, ``u.item``) of ml-100k, or ``ratings.dat``
  (+ ``users.dat``, ``movies.dat``) of ml-1m;
* a directory in RecBole's atomic-file layout: ``<name>.inter`` (+ ``<name>.user``, ``<name>.item``),
  tab-separated with ``field:type`` headers;
* ``"ml-100k"`` / ``"ml-1m"`` or the URL of a GroupLens zip: downloaded once into the cache of
  :mod:`ftmamba_lite.datasets.download` (``FTMAMBA_LITE_CACHE``), then read from there (the Colab path);
* ``"recbole"``: the ML-100K atomic files that the PyPI wheel of RecBole 1.2.1 ships in
  ``recbole/dataset_example/ml-100k/``; the wheel is fetched once with ``pip download recbole==1.2.1
  --no-deps`` into the cache (RecBole itself is never installed);
* ``None`` or ``"synthetic"``: :func:`synthetic_sequences`, which needs no network.

Ties in time (ML-100K has many ratings with one timestamp) keep the order of the file (a stable sort), as
RecBole does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .base import check_last_line
from .download import DownloadError, cache_dir_for, fetch, is_url

__all__ = [
    "GROUPLENS_LAYOUTS",
    "GROUPLENS_URLS",
    "RECBOLE_VERSION",
    "LeaveOneOut",
    "SequenceDataset",
    "leave_one_out",
    "load_movielens",
    "pad_histories",
    "read_atomic",
    "read_grouplens",
    "recbole_ml100k_dir",
    "sequences_from_interactions",
    "synthetic_sequences",
    "training_windows",
]

GROUPLENS_LAYOUTS: dict[str, dict[str, str]] = {
    "ml-100k": {"inter": "u.data", "user": "u.user", "item": "u.item"},
    "ml-1m": {"inter": "ratings.dat", "user": "users.dat", "item": "movies.dat"},
}
"""The files of each GroupLens release: interactions (required), user and item features (optional)."""

GROUPLENS_URLS = {
    "ml-100k": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    "ml-1m": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
}
RECBOLE_VERSION = "1.2.1"

_GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_GROUPLENS_COLUMNS = {
    "u.data": ("user_id", "item_id", "rating", "timestamp"),
    "u.user": ("user_id", "age", "gender", "occupation", "zip_code"),
    "u.item": ("item_id", "title", "release_date", "video_release_date", "imdb_url", *_GENRES_100K),
    "ratings.dat": ("user_id", "item_id", "rating", "timestamp"),
    "users.dat": ("user_id", "gender", "age", "occupation", "zip_code"),
    "movies.dat": ("item_id", "title", "genres"),
}
_SEPARATORS = {"u.data": "\t", "u.user": "|", "u.item": "|"}  # the ml-1m files use "::"
_INTER_COLUMNS = ("user_id", "item_id", "timestamp")


@dataclass(frozen=True)
class SequenceDataset:
    """Every user's interactions as one time-ordered item sequence.

    Attributes:
        name: short name (``"ml-100k"``, ``"synthetic"``).
        sequences: one int64 array per user (row u), item ids 1..n_items in time order.
        n_items: v, the catalogue size.
        user_ids: (n_users,) the original user id of each row.
        item_ids: (n_items,) the original item id of item i at position i - 1.
        items: item features with one row per item 1..v (e.g. a ``title`` column), or None.
        users: user features with one row per user, or None.
        source: where the data came from (a path, a URL, ``"recbole ..."`` or ``"synthetic (seed=...)"``).
        info: free-form extra facts (the synthetic generator's rules, for instance).
    """

    name: str
    sequences: tuple[np.ndarray, ...]
    n_items: int
    user_ids: np.ndarray
    item_ids: np.ndarray
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    source: str = "unknown"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.user_ids) != len(self.sequences):
            raise ValueError(f"{len(self.sequences)} sequences but {len(self.user_ids)} user ids")
        if len(self.item_ids) != self.n_items:
            raise ValueError(f"n_items={self.n_items} but {len(self.item_ids)} item ids")
        for u, seq in enumerate(self.sequences):
            if len(seq) < 3:
                raise ValueError(f"user row {u} has {len(seq)} interactions; leave-one-out needs at least 3")
            if seq.min() < 1 or seq.max() > self.n_items:
                raise ValueError(f"user row {u} has item ids outside 1..{self.n_items}")

    @property
    def n_users(self) -> int:
        return len(self.sequences)

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))

    def lengths(self) -> np.ndarray:
        """(n_users,) the number of interactions of every user."""
        return np.array([len(s) for s in self.sequences])

    def titles(self, items: Sequence[int] | np.ndarray) -> list[str]:
        """Titles of item ids 1..v (the ``title`` column of ``items``), or ``"item <id>"`` without one."""
        if self.items is not None and "title" in self.items.columns:
            return [str(self.items["title"].iloc[i - 1]) for i in items]
        return [f"item {self.item_ids[i - 1]}" for i in items]

    def summary(self) -> str:
        """One paragraph: size, lengths, sparsity and source."""
        lengths = self.lengths()
        density = self.n_interactions / (self.n_users * self.n_items)
        return (
            f"{self.name}: {self.n_users:,} users, {self.n_items:,} items, "
            f"{self.n_interactions:,} interactions "
            f"(density {density:.2%}); history length min {lengths.min()}, median {int(np.median(lengths))}, "
            f"max {lengths.max()}. Source: {self.source}."
        )


@dataclass(frozen=True)
class LeaveOneOut:
    """The leave-one-out split of a :class:`SequenceDataset` (one entry per user).

    Attributes:
        train: the sequence without its last two items (every prefix of it is a training example).
        valid_target: (n_users,) the second-to-last item; its history is ``train``.
        test_target: (n_users,) the last item; its history is ``train`` plus the validation item.
    """

    train: tuple[np.ndarray, ...]
    valid_target: np.ndarray
    test_target: np.ndarray

    def valid_histories(self) -> tuple[np.ndarray, ...]:
        return self.train

    def test_histories(self) -> tuple[np.ndarray, ...]:
        return tuple(np.append(t, v) for t, v in zip(self.train, self.valid_target, strict=True))

    def item_counts(self, n_items: int) -> np.ndarray:
        """(n_items,) occurrences of items 1..v in the training sequences (the popularity baseline)."""
        return np.bincount(np.concatenate(self.train), minlength=n_items + 1)[1:]


def leave_one_out(data: SequenceDataset) -> LeaveOneOut:
    """Last item -> test, second-to-last -> validation, the rest -> training (per user, by time)."""
    return LeaveOneOut(
        train=tuple(s[:-2] for s in data.sequences),
        valid_target=np.array([s[-2] for s in data.sequences], dtype=np.int64),
        test_target=np.array([s[-1] for s in data.sequences], dtype=np.int64),
    )


def pad_histories(histories: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``max_len`` items of every history, right-padded with 0.

    Returns:
        items (u, l) int64 with l = min(max_len, longest history), and lengths (u,) int64.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    cut = [np.asarray(h[-max_len:], dtype=np.int64) for h in histories]
    lengths = np.array([len(h) for h in cut], dtype=np.int64)
    items = np.zeros((len(cut), max(1, lengths.max(initial=1))), dtype=np.int64)
    for row, h in enumerate(cut):
        items[row, : len(h)] = h
    return items, lengths


def training_windows(train: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every prefix of every training sequence as a next-item example, packed into windows of ``max_len``.

    A sequence s_1..s_m gives inputs s_1..s_{m-1} and targets s_2..s_m: with a causal model, position t of
    one forward pass is the prefix s_1..s_t predicting s_{t+1}, so one window holds up to ``max_len``
    examples. Sequences longer than ``max_len`` + 1 are cut into consecutive windows, the last ending at the
    newest item; every target appears exactly once, and a prefix sees the items of its own window. (RecBole
    enumerates the prefixes one by one, each cut to its last ``max_len`` items: the same examples for
    histories up to ``max_len``, at ``max_len`` times the cost.)

    Returns:
        inputs (m, l) and targets (m, l), int64, right-padded with 0 (a 0 target is no example).
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    inputs, targets = [], []
    for seq in train:
        for end in range(len(seq) - 1, 0, -max_len):  # window of targets seq[start + 1 .. end]
            start = max(0, end - max_len)
            inputs.append(seq[start:end])
            targets.append(seq[start + 1 : end + 1])
    width = max((len(x) for x in inputs), default=1)
    x = np.zeros((len(inputs), width), dtype=np.int64)
    y = np.zeros((len(inputs), width), dtype=np.int64)
    for row, (a, b) in enumerate(zip(inputs, targets, strict=True)):
        x[row, : len(a)], y[row, : len(b)] = a, b
    return x, y


def sequences_from_interactions(
    frame: pd.DataFrame,
    name: str,
    source: str,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    min_interactions: int = 3,
) -> SequenceDataset:
    """Group ``user_id, item_id, timestamp`` rows into time-ordered sequences (stable: file order on ties).

    Users with fewer than ``min_interactions`` (at least 3, for leave-one-out) are dropped. Items are
    renumbered 1..v in increasing order of their original id; ``users`` / ``items`` feature frames (with a
    ``user_id`` / ``item_id`` column) are aligned to the new rows where given.
    """
    missing = [c for c in _INTER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"interactions lack column(s) {missing}; they have {list(frame.columns)}")
    if min_interactions < 3:
        raise ValueError(f"min_interactions must be >= 3 for leave-one-out, got {min_interactions}")
    frame = frame.loc[frame.groupby("user_id")["user_id"].transform("size") >= min_interactions]
    if frame.empty:
        raise ValueError(f"no user of {source} has {min_interactions} or more interactions")
    item_ids = np.sort(frame["item_id"].unique())
    codes = np.searchsorted(item_ids, frame["item_id"].to_numpy()) + 1
    order = np.lexsort((frame["timestamp"].to_numpy(), frame["user_id"].to_numpy()))  # stable on ties
    user_sorted, codes_sorted = frame["user_id"].to_numpy()[order], codes[order].astype(np.int64)
    user_ids, starts = np.unique(user_sorted, return_index=True)
    sequences = tuple(np.split(codes_sorted, starts[1:]))
    if items is not None:
        items = items.drop_duplicates("item_id").set_index("item_id").reindex(item_ids).reset_index()
    if users is not None:
        users = users.drop_duplicates("user_id").set_index("user_id").reindex(user_ids).reset_index()
    return SequenceDataset(name, sequences, len(item_ids), user_ids, item_ids, items, users, source)


def _read_table(path: Path, columns: Sequence[str], sep: str, required: Sequence[str] = ()) -> pd.DataFrame:
    """A headerless GroupLens file as a DataFrame; errors (a last line cut short included) name the file."""
    check_last_line(path, sep, header=False)
    try:
        frame = pd.read_csv(
            path, sep=sep, header=None, names=list(columns), engine="python", encoding="latin-1", dtype=str
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path} is not a valid {path.name} file: {err}") from err
    for column in required:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{path}: line {row + 1} has no integer {column} "
                f"(expected {len(columns)} {sep!r}-separated fields: {', '.join(columns)})"
            )
        frame[column] = values.astype(np.int64)
    return frame


def read_grouplens(
    directory: str | os.PathLike,
) -> tuple[str, pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Read a GroupLens folder (ml-100k or ml-1m layout, see :data:`GROUPLENS_LAYOUTS`).

    Returns:
        (release name, interactions with user_id/item_id/rating/timestamp, users or None, items or None).
    Raises:
        FileNotFoundError naming the files looked for; ValueError naming a malformed file and its line.
    """
    directory = Path(directory)
    for release, files in GROUPLENS_LAYOUTS.items():
        inter = directory / files["inter"]
        if not inter.is_file():
            continue
        sep = _SEPARATORS.get(files["inter"], "::")
        frame = _read_table(inter, _GROUPLENS_COLUMNS[files["inter"]], sep, required=_INTER_COLUMNS)
        side: dict[str, pd.DataFrame | None] = {}
        for kind in ("user", "item"):
            path = directory / files[kind]
            key = f"{kind}_id"
            sep = _SEPARATORS.get(files[kind], "::")
            side[kind] = (
                _read_table(path, _GROUPLENS_COLUMNS[files[kind]], sep, [key]) if path.is_file() else None
            )
        return release, frame, side["user"], side["item"]
    expected = " or ".join(f"{f['inter']} ({r})" for r, f in GROUPLENS_LAYOUTS.items())
    raise FileNotFoundError(f"{directory} holds no GroupLens interactions file: expected {expected}")


def _read_atomic_file(path: Path) -> pd.DataFrame:
    """One RecBole atomic file: tab-separated, header ``name:type``; columns renamed to ``name``."""
    check_last_line(path, "\t", quotes=False)
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a valid atomic file: {err}") from err
    bad = [c for c in frame.columns if ":" not in c]
    if bad:
        raise ValueError(f"{path}: header fields {bad} are not of the form name:type (e.g. user_id:token)")
    frame.columns = [c.split(":", 1)[0] for c in frame.columns]
    return frame


def read_atomic(
    directory: str | os.PathLike, name: str | None = None
) -> tuple[str, pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Read RecBole atomic files ``<name>.inter`` (required: user_id, item_id, timestamp), ``<name>.user`` and
    ``<name>.item`` (optional). ``name`` defaults to the stem of the folder's only ``*.inter`` file.

    Returns:
        (name, interactions, users or None, items or None). Ids are RecBole ``token`` strings, converted to
        integers when all of them are integers; the item features' ``movie_title`` is also offered as
        ``title``.
    """
    directory = Path(directory)
    if name is None:
        found = sorted(directory.glob("*.inter"))
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise FileNotFoundError(f"{directory} holds {what} *.inter file(s); pass name= to choose one")
        name = found[0].stem
    inter_path = directory / f"{name}.inter"
    if not inter_path.is_file():
        raise FileNotFoundError(f"atomic interactions file {inter_path} not found")
    frame = _read_atomic_file(inter_path)
    missing = [c for c in _INTER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{inter_path} lacks column(s) {missing}; it has {list(frame.columns)}")
    timestamps = pd.to_numeric(frame["timestamp"], errors="coerce")
    if timestamps.isna().any():
        row = int(np.flatnonzero(timestamps.isna().to_numpy())[0])
        raise ValueError(
            f"{inter_path}: line {row + 2} has a non-numeric timestamp {frame['timestamp'][row]!r}"
        )
    frame["timestamp"] = timestamps
    side: dict[str, pd.DataFrame | None] = {}
    for kind in ("user", "item"):
        path = directory / f"{name}.{kind}"
        table = _read_atomic_file(path) if path.is_file() else None
        if table is not None and f"{kind}_id" not in table.columns:
            raise ValueError(f"{path} lacks column {kind}_id; it has {list(table.columns)}")
        side[kind] = table
    if side["item"] is not None and "movie_title" in side["item"].columns:
        side["item"]["title"] = side["item"]["movie_title"]
    for key in ("user_id", "item_id"):  # integer ids when every id of the interactions is an integer
        ids = pd.to_numeric(frame[key], errors="coerce")
        if ids.notna().all() and (ids == ids.round()).all():
            frame[key] = ids.astype(np.int64)
            for table in side.values():
                if table is not None and key in table.columns:
                    table[key] = pd.to_numeric(table[key], errors="coerce").astype("Int64")
    return name, frame, side["user"], side["item"]


def _read_directory(directory: Path, min_interactions: int, source: str) -> SequenceDataset:
    """A folder in either layout (GroupLens first, then atomic files)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"MovieLens directory {directory} not found")
    if any((directory / f["inter"]).is_file() for f in GROUPLENS_LAYOUTS.values()):
        name, frame, users, items = read_grouplens(directory)
    elif any(directory.glob("*.inter")):
        name, frame, users, items = read_atomic(directory)
    else:
        expected = ", ".join(f["inter"] for f in GROUPLENS_LAYOUTS.values())
        raise FileNotFoundError(f"{directory} holds neither GroupLens files ({expected}) nor *.inter files")
    return sequences_from_interactions(frame, name, source, users, items, min_interactions)


def _extract(archive: Path, target: Path) -> Path:
    """Unzip ``archive`` into ``target`` once; return the folder that holds the data files."""
    if not target.is_dir():
        tmp = target.with_name(target.name + ".part")
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        tmp.rename(target)
    for candidate in [target, *sorted(p for p in target.rglob("*") if p.is_dir())]:
        names = {p.name for p in candidate.iterdir()}
        if names & {f["inter"] for f in GROUPLENS_LAYOUTS.values()} or any(
            n.endswith(".inter") for n in names
        ):
            return candidate
    raise FileNotFoundError(f"{archive} holds no MovieLens interactions file")


def recbole_ml100k_dir(cache_dir: str | os.PathLike | None = None, timeout: float = 120.0) -> Path:
    """The folder of RecBole's ML-100K atomic files, from the wheel of recbole==1.2.1, cached.

    The wheel is fetched once with ``pip download recbole==1.2.1 --no-deps`` (RecBole is not installed) into
    the cache folder of :mod:`ftmamba_lite.datasets.download`; the four ``ml-100k.*`` files used here are
    extracted next to it. Raises :class:`DownloadError` when pip cannot fetch the wheel.
    """
    root = cache_dir_for(f"pypi:recbole=={RECBOLE_VERSION}", cache_dir)
    target = root / "ml-100k"
    if (target / "ml-100k.inter").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    wheels = sorted(root.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", f"recbole=={RECBOLE_VERSION}", "--no-deps"]
        command += ["--dest", str(root), "--quiet"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise DownloadError(f"pip download recbole=={RECBOLE_VERSION} failed: {err}") from err
        wheels = sorted(root.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel written"]
            raise DownloadError(f"pip download recbole=={RECBOLE_VERSION} failed: {tail[0]}")
    tmp = root / "ml-100k.part"
    tmp.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as zf:
        for kind in ("inter", "user", "item"):
            member = f"recbole/dataset_example/ml-100k/ml-100k.{kind}"
            (tmp / f"ml-100k.{kind}").write_bytes(zf.read(member))
    tmp.rename(target)
    return target


def load_movielens(
    source: str | os.PathLike | None = None,
    min_interactions: int = 3,
    cache_dir: str | os.PathLike | None = None,
    **synthetic_kwargs: object,
) -> SequenceDataset:
    """MovieLens (or the synthetic stand-in) as a :class:`SequenceDataset`; see the module docstring.

    Args:
        source: a directory, a .zip path, ``"ml-100k"``/``"ml-1m"`` (GroupLens download), an http(s) URL of
            a GroupLens zip, ``"recbole"`` (ML-100K from RecBole's wheel), or None / ``"synthetic"``.
        min_interactions: users with fewer interactions are dropped (>= 3 for leave-one-out).
        cache_dir: download cache root (default ``FTMAMBA_LITE_CACHE`` or ``~/.cache/ftmamba_lite``).
        synthetic_kwargs: passed to :func:`synthetic_sequences` for the synthetic source.
    """
    if source is None or source == "synthetic":
        return synthetic_sequences(**synthetic_kwargs)  # type: ignore[arg-type]
    if synthetic_kwargs:
        raise ValueError(f"options {sorted(synthetic_kwargs)} apply to the synthetic source only")
    if source == "recbole":
        folder = recbole_ml100k_dir(cache_dir)
        label = f"RecBole {RECBOLE_VERSION} wheel, recbole/dataset_example/ml-100k (cached at {folder})"
        return _read_directory(folder, min_interactions, label)
    url = GROUPLENS_URLS.get(str(source), str(source))
    if is_url(url):
        if not url.lower().endswith(".zip"):
            raise ValueError(f"a MovieLens URL must point to a GroupLens .zip archive, got {url}")
        base, _, filename = url.rpartition("/")
        archive = fetch(base, filename, cache_dir=cache_dir)
        folder = _extract(archive, archive.with_suffix(""))
        return _read_directory(folder, min_interactions, f"{url} (cached at {folder})")
    path = Path(source)
    if path.suffix == ".zip":
        if not path.is_file():
            raise FileNotFoundError(f"MovieLens archive {path} not found")
        folder = _extract(path, cache_dir_for(str(path.resolve()), cache_dir) / path.stem)
        return _read_directory(folder, min_interactions, str(path))
    return _read_directory(path, min_interactions, str(path))


def synthetic_sequences(
    n_users: int = 400,
    n_items: int = 300,
    min_length: int = 20,
    max_length: int = 80,
    n_topics: int = 10,
    p_follow: float = 0.6,
    p_topic: float = 0.3,
    seed: int = 0,
) -> SequenceDataset:
    """Sequences with structure a sequence model can learn and a popularity count cannot.

    Items fall into ``n_topics`` topics; within a topic they form a cycle (a "next episode" order, a random
    permutation fixed by ``seed``). Every user likes two topics. A sequence starts at a random item of a
    liked topic; then, at each step, with probability ``p_follow`` the next item is the successor of the
    current one (order matters: only the last item tells which), with ``p_topic`` a random item of a liked
    topic (the user's taste, visible from the whole history), and otherwise an item drawn by a Zipf-like
    popularity. Lengths are uniform in [min_length, max_length].
    """
    if n_items < 2 * n_topics or min_length < 3 or max_length < min_length:
        raise ValueError(
            f"need n_items >= 2 n_topics and 3 <= min_length <= max_length, got n_items={n_items}, "
            f"n_topics={n_topics}, min_length={min_length}, max_length={max_length}"
        )
    if not (0 <= p_follow and 0 <= p_topic and p_follow + p_topic <= 1):
        raise ValueError(f"p_follow and p_topic must be >= 0 with a sum <= 1, got {p_follow}, {p_topic}")
    rng = np.random.default_rng(seed)
    topic_of = rng.permutation(np.arange(n_items) % n_topics)  # (v,) topic of items 1..v at index i - 1
    members = [np.flatnonzero(topic_of == t) + 1 for t in range(n_topics)]
    successor = np.zeros(n_items + 1, dtype=np.int64)
    for items in members:
        cycle = rng.permutation(items)
        successor[cycle] = np.roll(cycle, -1)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity = rng.permutation(popularity / popularity.sum())
    sequences = []
    for _ in range(n_users):
        liked = np.concatenate([members[t] for t in rng.choice(n_topics, size=2, replace=False)])
        length = int(rng.integers(min_length, max_length + 1))
        seq = np.empty(length, dtype=np.int64)
        seq[0] = rng.choice(liked)
        moves = rng.random(length)
        for t in range(1, length):
            if moves[t] < p_follow:
                seq[t] = successor[seq[t - 1]]
            elif moves[t] < p_follow + p_topic:
                seq[t] = rng.choice(liked)
            else:
                seq[t] = rng.choice(n_items, p=popularity) + 1
        sequences.append(seq)
    return SequenceDataset(
        name="synthetic",
        sequences=tuple(sequences),
        n_items=n_items,
        user_ids=np.arange(n_users),
        item_ids=np.arange(1, n_items + 1),
        source=f"synthetic (seed={seed})",
        info={"topic": topic_of, "successor": successor[1:], "p_follow": p_follow, "p_topic": p_topic},
    )


def load_movielens_tables(
    source: str | os.PathLike = "recbole", cache_dir: str | os.PathLike | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """MovieLens-100K as three plain tables, for :class:`ftmamba_lite.recommender.Recommender`.

    Args:
        source: ``"recbole"`` (RecBole 1.2.1's atomic files, see :func:`recbole_ml100k_dir`), ``"ml-100k"``
            (the GroupLens zip) or a folder in either layout.
        cache_dir: download cache root.

    Returns:
        ``interactions`` (user_id, item_id, rating, timestamp; 100,000 rows), ``users`` (user_id, age,
        gender, occupation, zip_code; 943 rows) and ``items`` (item_id, title, release_year, and one 0/1
        column per genre, ``genre_Action`` ...; 1,682 rows). Ids are integers. A missing release year
        (one movie in ML-100K) is filled with the median year, so the column stays numeric.
    """
    if source == "recbole":
        folder = recbole_ml100k_dir(cache_dir)
    elif source == "ml-100k":
        base, _, filename = GROUPLENS_URLS["ml-100k"].rpartition("/")
        folder = _extract(fetch(base, filename, cache_dir=cache_dir), cache_dir_for("ml-100k", cache_dir))
    else:
        folder = Path(source)
    if (folder / "u.data").is_file():
        _, frame, users, items = read_grouplens(folder)
        genres = items[list(_GENRES_100K)].astype(np.int64).add_prefix("genre_")
        year = pd.to_datetime(items["release_date"], format="%d-%b-%Y", errors="coerce").dt.year
        items = pd.concat([items[["item_id", "title"]], year.rename("release_year"), genres], axis=1)
    else:
        _, frame, users, items = read_atomic(folder)
        if users is None or items is None:
            raise FileNotFoundError(f"{folder} lacks the user or item table (ml-100k.user, ml-100k.item)")
        classes = items["class"].str.split()
        names = sorted({g for row in classes for g in row})
        genres = pd.DataFrame({f"genre_{g}": classes.map(lambda row, g=g: int(g in row)) for g in names})
        year = pd.to_numeric(items["release_year"], errors="coerce")
        items = pd.concat([items[["item_id", "title"]], year.rename("release_year"), genres], axis=1)
    users = users[["user_id", "age", "gender", "occupation", "zip_code"]].copy()
    users["user_id"] = users["user_id"].astype(np.int64)
    users["age"] = pd.to_numeric(users["age"]).astype(np.int64)
    items["item_id"] = items["item_id"].astype(np.int64)
    items["release_year"] = items["release_year"].fillna(items["release_year"].median()).astype(np.float64)
    frame = frame[["user_id", "item_id", "rating", "timestamp"]].copy()
    frame["rating"] = pd.to_numeric(frame["rating"]).astype(np.float64)
    return frame.reset_index(drop=True), users.reset_index(drop=True), items.reset_index(drop=True)
