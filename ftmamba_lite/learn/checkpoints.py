"""Checkpoints of two-tower models: one file with the architecture, the weights and the fitted encoders.

The file is ``MAGIC``, the sha256 of the payload (64 hex digits), a newline, then the payload (a
``torch.save`` dict with ``kind``, ``format`` and ``version``); written and verified through
:mod:`ftmamba_lite.persistence` (atomic write, digest, the package's one version policy:
:func:`~ftmamba_lite.persistence.check_format`). :func:`read_checkpoint` names the file in every error.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from ..config import ModelConfig
from ..datasets.base import RecDataset
from ..encoding import EncodedData, TableEncoder
from ..persistence import CorruptFileError, atomic_write_bytes, check_format, package_version, sha256_hex
from ..towers import TwoTowerModel, build_two_tower

__all__ = ["FORMAT", "Checkpoint", "CheckpointError", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

KIND = "checkpoint"
FORMAT = 2
"""The checkpoint layout this version writes and reads."""

_MAGIC = (
    b"FTMAMBA-LITE CHECKPOINT 2\n"  # then the sha256 of the payload (64 hex digits), a newline, the payload
)


class CheckpointError(CorruptFileError):
    """A checkpoint file that cannot be used: not one, damaged, of another format or of another dataset.

    ``path`` is the file. The message names it and says what is wrong.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(path, problem)
        self.args = (f"checkpoint {path}: {problem}",)


@dataclass
class Checkpoint:
    """What :func:`read_checkpoint` returns: the model, the encoders that fitted its data, and its origin.

    ``user_encoder`` / ``item_encoder`` are None when the model was saved without its data;
    :meth:`score` then cannot encode raw rows.
    """

    model: TwoTowerModel
    user_encoder: TableEncoder | None
    item_encoder: TableEncoder | None
    dataset: str | None
    version: str
    path: Path

    def score(self, users: pd.DataFrame, items: pd.DataFrame) -> Tensor:
        """Scores (m, c) of raw user rows (m) against raw item rows (c), encoded by the saved encoders.

        Raises:
            ValueError: the checkpoint holds no encoders, or the rows lack a feature column the model was
                trained on (the message names the checkpoint, the side, the missing columns and the rows'
                other columns); columns beyond the features (an id, a text) are ignored.
        """
        if self.user_encoder is None or self.item_encoder is None:
            raise ValueError(
                f"checkpoint {self.path} holds no encoders (saved without data=): encode the rows yourself "
                "and call model.score_all"
            )
        for side, rows, encoder in (("user", users, self.user_encoder), ("item", items, self.item_encoder)):
            if not isinstance(rows, pd.DataFrame):
                raise TypeError(f"{side} rows must be a pandas DataFrame, got {type(rows).__name__}")
            features = encoder.feature_names
            missing = [c for c in features if c not in rows.columns]
            if missing:
                others = [c for c in rows.columns if c not in features]
                raise ValueError(
                    f"checkpoint {self.path} was trained on {side} features {features}; the {side} rows "
                    f"lack {missing} (their other columns: {others}): give rows with the model's feature "
                    "names (rename the columns), or use a model trained on these features"
                )
        user_num, user_cat = self.user_encoder.transform(users)
        item_num, item_cat = self.item_encoder.transform(items)
        return self.model.score_all(user_num, user_cat, item_num, item_cat)


