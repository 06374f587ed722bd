"""The notebooks' setup cell: where a notebook runs, what it computes on, and the seed.

* :func:`setup` -- detects Colab, seeds Python, numpy and torch, caps the threads at the cores the container
  grants, and prints one line saying where the notebook runs.
* :func:`in_colab` -- True inside Google Colab.
* :func:`spotify_source` -- the Spotify data the notebooks load: the real files beside the repository, the
  public copy in Colab, or the offline synthetic environment.
"""

from __future__ import annotations

import platform
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..datasets.spotify import FEATURES_FILE, PUBLIC_BASE_URL
from ..ops.mamba_inner import warm_up
from ..ops.ssm import mamba_ssm_available
from ..ops.threads import available_cpus, set_num_threads

__all__ = ["NotebookEnvironment", "in_colab", "setup", "spotify_source"]

GPU_IN_COLAB = (
    "A GPU is present, but the course runs on its CPU kernels in Colab: installing mamba-ssm's CUDA kernels "
    "there (built against Colab's torch, --no-build-isolation) is not verified."
)
GPU_ELSEWHERE = (
    "A GPU is present: install the cuda extra (pip install -e '.[cuda]') for mamba-ssm's kernels; "
    "until then the CPU kernels run."
)


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


@dataclass(frozen=True)
class NotebookEnvironment:
    """What :func:`setup` found: where the notebook runs and what it computes on."""

    where: str
    device: str
    torch_version: str
    seed: int
    threads: int

    def __str__(self) -> str:
        threads = f"{self.threads} CPU thread{'s' * (self.threads != 1)}"
        return (
            f"Running in {self.where} on {self.device} ({threads}) with torch {self.torch_version} "
            f"(Python {platform.python_version()}); seed {self.seed}."
        )


def setup(seed: int = 0) -> NotebookEnvironment:
    """The setup cell of every notebook: seed Python, numpy and torch; cap PyTorch's and numba's threads at
    the cores the container grants (:func:`ftmamba_lite.ops.threads.available_cpus`: Binder shows the host's
    cores but grants about one); on a GPU without mamba-ssm, say which kernels run; start compiling the CPU
    kernels in the background (:func:`ftmamba_lite.ops.mamba_inner.warm_up`), so that the first Mamba cell
    does not wait for it. Prints and returns what it found.

    Colab's custom widget manager is left off: the panels use core ipywidgets only, which Colab's own widget
    manager (ipywidgets 7) draws, and turning the custom one on has hidden core widgets there
    (AliaksandrSiarohin/first-order-model#509); it is needed for third-party widgets only, such as plotly's
    FigureWidget, which the panels never use in Colab (:mod:`ftmamba_lite.course.widgets`).
    """
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds the legacy global generator students may call
    torch.manual_seed(seed)
    # fewer threads, set by the notebook or the user, stay; numba's kernels follow PyTorch's count
    set_num_threads(min(torch.get_num_threads(), available_cpus()))
    colab = in_colab()
    device = f"GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
    env = NotebookEnvironment(
        "Google Colab" if colab else "Jupyter", device, torch.__version__, seed, torch.get_num_threads()
    )
    print(env)
    if torch.cuda.is_available() and not mamba_ssm_available():
        print(GPU_IN_COLAB if colab else GPU_ELSEWHERE)
    warm_up(background=True)
    return env


def _repository_roots() -> list[Path]:
    """Candidate repository roots: this package's checkout (editable install) and the folders above the
    working directory that hold a ``pyproject.toml`` (a notebook runs in ``<root>/notebooks``)."""
    roots = [Path(__file__).resolve().parents[2]]  # ftmamba_lite/course/environment.py -> root
    cwd = Path.cwd().resolve()
    roots += [folder for folder in (cwd, *cwd.parents) if (folder / "pyproject.toml").is_file()]
    return roots


def spotify_source(in_colab: bool | None = None, roots: list[Path] | None = None) -> str | None:
    """The Spotify source the course notebooks use, in this order of preference:

    1. the real data directory ``../shared/data/spotify`` beside the repository root (class machines, CI);
    2. in Google Colab, :data:`ftmamba_lite.datasets.spotify.PUBLIC_BASE_URL` (downloaded once, cached);
    3. ``None``: the offline synthetic environment.

    Args:
        in_colab: override the Colab detection (default: ``"google.colab" in sys.modules``).
        roots: override the candidate repository roots (default: this checkout and the working directory's
            ancestors that hold a ``pyproject.toml``).

    Returns:
        a directory path, the URL, or None; pass it to :func:`ftmamba_lite.datasets.load_spotify`, whose
        ``data.source`` says which one ran.
    """
    for root in _repository_roots() if roots is None else roots:
        folder = Path(root).parent / "shared" / "data" / "spotify"
        if (folder / FEATURES_FILE).is_file():
            return str(folder.absolute())
    colab = "google.colab" in sys.modules if in_colab is None else in_colab
    return PUBLIC_BASE_URL if colab else None
