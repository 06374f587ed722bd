"""The model's configuration: one typed record for every two-tower model that trains, saved with its weights.

A :class:`ModelConfig` names the kind of tower (``"mamba"`` and ``"transformer"``, the paper's embedders,
or the trained baselines ``"linear"`` and ``"mlp"``), the two towers' features (:class:`TowerSpec`) and the
hyperparameters. :func:`ftmamba_lite.towers.build_two_tower` builds the model from it, every model keeps its
own in ``model.config``, and checkpoints store :meth:`ModelConfig.to_dict` beside the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EMBEDDERS", "MODEL_KINDS", "TRAINED_BASELINES", "ModelConfig", "TowerSpec"]

EMBEDDERS = ("mamba", "transformer")
TRAINED_BASELINES = ("linear", "mlp")
MODEL_KINDS = EMBEDDERS + TRAINED_BASELINES


@dataclass(frozen=True)
class TowerSpec:
    """One tower's input features: k_num numeric columns and k_cat categorical ones with K_j categories each.

    Args:
        n_numerical: k_num.
        cardinalities: K_j per categorical feature (the known categories; code K_j is "unknown").
        feature_names: optional names of the k_num + k_cat features (numeric first), for the tokenizer.
    """

    n_numerical: int
    cardinalities: tuple[int, ...] = ()
    feature_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cardinalities", tuple(int(k) for k in self.cardinalities))
        if self.feature_names is not None:
            object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))
        if self.n_numerical < 0 or any(k < 1 for k in self.cardinalities):
            raise ValueError(
                f"a tower needs n_numerical >= 0 and every cardinality >= 1, got n_numerical="
                f"{self.n_numerical}, cardinalities={list(self.cardinalities)}"
            )
        if self.n_numerical + len(self.cardinalities) == 0:
            raise ValueError("a tower needs at least one feature (n_numerical or cardinalities)")

    @classmethod
    def coerce(cls, spec: TowerSpec | Mapping[str, Any]) -> TowerSpec:
        """A TowerSpec from itself or from ``{"n_numerical": ..., "cardinalities": [...], ...}``."""
        if isinstance(spec, TowerSpec):
            return spec
        unknown = set(spec) - {"n_numerical", "cardinalities", "feature_names"}
        if unknown:
            raise ValueError(f"unknown tower spec keys {sorted(unknown)}; valid: n_numerical, cardinalities, "
                             "feature_names")  # fmt: skip
        if "n_numerical" not in spec:
            raise ValueError(f"a tower spec needs 'n_numerical', got keys {sorted(spec)}")
        return cls(**spec)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a two-tower model's architecture.

    Args:
        kind: one of :data:`MODEL_KINDS`.
        user, item: the towers' features.
        d_model: d, the token width (mamba, transformer).
        n_layers: sequence layers per tower; None: the paper's (4 Mamba, 2 Transformer).
        similarity: ``"dot"`` (paper) or ``"cosine"``.
        hidden: the feed-forward widths after the embedder, or the baseline's layers; None: the kind's default
            ((64, 32); (32,) for ``"linear"``).
        final_activation: ReLU after the last layer (see :class:`ftmamba_lite.towers.Tower`).
        options: further keyword arguments of the embedder (``d_state``, ``d_conv``, ``expand``, ``n_heads``).
        readout: ``"cls"`` (paper) or ``"mean"``: what the towers' feed-forward network reads
            (:class:`ftmamba_lite.towers.Tower`); ``"cls"`` for configs written before it existed.
    """

    kind: str
    user: TowerSpec
    item: TowerSpec
    d_model: int = 128
    n_layers: int | None = None
    similarity: str = "dot"
    hidden: tuple[int, ...] | None = None
    final_activation: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    readout: str = "cls"

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; choose one of {MODEL_KINDS}")
        object.__setattr__(self, "user", TowerSpec.coerce(self.user))
        object.__setattr__(self, "item", TowerSpec.coerce(self.item))
        if self.hidden is None:
            object.__setattr__(self, "hidden", (32,) if self.kind == "linear" else (64, 32))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "options", dict(self.options))
        if self.similarity not in ("dot", "cosine"):
            raise ValueError(f"similarity must be 'dot' or 'cosine', got {self.similarity!r}")
        if self.readout not in ("cls", "mean"):
            raise ValueError(f"readout must be 'cls' or 'mean', got {self.readout!r}")
        if not self.hidden:
            raise ValueError("hidden must name at least one layer width")
        if self.kind == "linear" and (len(self.hidden) != 1 or self.final_activation):
            raise ValueError(
                "a linear tower is one affine map: give one width in hidden and no final_activation"
            )
        if self.kind in TRAINED_BASELINES and (self.options or self.n_layers is not None):
            raise ValueError(
                f"the {self.kind} baseline has no sequence layer: n_layers and embedder options do not apply "
                f"(got n_layers={self.n_layers}, options={sorted(self.options)})"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (lists, dicts, numbers, strings): what ``torch.load(weights_only=True)`` reads."""
        out = asdict(self)
        for side in ("user", "item"):
            out[side]["cardinalities"] = list(out[side]["cardinalities"])
            if out[side]["feature_names"] is not None:
                out[side]["feature_names"] = list(out[side]["feature_names"])
        out["hidden"] = list(out["hidden"])
        out["options"] = dict(out["options"])
        return out

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; also reads the flat dicts of checkpoints written before this class
        (``{"embedder": ...}`` for the towers, ``{"kind": ...}`` for the baselines, embedder options at the
        top level)."""
        config = dict(config)
        if "embedder" in config:
            config["kind"] = config.pop("embedder")
        known = {"kind", "user", "item", "d_model", "n_layers", "similarity", "hidden", "final_activation",
                 "options", "readout"}  # fmt: skip
        if "kind" not in config:
            raise ValueError(f"a model config needs 'kind', one of {MODEL_KINDS}; got keys {sorted(config)}")
        options = dict(config.pop("options", {}))
        options.update({key: config.pop(key) for key in list(config) if key not in known})
        return cls(**config, options=options)
