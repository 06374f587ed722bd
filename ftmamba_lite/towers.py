"""Towers and the two-tower model (paper II-C, Figure 3).

Dimension letters (docs/notation.md):
    b  batch      l  tokens (k features + [CLS])      d  d_model
    m  users      c  items (the catalogue)            o  output embedding width (paper: 32)

A tower maps one table row to an embedding:

    tokens = FeatureTokenizer(x)          (b, l, d)
    h      = Embedder(tokens)             (b, l, d)      Mamba or Transformer layers
    f(x)   = FFN(h[:, [CLS]])             (b, o)         d -> 64 -> 32, ReLU after the first layer only
                                                         (the paper, III, also after the last:
                                                         ``final_activation=True``)

and the two-tower model scores a (user, item) pair by the similarity of the two embeddings,
s(u, i) = <f(u), g(i)> (dot, the paper's choice) or their cosine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import EMBEDDERS, TRAINED_BASELINES, ModelConfig, TowerSpec
from .mamba import MambaEmbedder
from .mlp import MLPTower
from .tokenizer import FeatureTokenizer
from .transformer import TransformerEmbedder

ROWS_PER_PASS = 4096
"""Rows one tower embeds in one forward pass when scoring (its activations: rows x tokens x d floats)."""

READOUTS = ("cls", "mean")
"""What a tower's feed-forward network reads: the [CLS] token (the paper) or the mean of all output tokens."""

__all__ = [
    "EMBEDDERS",
    "READOUTS",
    "NonFiniteOutputError",
    "Tower",
    "TwoTowerModel",
    "build_two_tower",
    "count_parameters",
    "make_embedder",
    "make_tower",
    "make_two_tower",
]


class NonFiniteOutputError(ValueError):
    """A tower's embedding or a score came out NaN or infinite: raised instead of returning it.

    ``side`` is ``"user"``, ``"item"`` or ``"score"``; ``rows`` the (b,) bool mask of the rows concerned.
    """

    def __init__(self, message: str, side: str, rows: Tensor) -> None:
        super().__init__(message)
        self.side = side
        self.rows = rows


def _largest_input(tower: nn.Module, x_num: Tensor | None, rows: Tensor) -> str:
    """Where the numeric input of the ``rows`` is largest: " (its numeric inputs reach 1e+07 in 'x')"."""
    if x_num is None or not isinstance(x_num, Tensor) or x_num.numel() == 0 or x_num.dim() != 2:
        return ""
    magnitude = x_num[rows].abs().amax(dim=0)  # (k_num,)
    j = int(magnitude.argmax())
    tokenizer = getattr(tower, "tokenizer", None)
    name = tokenizer.feature_names[j] if tokenizer is not None else f"numeric feature {j}"
    return f" (their numeric inputs reach |x| = {float(magnitude[j]):.3g} in {name!r})"


