"""Tests of the H&M loader and its synthetic file generator (paper Section III-B)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftmamba_lite.datasets.hm import ARTICLE_COLUMNS, load_hm, read_hm, write_synthetic_hm

SIZES = {"n_customers": 1_500, "n_articles": 300, "n_transactions": 12_000}
SMALL = {"n_train": 2_000, "n_valid": 200, "n_test": 20, "n_items": 40}


@pytest.fixture(scope="module")
def hm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hm")
    write_synthetic_hm(directory, seed=1, **SIZES)
    return directory


@pytest.fixture(scope="module")
def hm(hm_dir: Path):
    return read_hm(hm_dir, seed=2, **SMALL)


def broken_copy(hm_dir: Path, tmp_path: Path) -> Path:
    for name in ("customers.csv", "articles.csv", "transactions_train.csv"):
        shutil.copy(hm_dir / name, tmp_path / name)
    return tmp_path


# --- the generated files have the competition's schema ------------------------------------------------------


def test_generated_files_have_the_competition_schema(hm_dir: Path):
    customers = pd.read_csv(hm_dir / "customers.csv")
    assert list(customers.columns) == [
        "customer_id", "FN", "Active", "club_member_status", "fashion_news_frequency", "age", "postal_code",
    ]  # fmt: skip
    assert len(customers) == SIZES["n_customers"] and customers["customer_id"].is_unique
    assert customers["customer_id"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert customers["FN"].dtype == np.float64 and set(customers["FN"].dropna()) == {1.0}
    assert customers["FN"].isna().any() and customers["Active"].isna().any()
    assert set(customers["club_member_status"].dropna()) <= {"ACTIVE", "PRE-CREATE", "LEFT CLUB"}
    assert set(customers["fashion_news_frequency"].dropna()) <= {"NONE", "None", "Regularly", "Monthly"}
    age = customers["age"]
    assert age.dtype == np.float64 and 0 < age.isna().mean() < 0.05 and age.between(16, 99).all() is not False
    assert age.dropna().between(16, 99).all()

    articles = pd.read_csv(hm_dir / "articles.csv")
    assert tuple(articles.columns) == ARTICLE_COLUMNS and len(articles) == SIZES["n_articles"]
    assert articles["article_id"].dtype == np.int64 and articles["article_id"].between(1e8, 1e9 - 1).all()
    assert (articles["article_id"] // 1000 == articles["product_code"]).all()
    raw_ids = pd.read_csv(hm_dir / "articles.csv", dtype=str)["article_id"]
    assert raw_ids.str.fullmatch(r"0\d{9}").all()  # the leading zero of the real files

    transactions = pd.read_csv(hm_dir / "transactions_train.csv")
    assert list(transactions.columns) == ["t_dat", "customer_id", "article_id", "price", "sales_channel_id"]
    assert len(transactions) == SIZES["n_transactions"]
    dates = pd.to_datetime(transactions["t_dat"], format="%Y-%m-%d")
    assert dates.is_monotonic_increasing and dates.min() >= pd.Timestamp("2018-09-20")
    assert dates.max() <= pd.Timestamp("2020-09-22")
    assert set(transactions["sales_channel_id"]) <= {1, 2} and transactions["price"].between(0, 0.6).all()
    assert transactions["customer_id"].isin(customers["customer_id"]).all()
    assert transactions["article_id"].isin(articles["article_id"]).all()
    assert transactions.duplicated(["customer_id", "article_id"]).any()  # repeated purchases occur


def test_generator_is_deterministic_under_seed(tmp_path: Path):
    small = {"n_customers": 200, "n_articles": 60, "n_transactions": 1_000}
    a, b, c = (
        write_synthetic_hm(tmp_path / name, seed=s, **small) for name, s in (("a", 5), ("b", 5), ("c", 6))
    )
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes()
    assert a["transactions_train.csv"].read_bytes() != c["transactions_train.csv"].read_bytes()


# --- the loader's preprocessing -----------------------------------------------------------------------------


def test_items_are_the_most_purchased_articles(hm_dir: Path, hm):
    transactions = pd.read_csv(hm_dir / "transactions_train.csv")
    counts = transactions["article_id"].value_counts()
    assert hm.n_items == SMALL["n_items"] and hm.items.categorical == ("prod_name",) and not hm.items.numeric
    assert list(hm.items.frame["purchases"]) == [counts[a] for a in hm.items.frame["article_id"]]
    assert hm.items.frame["purchases"].is_monotonic_decreasing
    assert hm.items.frame["purchases"].min() >= counts.iloc[SMALL["n_items"]]  # nothing outside is bigger


def test_users_features_and_imputed_ages(hm):
    assert hm.users.numeric == ("age",)
    assert hm.users.categorical == ("FN", "Active", "club_member_status", "fashion_news_frequency")
    assert not hm.users.frame["age"].isna().any()
    assert "None" not in set(hm.users.frame["fashion_news_frequency"].dropna())  # one spelling of NONE


def test_triples_half_positive_and_negatives_never_bought(hm_dir: Path, hm):
    triples = pd.concat([hm.train, hm.valid])
    assert len(hm.train) == SMALL["n_train"] and len(hm.valid) == SMALL["n_valid"]
    assert set(triples["target"].unique()) == {0.0, 1.0}
    assert triples["target"].mean() == pytest.approx(0.5, abs=0.05)
    transactions = pd.read_csv(hm_dir / "transactions_train.csv")
    bought = set(zip(transactions["customer_id"], transactions["article_id"], strict=True))
    customer = hm.users.frame["customer_id"].to_numpy()
    article = hm.items.frame["article_id"].to_numpy()
    pairs = {(customer[u], article[i], t) for u, i, t in triples.itertuples(index=False)}
    assert all(((c, a) in bought) == (t == 1.0) for c, a, t in pairs)  # positives bought, negatives never


def test_test_users_bought_at_least_five_and_are_held_out(hm_dir: Path, hm):
    relevant = hm.test_relevant
    assert relevant.shape == (SMALL["n_test"], SMALL["n_items"]) and (relevant.sum(axis=1) >= 5).all()
    transactions = pd.read_csv(hm_dir / "transactions_train.csv")
    customer = hm.users.frame["customer_id"].to_numpy()
    article = hm.items.frame["article_id"].to_numpy()
    for row, user in enumerate(hm.test_users[:5]):
        bought = set(transactions.loc[transactions["customer_id"] == customer[user], "article_id"])
        np.testing.assert_array_equal(relevant[row], np.isin(article, list(bought)))
    train_users = set(pd.concat([hm.train, hm.valid])["user"])
    assert train_users.isdisjoint(set(hm.test_users))
    np.testing.assert_array_equal(hm.test_targets, relevant.astype(np.float32))


def test_loader_is_deterministic_and_seed_matters(hm_dir: Path, hm):
    again = read_hm(hm_dir, seed=2, **SMALL)
    pd.testing.assert_frame_equal(again.train, hm.train)
    np.testing.assert_array_equal(again.test_users, hm.test_users)
    other = read_hm(hm_dir, seed=3, **SMALL)
    assert not other.train.equals(hm.train)


def test_synthetic_source_runs_the_real_reader():
    ds = load_hm(None, n_train=600, n_valid=60, n_test=10, seed=4, synthetic=SIZES, n_items=30)
    assert ds.name == "hm" and ds.source.startswith("synthetic H&M") and ds.n_items == 30
    assert len(ds.train) == 600 and ds.test_relevant.sum(axis=1).min() >= 5


def test_since_filters_transactions(hm_dir: Path):
    late = read_hm(hm_dir, seed=2, since="2019-09-22", **{**SMALL, "n_train": 200, "n_valid": 0})
    assert late.info["n_used"] < late.info["n_transactions"]


# --- errors name the problem --------------------------------------------------------------------------------


def test_missing_directory_file_and_column(hm_dir: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_hm(tmp_path / "nowhere")
    folder = broken_copy(hm_dir, tmp_path)
    (folder / "articles.csv").unlink()
    with pytest.raises(FileNotFoundError, match="articles.csv"):
        read_hm(folder)
    shutil.copy(hm_dir / "articles.csv", folder / "articles.csv")
    customers = pd.read_csv(folder / "customers.csv").drop(columns=["club_member_status"])
    customers.to_csv(folder / "customers.csv", index=False)
    with pytest.raises(ValueError, match=r"customers.csv.*club_member_status"):
        read_hm(folder)


def test_unparseable_date_is_named(hm_dir: Path, tmp_path: Path):
    folder = broken_copy(hm_dir, tmp_path)
    transactions = pd.read_csv(folder / "transactions_train.csv", dtype=str)
    transactions.loc[3, "t_dat"] = "2020-13-45"
    transactions.to_csv(folder / "transactions_train.csv", index=False)
    with pytest.raises(ValueError, match=r"t_dat.*2020-13-45"):
        read_hm(folder, **SMALL)


def test_unknown_article_and_empty_results(hm_dir: Path, tmp_path: Path):
    folder = broken_copy(hm_dir, tmp_path)
    with pytest.raises(ValueError, match="no transactions left.*since"):
        read_hm(folder, since="2030-01-01")
    with pytest.raises(ValueError, match=r"customers bought at least 50 distinct"):
        read_hm(folder, **{**SMALL, "min_test_purchases": 50})
    with pytest.raises(ValueError, match="since='yesterday'"):
        read_hm(folder, since="yesterday")
    transactions = pd.read_csv(folder / "transactions_train.csv", dtype=str)
    transactions.loc[0, "article_id"] = "0999999999"
    transactions.to_csv(folder / "transactions_train.csv", index=False)
    with pytest.raises(ValueError, match=r"article_id missing from articles.csv.*0999999999"):
        read_hm(folder)
