"""Recommender (ftmamba_lite.recommender): your own DataFrames in, recommendations out, saved and loaded."""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import ftmamba_lite
from ftmamba_lite import Recommender
from ftmamba_lite.datasets.splits import hold_out_newest, hold_out_users
from ftmamba_lite.learn import scoring
from ftmamba_lite.learn.scoring import SeenItems, top_k_fast
from ftmamba_lite.metrics import evaluate, top_k
from ftmamba_lite.recommender import RECIPES

FAST = {
    "progress": False,
    "lr": 1e-2,
    "epochs": 12,
    "protocol": "paper",
}  # tiny tables: a large step, a few epochs
TINY = {"d_model": 8, "n_layers": 1}  # the smallest Mamba / Transformer towers


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """40 users, 16 items; a user's taste (rock / jazz) decides the genre of the 5 items they chose."""
    rng = np.random.default_rng(0)
    users = pd.DataFrame(
        {
            "user_id": [f"u{j}" for j in range(40)],
            "age": rng.integers(18, 70, 40),
            "taste": np.where(np.arange(40) % 2 == 0, "rock", "jazz"),
            "plan": rng.choice(["free", "paid"], 40),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": np.arange(100, 116),
            "genre": np.where(np.arange(16) < 8, "rock", "jazz"),
            "year": rng.integers(1960, 2020, 16).astype(float),
        }
    )
    rows = []
    for _, user in users.iterrows():
        pool = items.loc[items["genre"] == user["taste"], "item_id"].to_numpy()
        for item in rng.choice(pool, 5, replace=False):
            rows.append((user["user_id"], item, float(rng.integers(3, 6))))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    return interactions, users, items


@pytest.fixture(scope="module")
def fitted(tables) -> Recommender:
    interactions, users, items = tables
    return Recommender("mlp", seed=0, **FAST).fit(interactions, users, items)


def genre_share(rec: Recommender, frame: pd.DataFrame, items: pd.DataFrame, genre: str) -> float:
    return float((items.set_index("item_id").loc[frame["item_id"], "genre"] == genre).mean())


def test_recommend_known_users_returns_k_unseen_items_best_first(fitted, tables) -> None:
    interactions, users, items = tables
    out = fitted.recommend(["u0", "u1"], k=5)
    assert list(out.columns) == ["user_id", "rank", "item_id", "score"]
    assert list(out["user_id"]) == ["u0"] * 5 + ["u1"] * 5 and list(out["rank"]) == [1, 2, 3, 4, 5] * 2
    for user, group in out.groupby("user_id"):
        assert group["score"].is_monotonic_decreasing
        seen = set(interactions.loc[interactions["user_id"] == user, "item_id"])
        assert not seen & set(group["item_id"])  # exclude_seen: nothing the user interacted with
    # the model learned the taste: the 3 rock items u0 has not seen come first
    assert genre_share(fitted, out[out["user_id"] == "u0"].head(3), items, "rock") == 1.0
    everything = fitted.recommend(["u0"], k=16, exclude_seen=False)
    assert len(everything) == 16 and set(everything["item_id"]) == set(items["item_id"])


def test_recommend_is_the_reference_ranking_in_any_batch_size(fitted, tables, monkeypatch) -> None:
    """The batched, masked top-k against the whole score matrix of TwoTowerModel.score_all, ranked by
    metrics.top_k; a tiny score budget (one user per batch) changes nothing."""
    interactions, users, items = tables
    ids = list(users["user_id"][:7])
    model = fitted.model_
    users_side, items_side = fitted.tables.users, fitted.tables.items
    rows = [users_side.index.get_loc(u) for u in ids]
    scores = model.score_all(
        users_side.x_num[rows], users_side.x_cat[rows], items_side.x_num, items_side.x_cat
    )
    for r, user in enumerate(ids):
        seen = interactions.loc[interactions["user_id"] == user, "item_id"]
        scores[r, np.flatnonzero(items["item_id"].isin(seen))] = -torch.inf
    best = top_k(scores, 4)
    expected = pd.DataFrame(
        {
            "user_id": np.repeat(ids, 4),
            "rank": np.tile(np.arange(1, 5), 7),
            "item_id": items["item_id"].to_numpy()[best.reshape(-1)],
            "score": np.take_along_axis(scores.numpy(), best, 1).reshape(-1).astype(np.float64),
        }
    )
    pd.testing.assert_frame_equal(fitted.recommend(ids, k=4), expected)
    monkeypatch.setattr(scoring, "SCORE_BUDGET", 1)
    pd.testing.assert_frame_equal(fitted.recommend(ids, k=4), expected)
    chunked = copy.copy(fitted)
    chunked._item_emb = model.item_embeddings(
        items_side.x_num, items_side.x_cat, rows_per_pass=3
    )  # passes of 3
    torch.testing.assert_close(chunked._item_emb, fitted._item_emb)
    chunked_out = chunked.recommend(ids, k=4)
    assert list(chunked_out["item_id"]) == list(expected["item_id"])
    np.testing.assert_allclose(chunked_out["score"], expected["score"], rtol=1e-5, atol=1e-6)  # float32 sums


