"""Issue 20: every class of bad or unusual input gets a clear error or a documented answer, never a silent
wrong one, and nothing a user made is lost. Property tests (hypothesis) where a property exists."""

import math
import os
import re

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftmamba_lite.datasets import FeatureTable, RecDataset, load_spotify, make_triples
from ftmamba_lite.encoding import TableEncoder, encode
from ftmamba_lite.learn import checkpoints
from ftmamba_lite.learn.checkpoints import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from ftmamba_lite.learn.engine import Callback, NonFiniteLossError, fit
from ftmamba_lite.learn.registry import build_model
from ftmamba_lite.learn.scoring import score_test_users
from ftmamba_lite.mamba import MambaEmbedder, MambaLayer
from ftmamba_lite.metrics import evaluate, top_k
from ftmamba_lite.tokenizer import FeatureTokenizer
from ftmamba_lite.towers import NonFiniteOutputError, make_two_tower
from ftmamba_lite.transformer import TransformerEmbedder

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(min_value=-1e30, max_value=1e30, allow_nan=False, allow_infinity=False)


# --- numeric features: float64 statistics, auto-standardisation, finite towers up to 1e30 ---


@FAST
@given(st.lists(finite, min_size=2, max_size=40).filter(lambda v: np.ptp(v) > 0))
def test_standardised_column_is_finite_centred_and_keeps_the_order(values):
    x = np.array(values, dtype=np.float64)
    z = TableEncoder(["x"], standardize=True).fit_transform(pd.DataFrame({"x": x}))[0][:, 0].numpy()
    assert np.isfinite(z).all() and z.dtype == np.float32
    assert abs(float(z.astype(np.float64).mean())) < 1e-5 * max(1.0, float(np.abs(z).max()))
    assert float(z.astype(np.float64).std()) == pytest.approx(1.0, rel=1e-4)
    order = np.argsort(x, kind="stable")
    assert (np.diff(z[order].astype(np.float64)) >= 0).all()  # a monotone map: rankings survive


def test_timestamps_ten_seconds_apart_stay_distinct_and_a_spread_of_1e20_is_kept():
    stamps = pd.DataFrame({"t": 1.7e9 + 10.0 * np.arange(10)})
    z = TableEncoder(["t"], standardize=True).fit_transform(stamps)[0][:, 0]
    assert len(torch.unique(z)) == 10
    wide = TableEncoder(["s"], standardize=True).fit_transform(pd.DataFrame({"s": [-1e20, 0.0, 1e20]}))[0]
    torch.testing.assert_close(wide[:, 0], torch.tensor([-(1.5**0.5), 0.0, 1.5**0.5]))


@pytest.mark.parametrize("standardize", [True, False, "auto"])
@pytest.mark.parametrize(
    "bad, message", [(math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "NaN"), (1e39, "1e+39")]
)
def test_inf_nan_and_beyond_float32_are_errors_naming_the_column(standardize, bad, message):
    frame = pd.DataFrame({"age": [1.0, 2.0, bad], "c": ["a", "b", "a"]})
    with pytest.raises(ValueError, match=rf"{re.escape(message)}.*'age'|'age'.*{re.escape(message)}"):
        TableEncoder(["age"], ["c"], standardize=standardize).fit(frame)


def test_auto_keeps_small_columns_raw_and_standardises_large_ones():
    frame = pd.DataFrame({"genre": [0.0, 1.0, 1.0, 0.0], "stamp": 1.7e9 + np.arange(4.0)})
    auto = TableEncoder(["genre", "stamp"]).fit(frame)
    assert auto.standardize == "auto" and auto.standardized == ["stamp"]
    x_num, _ = auto.transform(frame)
    torch.testing.assert_close(x_num[:, 0], torch.tensor([0.0, 1.0, 1.0, 0.0]), rtol=0, atol=0)
    assert float(x_num[:, 1].abs().max()) < 2
    raw = TableEncoder(["genre"], standardize=False).fit(frame)
    assert torch.equal(raw.transform(frame)[0], auto.transform(frame)[0][:, :1])
    again = TableEncoder.from_state(auto.to_state())
    assert again.standardized == ["stamp"] and torch.equal(again.transform(frame)[0], x_num)