class Tower(nn.Module):
    """Tokenizer -> embedder -> the [CLS] token -> feed-forward network (paper Figure 3, one tower).

    Args:
        tokenizer: a :class:`FeatureTokenizer`; its ``cls_position`` says which token is read out.
        embedder: a module (b, l, d) -> (b, l, d), e.g. :class:`MambaEmbedder`.
        hidden: widths of the feed-forward network (paper: (64, 32)), each but the last followed by ReLU.
        final_activation: apply ReLU after the last layer too. The paper does ("both utilizing ReLU
            activation"), but it makes every embedding >= 0 and so every dot-product score >= 0: on Spotify,
            where 29% of the targets are -1, the mean-squared error then pulls all output units to zero for
            every input (dying ReLUs) and the scores collapse to a constant within a few hundred steps. Off by
            default; ``True`` reproduces the paper's network literally.
        readout: which output the feed-forward network reads: ``"cls"`` (the paper: the [CLS] token) or
            ``"mean"`` (the mean of all l output tokens). The [CLS] token's input is the same for every row,
            so with ``"cls"`` everything about a row must reach it through the sequence layer; ``"mean"``
            also passes each feature token's own output on (MovieLens-100K: NDCG@10 0.105 -> 0.120,
            ``benchmarks/recipe_log.md``).
    """

    def __init__(
        self,
        tokenizer: FeatureTokenizer,
        embedder: nn.Module,
        hidden: Sequence[int] = (64, 32),
        final_activation: bool = False,
        readout: str = "cls",
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden must name at least one layer width")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        self.readout = readout
        self.tokenizer = tokenizer
        self.embedder = embedder
        layers: list[nn.Module] = []
        width = tokenizer.d_token
        for i, out in enumerate(hidden):
            layers.append(nn.Linear(width, out))
            if i < len(hidden) - 1 or final_activation:
                layers.append(nn.ReLU())
            width = out
        self.ffn = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x_num: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        """x_num (b, k_num), x_cat (b, k_cat) -> embedding (b, o)."""
        tokens = self.tokenizer(x_num, x_cat)  # (b, l, d)
        h = self.embedder(tokens)  # (b, l, d)
        pooled = h.mean(dim=1) if self.readout == "mean" else h[:, self.tokenizer.cls_index]  # (b, d)
        return self.ffn(pooled)  # (b, d) -> (b, o)


class TwoTowerModel(nn.Module):
    """Two towers and a similarity (paper II-C).

    Args:
        user_tower, item_tower: :class:`Tower` (or any module (x_num, x_cat) -> (b, o)).
        similarity: ``"dot"`` (paper) or ``"cosine"``.
        check_finite: raise :class:`NonFiniteOutputError` (naming the tower, the rows and the largest numeric
            input) when an embedding or a score is NaN or infinite, instead of returning it. Raw numeric
            values far from 1 overflow the towers (the paper-preset Mamba towers from 1e7 at init): the error
            says so. Only the oracle baseline, whose unknown rows are NaN by definition, turns it off.
    """

    def __init__(
        self, user_tower: nn.Module, item_tower: nn.Module, similarity: str = "dot", check_finite: bool = True
    ) -> None:
        super().__init__()
        if similarity not in ("dot", "cosine"):
            raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
        self.user_tower = user_tower
        self.item_tower = item_tower
        self.similarity = similarity
        self.check_finite = check_finite
        self.config: ModelConfig | None = (
            None  # set by build_two_tower: checkpoints rebuild the model from it
        )

    def _normalise(self, e: Tensor) -> Tensor:
        return F.normalize(e, dim=-1) if self.similarity == "cosine" else e

    def _checked(self, values: Tensor, side: str, tower: nn.Module | None, x_num: Tensor | None) -> Tensor:
        """``values`` (b, ...) unchanged, or NonFiniteOutputError naming ``side`` and the first bad row."""
        if not self.check_finite or values.numel() == 0:
            return values
        bad = ~torch.isfinite(values.reshape(values.shape[0], -1)).all(dim=1)  # (b,)
        if bad.any():
            where = _largest_input(tower, x_num, bad) if tower is not None else ""
            what = "scores" if side == "score" else f"{side} tower embeddings"
            raise NonFiniteOutputError(
                f"the {what} are NaN or infinite for {int(bad.sum())} of {len(bad)} rows (first: row "
                f"{int(bad.nonzero()[0])}){where}; numeric features must be of moderate size: standardise "
                "them (TableEncoder(standardize=True) or 'auto', train.encode)",
                side,
                bad,
            )
        return values

    def embed_users(self, x_num: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        """(m, k_num), (m, k_cat) -> (m, o), normalised when the similarity is cosine."""
        return self._checked(self._normalise(self.user_tower(x_num, x_cat)), "user", self.user_tower, x_num)

    def embed_items(self, x_num: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        """(c, k_num), (c, k_cat) -> (c, o), normalised when the similarity is cosine."""
        return self._checked(self._normalise(self.item_tower(x_num, x_cat)), "item", self.item_tower, x_num)

    def forward(
        self,
        user_num: Tensor | None,
        user_cat: Tensor | None,
        item_num: Tensor | None,
        item_cat: Tensor | None,
    ) -> Tensor:
        """Score b (user, item) pairs, row by row: s(u_r, i_r) for r < b -> (b,)."""
        fu = self.embed_users(user_num, user_cat)  # (b, o)
        gi = self.embed_items(item_num, item_cat)  # (b, o)
        if fu.shape[0] != gi.shape[0]:
            raise ValueError(f"{fu.shape[0]} users but {gi.shape[0]} items: pairs need the same batch size")
        return self._checked((fu * gi).sum(-1), "score", None, None)  # (b,)

    @torch.no_grad()
    def item_embeddings(
        self, item_num: Tensor | None, item_cat: Tensor | None, rows_per_pass: int = ROWS_PER_PASS
    ) -> Tensor:
        """g(i) of every item, (c, o), in eval mode and in passes of ``rows_per_pass`` rows (a tower's
        activations are rows x tokens x d floats: a 100,000-item catalogue never goes through at once)."""
        x = item_num if item_num is not None else item_cat
        if x is None:
            raise ValueError("item_embeddings needs item_num or item_cat")
        was_training = self.training
        self.eval()
        try:
            parts = [
                self.embed_items(
                    None if item_num is None else item_num[start : start + rows_per_pass],
                    None if item_cat is None else item_cat[start : start + rows_per_pass],
                )
                for start in range(0, x.shape[0], rows_per_pass)
            ]  # (rows_per_pass, o) each
            return torch.cat(parts) if parts else self.embed_items(item_num, item_cat)  # (c, o)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def score_batches(
        self, user_num: Tensor | None, user_cat: Tensor | None, item_emb: Tensor, batch_size: int = 1024
    ) -> Iterator[tuple[slice, Tensor]]:
        """The one batched scorer: (rows, scores (b, c)) for consecutive batches of ``batch_size`` users
        against the item embeddings ``item_emb`` (c, o) of :meth:`item_embeddings`; memory is bounded by
        batch_size x c scores whatever the number of users."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if user_num is None and user_cat is None:
            raise ValueError("score_all needs user_num or user_cat")
        m = (user_num if user_num is not None else user_cat).shape[0]
        was_training = self.training
        self.eval()
        try:
            for start in range(0, m, batch_size):
                part = slice(start, min(start + batch_size, m))
                users = None if user_num is None else user_num[part]
                fu = self.embed_users(users, None if user_cat is None else user_cat[part])  # (b, o)
                yield part, self._checked(fu @ item_emb.T, "score", None, None)  # (b, c)
        finally:
            self.train(was_training)

    def score_all(
        self,
        user_num: Tensor | None,
        user_cat: Tensor | None,
        item_num: Tensor | None,
        item_cat: Tensor | None,
        batch_size: int = 1024,
    ) -> Tensor:
        """Score every user against every item: :meth:`score_batches` gathered into one matrix.

        Returns scores (m, c), ``scores[u, i] = s(u, i)``, for the small sets of evaluation and teaching
        ((0, c) for m = 0 users); large sets go through :meth:`score_batches` batch by batch.
        """
        items = self.item_embeddings(item_num, item_cat)  # (c, o)
        rows = [scores for _, scores in self.score_batches(user_num, user_cat, items, batch_size)]
        return torch.cat(rows) if rows else items.new_zeros(0, items.shape[0])  # (m, c)


def make_embedder(kind: str, d_model: int = 128, n_layers: int | None = None, **kwargs: object) -> nn.Module:
    """The embedder by name: ``"mamba"`` or ``"transformer"``, at the paper preset unless overridden.

    ``n_layers`` defaults to the paper's (4 Mamba layers, 2 Transformer layers); other keyword arguments go
    to :class:`MambaLayer` (e.g. ``d_state``, ``d_conv``) or :class:`TransformerEmbedder` (e.g. ``n_heads``).
    """
    presets = {"mamba": MambaEmbedder.paper, "transformer": TransformerEmbedder.paper}
    if kind in presets:
        layers = {} if n_layers is None else {"n_layers": n_layers}
        return presets[kind](d_model, **layers, **kwargs)
    raise ValueError(f"unknown embedder {kind!r}; choose one of {EMBEDDERS}")


def make_tower(
    kind: str,
    n_numerical: int,
    cardinalities: Sequence[int] = (),
    d_model: int = 128,
    n_layers: int | None = None,
    feature_names: Sequence[str] | None = None,
    hidden: Sequence[int] = (64, 32),
    final_activation: bool = False,
    readout: str = "cls",
    **embedder_kwargs: object,
) -> Tower:
    """A tower at the paper's configuration: [CLS] appended at the end, d -> 64 -> 32 feed-forward.

    ``final_activation`` as in :class:`Tower` (the paper's ReLU after the output layer; off by default).
    """
    tokenizer = FeatureTokenizer(
        n_numerical, cardinalities, d_model, cls_position="end", feature_names=feature_names
    )
    embedder = make_embedder(kind, d_model, n_layers, **embedder_kwargs)
    return Tower(tokenizer, embedder, hidden=hidden, final_activation=final_activation, readout=readout)


def make_two_tower(
    embedder: str,
    user: TowerSpec | dict,
    item: TowerSpec | dict,
    d_model: int = 128,
    n_layers: int | None = None,
    similarity: str = "dot",
    hidden: Sequence[int] = (64, 32),
    final_activation: bool = False,
    readout: str = "cls",
    **embedder_kwargs: object,
) -> TwoTowerModel:
    """A two-tower model at the paper's configuration, both towers with the same hyperparameters (paper III).

    Args:
        embedder: ``"mamba"`` or ``"transformer"``.
        user, item: each tower's features, a :class:`~ftmamba_lite.config.TowerSpec` or
            ``{"n_numerical": int, "cardinalities": [K_j, ...], "feature_names": [...]}``.
        embedder_kwargs: to the embedder (``d_state``, ``d_conv``, ``expand``, ``n_heads``, ...).

    The model keeps its :class:`~ftmamba_lite.config.ModelConfig` in ``model.config``:
    ``build_two_tower(model.config)`` rebuilds the same architecture (what checkpoints use).
    """
    if embedder not in EMBEDDERS:
        raise ValueError(f"unknown embedder {embedder!r}; choose one of {EMBEDDERS}")
    config = ModelConfig(
        embedder,
        user,
        item,
        d_model,
        n_layers,
        similarity,
        tuple(hidden),
        final_activation,
        embedder_kwargs,
        readout,
    )
    return build_two_tower(config)


def build_two_tower(config: ModelConfig) -> TwoTowerModel:
    """The two-tower model a :class:`~ftmamba_lite.config.ModelConfig` describes, freshly initialised.

    ``"mamba"``, ``"transformer"``: :class:`Tower` (tokenizer, embedder, feed-forward network) on each side;
    ``"linear"`` and ``"mlp"``: :class:`~ftmamba_lite.mlp.MLPTower` (no tokenizer, no sequence layer).
    """
    if config.kind in TRAINED_BASELINES:
        towers = [
            MLPTower(spec.n_numerical, spec.cardinalities, config.hidden, config.final_activation)
            for spec in (config.user, config.item)
        ]
    else:
        towers = [
            make_tower(
                config.kind,
                spec.n_numerical,
                spec.cardinalities,
                d_model=config.d_model,
                n_layers=config.n_layers,
                feature_names=spec.feature_names,
                hidden=config.hidden,
                final_activation=config.final_activation,
                readout=config.readout,
                **config.options,
            )
            for spec in (config.user, config.item)
        ]
    model = TwoTowerModel(*towers, similarity=config.similarity)
    model.config = config
    return model


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