def test_new_users_with_unseen_categories_fall_back_to_their_features(fitted, tables) -> None:
    _, _, items = tables
    new = pd.DataFrame(
        {"user_id": ["n1", "n2"], "age": [30, 45], "taste": ["jazz", "rock"], "plan": ["trial", "free"]}
    )  # "trial" and both ids were never seen
    out = fitted.recommend(new, k=4)
    assert list(out["user_id"]) == ["n1"] * 4 + ["n2"] * 4
    assert genre_share(fitted, out[out["user_id"] == "n1"], items, "jazz") == 1.0
    assert genre_share(fitted, out[out["user_id"] == "n2"], items, "rock") == 1.0
    no_ids = fitted.recommend(new.drop(columns="user_id").set_index(pd.Index([7, 8])), k=2)
    assert list(no_ids["user_id"]) == [7, 7, 8, 8]  # without an id column the frame's index names the users
    # a known id given as a row: its training items are excluded, its row's features are used
    known = fitted.recommend(
        pd.DataFrame({"user_id": ["u0"], "age": [30], "taste": ["rock"], "plan": ["free"]}), k=16
    )
    assert not set(known["item_id"]) & set(fitted.tables.items.ids[fitted.seen.items_of(0)])
    assert len(known) == 11  # 16 items, 5 seen


def test_a_user_who_has_seen_almost_everything_gets_fewer_rows(tables) -> None:
    interactions, users, items = tables
    greedy = pd.DataFrame({"user_id": "u0", "item_id": items["item_id"][:14]})
    rec = Recommender("popularity", progress=False).fit(pd.concat([interactions, greedy]), users, items)
    out = rec.recommend(["u0", "u1"], k=5)
    assert (out["user_id"] == "u0").sum() == 2 and (out["user_id"] == "u1").sum() == 5


def test_popularity_ranks_by_interaction_count(tables) -> None:
    interactions, users, items = tables
    rec = Recommender("popularity", progress=False).fit(interactions, users, items)
    counts = interactions["item_id"].value_counts()
    new = pd.DataFrame({"user_id": ["x"], "age": [20], "taste": ["rock"], "plan": ["free"]})
    out = rec.recommend(new, k=16)
    assert list(counts.loc[out["item_id"]]) == sorted(counts, reverse=True)


@pytest.mark.parametrize("embedder", ["mamba", "transformer", "linear"])
def test_every_embedder_fits_and_recommends(tables, embedder: str) -> None:
    interactions, users, items = tables
    options = TINY if embedder in ("mamba", "transformer") else {}
    rec = Recommender(embedder, progress=False, epochs=1, **options).fit(interactions, users, items)
    assert rec.model_.config.kind == embedder
    if embedder == "mamba":
        assert rec.model_.config.n_layers == 1 and rec.model_.config.d_model == 8
    out = rec.recommend(["u3"], k=3)
    assert len(out) == 3 and np.isfinite(out["score"]).all()


def test_the_paper_protocol_is_one_argument_away(tables) -> None:
    rec = Recommender("mamba", protocol="paper")
    assert (rec.options["d_model"], rec.options["batch_size"], rec.options["lr"]) == (128, 32, 1e-4)
    assert rec.options["loss"] == "mse" and rec.options["n_negatives"] == 1 and rec.options["epochs"] == 1
    default = Recommender("mamba")
    assert default.options["protocol"] == "recommended"
    assert {k: default.options[k] for k in RECIPES["recommended"]} == RECIPES["recommended"]
    assert Recommender("mamba", protocol="paper", lr=5e-4).options["lr"] == 5e-4  # a given value wins
    with pytest.raises(ValueError, match="unknown protocol 'fast'"):
        Recommender("mamba", protocol="fast")


