"""Tests of ftmamba_lite.datasets.movielens: the leave-one-out split, training windows, the GroupLens and
atomic-file loaders (and their errors), the synthetic generator, and RecBole's real ML-100K."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from ftmamba_lite.datasets.movielens import (
    SequenceDataset,
    leave_one_out,
    load_movielens,
    pad_histories,
    read_atomic,
    read_grouplens,
    synthetic_sequences,
    training_windows,
)

# (user, item, rating, timestamp): user 7 has a tie at t=5 (file order 30 then 10 must be kept), user 9 has
# only two ratings (dropped: leave-one-out needs three).
RATINGS = [
    (7, 30, 4, 5), (8, 10, 3, 1), (7, 20, 5, 2), (7, 10, 1, 5), (8, 40, 2, 3), (9, 20, 4, 1),
    (8, 30, 5, 2), (7, 40, 3, 9), (9, 10, 2, 2), (8, 20, 4, 4),
]  # fmt: skip
EXPECTED = {7: [20, 30, 10, 40], 8: [10, 30, 40, 20]}  # original item ids in time order


def write_100k(folder: Path, ratings=RATINGS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join("\t".join(map(str, r)) + "\n" for r in ratings))
    (folder / "u.user").write_text("7|24|M|technician|85711\n8|53|F|other|94043\n9|23|M|writer|32067\n")
    genres = "|".join(["0"] * 19)
    titles = {10: "Ten (1995)", 20: "Twenty (1996)", 30: "Thirty (1997)", 40: "Forty (1998)"}
    (folder / "u.item").write_text(
        "".join(f"{i}|{t}|01-Jan-1995||http://x|{genres}\n" for i, t in titles.items()), encoding="latin-1"
    )
    return folder


def write_1m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text("".join("::".join(map(str, r)) + "\n" for r in RATINGS))
    (folder / "movies.dat").write_text(
        "10::Ten (1995)::Drama\n20::Twenty::Comedy|Drama\n", encoding="latin-1"
    )
    return folder


def write_atomic(folder: Path, name: str = "tiny", header: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    head = header or "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    (folder / f"{name}.inter").write_text(
        head + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in RATINGS)
    )
    (folder / f"{name}.item").write_text(
        "item_id:token\tmovie_title:token_seq\n10\tTen\n20\tTwenty\n30\tThirty\n40\tForty\n"
    )
    (folder / f"{name}.user").write_text("user_id:token\tage:token\n7\t24\n8\t53\n9\t23\n")
    return folder


def original_sequences(data: SequenceDataset) -> dict[int, list[int]]:
    return {
        int(u): [int(data.item_ids[i - 1]) for i in s]
        for u, s in zip(data.user_ids, data.sequences, strict=True)
    }


@pytest.mark.parametrize("writer", [write_100k, write_1m, write_atomic], ids=["ml-100k", "ml-1m", "atomic"])
def test_every_layout_gives_time_ordered_sequences_with_stable_ties(tmp_path: Path, writer) -> None:
    data = load_movielens(writer(tmp_path / "data"))
    assert original_sequences(data) == EXPECTED  # user 9 (two ratings) dropped, ties in file order
    assert data.n_items == 4 and list(data.item_ids) == [10, 20, 30, 40]
    assert data.n_interactions == 8


def test_side_files_are_aligned_to_the_new_ids(tmp_path: Path) -> None:
    data = load_movielens(write_100k(tmp_path / "ml"))
    assert data.titles([1, 4]) == ["Ten (1995)", "Forty (1998)"]
    assert list(data.users["user_id"]) == [7, 8] and list(data.users["occupation"]) == ["technician", "other"]
    atomic = load_movielens(write_atomic(tmp_path / "at"))
    assert atomic.titles([2, 3]) == ["Twenty", "Thirty"]
    partial = load_movielens(write_1m(tmp_path / "m1"))  # movies.dat lists two of the four movies
    assert partial.name == "ml-1m" and partial.titles([1]) == ["Ten (1995)"]


def test_zip_archive_is_extracted_once_into_the_cache(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml-100k")
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.iterdir():
            zf.write(path, f"ml-100k/{path.name}")
    cache = tmp_path / "cache"
    data = load_movielens(archive, cache_dir=cache)
    assert original_sequences(data) == EXPECTED
    assert list(cache.rglob("u.data")), "the archive was not extracted under cache_dir"
    assert original_sequences(load_movielens(archive, cache_dir=cache)) == EXPECTED  # from the cache


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_movielens(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"u\.data.*ratings\.dat"):
        load_movielens(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"u\.data \(ml-100k\)"):
        read_grouplens(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"missing\.inter"):
        read_atomic(write_atomic(tmp_path / "at"), name="missing")
    with pytest.raises(FileNotFoundError, match="archive"):
        load_movielens(tmp_path / "absent.zip")


def test_malformed_grouplens_file_is_named_with_its_line(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml")
    lines = (folder / "u.data").read_text().splitlines()
    lines[3] = "7 oops"
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"u\.data: line 4 has no integer"):
        load_movielens(folder)


def test_atomic_file_errors_name_the_file_and_column(tmp_path: Path) -> None:
    folder = write_atomic(tmp_path / "a", header="user_id:token\titem_id:token\trating:float\ttime:float")
    with pytest.raises(ValueError, match=r"tiny\.inter lacks column\(s\) \['timestamp'\]"):
        load_movielens(folder)
    folder = write_atomic(tmp_path / "b", header="user_id\titem_id\trating\ttimestamp")
    with pytest.raises(ValueError, match=r"tiny\.inter: header fields .* name:type"):
        load_movielens(folder)
    folder = write_atomic(tmp_path / "c")
    (folder / "other.inter").write_text("user_id:token\n")
    with pytest.raises(FileNotFoundError, match=r"2 \*\.inter file"):
        read_atomic(folder)


def test_unknown_url_kind_and_synthetic_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.zip"):
        load_movielens("https://example.org/ml-100k/")
    with pytest.raises(ValueError, match="synthetic source only"):
        load_movielens(write_100k(tmp_path / "ml"), n_users=5)


def test_leave_one_out_holds_out_the_last_two_items() -> None:
    data = synthetic_sequences(n_users=5, n_items=40, min_length=3, max_length=9, n_topics=4, seed=1)
    split = leave_one_out(data)
    for u, seq in enumerate(data.sequences):
        np.testing.assert_array_equal(split.train[u], seq[:-2])
        assert split.valid_target[u] == seq[-2] and split.test_target[u] == seq[-1]
        np.testing.assert_array_equal(split.valid_histories()[u], seq[:-2])
        np.testing.assert_array_equal(split.test_histories()[u], seq[:-1])
    counts = split.item_counts(data.n_items)
    assert counts.shape == (40,) and counts.sum() == sum(len(s) - 2 for s in data.sequences)


@pytest.mark.parametrize("max_len", [1, 3, 4, 50])
def test_training_windows_hold_every_prefix_once(max_len: int) -> None:
    train = [np.arange(1, 12), np.array([20, 21]), np.array([30])]  # 10 + 1 + 0 examples, ids unique
    inputs, targets = training_windows(train, max_len)
    assert inputs.shape[1] <= max_len
    contexts = {}
    for x, y in zip(inputs, targets, strict=True):
        n = int((y > 0).sum())
        assert n > 0 and (x[n:] == 0).all() and (y[n:] == 0).all()
        for t in range(n):
            assert int(y[t]) not in contexts, "a target appears twice"
            contexts[int(y[t])] = list(x[: t + 1])
    assert sorted(contexts) == [*range(2, 12), 21]
    for target, context in contexts.items():  # the items just before the target, newest last
        source = list(train[0] if target < 20 else train[1])
        end = source.index(target)
        assert context == source[end - len(context) : end] and 1 <= len(context) <= max_len
    if max_len >= 10:  # histories up to max_len: exactly the prefixes, one window per user
        assert all(len(contexts[t]) == t - 1 for t in range(2, 12))


def test_pad_histories_keeps_the_last_items_right_padded() -> None:
    items, lengths = pad_histories([np.array([1, 2, 3, 4, 5]), np.array([7])], max_len=3)
    np.testing.assert_array_equal(items, [[3, 4, 5], [7, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1])
    with pytest.raises(ValueError, match="max_len"):
        pad_histories([np.array([1])], 0)


def test_synthetic_sequences_are_deterministic_and_follow_their_rule() -> None:
    a = synthetic_sequences(n_users=60, n_items=50, n_topics=5, seed=3)
    b = synthetic_sequences(n_users=60, n_items=50, n_topics=5, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a.sequences, b.sequences, strict=True))
    assert not np.array_equal(
        a.sequences[0], synthetic_sequences(n_users=60, n_items=50, n_topics=5).sequences[0]
    )
    lengths = a.lengths()
    assert lengths.min() >= 20 and lengths.max() <= 80
    successor = a.info["successor"]
    follows = np.mean([np.mean(successor[s[:-1] - 1] == s[1:]) for s in a.sequences])
    assert follows == pytest.approx(a.info["p_follow"], abs=0.05)  # the successor rule, plus chance hits
    with pytest.raises(ValueError, match="n_topics"):
        synthetic_sequences(n_items=5, n_topics=10)


def test_sequence_dataset_refuses_short_or_out_of_range_sequences() -> None:
    ids = np.arange(1, 4)
    with pytest.raises(ValueError, match="at least 3"):
        SequenceDataset("x", (np.array([1, 2]),), 3, np.array([0]), ids)
    with pytest.raises(ValueError, match="outside 1..3"):
        SequenceDataset("x", (np.array([1, 2, 4]),), 3, np.array([0]), ids)


def test_recbole_ml100k_is_the_real_dataset(ml100k: SequenceDataset) -> None:
    assert (ml100k.n_users, ml100k.n_items, ml100k.n_interactions) == (943, 1682, 100_000)
    assert ml100k.lengths().min() >= 20  # every ML-100K user rated at least 20 movies
    assert ml100k.titles([1])[0] == "Toy Story"
    assert "RecBole 1.2.1" in ml100k.source


def test_movielens_tables_are_the_real_user_and_item_tables(ml100k: SequenceDataset) -> None:
    """RecBole's wheel ships ml-100k.user and ml-100k.item: age, gender, occupation; release year, genres."""
    from ftmamba_lite.datasets.movielens import load_movielens_tables

    interactions, users, items = load_movielens_tables("recbole")
    assert interactions.shape == (100_000, 4) and users.shape[0] == 943 and items.shape[0] == 1682
    assert list(users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]
    assert users["age"].between(7, 73).all() and set(users["gender"]) == {"F", "M"}
    genres = [c for c in items.columns if c.startswith("genre_")]
    assert len(genres) == 19 and items[genres].isin([0, 1]).all().all()
    toy_story = items.loc[items["item_id"] == 1].iloc[0]
    assert toy_story["title"] == "Toy Story" and toy_story["release_year"] == 1995
    assert toy_story[["genre_Animation", "genre_Children's", "genre_Comedy"]].sum() == 3
    assert items["release_year"].notna().all() and interactions["rating"].between(1, 5).all()
    assert interactions["user_id"].isin(users["user_id"]).all()
    assert interactions["item_id"].isin(items["item_id"]).all()
