"""The quick-start notebook's panel: describe a brand-new user with controls, see their recommendations live.

Works on ipywidgets 7 (Colab) and 8 (JupyterLab 4): sliders, dropdowns and an ``Output`` only.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import pandas as pd
from IPython.display import display

from ..recommender import Recommender
from .widgets import Panel, tagged

__all__ = ["NewUserExplorer"]


class NewUserExplorer(Panel):
    """One control per user feature of a fitted :class:`Recommender` (a slider per numeric column, a dropdown
    per categorical one, with the values of ``users``); every change re-runs ``recommend`` for that new user.

    Args:
        rec: a fitted recommender.
        users: the users table it was fitted on (the controls' ranges and choices).
        items: the items table, to show a ``title_column`` beside each recommended id (optional).
        k: items shown.
        features: the user columns to offer (default: every feature column but the id).
    """

    def __init__(
        self,
        rec: Recommender,
        users: pd.DataFrame,
        items: pd.DataFrame | None = None,
        title_column: str = "title",
        k: int = 10,
        features: Sequence[str] | None = None,
    ) -> None:
        self.rec, self.k = rec, k
        kinds = rec.features["user"]
        self.id_column = rec.schema["user_id"]
        columns = [*kinds["numeric"], *kinds["categorical"]]
        names = [c for c in columns if c != self.id_column] if features is None else features
        self.controls: dict[str, widgets.Widget] = {}
        for name in names:
            if name in kinds["numeric"]:
                low, high = float(users[name].min()), float(users[name].max())
                control = widgets.FloatSlider(
                    value=float(users[name].median()), min=low, max=high, description=name
                )
            else:
                values = sorted(pd.unique(users[name]), key=str)
                options = [(str(v), v) for v in values]
                control = widgets.Dropdown(options=options, value=values[0], description=name)
            control.observe(lambda _change: self.update(), names="value")
            self.controls[name] = tagged(control, f"ftm-user-{name}")
        self.titles = None
        if items is not None and title_column in items.columns:
            self.titles = items.set_index(rec.schema["item_id"])[title_column]
        self.table = widgets.Output()
        self.recommendations = pd.DataFrame()
        self.view = widgets.VBox([widgets.HBox(list(self.controls.values())), self.table])
        self.update()

    def user_row(self) -> pd.DataFrame:
        """The new user the controls describe, as a one-row table (id: ``"new user"``)."""
        row = {self.id_column: "new user", **{name: c.value for name, c in self.controls.items()}}
        return pd.DataFrame([row])

    def update(self) -> None:
        """Recommend for the user the controls describe and show the table."""
        out = self.rec.recommend(self.user_row(), k=self.k)
        if self.titles is not None:
            out["title"] = self.titles.loc[out[self.rec.schema["item_id"]]].to_numpy()
        self.recommendations = out
        self.table.clear_output(wait=True)
        with self.table:
            display(out.drop(columns=self.id_column))
