"""The quick-start panel (course.recommender_widgets), driven without a browser."""

from __future__ import annotations

import pandas as pd

from ftmamba_lite import Recommender
from ftmamba_lite.course.recommender_widgets import NewUserExplorer


def test_new_user_explorer_recommends_for_the_user_its_controls_describe() -> None:
    users = pd.DataFrame({"user_id": range(8), "age": [20, 30, 40, 50] * 2, "side": ["a", "b"] * 4})
    items = pd.DataFrame(
        {"item_id": range(6), "title": [f"film {j}" for j in range(6)], "kind": list("xxxyyy")}
    )
    inter = pd.DataFrame(
        {
            "user_id": [u for u in range(8) for _ in range(2)],
            "item_id": [j + 3 * (u % 2) for u in range(8) for j in range(2)],
        }
    )
    rec = Recommender("mlp", protocol="paper", progress=False, lr=1e-2, epochs=30).fit(
        inter, users, items, item_features=["kind"]
    )
    panel = NewUserExplorer(rec, users, items, k=3)
    assert set(panel.controls) == {"age", "side"}
    assert list(panel.recommendations.columns) == ["user_id", "rank", "item_id", "score", "title"]
    panel.controls["side"].value = "b"
    expected = rec.recommend(panel.user_row(), k=3)
    assert list(panel.recommendations["item_id"]) == list(expected["item_id"])
    assert panel.user_row().loc[0, "side"] == "b"
    assert set(panel.recommendations["item_id"][:2]) == {3, 4}  # the films side b chose
