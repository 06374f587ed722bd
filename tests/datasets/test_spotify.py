"""Tests of the Spotify environment loader (paper Section III-A): construction, layout, sources, errors."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftmamba_lite.datasets import DownloadError, RecDataset, load_spotify, spotify_targets
from ftmamba_lite.datasets.download import CACHE_ENV_VAR, cache_dir_for

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "spotify"
needs_data = pytest.mark.skipif(
    not (DATA / "spotify_features.csv").is_file(), reason=f"real Spotify data not found at {DATA}"
)
AUDIO = [
    "acousticness", "danceability", "energy", "instrumentalness", "liveness",
    "loudness", "mode", "speechiness", "tempo", "valence",
]  # fmt: skip
SMALL = {"n_train": 600, "n_valid": 60, "n_test": 30}


def expected_targets(users: np.ndarray, G: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Targets recomputed from the definition, element by element: R[g, i] = sum_f (G - mean)(S - mean)."""
    g_centred = G - G.sum(axis=0) / len(G)
    s_centred = S - S.sum(axis=0) / len(S)
    R = np.array([[float(np.dot(g, s)) for s in s_centred] for g in g_centred])
    p = np.array([[sum(R[g, i] for g in np.flatnonzero(u)) for i in range(R.shape[1])] for u in users])
    return np.where(p > 0.1, 1, np.where(p < -0.1, -1, 0))


def check_construction(ds: RecDataset) -> None:
    """Every target of ``ds`` equals the one recomputed from its users and the matrices G and S."""
    users = ds.users.frame.to_numpy()
    G, S = ds.info["G"], ds.info["S"]
    test_expected = expected_targets(users[ds.test_users], G, S)
    np.testing.assert_array_equal(ds.test_targets, test_expected)
    for split in (ds.train, ds.valid):
        rows = split.head(200)
        full = expected_targets(users[rows["user"].to_numpy()], G, S)
        np.testing.assert_array_equal(rows["target"], full[np.arange(len(rows)), rows["item"]])


# --- the target rule --------------------------------------------------------------------------------------


def test_spotify_targets_by_hand():
    R = np.array([[0.3, -0.05, 0.1], [-0.2, 0.2, -0.3]])
    users = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    # p = [0.3, -0.05, 0.1], [0.1, 0.15, -0.2], [-0.2, 0.2, -0.3], [0, 0, 0]; |p| = 0.1 exactly is neutral
    expected = [[1, 0, 0], [0, 1, -1], [-1, 1, -1], [0, 0, 0]]
    np.testing.assert_array_equal(spotify_targets(users, R), expected)
    np.testing.assert_array_equal(
        spotify_targets(users, R, threshold=0.25), [[1, 0, 0], [0, 0, 0], [0, 0, -1], [0] * 3]
    )