def test_spotify_features_stay_raw_under_the_default():
    """The paper protocol feeds Spotify's 0/1 genres raw; the stored results were made that way."""
    data = load_spotify(None, n_train=50, n_valid=5, n_test=5, seed=0)
    default, raw = encode(data), encode(data, standardize=False)
    assert default.user_encoder.standardized == [] and torch.equal(default.user_num, raw.user_num)


def test_a_state_written_before_auto_still_loads():
    frame = pd.DataFrame({"x": [1.0, 3.0]})
    state = TableEncoder(["x"], standardize=True).fit(frame).to_state()
    del state["standardized"]
    torch.testing.assert_close(
        TableEncoder.from_state(state).transform(frame)[0][:, 0], torch.tensor([-1.0, 1.0])
    )


def test_transform_beyond_float32_after_standardising_is_an_error():
    enc = TableEncoder(["x"], standardize=True).fit(pd.DataFrame({"x": [0.0, 1e-30]}))
    with pytest.raises(ValueError, match="'x'.*row 0"):
        enc.transform(pd.DataFrame({"x": [1e30]}))


_TOWERS = {}


def _paper_mamba(n_numerical: int):
    if n_numerical not in _TOWERS:
        torch.manual_seed(0)
        spec = {"n_numerical": n_numerical, "cardinalities": [3]}
        _TOWERS[n_numerical] = make_two_tower("mamba", spec, {"n_numerical": 0, "cardinalities": [4]})
    return _TOWERS[n_numerical]


def _dataset(user_values: np.ndarray) -> RecDataset:
    m = len(user_values)
    users = pd.DataFrame({"x": user_values, "club": np.arange(m) % 3})
    items = pd.DataFrame({"item": np.arange(4)})
    return RecDataset(
        name="probe",
        users=FeatureTable(users, numeric=("x",), categorical=("club",)),
        items=FeatureTable(items, categorical=("item",)),
        train=make_triples(np.arange(m), np.arange(m) % 4, np.ones(m)),
        valid=make_triples([], [], []),
        test_users=np.arange(m),
        test_relevant=np.eye(m, 4, dtype=bool),
    )


@FAST
@given(st.lists(finite, min_size=2, max_size=12))
def test_paper_mamba_towers_score_finite_for_any_finite_raw_column_up_to_1e30(values):
    """The default encoding (auto) makes every finite raw column safe for the paper-preset towers."""
    enc = encode(_dataset(np.array(values)))
    scores = score_test_users(_paper_mamba(1), enc)
    assert scores.shape == (len(values), 4) and torch.isfinite(scores).all()


@pytest.mark.parametrize("value", [1e7, 1.7e9, 1e30])
def test_raw_values_that_overflow_the_towers_are_an_error_naming_the_column(value):
    """Issue 20, item 1: make_two_tower + score_all on a user row [1e7, 0, 0] gave all-NaN scores."""
    model = _paper_mamba(3)
    with pytest.raises(NonFiniteOutputError, match=r"user tower.*'numeric feature 0'") as err:
        model.score_all(torch.tensor([[value, 0.0, 0.0]]), torch.zeros(1, 1, dtype=torch.long), None,
                        torch.arange(4)[:, None])  # fmt: skip
    assert err.value.side == "user" and err.value.rows.tolist() == [True]


def test_tokenizer_refuses_inf_by_column_and_takes_numpy_like_tensors():
    tok = FeatureTokenizer(2, [3], 8, feature_names=["age", "income", "club"])
    with pytest.raises(ValueError, match=r"infinite value in numeric column\(s\) \['income'\]"):
        tok(torch.tensor([[1.0, math.inf]]), torch.tensor([[0]]))
    x_num, x_cat = np.array([[1.0, 2.0]], dtype=np.float32), np.array([[2]])
    assert torch.equal(tok(x_num, x_cat), tok(torch.from_numpy(x_num), torch.from_numpy(x_cat)))
    with pytest.raises(TypeError, match="x_num must be"):
        tok([[1.0, 2.0]], torch.tensor([[0]]))


def test_duplicated_columns_zero_rows_and_non_frames_are_named():
    with pytest.raises(ValueError, match=r"more than one column named \['x'\]"):
        TableEncoder(["x"]).fit(pd.DataFrame([[1.0, 2.0]], columns=["x", "x"]))
    with pytest.raises(ValueError, match="named more than once"):
        TableEncoder(["x"], ["x"])
    with pytest.raises(ValueError, match="0 rows"):
        TableEncoder(["x"]).fit(pd.DataFrame({"x": []}))
    with pytest.raises(TypeError, match="DataFrame"):
        TableEncoder(["x"]).fit(np.zeros((2, 1)))
    with pytest.raises(TypeError, match="sequence of column names"):
        TableEncoder("age")


