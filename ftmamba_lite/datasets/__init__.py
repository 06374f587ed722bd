"""Datasets: every loader returns the one :class:`RecDataset` shape of :mod:`ftmamba_lite.datasets.base`."""

from .base import FeatureTable, RecDataset, make_triples
from .download import DownloadError
from .spotify import load_spotify, spotify_targets, synthetic_spotify_environment

__all__ = [
    "DownloadError",
    "FeatureTable",
    "RecDataset",
    "load_spotify",
    "make_triples",
    "spotify_targets",
    "synthetic_spotify_environment",
]
