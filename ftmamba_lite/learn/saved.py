"""A :class:`~ftmamba_lite.recommender.Recommender` on disk: one folder, every file under one manifest.

The folder (:func:`ftmamba_lite.persistence.write_folder`) holds ``recommender.json`` (the settings, the
model's :class:`~ftmamba_lite.config.ModelConfig`, the tables' columns, encoders and typed ids, the validation
curve) and ``weights.pt`` (the weights, the item embeddings (c, o), the encoded tables and the training
pairs), and ``manifest.json`` with the sha256 of both and the kind, format and version (the package's one
version policy). :func:`read_recommender` verifies every byte before it builds anything.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from ..config import ModelConfig
from ..persistence import CorruptFileError, package_version, read_folder, write_folder
from ..towers import TwoTowerModel, build_two_tower
from .baselines import ConstantTower, LookupTower
from .scoring import SeenItems
from .tables import Tables

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "KIND",
    "WEIGHTS_FILE",
    "SavedRecommender",
    "read_recommender",
    "write_recommender",
]

KIND = "recommender"
FORMAT = 2
"""The folder layout this version writes and reads."""
CONFIG_FILE = "recommender.json"
WEIGHTS_FILE = "weights.pt"


@dataclass
class SavedRecommender:
    """What a saved folder holds, verified and rebuilt."""

    settings: dict[str, Any]
    tables: Tables
    seen: SeenItems
    model: TwoTowerModel
    item_emb: Tensor
    validation: pd.DataFrame | None


def write_recommender(
    path: str | Path,
    settings: dict[str, Any],
    model: TwoTowerModel,
    item_emb: Tensor,
    seen: SeenItems,
    tables: Tables,
    validation: pd.DataFrame | None,
    overwrite: bool,
) -> Path:
    """Save a fitted recommender's parts as the folder ``path`` (module docstring)."""
    weights = io.BytesIO()
    payload = {
        "state_dict": model.state_dict(),
        "item_embeddings": item_emb,
        "seen_keys": torch.from_numpy(seen.keys),
    }
    torch.save({**payload, **tables.tensors()}, weights)
    config = {
        "settings": settings,
        "model": None if model.config is None else model.config.to_dict(),
        "tables": tables.to_state(),
        "validation": None if validation is None else validation.to_dict("list"),
        "torch": torch.__version__,
    }
    files = {
        CONFIG_FILE: json.dumps(config, indent=1, allow_nan=False).encode("utf-8"),
        WEIGHTS_FILE: weights.getvalue(),
    }
    header = {"kind": KIND, "format": FORMAT, "version": package_version()}
    return write_folder(path, files, header, overwrite=overwrite)


def read_recommender(path: str | Path) -> SavedRecommender:
    """The parts of a folder written by :func:`write_recommender`, every file verified first.

    Raises FileNotFoundError for a missing folder or manifest, :class:`CorruptFileError` naming the file that
    is missing, changed, damaged, of another format, or whose contents do not fit together.
    """
    _, files = read_folder(path, KIND, FORMAT, (CONFIG_FILE, WEIGHTS_FILE))
    folder = Path(path)
    try:
        config = json.loads(files[CONFIG_FILE])
        payload = torch.load(io.BytesIO(files[WEIGHTS_FILE]), map_location="cpu", weights_only=True)
        tables = Tables.from_state(config["tables"], payload)
        seen = SeenItems.from_keys(payload["seen_keys"].numpy(), len(tables.users), len(tables.items))
        state = payload["state_dict"]
        if config["model"] is None:  # popularity: a lookup of the item rows' rates
            model = TwoTowerModel(
                ConstantTower(), LookupTower(state["item_tower.keys"], state["item_tower.values"])
            )
        else:
            model = build_two_tower(ModelConfig.from_dict(config["model"]))
        model.load_state_dict(state)
        validation = None if config["validation"] is None else pd.DataFrame(config["validation"])
        settings = dict(config["settings"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:  # verified bytes this version cannot use
        raise CorruptFileError(
            folder / CONFIG_FILE, f"cannot be read by this version ({type(err).__name__}: {err})"
        ) from err
    return SavedRecommender(settings, tables, seen, model, payload["item_embeddings"], validation)