def save_checkpoint(model: TwoTowerModel, path: str | Path, data: EncodedData | None = None) -> None:
    """Save the architecture (``model.config``, a :class:`~ftmamba_lite.config.ModelConfig`), the weights and,
    with ``data`` (the :class:`EncodedData` the model was trained on), its fitted encoders and dataset name;
    :func:`read_checkpoint` / :func:`load_checkpoint` restore them.

    The file holds a sha256 digest of its payload and the package version, both checked on load. It is
    written to a temporary file beside ``path`` and renamed, so an existing checkpoint is never left
    half-overwritten.
    """
    if not isinstance(model, TwoTowerModel):
        raise TypeError(f"model must be a TwoTowerModel, got {type(model).__name__}")
    if model.config is None:
        raise ValueError(
            "model.config is None: build the model with build_model / make_two_tower / make_baseline "
            "(popularity and oracle are rebuilt from the data, not saved)"
        )
    if data is not None and not isinstance(data, EncodedData):
        raise TypeError(
            f"data must be the EncodedData the model was trained on (encode()), got {type(data).__name__}"
        )
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"checkpoint path {path} is a directory: give a file name, e.g. {path / 'model.pt'}"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"checkpoint path {path}: the directory {path.parent} does not exist")
    encoders = None
    if data is not None and data.user_encoder is not None and data.item_encoder is not None:
        encoders = {"user": data.user_encoder.to_state(), "item": data.item_encoder.to_state()}
    payload = {
        "package": "ftmamba-lite",
        "kind": KIND,
        "format": FORMAT,
        "version": package_version(),
        "dataset": None if data is None else data.dataset,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "encoders": encoders,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    atomic_write_bytes(path, _MAGIC + sha256_hex(body).encode("ascii") + b"\n" + body)


def read_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    dataset: str | RecDataset | EncodedData | None = None,
) -> Checkpoint:
    """Read and check a file written by :func:`save_checkpoint`: the model (weights bit-for-bit), the
    encoders, the dataset's name and the version.

    Args:
        path: the file.
        map_location: where the weights go (``torch.load``'s argument).
        dataset: when given (a name, a RecDataset or an EncodedData), a checkpoint of another dataset is
            refused; an EncodedData must also have the features the model was built for.

    Raises :class:`CheckpointError` (a ValueError naming the file) when the file is not a checkpoint of this
    package, its digest does not match (damaged, truncated), it was written by another version, or it
    belongs to another dataset; FileNotFoundError when it does not exist.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    blob = path.read_bytes()
    if not blob.startswith(_MAGIC):
        kind = "it does not start with the ftmamba-lite checkpoint header"
        if not blob:
            kind = "it is empty"
        elif blob.startswith(b"PK"):
            kind = "a bare torch.save archive, without the digest this version writes and checks"
        raise CheckpointError(
            path, f"not an ftmamba-lite checkpoint ({kind}; files are written by save_checkpoint)"
        )
    header_end = len(_MAGIC) + 65
    stored, body = blob[len(_MAGIC) : header_end - 1], blob[header_end:]
    if blob[header_end - 1 : header_end] != b"\n" or sha256_hex(body).encode("ascii") != stored:
        problem = "its contents do not match the stored sha256 digest: the file is damaged or truncated"
        raise CheckpointError(path, problem + " (re-save it from the model)")
    try:
        payload = torch.load(io.BytesIO(body), map_location=map_location, weights_only=True)
        config = ModelConfig.from_dict(payload["config"])
    except Exception as err:  # a digest-consistent file this version cannot read
        raise CheckpointError(path, f"unreadable payload ({type(err).__name__}: {err})") from err
    try:
        check_format(path, payload, KIND, FORMAT)
    except CorruptFileError as err:
        raise CheckpointError(path, err.problem) from err
    version = payload.get("version")
    expected = dataset if isinstance(dataset, str) or dataset is None else (
        dataset.name if isinstance(dataset, RecDataset) else dataset.dataset
    )  # fmt: skip
    if expected is not None and payload.get("dataset") != expected:
        raise CheckpointError(path, f"trained on dataset {payload.get('dataset')!r}, not {expected!r}")
    if isinstance(dataset, EncodedData):
        _check_features(path, config, dataset)
    model = build_two_tower(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(path, f"its weights do not fit its config: {err}") from err
    encoders = payload.get("encoders") or {}
    user_encoder, item_encoder = (
        TableEncoder.from_state(encoders[side]) if side in encoders else None for side in ("user", "item")
    )
    return Checkpoint(model, user_encoder, item_encoder, payload.get("dataset"), version, path)


def _check_features(path: Path, config: ModelConfig, data: EncodedData) -> None:
    """The towers of ``config`` fit ``data``: the same numeric count, cardinalities and feature names."""
    for side, spec in (("user", data.user_spec), ("item", data.item_spec)):
        saved = getattr(config, side)
        if saved.n_numerical != spec["n_numerical"] or list(saved.cardinalities) != list(
            spec["cardinalities"]
        ):
            problem = (
                f"its {side} tower has {saved.n_numerical} numeric features and cardinalities "
                f"{list(saved.cardinalities)}; the data has {spec['n_numerical']} and "
                f"{list(spec['cardinalities'])}"
            )
            raise CheckpointError(path, problem)
        names = spec.get("feature_names")
        if saved.feature_names is not None and names is not None and list(saved.feature_names) != list(names):
            problem = (
                f"its {side} tower was trained on the features {list(saved.feature_names)}; the data has "
                f"{list(names)}: encode the data with the checkpoint's encoders"
            )
            raise CheckpointError(path, problem)


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    dataset: str | RecDataset | EncodedData | None = None,
) -> TwoTowerModel:
    """The model of :func:`read_checkpoint` (weights bit-for-bit); the checks and ``dataset``: see there."""
    return read_checkpoint(path, map_location, dataset).model
