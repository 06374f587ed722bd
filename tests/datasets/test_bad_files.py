"""Issue 20: damaged data files (0 bytes, non-UTF-8 bytes, malformed or duplicated rows) give one ValueError
naming the file (and the line where it can), in every loader; none ends in a pandas or numpy error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftmamba_lite.datasets import load_spotify
from ftmamba_lite.datasets.base import duplicate_lines, read_csv
from ftmamba_lite.datasets.hm import (
    ARTICLES_FILE,
    CUSTOMERS_FILE,
    TRANSACTIONS_FILE,
    load_hm,
    write_synthetic_hm,
)
from ftmamba_lite.datasets.spotify import (
    AUDIO_FEATURES,
    FEATURES_FILE,
    GENRE_FEATURE_COLUMNS,
    GENRES_FILE,
    SONGS_FILE,
)
from ftmamba_lite.datasets.vaccine import read_messages

SMALL = {"n_train": 20, "n_valid": 4, "n_test": 3}


@pytest.fixture
def spotify_dir(tmp_path: Path) -> Path:
    """A small directory in the Spotify layout: 6 genres, 8 songs (no real data needed)."""
    rng = np.random.default_rng(0)
    genres = [f"g{j}" for j in range(6)]
    (tmp_path / "playlists").mkdir()
    pd.DataFrame({"genre": genres}).to_csv(tmp_path / GENRES_FILE, index=False)
    features = pd.DataFrame(rng.random((6, len(GENRE_FEATURE_COLUMNS))), columns=list(GENRE_FEATURE_COLUMNS))
    features.insert(0, "Genre", genres)
    features.to_csv(tmp_path / FEATURES_FILE, index=False)
    songs = pd.DataFrame(rng.random((8, len(AUDIO_FEATURES))), columns=list(AUDIO_FEATURES))
    songs.insert(0, "id", [f"track{i}" for i in range(8)])
    songs.to_csv(tmp_path / SONGS_FILE, index=False)
    return tmp_path


def test_the_small_layout_loads(spotify_dir):
    assert load_spotify(spotify_dir, **SMALL).n_items == 8


@pytest.mark.parametrize("relpath", [GENRES_FILE, FEATURES_FILE, SONGS_FILE])
def test_zero_byte_files_are_named(spotify_dir, relpath):
    (spotify_dir / relpath).write_bytes(b"")
    with pytest.raises(ValueError, match=rf"{relpath}.*empty \(0 bytes\)"):
        load_spotify(spotify_dir, **SMALL)


@pytest.mark.parametrize("relpath", [GENRES_FILE, FEATURES_FILE, SONGS_FILE])
def test_non_utf8_bytes_are_named_with_their_line(spotify_dir, relpath):
    path = spotify_dir / relpath
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"\xff\xfe" + lines[2]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match=rf"{relpath} is not UTF-8 text at line 3, byte 0xff at column 1"):
        load_spotify(spotify_dir, **SMALL)


@pytest.mark.parametrize(
    "relpath, message",
    [
        (GENRES_FILE, r"genre names must be unique, got 'g0' on lines 2 and 8"),
        (FEATURES_FILE, r"one row per genre, but genre 'g0' on lines 2 and 8"),
        (SONGS_FILE, r"each song once, but song id 'track0' on lines 2 and 10"),
    ],
)
def test_a_duplicated_row_is_named_with_its_lines(spotify_dir, relpath, message):
    """Issue 20: a duplicated spotify_features.csv row ended in an einsum error."""
    path = spotify_dir / relpath
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(ValueError, match=message):
        load_spotify(spotify_dir, **SMALL)


def test_a_malformed_row_names_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('a,b\n1,2\n3,"4\n')
    with pytest.raises(ValueError, match=rf"{path} is not a valid CSV file"):
        read_csv(path)
    path.write_text("\n\n")
    with pytest.raises(ValueError, match="has no header line"):
        read_csv(path)


def test_duplicate_lines_counts_the_header():
    assert (
        duplicate_lines(pd.Series(["a", "b", "a", "c", "b"])) == "'a' on lines 2 and 4; 'b' on lines 3 and 6"
    )


@pytest.fixture(scope="module")
def hm_files(tmp_path_factory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("hm")
    write_synthetic_hm(directory, seed=0, n_customers=300, n_articles=60, n_transactions=3000)
    return {
        name: (directory / name).read_bytes() for name in (CUSTOMERS_FILE, ARTICLES_FILE, TRANSACTIONS_FILE)
    }


def _hm(tmp_path: Path, files: dict[str, bytes], name: str, content: bytes):
    for file, blob in files.items():
        (tmp_path / file).write_bytes(content if file == name else blob)
    return load_hm(tmp_path, n_train=100, n_valid=10, n_test=3)


@pytest.mark.parametrize("name", [CUSTOMERS_FILE, ARTICLES_FILE, TRANSACTIONS_FILE])
def test_hm_zero_bytes_and_non_utf8_are_named(tmp_path, hm_files, name):
    with pytest.raises(ValueError, match=rf"{name} is empty \(0 bytes\)"):
        _hm(tmp_path, hm_files, name, b"")
    blob = hm_files[name]
    cut = blob.index(b"\n", len(blob) // 2) + 1  # the start of a line in the middle of the file
    line = blob[:cut].count(b"\n") + 1
    with pytest.raises(ValueError, match=rf"{name} is not UTF-8 text at line {line}, byte 0xff at column 1"):
        _hm(tmp_path, hm_files, name, blob[:cut] + b"\xff" + blob[cut:])


def test_hm_duplicated_customer_is_named_with_its_lines(tmp_path, hm_files):
    lines = hm_files[CUSTOMERS_FILE].split(b"\n")
    with pytest.raises(ValueError, match=rf"{CUSTOMERS_FILE} .*not unique: '.*' on lines 2 and {len(lines)}"):
        _hm(tmp_path, hm_files, CUSTOMERS_FILE, b"\n".join([*lines[:-1], lines[1], b""]))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"is empty \(0 bytes\)"),
        (b"text\nhello\n\xff\xfeworld\n", "is not UTF-8 text at line 3"),
        (b"text\nhello\nworld\nhello\n", "duplicate message texts: 'hello' on lines 2 and 4"),
    ],
)
def test_vaccine_messages_files_are_named(tmp_path, content, message):
    path = tmp_path / "messages.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_messages(path)
