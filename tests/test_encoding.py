import json

import numpy as np
import pandas as pd
import pytest
import torch

from ftmamba_lite.encoding import MISSING, TableEncoder
from ftmamba_lite.tokenizer import FeatureTokenizer


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "age": [20.0, 30.0, 40.0, 50.0],
            "club": ["ACTIVE", "LEFT CLUB", "ACTIVE", None],
            "fn": [1.0, np.nan, 1.0, 1.0],
        }
    )


def test_fit_transform_builds_vocabularies_with_missing_as_a_category(frame):
    enc = TableEncoder(numeric=["age"], categorical=["club", "fn"]).fit(frame)
    assert enc.cardinalities == [3, 2]  # club: ACTIVE, LEFT CLUB, <missing>; fn: 1.0, <missing>
    x_num, x_cat = enc.transform(frame)
    assert x_num.dtype == torch.float32 and x_cat.dtype == torch.int64
    assert x_num.shape == (4, 1) and x_cat.shape == (4, 2)
    assert x_cat[0, 0] == x_cat[2, 0] != x_cat[1, 0]
    assert x_cat[1, 1] != x_cat[0, 1]
    torch.testing.assert_close(x_num[:, 0], torch.tensor([20.0, 30.0, 40.0, 50.0]))


def test_unseen_category_maps_to_reserved_index_and_strict_raises(frame):
    enc = TableEncoder(numeric=["age"], categorical=["club"]).fit(frame)
    new = pd.DataFrame({"age": [33.0], "club": ["PRE-CREATE"]})
    _, x_cat = enc.transform(new)
    assert x_cat.item() == enc.cardinalities[0]  # K_j: the unknown row
    with pytest.raises(ValueError, match="unseen category.*PRE-CREATE.*'club'"):
        enc.transform(new, strict=True)


def test_encoded_tables_feed_the_tokenizer(frame):
    enc = TableEncoder(numeric=["age"], categorical=["club", "fn"], standardize=True).fit(frame)
    tok = FeatureTokenizer(1, enc.cardinalities, 8, feature_names=enc.feature_names)
    tokens = tok(*enc.transform(pd.DataFrame({"age": [25.0], "club": ["nope"], "fn": [np.nan]})))
    assert tokens.shape == (1, 4, 8)


def test_standardize_uses_fitted_statistics(frame):
    enc = TableEncoder(numeric=["age"], standardize=True).fit(frame)
    x_num, _ = enc.transform(frame)
    assert abs(x_num.mean().item()) < 1e-6
    assert abs(x_num.std(unbiased=False).item() - 1) < 1e-5


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda f: f.drop(columns=["club"]), r"unknown column\(s\) \['club'\]"),
        (lambda f: f.assign(age=[1.0, np.nan, 2.0, 3.0]), "NaN in numeric column 'age'"),
        (lambda f: f.assign(age=["a", "b", "c", "d"]), "numeric column 'age' has non-numeric dtype"),
    ],
)
def test_bad_tables_name_the_column(frame, make_bad, message):
    enc = TableEncoder(numeric=["age"], categorical=["club"]).fit(frame)
    with pytest.raises(ValueError, match=message):
        enc.transform(make_bad(frame))


def test_transform_before_fit_raises(frame):
    with pytest.raises(RuntimeError, match="not fitted"):
        TableEncoder(numeric=["age"]).transform(frame)


