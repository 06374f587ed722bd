from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def spotify_dir() -> Path:
    path = SHARED / "data" / "spotify"
    if not (path / "spotify_features.csv").exists():
        pytest.skip(f"real Spotify data not found at {path} (it lives in ../shared beside the repository)")
    return path


def pytest_configure(config: pytest.Config) -> None:
    # The tests train tiny models: one intra-op thread is fastest for them and immune to a busy machine
    # (OpenMP spin-waits make two threads on two shared cores many times slower).
    torch.set_num_threads(1)
