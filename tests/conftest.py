from pathlib import Path

import pytest

from ftmamba_lite.ops.threads import set_num_threads

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def spotify_dir() -> Path:
    path = SHARED / "data" / "spotify"
    if not (path / "spotify_features.csv").exists():
        pytest.skip(f"real Spotify data not found at {path} (it lives in ../shared beside the repository)")
    return path


@pytest.fixture(scope="session")
def ml100k():
    """MovieLens-100K as RecBole 1.2.1's wheel ships it (fetched once by pip into the download cache)."""
    from ftmamba_lite.datasets import DownloadError
    from ftmamba_lite.datasets.movielens import load_movielens

    try:
        return load_movielens("recbole")
    except DownloadError as err:
        pytest.skip(f"RecBole's ML-100K could not be downloaded (pip download recbole==1.2.1): {err}")


def pytest_configure(config: pytest.Config) -> None:
    # The tests train tiny models: one intra-op thread is fastest for them and immune to a busy machine
    # (OpenMP spin-waits make two threads on two shared cores many times slower); numba's kernels as well.
    set_num_threads(1)
