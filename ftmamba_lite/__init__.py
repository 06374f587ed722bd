"""ftmamba-lite: FT-Mamba (feature tokenizer + Mamba) two-tower recommenders, for teaching and for real.

Layers of the package (imports point downwards only):

* Model: :mod:`~ftmamba_lite.tokenizer`, :mod:`~ftmamba_lite.ssm`, :mod:`~ftmamba_lite.conv`,
  :mod:`~ftmamba_lite.mamba_inner`, :mod:`~ftmamba_lite.mamba`, :mod:`~ftmamba_lite.transformer`,
  :mod:`~ftmamba_lite.towers`, :mod:`~ftmamba_lite.baselines`, :mod:`~ftmamba_lite.sequential` (Mamba4Rec,
  SASRec), :mod:`~ftmamba_lite.threads` (the thread counts of PyTorch and of the numba kernels)
* Data: :mod:`~ftmamba_lite.datasets`, :mod:`~ftmamba_lite.encoding`
* Learn: :mod:`~ftmamba_lite.train`, :mod:`~ftmamba_lite.metrics`, :mod:`~ftmamba_lite.analysis`,
  :mod:`~ftmamba_lite.experiments`, :mod:`~ftmamba_lite.train_sequential`
* Show and Face: :mod:`~ftmamba_lite.plots`, :mod:`~ftmamba_lite.widgets`,
  :mod:`~ftmamba_lite.sequence_widgets`, :mod:`~ftmamba_lite.cli`
"""

from .mamba import MambaEmbedder, MambaLayer
from .tokenizer import FeatureTokenizer
from .towers import Tower, TwoTowerModel, make_two_tower
from .transformer import TransformerEmbedder

__version__ = "0.1.0"

__all__ = [
    "FeatureTokenizer",
    "MambaEmbedder",
    "MambaLayer",
    "Tower",
    "TransformerEmbedder",
    "TwoTowerModel",
    "make_two_tower",
]
