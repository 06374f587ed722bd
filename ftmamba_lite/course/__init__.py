"""The course layer: what the notebooks use on top of the library, and nothing the library needs.

* :mod:`~ftmamba_lite.course.environment` -- :func:`setup` (every notebook's setup cell), :func:`in_colab`,
  :func:`spotify_source`.
* :mod:`~ftmamba_lite.course.demos` -- :func:`combine`, :func:`impulse_response`, :func:`work_depth`,
  :func:`token_influence`.
* :mod:`~ftmamba_lite.course.plots` -- plotly figures (pure functions of tables and arrays).
* :mod:`~ftmamba_lite.course.widgets`, :mod:`~ftmamba_lite.course.sequence_widgets` -- the live panels.
* :mod:`~ftmamba_lite.course.exercises` -- the notebooks' exercise checkers and worked solutions
  (``exercises.solution("04.2")``).
* :mod:`~ftmamba_lite.course.diagrams` -- the diagrams (Figures 1(a), 2, 3, the scan trees, Mamba4Rec),
  SVG drawn by code with the tensor shapes on them.
* :mod:`~ftmamba_lite.course.slides` -- the notebooks' slide metadata (RISE, reveal.js):
  ``python -m ftmamba_lite.course.slides notebooks/*.ipynb`` (the course site: Sphinx, ``docs/``).
* :mod:`~ftmamba_lite.course.links` -- the repository URL, Colab and Binder links, the install cell.

Nothing outside this subpackage imports it (``tests/test_layers.py``). Symbols: ``docs/notation.md``.
"""

from .demos import combine, impulse_response, token_influence, work_depth
from .environment import NotebookEnvironment, in_colab, setup, spotify_source

__all__ = [
    "NotebookEnvironment",
    "combine",
    "impulse_response",
    "in_colab",
    "setup",
    "spotify_source",
    "token_influence",
    "work_depth",
]