# --- training: checked before the first step; a non-finite step restores the weights ---


@pytest.fixture(scope="module")
def spotify():
    data = load_spotify(None, n_train=400, n_valid=20, n_test=10, seed=0)
    return data, encode(data)


def _tiny(enc, kind="mamba"):
    extra = {"d_state": 4, "d_conv": 4} if kind == "mamba" else {}
    return build_model(enc, kind, d_model=8, n_layers=1, seed=0, **extra)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": math.inf}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"lr": True}, "lr"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"eval_every": 0}, "eval_every"),
        ({"seed": -1}, "seed"),
        ({"ks": (51,)}, "k=51.*catalogue size 50"),
        ({"ks": (True,)}, "ks"),
        ({"ks": (), "map_ks": ()}, "at least one truncation"),
    ],
)
def test_settings_are_checked_before_any_step(spotify, kwargs, message):
    _, enc = spotify
    model, began = _tiny(enc), []

    class Began(Callback):
        def on_train_begin(self, history, total_steps):
            began.append(total_steps)

    before = _weights(model)
    with pytest.raises(ValueError, match=message):
        fit(model, enc, progress=False, callbacks=[Began()], **kwargs)
    assert began == [] and _same(before, _weights(model))


def test_a_single_callback_and_a_generator_of_ks_are_handled(spotify):
    _, enc = spotify
    with pytest.raises(TypeError, match=r"pass \[callback\]"):
        fit(_tiny(enc), enc, steps=1, progress=False, callbacks=Callback())
    history = fit(_tiny(enc), enc, steps=1, progress=False, ks=(k for k in (1, 5)))
    assert set(history.final_metrics) == {"P@1", "P@5", "R@1", "R@5", "MRR@1", "MRR@5", "HR@1", "HR@5"}


def test_training_without_test_users_is_normal_and_nan_targets_are_refused(spotify):
    data, enc = spotify
    import dataclasses

    no_test = dataclasses.replace(enc, test_users=enc.test_users[:0], test_relevant=enc.test_relevant[:0])
    history = fit(_tiny(enc), no_test, steps=5, progress=False)  # nothing to evaluate: no evaluation
    assert len(history.steps) == 5 and history.eval_steps == [] and history.final_metrics == {}
    bad = dataclasses.replace(enc, train_target=enc.train_target.clone())
    bad.train_target[7] = math.nan
    with pytest.raises(ValueError, match="train_target.*row 7"):
        fit(_tiny(enc), bad, steps=5, progress=False)
    frame = data.train.copy()
    frame.loc[3, "target"] = math.inf
    with pytest.raises(ValueError, match="train triples: target.*row 3"):
        encode(dataclasses.replace(data, train=frame))


def _reference(enc, steps):
    """The weights of an uninterrupted run of ``steps`` steps (0: the initial weights)."""
    model = _tiny(enc)
    if steps:
        fit(model, enc, steps=steps, batch_size=8, lr=1e-3, progress=False, eval_every=None)
    return _weights(model)


@pytest.mark.parametrize("fail_at", [1, 2, 5])
def test_a_non_finite_step_stops_and_leaves_the_weights_of_the_last_finite_loss(spotify, fail_at):
    """One user's raw feature of 1e9 in the batch of step ``fail_at``: training stops there, names the
    triple, keeps the History, and the model equals a clean run of len(history.losses) - 1 steps."""
    import dataclasses

    _, enc = spotify
    order = torch.randperm(len(enc.train_target), generator=torch.Generator().manual_seed(0))
    triple = int(order[(fail_at - 1) * 8])
    bad = dataclasses.replace(enc, user_num=enc.user_num.clone())
    bad.user_num[enc.train_user[triple], 0] = 1e9  # Spotify: every training triple has its own user
    model = _tiny(enc)
    with pytest.raises(NonFiniteLossError, match=rf"step {fail_at} of 20.*\b{triple}\b") as err:
        fit(model, bad, steps=20, batch_size=8, lr=1e-3, progress=False, eval_every=None)
    history = err.value.history
    assert err.value.step == fail_at and triple in err.value.rows
    assert history.stopped_early and "step" in history.stop_reason
    assert len(history.losses) in (fail_at - 1, fail_at) and all(map(math.isfinite, history.losses))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert _same(_reference(enc, max(len(history.losses) - 1, 0)), _weights(model))