def test_state_round_trip_encodes_identically_and_keeps_category_types() -> None:
    frame = pd.DataFrame(
        {
            "age": [20.0, 31.5, 47.0, 20.0],
            "city": ["a", "b", None, "a"],
            "code": [1, "x", "1", 2.5],
            "flag": [True, False, True, True],
        }
    )
    encoder = TableEncoder(["age"], ["city", "code", "flag"], standardize=True).fit(frame)
    state = encoder.to_state()
    clone = TableEncoder.from_state(json.loads(json.dumps(state)))  # plain JSON types only
    new = pd.DataFrame({"age": [25.0, 60.0], "city": ["b", "zzz"], "code": ["1", 2], "flag": [False, True]})
    for a, b in zip(clone.transform(new), encoder.transform(new), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert clone.cardinalities == encoder.cardinalities == [3, 4, 2]
    assert {kind for kind, _ in state["vocabularies"]["code"]} == {"int", "str", "float"}
    assert {kind for kind, _ in state["vocabularies"]["flag"]} == {"bool"}
    with pytest.raises(TypeError, match="column 'when'"):
        TableEncoder([], ["when"]).fit(pd.DataFrame({"when": pd.to_datetime(["2020-01-01"])})).to_state()


def test_a_category_named_missing_stays_apart_from_missing_values() -> None:
    frame = pd.DataFrame({"club": ["<missing>", None, "ACTIVE", np.nan, "<missing>"]})
    encoder = TableEncoder([], ["club"]).fit(frame)
    assert encoder.cardinalities == [3]
    codes = encoder.transform(frame)[1][:, 0].tolist()
    assert codes[0] == codes[4] != codes[1] == codes[3] and len({codes[0], codes[1], codes[2]}) == 3
    clone = TableEncoder.from_state(json.loads(json.dumps(encoder.to_state())))
    assert clone.transform(frame)[1][:, 0].tolist() == codes
    only_real = TableEncoder([], ["club"]).fit(pd.DataFrame({"club": ["<missing>", "ACTIVE"]}))
    assert only_real.transform(pd.DataFrame({"club": [None]}))[1].item() == 2  # unknown, not "<missing>"
    with pytest.raises(ValueError, match=r"unseen category value\(s\) \['<missing>'\]"):
        only_real.transform(pd.DataFrame({"club": [None]}), strict=True)


def test_missing_keeps_the_codes_of_earlier_versions_and_their_states_still_load() -> None:
    frame = pd.DataFrame({"club": ["b", None, "a", "<"]})
    encoder = TableEncoder([], ["club"]).fit(frame)
    assert list(encoder.vocabularies["club"]) == ["<", MISSING, "a", "b"]  # missing sorts as "<missing>"
    old_state = {key: value for key, value in encoder.to_state().items() if key != "format"}
    old_state["vocabularies"] = {"club": [["str", "<"], ["str", "<missing>"], ["str", "a"], ["str", "b"]]}
    old = TableEncoder.from_state(old_state)  # written before missing values had their own entry
    torch.testing.assert_close(old.transform(frame)[1], encoder.transform(frame)[1], rtol=0, atol=0)


def test_a_float64_value_beyond_float32_is_refused_by_column_and_row_not_made_infinite() -> None:
    tok = FeatureTokenizer(2, [], 4, feature_names=["age", "income"])
    x = torch.tensor([[1.0, 2.0], [3.0, -1e300], [4.0, 1e39]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"numeric column 'income' holds -1e\+300 at row 1 \(2 value\(s\)"):
        tok(x)
    with pytest.raises(ValueError, match=r"'age' holds 1e\+39 at row 0.*beyond float32's range"):
        tok(np.array([[1e39, 0.0]]))
    assert torch.isfinite(tok(np.array([[3e38, -3e38]]))).all()  # within range: taken
    encoder = TableEncoder(["income"], standardize=False).fit(pd.DataFrame({"income": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=r"numeric column 'income' holds 1e\+300 at row 1"):
        encoder.transform(pd.DataFrame({"income": [1.0, 1e300]}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: {k: v for k, v in s.items() if k != "numeric"}, r"\(KeyError: 'numeric'\)"),
        (lambda s: {**s, "means": {}}, r"no statistics for numeric column\(s\) \['age'\]"),
        (lambda s: {**s, "vocabularies": {}}, r"no vocabulary for categorical column\(s\) \['club'\]"),
        (
            lambda s: {**s, "vocabularies": {"club": [["str", "A"], ["str", "A"]]}},
            "'club' repeats a category",
        ),
        (lambda s: {**s, "format": 99}, "format 99 is newer than this version reads"),
    ],
)
def test_a_damaged_state_is_a_value_error_saying_what_is_wrong(frame, change, message) -> None:
    state = TableEncoder(["age"], ["club"]).fit(frame).to_state()
    with pytest.raises(ValueError, match=rf"not a TableEncoder state.*{message}"):
        TableEncoder.from_state(change(state))
