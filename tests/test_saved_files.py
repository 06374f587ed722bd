"""Saved recommenders and checkpoints: every byte verified when read; a replacement never loses the old one.

Property tests (hypothesis): any single changed byte of any file of a saved folder or checkpoint, and any
edited value of the folder's JSON, is either refused by name or changes nothing that is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftmamba_lite import Recommender, persistence
from ftmamba_lite.encoding import encode
from ftmamba_lite.learn import saved as saved_module
from ftmamba_lite.learn.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from ftmamba_lite.learn.registry import build_model
from ftmamba_lite.persistence import CorruptFileError, write_folder

FILES = ("manifest.json", "recommender.json", "weights.pt")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(0)
    users = pd.DataFrame({"user_id": [f"u{j}" for j in range(12)], "age": rng.integers(18, 70, 12)})
    items = pd.DataFrame({"item_id": range(10), "genre": list("ab") * 5})
    interactions = pd.DataFrame(
        {"user_id": [f"u{j % 12}" for j in range(60)], "item_id": rng.integers(0, 10, 60)}
    ).drop_duplicates()
    rec = Recommender("mlp", seed=0, progress=False, epochs=2, batch_size=16).fit(interactions, users, items)
    folder = tmp_path_factory.mktemp("saved") / "model"
    rec.save(folder)
    return folder, rec.recommend(["u0", "u5"], k=4)


def _loads_the_same_or_is_refused(folder: Path, expected: pd.DataFrame, changed: str) -> None:
    try:
        loaded = Recommender.load(folder)
    except (CorruptFileError, FileNotFoundError) as err:
        assert changed in str(err) or "manifest.json" in str(err), f"refused without naming {changed}: {err}"
        return
    pd.testing.assert_frame_equal(loaded.recommend(["u0", "u5"], k=4), expected, check_exact=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FILES), where=st.floats(0, 1, exclude_max=True), bits=st.integers(1, 255))
def test_any_changed_byte_of_a_saved_folder_is_refused_by_name_or_changes_nothing(
    saved, tmp_path, name, where, bits
) -> None:
    folder, expected = saved
    copy = tmp_path / f"copy-{name}-{where}-{bits}"
    shutil.copytree(folder, copy)
    data = bytearray((copy / name).read_bytes())
    data[int(where * len(data))] ^= bits
    (copy / name).write_bytes(bytes(data))
    if name != "manifest.json":  # the manifest's digests cover every byte of the other files
        with pytest.raises(CorruptFileError, match=name.replace(".", r"\.")):
            Recommender.load(copy)
    _loads_the_same_or_is_refused(copy, expected, name)  # the manifest's own whitespace is not its content


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every leaf of a JSON document, as a path of keys and indices."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(0, 10**9), new=st.one_of(st.integers(-3, 3), st.text(max_size=3), st.booleans()))
def test_any_edited_value_of_the_saved_json_is_refused_or_changes_nothing(saved, tmp_path, pick, new) -> None:
    folder, expected = saved
    copy = tmp_path / f"edit-{pick}-{new!r}".replace("/", "_")[:80]
    shutil.copytree(folder, copy)
    document = json.loads((copy / "recommender.json").read_text())
    leaves = _paths(document)
    path = leaves[pick % len(leaves)]
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    (copy / "recommender.json").write_text(json.dumps(document, indent=1))  # still valid JSON
    _loads_the_same_or_is_refused(copy, expected, "recommender.json")


def test_a_folder_without_its_digests_is_refused_by_name(saved, tmp_path) -> None:
    folder, _ = saved
    copy = tmp_path / "no-digest"
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["sha256"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptFileError, match=r"manifest\.json: has no sha256 digest"):
        Recommender.load(copy)


@pytest.mark.parametrize("fail_at", ["write", "move aside", "move in"])
def test_replacing_a_saved_folder_never_loses_the_old_one(saved, tmp_path, monkeypatch, fail_at) -> None:
    folder, expected = saved
    target = tmp_path / "model"
    shutil.copytree(folder, target)
    real_replace, real_fsync = os.replace, os.fsync
    calls = {"replace": 0}

    def failing_replace(src, dst):
        calls["replace"] += 1
        is_folder_move = Path(src).is_dir()
        if is_folder_move and fail_at == "move aside" and Path(src) == target:
            raise OSError("cannot move the old folder aside")
        if is_folder_move and fail_at == "move in" and Path(dst) == target and calls["replace"] < 99:
            calls["replace"] = 99  # once: putting the old folder back works
            raise OSError("cannot move the new folder in")
        return real_replace(src, dst)

    def failing_fsync(fd):
        if fail_at == "write":
            raise OSError("disk full")
        return real_fsync(fd)

    monkeypatch.setattr(os, "replace", failing_replace)
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        write_folder(
            target,
            {"recommender.json": b"{}", "weights.pt": b""},
            {"kind": "recommender", "format": 2, "version": "x"},
            overwrite=True,
        )
    monkeypatch.undo()
    loaded = Recommender.load(target)  # the old model is at the path, whole
    pd.testing.assert_frame_equal(loaded.recommend(["u0", "u5"], k=4), expected, check_exact=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing left beside it


def test_another_format_is_refused_and_another_version_warns(saved, tmp_path, monkeypatch) -> None:
    folder, _ = saved
    rec = Recommender.load(folder)
    monkeypatch.setattr(saved_module, "package_version", lambda: "0.0.1")
    rec.save(tmp_path / "old-version")
    monkeypatch.undo()
    with pytest.warns(
        UserWarning, match=r"written by ftmamba-lite 0.0.1, this is .* \(same format: loaded\)"
    ):
        Recommender.load(tmp_path / "old-version")
    manifest = persistence.read_json_with_digest(tmp_path / "old-version" / "manifest.json")
    persistence.write_json_with_digest(tmp_path / "old-version" / "manifest.json", {**manifest, "format": 1})
    with pytest.raises(CorruptFileError, match=r"is a recommender of format 1 .* reads format 2"):
        Recommender.load(tmp_path / "old-version")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory):
    from ftmamba_lite.datasets import load_spotify

    data = load_spotify(None, n_train=500, n_valid=50, n_test=20, seed=0)
    enc = encode(data)
    model = build_model(enc, "mlp", seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(model, path, data=enc)
    return path, model


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1, exclude_max=True), bits=st.integers(1, 255))
def test_any_changed_byte_of_a_checkpoint_is_refused_by_name(checkpoint, tmp_path, where, bits) -> None:
    path, model = checkpoint
    data = bytearray(path.read_bytes())
    data[int(where * len(data))] ^= bits
    copy = tmp_path / f"changed-{where}-{bits}.pt"
    copy.write_bytes(bytes(data))
    try:
        loaded = load_checkpoint(copy)
    except CheckpointError as err:
        assert copy.name in str(err)
        return
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # a change the digest does not cover changed nothing