def test_spotify_targets_errors():
    with pytest.raises(ValueError, match=r"\(1, 3\).*\(2, 3\)"):
        spotify_targets(np.ones((1, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        spotify_targets(np.array([[0.5, 1.0]]), np.ones((2, 3)))
    with pytest.raises(ValueError, match="threshold"):
        spotify_targets(np.ones((1, 2)), np.ones((2, 3)), threshold=-0.1)


# --- the synthetic (offline) environment ------------------------------------------------------------------


def test_synthetic_tables_and_splits():
    ds = load_spotify(**SMALL, seed=3)
    n_users = 600 + 60 + 30
    assert ds.source == "synthetic Spotify-like environment (seed=3)"
    assert load_spotify("synthetic", **SMALL, seed=3).source == ds.source
    assert (ds.n_users, ds.n_items) == (n_users, 50)
    assert ds.users.numeric == tuple(ds.info["genres"]) and len(ds.users.numeric) == 20
    assert ds.users.categorical == () and ds.items.numeric == () and ds.items.categorical == ("song",)
    assert ds.items.frame["song"].tolist() == list(range(50))
    assert (
        ds.info["G"].shape == (20, 10) and ds.info["S"].shape == (50, 10) and ds.info["R"].shape == (20, 50)
    )
    assert ((ds.info["G"] >= 0) & (ds.info["G"] <= 1)).all() and (
        (ds.info["S"] >= 0) & (ds.info["S"] <= 1)
    ).all()
    # each triple has its own fresh user: train users 0..599, valid 600..659, test users 660..689
    assert ds.train["user"].tolist() == list(range(600))
    assert ds.valid["user"].tolist() == list(range(600, 660))
    assert ds.test_users.tolist() == list(range(660, n_users))
    assert ds.test_targets.shape == ds.test_relevant.shape == (30, 50)
    np.testing.assert_array_equal(ds.test_relevant, ds.test_targets == 1)
    assert set(np.unique(ds.train["target"])) <= {-1.0, 0.0, 1.0}
    check_construction(ds)


def test_users_have_one_to_four_genres():
    users = load_spotify(n_train=4000, n_valid=0, n_test=0).users.frame
    assert (users.dtypes == np.float32).all()
    assert set(np.unique(users.to_numpy())) == {0.0, 1.0}
    counts = users.sum(axis=1).astype(int).value_counts(normalize=True)
    assert sorted(counts.index) == [1, 2, 3, 4]
    assert counts.between(0.2, 0.3).all()  # uniform on {1, 2, 3, 4}


def test_songs_are_uniform():
    items = load_spotify(n_train=20_000, n_valid=0, n_test=0).train["item"]
    counts = np.bincount(items, minlength=50)
    assert len(counts) == 50 and counts.min() > 300 and counts.max() < 500  # expected 400 each


def test_seed_determinism():
    a, b, c = load_spotify(**SMALL, seed=1), load_spotify(**SMALL, seed=1), load_spotify(**SMALL, seed=2)
    pd.testing.assert_frame_equal(a.users.frame, b.users.frame)
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.valid, b.valid)
    np.testing.assert_array_equal(a.test_targets, b.test_targets)
    np.testing.assert_array_equal(a.info["R"], b.info["R"])
    assert not np.allclose(a.info["G"], c.info["G"])
    assert not a.users.frame.equals(c.users.frame)
    assert not a.train["item"].equals(c.train["item"])


@pytest.mark.parametrize("seed", range(4))
def test_synthetic_targets_are_balanced_and_likes_are_common(seed):
    ds = load_spotify(n_train=5000, n_valid=0, n_test=500, seed=seed)
    shares = ds.train["target"].value_counts(normalize=True)
    assert sorted(shares.index) == [-1.0, 0.0, 1.0]
    assert shares.between(0.15, 0.6).all()
    assert ds.test_relevant.any(axis=1).mean() > 0.9


def test_paper_sizes_are_the_default_and_fast():
    start = time.perf_counter()
    ds = load_spotify()
    elapsed = time.perf_counter() - start
    assert (len(ds.train), len(ds.valid), len(ds.test_users), ds.n_users) == (160_000, 1_000, 100, 161_100)
    assert elapsed < 3.0, f"building the paper-size dataset took {elapsed:.2f} s"


def test_negative_sizes_are_refused():
    with pytest.raises(ValueError, match="n_valid"):
        load_spotify(n_valid=-1)


# --- the real data: directory ------------------------------------------------------------------------------


@needs_data
def test_real_data_matches_the_files():
    ds = load_spotify(DATA, **SMALL)
    genres = pd.read_csv(DATA / "spotify_genres.csv")["genre"].tolist()
    features = pd.read_csv(DATA / "spotify_features.csv").set_index("Genre")
    top50 = pd.read_csv(DATA / "playlists" / "top50.csv")
    names = pd.read_csv(DATA / "spotify_top50.csv")
    assert list(ds.users.frame.columns) == genres == ds.info["genres"]
    np.testing.assert_array_equal(ds.info["G"], features.loc[genres].to_numpy())
    np.testing.assert_array_equal(ds.info["S"], top50[AUDIO].to_numpy())
    assert ds.items.frame["title"].tolist() == names["name"].tolist()
    assert ds.items.frame["artist"].tolist() == names["artist"].tolist()
    assert ds.items.frame["track_id"].tolist() == top50["id"].tolist()
    assert ds.items.columns == ("song",)
    assert str(DATA) in ds.source and "synthetic" not in ds.source
    check_construction(ds)


@needs_data
def test_real_data_construction_uses_column_means():
    # mean_rows(X) = the average row (mean over genres / over songs), as in the original environment code
    ds = load_spotify(DATA, n_train=0, n_valid=0, n_test=1)
    G, S = ds.info["G"], ds.info["S"]
    np.testing.assert_allclose(ds.info["R"], (G - G.mean(axis=0)) @ (S - S.mean(axis=0)).T)
    assert not np.allclose(
        ds.info["R"], (G - G.mean(axis=1, keepdims=True)) @ (S - S.mean(axis=1, keepdims=True)).T
    )


@needs_data
def test_real_data_seed_determinism():
    a, b = load_spotify(DATA, **SMALL, seed=5), load_spotify(DATA, **SMALL, seed=5)
    pd.testing.assert_frame_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test_targets, b.test_targets)
    assert not a.train.equals(load_spotify(DATA, **SMALL, seed=6).train)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    if not (DATA / "spotify_features.csv").is_file():
        pytest.skip(f"real Spotify data not found at {DATA}")
    return Path(shutil.copytree(DATA, tmp_path / "spotify"))


@pytest.mark.parametrize("relpath", ["spotify_genres.csv", "spotify_features.csv", "playlists/top50.csv"])
def test_missing_file_is_named(data_copy, relpath):
    (data_copy / relpath).unlink()
    with pytest.raises(FileNotFoundError, match=relpath):
        load_spotify(data_copy, **SMALL)


@pytest.mark.parametrize(
    ("relpath", "column"),
    [("spotify_genres.csv", "genre"), ("spotify_features.csv", "Energy"), ("playlists/top50.csv", "tempo")],
)
def test_missing_column_is_named(data_copy, relpath, column):
    path = data_copy / relpath
    pd.read_csv(path).drop(columns=column).to_csv(path, index=False)
    with pytest.raises(ValueError, match=rf"{relpath}.*{column}"):
        load_spotify(data_copy, **SMALL)


def test_genre_without_features_is_named(data_copy):
    path = data_copy / "spotify_features.csv"
    features = pd.read_csv(path)
    features[features["Genre"] != "jazz"].to_csv(path, index=False)
    with pytest.raises(ValueError, match="jazz"):
        load_spotify(data_copy, **SMALL)


def test_song_names_are_optional(data_copy):
    (data_copy / "spotify_top50.csv").unlink()
    ds = load_spotify(data_copy, **SMALL)
    assert "title" not in ds.items.frame.columns
    assert ds.info["songs"] == ds.items.frame["track_id"].tolist()


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_spotify(tmp_path / "nowhere")


# --- the real data: URL ------------------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class FailingHandler(QuietHandler):
    def do_GET(self):
        self.send_error(500, "boom")


@contextlib.contextmanager
def serve(directory: Path, handler=QuietHandler) -> Iterator[str]:
    """Serve ``directory`` on a free port of 127.0.0.1 in a thread; yield the base URL; stop at exit."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def no_proxy_for_localhost(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@needs_data
def test_url_source_downloads_once_then_uses_the_cache(tmp_path):
    cache = tmp_path / "cache"
    with serve(DATA) as url:
        ds = load_spotify(url + "/", **SMALL, cache_dir=cache)
    assert url in ds.source and str(cache) in ds.source
    folder = cache_dir_for(url, cache)
    for relpath in ("spotify_genres.csv", "spotify_features.csv", "playlists/top50.csv", "spotify_top50.csv"):
        assert (folder / relpath).read_bytes() == (DATA / relpath).read_bytes()
    assert not list(folder.rglob(".*.tmp"))  # no temporary file left
    local = load_spotify(DATA, **SMALL)
    pd.testing.assert_frame_equal(ds.train, local.train)
    pd.testing.assert_frame_equal(ds.items.frame, local.items.frame)
    np.testing.assert_array_equal(ds.info["R"], local.info["R"])
    # the server is gone: the second load must come from the cache alone
    again = load_spotify(url, **SMALL, cache_dir=cache)
    pd.testing.assert_frame_equal(again.train, ds.train)


@needs_data
def test_cache_root_from_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "env-cache"))
    with serve(DATA) as url:
        load_spotify(url, n_train=10, n_valid=0, n_test=1)
    assert (cache_dir_for(url) / "spotify_features.csv").is_file()
    assert cache_dir_for(url).parent == tmp_path / "env-cache"


@needs_data
def test_url_not_found_names_the_url(tmp_path):
    with serve(DATA) as url, pytest.raises(FileNotFoundError, match=f"{url}/nothing-here/spotify_genres.csv"):
        load_spotify(url + "/nothing-here", **SMALL, cache_dir=tmp_path)


def test_http_error_names_the_url(tmp_path):
    with serve(tmp_path, FailingHandler) as url, pytest.raises(DownloadError, match=f"{url}/.*HTTP 500"):
        load_spotify(url, **SMALL, cache_dir=tmp_path / "cache")


def test_unreachable_server_names_the_url(tmp_path):
    with serve(tmp_path) as url:
        pass  # the port is closed again once the server stops
    with pytest.raises(DownloadError, match=f"{url}/spotify_genres.csv"):
        load_spotify(url, **SMALL, cache_dir=tmp_path / "cache")
