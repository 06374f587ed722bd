from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def spotify_dir() -> Path:
    path = SHARED / "data" / "spotify"
    if not (path / "spotify_features.csv").exists():
        pytest.skip(f"real Spotify data not found at {path} (it lives in ../shared beside the repository)")
    return path
