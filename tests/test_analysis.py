"""Tests of ftmamba_lite.analysis: per-item over/under-recommendation counts and their summary over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ftmamba_lite.analysis import (
    confidence_half_width,
    over_under,
    over_under_over_seeds,
    over_under_summary,
)


def hand_run() -> tuple[np.ndarray, np.ndarray]:
    scores = np.array([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.4, 0.6], [1.0, 1.0, 1.0, 1.0]])
    relevant = np.array([[False, True, True, False], [False, True, False, False], [False] * 4])
    return scores, relevant


def test_over_under_by_hand():
    # user 0 likes 2 items -> gets its top 2 (items 0, 2); user 1 likes 1 -> gets item 1; user 2 gets nothing
    frame = over_under(*hand_run())
    assert list(frame.columns) == ["item", "likes", "recommended", "difference", "like_rank"]
    assert frame["item"].tolist() == [0, 1, 2, 3]
    assert frame["likes"].tolist() == [0, 2, 1, 0]
    assert frame["recommended"].tolist() == [1, 1, 1, 0]
    assert frame["difference"].tolist() == [1, -1, 0, 0]
    assert frame["like_rank"].tolist() == [3, 1, 2, 4]  # item 1 most liked; items 0 and 3 tie -> index order


def test_ties_in_scores_recommend_lower_item_indices():
    frame = over_under(np.zeros((1, 4)), np.array([[False, False, True, True]]))
    assert frame["recommended"].tolist() == [1, 1, 0, 0]
    assert frame["difference"].tolist() == [1, 1, -1, -1]
    assert frame["like_rank"].tolist() == [3, 4, 1, 2]


def test_perfect_scores_give_zero_difference():
    rng = np.random.default_rng(0)
    relevant = rng.random((30, 12)) < 0.3
    frame = over_under(relevant.astype(float) + 0.01 * rng.random((30, 12)), relevant)
    assert (frame["difference"] == 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_invariants_on_random_runs(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = rng.integers(1, 40), rng.integers(1, 60)
    relevant = rng.random((n_users, n_items)) < rng.uniform(0, 0.7)
    frame = over_under(rng.normal(size=(n_users, n_items)), relevant)
    assert frame["recommended"].sum() == frame["likes"].sum() == relevant.sum()
    assert (frame["difference"] == frame["recommended"] - frame["likes"]).all()
    assert frame["likes"].tolist() == relevant.sum(axis=0).tolist()
    assert sorted(frame["like_rank"]) == list(range(1, n_items + 1))
    by_rank = frame.sort_values("like_rank")
    assert by_rank["likes"].is_monotonic_decreasing
    assert (frame["recommended"] <= n_users).all()


def test_over_seeds_from_dict_and_list():
    rng = np.random.default_rng(1)
    runs = [(rng.normal(size=(10, 5)), rng.random((10, 5)) < 0.4) for _ in range(3)]
    tidy = over_under_over_seeds({7: runs[0], 8: runs[1], 9: runs[2]})
    assert list(tidy.columns) == ["seed", "item", "likes", "recommended", "difference", "like_rank"]
    assert len(tidy) == 15
    assert tidy["seed"].tolist() == [7] * 5 + [8] * 5 + [9] * 5
    for label, (scores, relevant) in zip((7, 8, 9), runs, strict=True):
        part = tidy[tidy["seed"] == label].drop(columns="seed").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, over_under(scores, relevant))
        assert part["recommended"].sum() == part["likes"].sum()
    assert over_under_over_seeds(runs)["seed"].unique().tolist() == [0, 1, 2]


def test_summary_by_hand():
    tidy = pd.DataFrame(
        {
            "seed": [0, 0, 1, 1, 2, 2],
            "like_rank": [1, 2, 1, 2, 1, 2],
            "difference": [1, 0, 2, 0, 3, 0],
        }
    )
    summary = over_under_summary(tidy)
    assert summary["like_rank"].tolist() == [1, 2]
    assert summary["mean"].tolist() == pytest.approx([2.0, 0.0])
    assert summary["std"].tolist() == pytest.approx([1.0, 0.0])
    assert summary["n_seeds"].tolist() == [3, 3]
    half = 4.303 / np.sqrt(3)  # t table: 97.5% quantile with 2 degrees of freedom = 4.303
    assert summary["ci_low"].tolist() == pytest.approx([2.0 - half, 0.0], abs=1e-3)
    assert summary["ci_high"].tolist() == pytest.approx([2.0 + half, 0.0], abs=1e-3)


def test_summary_of_one_run_has_no_interval():
    summary = over_under_summary(over_under_over_seeds([hand_run()]))
    assert summary["mean"].tolist() == [-1.0, 0.0, 1.0, 0.0]  # differences in like_rank order
    assert summary[["std", "ci_low", "ci_high"]].isna().all().all()


@pytest.mark.parametrize(
    ("confidence", "n", "t_table"),
    [(0.95, 2, 12.706), (0.95, 3, 4.303), (0.95, 11, 2.228), (0.99, 6, 4.032), (0.95, 121, 1.980)],
)
def test_confidence_half_width_is_t_times_standard_error(confidence, n, t_table):
    values = np.random.default_rng(n).normal(size=n)
    standard_error = values.std(ddof=1) / np.sqrt(n)
    got = confidence_half_width(values, confidence)
    assert got == pytest.approx(t_table * standard_error, rel=2e-4)  # printed tables give 4 digits


def test_confidence_half_width_edge_cases():
    assert np.isnan(confidence_half_width([0.7]))  # one value: no spread to estimate
    assert confidence_half_width([0.5, 0.5, 0.5]) == 0.0
    with pytest.raises(ValueError, match="confidence"):
        confidence_half_width([0.1, 0.2], confidence=1.0)


def test_bad_inputs_are_refused():
    scores, relevant = hand_run()
    with pytest.raises(ValueError, match="boolean"):
        over_under(scores, relevant.astype(int))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 3\)"):
        over_under(scores, relevant[:, :3])
    scores[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        over_under(scores, relevant)
    with pytest.raises(ValueError, match="empty"):
        over_under_over_seeds({})
    with pytest.raises(ValueError, match="difference"):
        over_under_summary(pd.DataFrame({"seed": [0], "like_rank": [1]}))
    with pytest.raises(ValueError, match="confidence"):
        over_under_summary(over_under_over_seeds([hand_run()]), confidence=1.5)


def test_torch_inputs():
    scores, relevant = hand_run()
    pd.testing.assert_frame_equal(
        over_under(torch.tensor(scores), torch.tensor(relevant)), over_under(scores, relevant)
    )
