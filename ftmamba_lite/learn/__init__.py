"""Learning: how the models are trained, evaluated, saved and compared (the learn layer's machinery).

In the order of their imports (``tests/test_layers.py`` enforces it):

* :mod:`~ftmamba_lite.learn.scoring` (the one evaluation path), :mod:`~ftmamba_lite.learn.checkpoints`,
  :mod:`~ftmamba_lite.learn.baselines` (models fitted from data), :mod:`~ftmamba_lite.learn.tables` (a user's
  tables as the towers see them);
* :mod:`~ftmamba_lite.learn.engine` (the one training loop) and :mod:`~ftmamba_lite.learn.registry` (the one
  table of model kinds);
* :mod:`~ftmamba_lite.learn.sequence` (the next-item task), :mod:`~ftmamba_lite.learn.pairs` and
  :mod:`~ftmamba_lite.learn.saved` (the Recommender's training pairs and folder);
* :mod:`~ftmamba_lite.learn.experiments` (the paper's experiments, one seed at a time) and
  :mod:`~ftmamba_lite.learn.sweep` (many seeds, resumable).
"""
