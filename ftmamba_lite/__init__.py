"""ftmamba-lite: FT-Mamba (feature tokenizer + Mamba) two-tower recommenders, for teaching and for real.

The paper's concepts sit at the top level; kernels and notebook helpers in their own subpackages. Layers, each
importing only the ones above it in this list (``tests/test_layers.py`` enforces it):

* Ops, :mod:`ftmamba_lite.ops`: the selective scan (reference, parallel, fused), the causal convolution, the
  layer's inner operation, the numba kernels and their runtime, thread counts. Tensors in, tensors out.
* Model: :mod:`~ftmamba_lite.config` (:class:`ModelConfig`), :mod:`~ftmamba_lite.tokenizer` (Eq. 1),
  :mod:`~ftmamba_lite.mamba`, :mod:`~ftmamba_lite.transformer`, :mod:`~ftmamba_lite.mlp`,
  :mod:`~ftmamba_lite.towers` (Figure 3), :mod:`~ftmamba_lite.sequential` (Mamba4Rec, SASRec).
* Files: :mod:`~ftmamba_lite.persistence` (atomic writes, digests, the one version policy).
* Data: :mod:`ftmamba_lite.datasets` (loaders, generators and held-out splits, one :class:`RecDataset` shape),
  :mod:`~ftmamba_lite.encoding` (tables to tensors). Knows no model.
* Learn, in order: :mod:`~ftmamba_lite.losses`, :mod:`~ftmamba_lite.metrics`, :mod:`~ftmamba_lite.timing`,
  :mod:`~ftmamba_lite.analysis` <- :mod:`ftmamba_lite.learn` (scoring, checkpoints, baselines, tables <- the
  training engine and the registry of model kinds <- the sequence task <- experiments) and
  :mod:`~ftmamba_lite.recommender` (:class:`Recommender`: your own tables in, recommendations out) <- sweeps.
  Reports progress through callbacks, draws nothing.
* Course, :mod:`ftmamba_lite.course` (setup, widgets, plots, exercises, links), and Face,
  :mod:`~ftmamba_lite.cli`, on top.
"""

from .config import ModelConfig, TowerSpec
from .mamba import MambaEmbedder, MambaLayer
from .recommender import Recommender
from .tokenizer import FeatureTokenizer
from .towers import Tower, TwoTowerModel, build_two_tower, make_two_tower
from .transformer import TransformerEmbedder

__version__ = "0.1.0"

__all__ = [
    "FeatureTokenizer",
    "MambaEmbedder",
    "MambaLayer",
    "ModelConfig",
    "Recommender",
    "Tower",
    "TowerSpec",
    "TransformerEmbedder",
    "TwoTowerModel",
    "build_two_tower",
    "make_two_tower",
]
