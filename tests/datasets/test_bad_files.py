"""Issue 20: damaged data files (0 bytes, non-UTF-8 bytes, malformed or duplicated rows) give one ValueError
naming the file (and the line where it can), in every loader; none ends in a pandas or numpy error."""

from __future__ import annotations

import shutil
import warnings
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


# --- a file cut inside its last line (an interrupted copy or download) ---

REAL_SPOTIFY = Path(__file__).resolve().parents[3] / "shared" / "data" / "spotify"


def _cut_is_caught(load, path: Path, blob: bytes, cut: int) -> str:
    """Write ``blob[:cut]`` to ``path`` and load: "error" or "warning" (naming the file), never silence."""
    path.write_bytes(blob[:cut])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            load()
    except ValueError as err:
        assert str(path) in str(err) and "was cut short" in str(err) and "Copy or download" in str(err)
        return "error"
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any(str(path) in m and "does not end with a newline" in m for m in messages), messages
    return "warning"


def test_every_cut_inside_the_last_line_is_an_error_or_a_warning(spotify_dir):
    path = spotify_dir / SONGS_FILE
    blob = path.read_bytes()
    start = blob.rstrip(b"\n").rindex(b"\n") + 1  # the last line
    outcomes = {
        cut: _cut_is_caught(lambda: load_spotify(spotify_dir, **SMALL), path, blob, cut)
        for cut in range(start + 1, len(blob) - 1)
    }
    last_value = blob[blob.rindex(b",") + 1 :].strip()  # e.g. b"0.5488135039273248"
    first_digits = len(blob) - 1 - len(last_value)  # cut right after the integer part: "0"
    assert outcomes[first_digits + 1] == "error"  # "0": no decimal point where every line above has one
    assert outcomes[first_digits + 2] == "error"  # "0.": not a number
    assert outcomes[len(blob) - 1 - len(last_value)] == "error"  # "...,": the last field empty
    assert outcomes[start + 3] == "error"  # a few fields of the line only
    assert outcomes[len(blob) - 2] == "warning"  # one digit short: looks complete, cannot be told


def test_the_real_spotify_features_cut_to_zero_are_refused(tmp_path):
    if not (REAL_SPOTIFY / FEATURES_FILE).exists():
        pytest.skip(f"real Spotify data not found at {REAL_SPOTIFY}")
    shutil.copytree(REAL_SPOTIFY, tmp_path / "spotify")
    path = tmp_path / "spotify" / FEATURES_FILE
    blob = path.read_bytes()
    assert blob.endswith(b",0.72583\n")
    with pytest.raises(ValueError, match=r"its last value '0' has no decimal point, where every line before"):
        path.write_bytes(blob[:-7])
        load_spotify(tmp_path / "spotify", **SMALL)
    path.write_bytes(blob)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete file: no word at all
        load_spotify(tmp_path / "spotify", **SMALL)


def test_a_complete_file_without_its_last_newline_loads_with_a_warning(spotify_dir):
    path = spotify_dir / SONGS_FILE
    before = load_spotify(spotify_dir, **SMALL)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    with pytest.warns(
        UserWarning, match=rf"{SONGS_FILE} does not end with a newline: its last line \(line 9"
    ):
        after = load_spotify(spotify_dir, **SMALL)
    pd.testing.assert_frame_equal(after.items.frame, before.items.frame)


def test_cut_grouplens_and_hm_files_are_refused(tmp_path, hm_files):
    from ftmamba_lite.datasets.movielens import read_grouplens

    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "u.data").write_text("1\t10\t4\t881250949\n2\t20\t5\t881250950\n3\t30\t3\t88125")
    with pytest.warns(UserWarning, match=r"u\.data does not end with a newline: its last line \(line 3: "):
        read_grouplens(folder)  # a timestamp cut between digits looks complete: a warning
    (folder / "u.data").write_text("1\t10\t4\t881250949\n2\t20\t5\t881250950\n3\t30\t")
    with pytest.raises(
        ValueError, match=r"u\.data was cut short.*it has 3 field\(s\), the lines before it 4"
    ):
        read_grouplens(folder)
    blob = hm_files[TRANSACTIONS_FILE]
    (tmp_path / "hm").mkdir()
    with pytest.raises(ValueError, match=rf"{TRANSACTIONS_FILE} was cut short.*it has \d field\(s\)"):
        _hm(tmp_path / "hm", hm_files, TRANSACTIONS_FILE, blob[: blob.rstrip(b"\n").rindex(b",")])