def test_a_carved_validation_split_stops_early_and_keeps_the_best_weights(tables) -> None:
    interactions, users, items = tables
    rec = Recommender("mlp", seed=0, progress=False, batch_size=32, eval_every=2, validation_share=0.2)
    rec.fit(interactions, users, items)
    frame = rec.validation_
    assert frame is not None and len(frame) == len(rec.history_.eval_steps)
    best = rec.history_.best_step
    assert best == int(frame.loc[frame["NDCG@10"].idxmax(), "step"])
    out = rec.recommend(["u0", "u1"], k=3)
    assert genre_share(rec, out[out["user_id"] == "u0"], items, "rock") == 1.0
    assert genre_share(rec, out[out["user_id"] == "u1"], items, "jazz") == 1.0
    seen = set(interactions.loc[interactions["user_id"] == "u0", "item_id"])
    assert not seen & set(out.loc[out["user_id"] == "u0", "item_id"])  # the carved pairs are excluded too


def test_explicit_targets_train_with_mse_on_them(tables) -> None:
    interactions, users, items = tables
    rec = Recommender("mlp", seed=0, **FAST).fit(interactions, users, items, target="rating")
    history = rec.history_
    assert np.mean(history.losses[-10:]) < 0.5 * np.mean(history.losses[:10])
    # implicit feedback samples negatives (twice the triples); explicit trains on the rows as they are
    implicit = Recommender("mlp", seed=0, **FAST).fit(interactions, users, items)
    assert len(history.steps) == 12 * (200 // 32)
    assert len(implicit.history_.steps) == 12 * (400 // 32)


def test_softmax_loss_trains_on_positives_and_learns_the_taste(tables) -> None:
    interactions, users, items = tables
    rec = Recommender("mlp", loss="softmax", batch_size=32, seed=0, **FAST).fit(interactions, users, items)
    assert rec.options["loss"] == "softmax"
    out = rec.recommend(["u0", "u1"], k=3)
    assert genre_share(rec, out[out["user_id"] == "u0"], items, "rock") == 1.0
    assert genre_share(rec, out[out["user_id"] == "u1"], items, "jazz") == 1.0


def test_negatives_are_never_items_the_user_interacted_with() -> None:
    rng = np.random.default_rng(0)
    seen = SeenItems(np.array([0, 0, 1, 1, 1, 1]), np.array([1, 2, 0, 1, 2, 3]), 2, 5)  # user 1 left item 4
    users = np.repeat([0, 1], 500)
    negatives = seen.sample_unseen(users, rng)
    assert not seen.contains(users, negatives).any()
    assert set(negatives[users == 1]) == {4} and set(negatives[users == 0]) == {0, 3, 4}


def test_same_seed_same_recommendations(tables) -> None:
    interactions, users, items = tables
    a = Recommender("mlp", seed=3, **FAST).fit(interactions, users, items).recommend(["u5"], k=5)
    b = Recommender("mlp", seed=3, **FAST).fit(interactions, users, items).recommend(["u5"], k=5)
    pd.testing.assert_frame_equal(a, b)


def test_feature_kinds_are_inferred_and_overridable(tables) -> None:
    interactions, users, items = tables
    rec = Recommender("linear", progress=False).fit(
        interactions, users, items, categorical=["age"], user_features=["age", "taste"]
    )
    assert rec.features["user"] == {"numeric": [], "categorical": ["age", "taste", "user_id"]}
    assert rec.features["item"] == {"numeric": ["year"], "categorical": ["genre", "item_id"]}
    no_ids = Recommender("linear", progress=False, use_ids=False).fit(interactions, users, items)
    assert no_ids.features["user"]["categorical"] == ["taste", "plan"]
    with pytest.raises(ValueError, match="both numeric and categorical"):
        Recommender("linear").fit(interactions, users, items, numeric=["age"], categorical=["age"])
    with pytest.raises(ValueError, match=r"'colour'"):
        Recommender("linear").fit(interactions, users, items, categorical=["colour"])


def test_ids_alone_are_features_when_no_tables_are_given(tables) -> None:
    interactions, _, _ = tables
    rec = Recommender("mlp", **FAST).fit(interactions)
    assert (
        rec.features["user"]["categorical"] == ["user_id"]
        and rec.n_items == interactions["item_id"].nunique()
    )
    assert len(rec.recommend(["u2"], k=3)) == 3
    with pytest.raises(ValueError, match="no users table and use_ids=False"):
        Recommender("mlp", use_ids=False).fit(interactions)


def test_validation_stops_early_and_keeps_the_best_weights(tables) -> None:
    interactions, users, items = tables
    held = interactions.groupby("user_id").tail(1)
    train = interactions.drop(held.index)
    rec = Recommender("mlp", seed=0, eval_every=5, patience=2, metric="HR@5", **{**FAST, "epochs": 40})
    rec.fit(train, users, items, validation=held)
    frame = rec.validation_
    assert list(frame["step"]) == sorted(frame["step"]) and "HR@5" in frame and "NDCG@10" in frame
    assert rec.evaluate(held, k=5, baseline=False)["HR@5"] == pytest.approx(frame["HR@5"].max())
    assert rec.history_.stopped_early == (len(rec.history_.steps) < 40 * 13)


def test_evaluate_is_the_package_metric_on_the_masked_score_matrix(fitted, tables) -> None:
    interactions, users, items = tables
    held = pd.DataFrame({"user_id": ["u0", "u0", "u1", "u4"], "item_id": [100, 101, 115, 103]})
    held = held[
        ~held.set_index(["user_id", "item_id"]).index.isin(
            interactions.set_index(["user_id", "item_id"]).index
        )
    ]
    ids = list(pd.unique(held["user_id"]))
    users_side, items_side = fitted.tables.users, fitted.tables.items
    rows = [users_side.index.get_loc(u) for u in ids]
    scores = fitted.model_.score_all(
        users_side.x_num[rows], users_side.x_cat[rows], items_side.x_num, items_side.x_cat
    )
    relevant = np.zeros(scores.shape, dtype=bool)
    for r, user in enumerate(ids):
        seen = interactions.loc[interactions["user_id"] == user, "item_id"]
        scores[r, np.flatnonzero(items["item_id"].isin(seen))] = -torch.inf
        relevant[r] = items["item_id"].isin(held.loc[held["user_id"] == user, "item_id"]).to_numpy()
    expected = evaluate(scores, relevant, ks=(1, 5), ndcg_ks=(1, 5))
    assert fitted.evaluate(held, k=(1, 5), baseline=False) == pytest.approx(expected)
    both = fitted.evaluate(held, k=(1, 5))
    assert {k: v for k, v in both.items() if not k.startswith("popularity ")} == pytest.approx(expected)
    counts = interactions["item_id"].value_counts().reindex(items["item_id"], fill_value=0).to_numpy()
    popular = np.tile(counts.astype(np.float32), (len(ids), 1))
    popular[~np.isfinite(scores.numpy())] = -np.inf  # the same training items excluded
    expected_popularity = evaluate(popular, relevant, ks=(1, 5), ndcg_ks=(1, 5))
    assert {
        k[len("popularity ") :]: v for k, v in both.items() if k.startswith("popularity ")
    } == pytest.approx(expected_popularity)
    with pytest.raises(ValueError, match="k=20 is out of range.*catalogue size 16"):
        fitted.evaluate(held, k=20)


@pytest.mark.parametrize("embedder", ["mlp", "popularity", "mamba"])
def test_save_and_load_give_bit_identical_recommendations(tables, tmp_path, embedder: str) -> None:
    interactions, users, items = tables
    options = TINY if embedder == "mamba" else {}
    held = interactions.groupby("user_id").tail(1)
    rec = Recommender(embedder, seed=1, progress=False, epochs=2, **options)
    rec.fit(interactions.drop(held.index), users, items)
    new = pd.DataFrame({"user_id": ["n1"], "age": [33], "taste": ["jazz"], "plan": ["gold"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = (rec.recommend(["u0", "u7"], k=6), rec.recommend(new, k=6), rec.evaluate(held))
    rec.save(tmp_path / "model")
    loaded = Recommender.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.recommend(["u0", "u7"], k=6), before[0], check_exact=True)
    pd.testing.assert_frame_equal(loaded.recommend(new, k=6), before[1], check_exact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # popularity does not beat itself
        assert loaded.evaluate(held) == before[2]
    config = json.loads((tmp_path / "model" / "recommender.json").read_text())
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["kind"] == "recommender" and manifest["version"] == ftmamba_lite.__version__
    assert set(manifest["files"]) == {"recommender.json", "weights.pt"}
    assert config["settings"]["embedder"] == embedder and config["tables"]["users"]["id_column"] == "user_id"


def test_save_never_overwrites_what_is_not_a_saved_model(fitted, tmp_path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fitted.save(folder)
    with pytest.raises(FileExistsError, match="not a saved recommender"):
        fitted.save(folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "keep me"
    fitted.save(tmp_path / "model")
    fitted.save(tmp_path / "model", overwrite=True)  # replacing a saved model is allowed
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "manifest.json",
        "recommender.json",
        "weights.pt",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_load_checks_the_files_and_names_them(fitted, tmp_path) -> None:
    path = fitted.save(tmp_path / "model")
    weights = path / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"weights\.pt: does not match its sha256 in manifest\.json"):
        Recommender.load(path)
    (path / "recommender.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"recommender\.json: does not match its sha256"):
        Recommender.load(path)
    (path / "recommender.json").unlink()
    with pytest.raises(ValueError, match=r"recommender\.json: is missing"):
        Recommender.load(path)
    (path / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"manifest\.json not found"):
        Recommender.load(path)


def test_bad_tables_get_errors_that_name_the_column_and_value(tables) -> None:
    interactions, users, items = tables
    rec = Recommender("mlp", progress=False)
    with pytest.raises(ValueError, match="interactions table has no column 'user_id'"):
        rec.fit(interactions.rename(columns={"user_id": "uid"}), users, items)
    with pytest.raises(ValueError, match="items table has no column 'item_id'"):
        rec.fit(interactions, users, items.rename(columns={"item_id": "sku"}))
    stranger = pd.concat(
        [interactions, pd.DataFrame({"user_id": ["ghost"], "item_id": [100], "rating": [1.0]})]
    )
    with pytest.raises(ValueError, match=r"interactions' 'user_id' value\(s\) \['ghost'\].*users table"):
        rec.fit(stranger, users, items)
    with pytest.raises(ValueError, match="the users table is empty"):
        rec.fit(interactions, users.iloc[:0], items)
    with pytest.raises(ValueError, match="the interactions table is empty"):
        rec.fit(interactions.iloc[:0], users, items)
    with pytest.raises(ValueError, match="lists 'user_id' value 'u0' more than once"):
        rec.fit(interactions, pd.concat([users, users.head(1)]), items)
    with pytest.raises(ValueError, match="column 'item_id' of the interactions table is missing a value"):
        rec.fit(
            interactions.assign(item_id=interactions["item_id"].where(interactions.index != 3)), users, items
        )
    with pytest.raises(ValueError, match="column 'rating' of the interactions table is missing a value"):
        rec.fit(interactions.assign(rating=np.nan), users, items, target="rating")
    with pytest.raises(ValueError, match=r"target column 'rating' holds inf at row 3 \(1 such row"):
        rec.fit(
            interactions.assign(rating=interactions["rating"].where(interactions.index != 3, np.inf)),
            users,
            items,
            target="rating",
        )
    with pytest.raises(TypeError, match="interactions must be a pandas DataFrame"):
        rec.fit(interactions.to_numpy(), users, items)
    with pytest.raises(ValueError, match="unknown embedder 'gru'"):
        Recommender("gru")
    with pytest.raises(ValueError, match="a metric looks like 'NDCG@10'"):
        Recommender("mlp", metric="AUC")
    with pytest.raises(RuntimeError, match="not fitted"):
        rec.recommend(["u0"])


def test_bad_recommend_calls_name_the_value(fitted, tables) -> None:
    with pytest.raises(ValueError, match="k=17 is out of range.*catalogue size 16"):
        fitted.recommend(["u0"], k=17)
    with pytest.raises(ValueError, match=r"'user_id' value\(s\) \['nobody'\] are not among the 40 users"):
        fitted.recommend(["u0", "nobody"])
    with pytest.raises(ValueError, match=r"lacks the feature column\(s\) \['taste'\]"):
        fitted.recommend(pd.DataFrame({"user_id": ["n"], "age": [3], "plan": ["free"]}))
    with pytest.raises(ValueError, match="numeric column 'age'"):
        fitted.recommend(
            pd.DataFrame({"user_id": ["n"], "age": ["old"], "taste": ["rock"], "plan": ["free"]})
        )
    with pytest.raises(TypeError, match="list of known 'user_id' values"):
        fitted.recommend("u0")


def test_known_ids_keep_their_type_and_wrong_types_are_named(tables) -> None:
    interactions, users, items = tables
    numbered = users.assign(user_id=range(40))
    inter = interactions.assign(user_id=interactions["user_id"].str[1:].astype(int))
    rec = Recommender("popularity", progress=False).fit(inter, numbered, items)
    out = rec.recommend([np.int64(3), 4], k=2)
    assert out["user_id"].dtype == np.int64 and list(out["user_id"]) == [3, 3, 4, 4]
    with pytest.raises(ValueError, match=r"\['3'\] are not among the 40 users"):
        rec.recommend(["3"])
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        Recommender("mlp", steps=0)
    with pytest.raises(ValueError, match="metric='NDCG@20' ranks more items than the catalogue's 16"):
        Recommender("mlp", metric="NDCG@20").fit(inter.iloc[10:], numbered, items, validation=inter.iloc[:10])


def test_a_failed_refit_leaves_the_fitted_recommender_as_it_was(tables) -> None:
    interactions, users, items = tables
    rec = Recommender("mlp", seed=0, **FAST).fit(interactions, users, items)
    before = rec.recommend(["u0", "u1"], k=5)
    model = rec.model_
    with pytest.raises(ValueError, match="users table has no column 'user_id'"):
        rec.fit(interactions, users.rename(columns={"user_id": "uid"}), items)
    with pytest.raises(ValueError, match="every row of validation was already seen"):
        rec.fit(interactions.iloc[::2], users, items, validation=interactions.iloc[::2])
    assert rec.model_ is model
    pd.testing.assert_frame_equal(rec.recommend(["u0", "u1"], k=5), before)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_top_k_fast_is_the_stable_sort_of_metrics_top_k(k: int) -> None:
    torch.manual_seed(0)
    scores = torch.randn(50, 40)
    ties = torch.round(torch.randn(50, 40) * 2) / 2  # many equal scores
    masked = scores.clone()
    masked[:, :35] = -torch.inf  # fewer than k finite items in some rows (k = 10): the fallback
    for matrix in (scores, ties, masked, torch.zeros(3, 40)):
        np.testing.assert_array_equal(top_k_fast(matrix, k), top_k(matrix, k))
    with pytest.raises(ValueError, match="NaN"):
        top_k_fast(torch.full((2, 5), torch.nan), 2)


def test_evaluate_says_when_the_model_does_not_beat_popularity(tables) -> None:
    interactions, users, items = tables
    held = interactions.groupby("user_id").tail(1)
    rec = Recommender("popularity", progress=False).fit(interactions.drop(held.index), users, items)
    with pytest.warns(UserWarning, match=r"popularity does not beat the popularity ranking.*NDCG@10"):
        result = rec.evaluate(held)
    assert result["NDCG@10"] == pytest.approx(result["popularity NDCG@10"])


def test_new_users_are_measured_from_their_features_only(tables) -> None:
    interactions, users, items = tables
    train, train_users, new_interactions, new_users = hold_out_users(interactions, users, 0.25, seed=1)
    assert set(new_users["user_id"]) == set(new_interactions["user_id"]) and len(new_users) == 10
    assert not set(new_users["user_id"]) & (set(train["user_id"]) | set(train_users["user_id"]))
    rec = Recommender("mlp", seed=0, progress=False, batch_size=32, epochs=40).fit(train, train_users, items)
    result = rec.evaluate(new_interactions, new_users=new_users)
    # the taste decides the genre of every chosen item: the features alone rank far above popularity
    assert result["HR@5"] == 1.0 and result["NDCG@10"] > result["popularity NDCG@10"] + 0.2
    expected = rec.recommend(new_users.drop(columns="user_id"), k=16, exclude_seen=False)
    assert len(expected) == 16 * len(new_users)  # nothing excluded for a new user
    with pytest.raises(ValueError, match=r"value\(s\) \['u0'\] have no row in new_users"):
        rec.evaluate(interactions[interactions["user_id"] == "u0"], new_users=new_users)


def test_hold_out_newest_keeps_each_users_past() -> None:
    frame = pd.DataFrame(
        {
            "user_id": [1] * 10 + [2] * 3 + [3],
            "item_id": range(14),
            "timestamp": [*range(10, 0, -1), 5, 6, 7, 1],
        }
    )
    train, held = hold_out_newest(frame, 0.2)
    assert sorted(held.loc[held["user_id"] == 1, "timestamp"]) == [9, 10]  # the newest 20 %
    assert list(held.loc[held["user_id"] == 2, "timestamp"]) == [7]  # at least one
    assert 3 not in set(held["user_id"]) and len(train) + len(held) == len(frame)  # one interaction: kept
    with pytest.raises(ValueError, match="share must be a number between 0 and 1"):
        hold_out_newest(frame, 1.5)
    with pytest.raises(ValueError, match=r"no column\(s\) \['time'\]"):
        hold_out_newest(frame, time="time")