def test_a_huge_learning_rate_is_stopped_with_the_model_as_it_was(spotify):
    _, enc = spotify
    model = _tiny(enc)
    with pytest.raises(NonFiniteLossError, match="lr=1e\\+30") as err:
        fit(model, enc, steps=20, batch_size=8, lr=1e30, progress=False, eval_every=None)
    assert len(err.value.history.losses) >= 1
    assert _same(_reference(enc, len(err.value.history.losses) - 1), _weights(model))


def test_an_error_during_training_keeps_the_history(spotify):
    _, enc = spotify

    class Boom(Callback):
        def on_step(self, history, step, loss):
            if step == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as err:
        fit(_tiny(enc), enc, steps=10, callbacks=[Boom()], progress=False, eval_every=None)
    assert err.value.history.steps == [1, 2, 3]


# --- checkpoints: digest, version, dataset, encoders ---


@pytest.fixture(scope="module")
def saved(spotify, tmp_path_factory):
    _, enc = spotify
    model = _tiny(enc)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(model, path, data=enc)
    return model, path, path.read_bytes()


@pytest.mark.parametrize("kind", ["mamba", "transformer", "linear", "mlp"])
def test_every_model_that_saves_loads(spotify, tmp_path, kind):
    from ftmamba_lite.learn.baselines import build_baseline

    _, enc = spotify
    model = build_baseline(kind, enc) if kind in ("linear", "mlp") else _tiny(enc, kind)
    save_checkpoint(model, tmp_path / "m.pt", data=enc)
    loaded = load_checkpoint(tmp_path / "m.pt", dataset="spotify")
    assert loaded.config == model.config and _same(_weights(model), _weights(loaded))


def test_a_loaded_checkpoint_scores_new_raw_rows(spotify, saved):
    data, enc = spotify
    model, path, _ = saved
    checkpoint = read_checkpoint(path, dataset=data)
    assert checkpoint.dataset == "spotify" and checkpoint.version
    raw_users = data.users.frame.iloc[data.test_users]
    scores = checkpoint.score(raw_users, data.items.frame)
    assert torch.equal(scores, score_test_users(model, enc))


@FAST
@given(st.data())
def test_any_damaged_byte_or_truncation_is_refused_naming_the_file(saved, tmp_path_factory, data):
    _, path, blob = saved
    damaged = bytearray(blob)
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(blob) - 1))
        damaged[at] ^= data.draw(st.integers(1, 255))
    else:
        damaged = damaged[: data.draw(st.integers(0, len(blob) - 1))]
    target = tmp_path_factory.mktemp("bad") / "model.pt"
    target.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match=str(target)):
        load_checkpoint(target)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"hello\n", "header"), (b"PK\x03\x04 rest", "bare torch.save")],
)
def test_files_that_are_not_checkpoints_are_named(tmp_path, content, message):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=rf"{path}.*{message}"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope.pt")):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        load_checkpoint(tmp_path)


def test_another_version_or_dataset_is_refused_by_name(spotify, saved, tmp_path, monkeypatch):
    import dataclasses

    _, enc = spotify
    model, path, _ = saved
    with pytest.raises(CheckpointError, match=r"dataset 'spotify', not 'hm'"):
        load_checkpoint(path, dataset="hm")
    other = dataclasses.replace(enc, user_spec={**enc.user_spec, "n_numerical": 3})
    with pytest.raises(CheckpointError, match="user tower has 20 numeric features"):
        load_checkpoint(path, dataset=other)
    monkeypatch.setattr(checkpoints, "FORMAT", 1)
    save_checkpoint(model, tmp_path / "old.pt")
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=r"old.pt: is a checkpoint of format 1 .* reads format 2"):
        load_checkpoint(tmp_path / "old.pt")
    monkeypatch.setattr(checkpoints, "package_version", lambda: "0.0.1")
    save_checkpoint(model, tmp_path / "other_version.pt")
    monkeypatch.undo()
    with pytest.warns(
        UserWarning, match=r"written by ftmamba-lite 0.0.1, this is .* \(same format: loaded\)"
    ):
        load_checkpoint(tmp_path / "other_version.pt")


