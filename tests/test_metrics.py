"""Tests of ftmamba_lite.metrics: hand-computed cases, a brute-force reference, ties, ceilings and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ftmamba_lite.metrics import evaluate, metric_ceiling, per_user_metrics, top_k


def reference_metrics(scores: list[list[float]], relevant: list[list[bool]], ks, map_ks) -> list[dict]:
    """Pure-Python metrics straight from the definitions (sorted() with key (-score, index))."""
    rows = []
    for s, rel in zip(scores, relevant, strict=True):
        ranking = sorted(range(len(s)), key=lambda i: (-s[i], i))
        n_rel = sum(rel)
        row = {}
        for k in ks:
            hits = sum(rel[i] for i in ranking[:k])
            first = next((pos + 1 for pos, i in enumerate(ranking[:k]) if rel[i]), None)
            row[f"P@{k}"] = hits / k
            row[f"R@{k}"] = hits / n_rel if n_rel else 0.0
            row[f"MRR@{k}"] = 1 / first if first else 0.0
            row[f"HR@{k}"] = 1.0 if hits else 0.0
        for k in map_ks:
            total, hits = 0.0, 0
            for pos, i in enumerate(ranking[:k], start=1):
                if rel[i]:
                    hits += 1
                    total += hits / pos
            row[f"MAP@{k}"] = total / min(n_rel, k) if n_rel else 0.0
        rows.append(row)
    return rows


def test_single_user_by_hand():
    # ranking by score: items 1, 3, 2, 4, 0; relevant items 0 and 2 sit at positions 5 and 3
    scores = np.array([[0.1, 0.9, 0.5, 0.7, 0.3]])
    relevant = np.array([[True, False, True, False, False]])
    got = evaluate(scores, relevant, ks=(1, 3, 5), map_ks=(1, 3, 5))
    expected = {
        "P@1": 0.0, "P@3": 1 / 3, "P@5": 2 / 5,
        "R@1": 0.0, "R@3": 1 / 2, "R@5": 1.0,
        "MRR@1": 0.0, "MRR@3": 1 / 3, "MRR@5": 1 / 3,
        "HR@1": 0.0, "HR@3": 1.0, "HR@5": 1.0,
        "MAP@1": 0.0, "MAP@3": (1 / 3) / 2, "MAP@5": (1 / 3 + 2 / 5) / 2,
    }  # fmt: skip
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name


def test_means_over_users_count_users_without_relevant_items_as_zero():
    scores = np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    relevant = np.array([[True, False, False, False], [True, True, False, False], [False] * 4])
    got = evaluate(scores, relevant, ks=(1, 2), map_ks=(4,))
    # user 0: hit at position 1; user 1: hits at positions 3 and 4; user 2: nothing relevant (all zeros)
    assert got["P@1"] == pytest.approx(1 / 3)
    assert got["R@1"] == pytest.approx(1 / 3)
    assert got["MRR@1"] == pytest.approx(1 / 3)
    assert got["HR@1"] == pytest.approx(1 / 3)
    assert got["P@2"] == pytest.approx((1 / 2) / 3)
    assert got["R@2"] == pytest.approx(1 / 3)
    assert got["MAP@4"] == pytest.approx((1.0 + (1 / 3 + 2 / 4) / 2 + 0.0) / 3)
    table = per_user_metrics(scores, relevant, ks=(1, 2), map_ks=(4,))
    assert table.shape == (3, 9)
    assert (table.loc[2] == 0).all()


def test_map_denominator_is_min_of_relevant_and_k():
    # 3 relevant items, k = 2, both top-2 items relevant: AP@2 = (1 + 1) / min(3, 2) = 1
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    relevant = np.array([[True, True, True, False, False]])
    assert evaluate(scores, relevant, ks=(), map_ks=(2,)) == {"MAP@2": pytest.approx(1.0)}


def test_column_order_and_default_ks():
    rng = np.random.default_rng(0)
    table = per_user_metrics(rng.random((4, 12)), rng.random((4, 12)) < 0.3, map_ks=(12,))
    assert list(table.columns) == [
        *(f"{m}@{k}" for m in ("P", "R", "MRR", "HR") for k in (1, 5, 10)),
        "MAP@12",
    ]


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (20, 10), (37, 50), (8, 100)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_reference(shape, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=shape).astype(float)  # few distinct values: many ties
    relevant = rng.random(shape) < rng.uniform(0, 0.6, size=(shape[0], 1))  # some users have none
    n_items = shape[1]
    ks = sorted({1, min(3, n_items), n_items})
    map_ks = sorted({1, min(12, n_items)})
    got = per_user_metrics(scores, relevant, ks=ks, map_ks=map_ks)
    expected = reference_metrics(scores.tolist(), relevant.tolist(), ks, map_ks)
    for user, row in enumerate(expected):
        for name, value in row.items():
            assert got.loc[user, name] == pytest.approx(value), (user, name)


def test_top_k_breaks_ties_by_lower_item_index():
    scores = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 2.0, 1.0], [3.0, 1.0, 3.0, 3.0]])
    np.testing.assert_array_equal(top_k(scores, 4), [[0, 1, 2, 3], [1, 2, 0, 3], [0, 2, 3, 1]])
    np.testing.assert_array_equal(top_k(scores, 2), [[0, 1], [1, 2], [0, 2]])


def test_tie_breaking_decides_hits():
    scores = np.array([[1.0, 1.0, 1.0]])
    assert evaluate(scores, np.array([[True, False, False]]), ks=(1,))["HR@1"] == 1.0
    assert evaluate(scores, np.array([[False, False, True]]), ks=(1,))["HR@1"] == 0.0


def test_torch_inputs_give_the_numpy_result():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(6, 9)).astype(np.float32)
    relevant = rng.random((6, 9)) < 0.4
    expected = evaluate(scores, relevant, ks=(1, 3), map_ks=(5,))
    assert evaluate(torch.from_numpy(scores), torch.from_numpy(relevant), ks=(1, 3), map_ks=(5,)) == expected
    np.testing.assert_array_equal(top_k(torch.from_numpy(scores), 4), top_k(scores, 4))
    half = torch.from_numpy(scores).to(torch.bfloat16)
    assert evaluate(half, relevant, ks=(1,)) == evaluate(half.float().numpy(), relevant, ks=(1,))


def test_metric_ceiling_by_hand():
    relevant = np.array([[True, True, False, False, False], [False] * 5, [True, False, False, False, False]])
    got = metric_ceiling(relevant, ks=(1, 2, 3), map_ks=(3,))
    # users: 2 relevant, none, 1 relevant
    expected = {
        "P@1": 2 / 3, "P@2": (1 + 0 + 1 / 2) / 3, "P@3": (2 / 3 + 0 + 1 / 3) / 3,
        "R@1": (1 / 2 + 0 + 1) / 3, "R@2": 2 / 3, "R@3": 2 / 3,
        "MRR@1": 2 / 3, "MRR@2": 2 / 3, "MRR@3": 2 / 3,
        "HR@1": 2 / 3, "HR@2": 2 / 3, "HR@3": 2 / 3,
        "MAP@3": 2 / 3,
    }  # fmt: skip
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name


def test_no_ranking_beats_the_ceiling():
    rng = np.random.default_rng(4)
    relevant = rng.random((50, 20)) < 0.15
    ceiling = metric_ceiling(relevant, ks=(1, 5, 10), map_ks=(12,))
    for _ in range(20):
        got = evaluate(rng.normal(size=(50, 20)), relevant, ks=(1, 5, 10), map_ks=(12,))
        assert all(got[name] <= ceiling[name] + 1e-12 for name in got)
    assert ceiling["HR@1"] == pytest.approx(relevant.any(axis=1).mean())


@pytest.mark.parametrize("k", [0, -1, 5])
def test_k_out_of_range(k):
    scores, relevant = np.zeros((2, 4)), np.zeros((2, 4), dtype=bool)
    with pytest.raises(ValueError, match=rf"k={k}.*catalogue size 4"):
        evaluate(scores, relevant, ks=(k,))
    with pytest.raises(ValueError, match=rf"k={k}.*catalogue size 4"):
        evaluate(scores, relevant, ks=(1,), map_ks=(k,))
    with pytest.raises(ValueError, match=rf"k={k}.*catalogue size 4"):
        top_k(scores, k)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        evaluate(np.zeros((2, 3)), np.zeros((2, 4), dtype=bool))


@pytest.mark.parametrize("relevant", [np.ones((2, 3), dtype=int), np.ones((2, 3)), torch.ones(2, 3)])
def test_non_boolean_relevance_is_refused(relevant):
    with pytest.raises(ValueError, match="boolean"):
        evaluate(np.zeros((2, 3)), relevant, ks=(1,))
    with pytest.raises(ValueError, match="boolean"):
        metric_ceiling(relevant, ks=(1,))


def test_nan_scores_are_refused():
    scores = np.zeros((2, 3))
    scores[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate(scores, np.zeros((2, 3), dtype=bool), ks=(1,))
    with pytest.raises(ValueError, match="NaN"):
        top_k(torch.tensor(scores), 1)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="2-D"):
        evaluate(np.zeros(3), np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="numeric"):
        evaluate(np.array([["a", "b"]]), np.zeros((1, 2), dtype=bool), ks=(1,))
    with pytest.raises(ValueError, match="at least one truncation"):
        evaluate(np.zeros((1, 2)), np.zeros((1, 2), dtype=bool), ks=(), map_ks=())


def test_infinite_scores_rank_at_the_ends():
    scores = np.array([[-math.inf, 0.0, math.inf]])
    np.testing.assert_array_equal(top_k(scores, 3), [[2, 1, 0]])


def brute_force_ndcg(scores: np.ndarray, relevant: np.ndarray, k: int) -> list[float]:
    out = []
    for s, rel in zip(scores, relevant, strict=True):
        ranking = sorted(range(len(s)), key=lambda i: (-s[i], i))[:k]
        dcg = sum(1 / math.log2(pos + 2) for pos, i in enumerate(ranking) if rel[i])
        idcg = sum(1 / math.log2(pos + 2) for pos in range(min(int(rel.sum()), k)))
        out.append(dcg / idcg if idcg else 0.0)
    return out


@pytest.mark.parametrize("k", [1, 3, 10, 25])
def test_ndcg_matches_a_brute_force_reference(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 6, size=(40, 25)).astype(float)  # many ties: the stable order decides
    relevant = rng.random((40, 25)) < 0.2
    relevant[0] = False  # a user without relevant items scores 0
    got = per_user_metrics(scores, relevant, ks=(), ndcg_ks=(k,))[f"NDCG@{k}"].to_numpy()
    np.testing.assert_allclose(got, brute_force_ndcg(scores, relevant, k), rtol=1e-12)
    assert got[0] == 0.0 and ((0 <= got) & (got <= 1)).all()
    perfect = evaluate(relevant.astype(float), relevant, ks=(), ndcg_ks=(k,))[f"NDCG@{k}"]
    assert perfect == pytest.approx(float(relevant.any(axis=1).mean()))
