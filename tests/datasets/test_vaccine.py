"""Tests of the vaccine messaging environment (paper Section III-C)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftmamba_lite.datasets.vaccine import (
    USER_DISTRIBUTIONS,
    VACCINE_GRID,
    load_vaccine,
    read_messages,
    sample_vaccine_users,
)

SMALL = {"n_users": 3_000, "n_train": 20_000, "n_valid": 500, "n_test": 40}


@pytest.fixture(scope="module")
def vaccine():
    return load_vaccine(clusters=5, messages=10, seed=1, **SMALL)


def test_package_messages():
    messages = read_messages()
    assert len(messages) == 100 and messages["text"].is_unique
    assert list(messages["message_id"]) == list(range(100))
    assert messages["text"].str.len().between(20, 200).all()
    assert messages["text"].str.contains("vaccin", case=False).mean() > 0.8


def test_user_features_follow_the_documented_distributions():
    users = sample_vaccine_users(20_000, np.random.default_rng(0))
    assert list(users.columns) == ["age", *USER_DISTRIBUTIONS]
    assert users["age"].between(18, 90).all()
    for name, distribution in USER_DISTRIBUTIONS.items():
        shares = users[name].value_counts(normalize=True)
        for value, p in distribution.items():
            assert shares.get(value, 0.0) == pytest.approx(p, abs=0.015), (name, value)


def test_tables_and_message_count(vaccine):
    assert vaccine.n_items == 10 and vaccine.n_users == SMALL["n_users"] + SMALL["n_test"]
    assert vaccine.users.numeric == ("age",) and vaccine.users.categorical == tuple(USER_DISTRIBUTIONS)
    assert vaccine.items.categorical == ("message",) and not vaccine.items.numeric
    ids = vaccine.items.frame["message"].to_numpy()
    assert len(set(ids)) == 10 and (np.diff(ids) > 0).all() and ids.max() < 100
    assert len(vaccine.train) == SMALL["n_train"] and vaccine.train["user"].max() < SMALL["n_users"]
    assert (vaccine.test_users >= SMALL["n_users"]).all()


def test_targets_follow_the_cluster_match_probabilities(vaccine):
    users, items = vaccine.info["user_clusters"], vaccine.info["message_clusters"]
    match = users[vaccine.train["user"]] == items[vaccine.train["item"]]
    target = vaccine.train["target"].to_numpy()
    assert target[match].mean() == pytest.approx(vaccine.info["p_match"], abs=0.03)
    assert target[~match].mean() == pytest.approx(vaccine.info["p_other"], abs=0.02)
    expected = users[vaccine.test_users][:, None] == items[None, :]
    np.testing.assert_array_equal(vaccine.test_relevant, expected)
    assert (vaccine.test_relevant.sum(axis=1) >= 1).all()
    assert set(np.unique(vaccine.test_targets)) <= {np.float32(0.9), np.float32(0.1)}


@pytest.mark.parametrize(("clusters", "messages"), [(5, 5), (5, 20), (10, 20)])
def test_clusters_and_relevant_messages_per_user(clusters: int, messages: int):
    ds = load_vaccine(clusters=clusters, messages=messages, seed=0, **{**SMALL, "n_train": 100})
    assert set(ds.info["message_clusters"]) == set(range(clusters))  # every message cluster used
    assert set(ds.info["user_clusters"]) <= set(range(clusters))
    if clusters == messages:
        assert (ds.test_relevant.sum(axis=1) == 1).all()  # one message per cluster
    assert ds.test_relevant.sum(axis=1).mean() == pytest.approx(messages / clusters, rel=0.6)


def test_paper_grid_and_choices_validated():
    assert VACCINE_GRID == ((25, 25), (25, 50), (25, 100), (50, 50), (50, 100), (100, 100))
    with pytest.raises(ValueError, match="clusters <= messages"):
        load_vaccine(clusters=50, messages=25, **SMALL)
    with pytest.raises(ValueError, match="messages <= 100"):
        load_vaccine(clusters=25, messages=101, **SMALL)
    with pytest.raises(ValueError, match="item_features"):
        load_vaccine(item_features="embedding", **SMALL)
    with pytest.raises(ValueError, match="probabilities"):
        load_vaccine(p_match=1.5, **SMALL)


def test_deterministic_under_seed(vaccine):
    again = load_vaccine(clusters=5, messages=10, seed=1, **SMALL)
    pd.testing.assert_frame_equal(again.train, vaccine.train)
    np.testing.assert_array_equal(again.info["user_clusters"], vaccine.info["user_clusters"])
    other = load_vaccine(clusters=5, messages=10, seed=2, **SMALL)
    assert not np.array_equal(other.info["message_ids"], vaccine.info["message_ids"])


def test_text_features_and_own_messages(tmp_path: Path):
    ds = load_vaccine(clusters=3, messages=6, item_features="text", seed=0, **{**SMALL, "n_train": 50})
    assert not ds.items.categorical and len(ds.items.numeric) >= 3
    norms = np.linalg.norm(ds.items.frame[list(ds.items.numeric)].to_numpy(), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    own = tmp_path / "messages.csv"
    pd.DataFrame(
        {
            "text": [
                f"Vaccines protect {w} today"
                for w in ("families", "nurses", "teachers", "farmers", "drivers", "bakers")
            ]
        }
    ).to_csv(own, index=False)
    mine = load_vaccine(own, clusters=2, messages=4, seed=0, **{**SMALL, "n_train": 50})
    assert mine.n_items == 4 and str(own) in mine.source
    pd.DataFrame({"message": ["x", "y"]}).to_csv(own, index=False)
    with pytest.raises(ValueError, match="lacks the column 'text'"):
        load_vaccine(own, clusters=1, messages=1, **SMALL)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_vaccine(tmp_path / "none.csv", **SMALL)