def test_a_failed_save_leaves_the_existing_checkpoint_intact(saved, tmp_path, monkeypatch):
    model, path, blob = saved
    target = tmp_path / "model.pt"
    target.write_bytes(blob)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(model, target)
    assert target.read_bytes() == blob and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_checkpoint(model, tmp_path / "no" / "model.pt")


# --- empty inputs ---


@pytest.mark.parametrize("shape", [(0, 3, 8), (2, 0, 8), (0, 0, 8)])
def test_batch_or_length_zero_gives_an_empty_result_of_the_right_shape(shape):
    x = torch.zeros(shape)
    assert MambaLayer(8).forward(x).shape == shape
    assert MambaEmbedder(2, 8, d_state=4, d_conv=4)(x).shape == shape
    assert TransformerEmbedder(1, 8)(x).shape == shape


def test_score_all_on_zero_users_is_an_empty_matrix():
    model = _paper_mamba(3)
    scores = model.score_all(
        torch.zeros(0, 3), torch.zeros(0, 1, dtype=torch.long), None, torch.arange(4)[:, None]
    )
    assert scores.shape == (0, 4)
    with pytest.raises(ValueError, match="batch_size"):
        model.score_all(
            torch.zeros(1, 3), torch.zeros(1, 1, dtype=torch.long), None, torch.arange(4)[:, None], 0
        )


@pytest.mark.parametrize("ks, message", [((True,), "k=True is a bool"), ((2.0,), "k=2.0 is not an int"),
                                         ("5", "sequence of ints")])  # fmt: skip
def test_truncations_must_be_ints(ks, message):
    scores, relevant = np.random.default_rng(0).random((3, 5)), np.eye(3, 5, dtype=bool)
    with pytest.raises(ValueError, match=message):
        evaluate(scores, relevant, ks=ks)
    with pytest.raises(ValueError, match="scores must have at least one user"):  # documented: no empty mean
        evaluate(np.zeros((0, 5)), np.zeros((0, 5), dtype=bool))
    with pytest.raises(ValueError, match="k=True"):
        top_k(scores, True)


def test_checkpoint_score_names_the_feature_columns_the_rows_lack(spotify, saved):
    data, _ = spotify
    _, path, _ = saved
    checkpoint = read_checkpoint(path)
    users = data.users.frame.iloc[:3]
    renamed = users.rename(columns={users.columns[0]: "first_feature"})
    with pytest.raises(ValueError, match=rf"trained on user features .*lack \['{users.columns[0]}'\] "
                       r"\(their other columns: \['first_feature'\]\)"):  # fmt: skip
        checkpoint.score(renamed, data.items.frame)
    with pytest.raises(ValueError, match=r"item rows lack"):
        checkpoint.score(users, data.items.frame.iloc[:, 1:])
    with pytest.raises(TypeError, match="user rows must be a pandas DataFrame, got ndarray"):
        checkpoint.score(users.to_numpy(), data.items.frame)
    extra = users.assign(note="a column the model does not use")
    assert torch.equal(checkpoint.score(extra, data.items.frame), checkpoint.score(users, data.items.frame))


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ([0, 1.7], r"user 1\.7 at position 1 is not an integer"),
        ([0, np.nan], r"user nan at position 1 is not an integer"),
        (["0", "1"], r"user must hold integer row numbers, got dtype <U1 \(first value '0'\)"),
        ([True, False], r"user must hold integer row numbers, got dtype bool"),
    ],
)
def test_make_triples_refuses_ids_that_are_not_integers_instead_of_truncating(user, message):
    with pytest.raises(ValueError, match=message):
        make_triples(user, [0, 1], [1.0, 1.0])
    with pytest.raises(ValueError, match=message.replace("user", "item")):
        make_triples([0, 1], user, [1.0, 1.0])


def test_make_triples_keeps_integral_floats_and_refuses_targets_beyond_float32():
    triples = make_triples(np.array([0.0, 2.0]), pd.array([1, 3], dtype="Int64"), [1, 2])
    assert triples["user"].tolist() == [0, 2] and triples["item"].tolist() == [1, 3]
    assert triples.dtypes.tolist() == [np.int64, np.int64, np.float32]
    with pytest.raises(ValueError, match=r"target 1e\+200 at position 1 is beyond float32's range"):
        make_triples([0, 1], [0, 1], [1.0, 1e200])
    with pytest.raises(ValueError, match="of one length, got 2 users, 1 items"):
        make_triples([0, 1], [0], [1.0, 1.0])
