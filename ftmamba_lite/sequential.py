"""Sequential recommenders: Mamba4Rec (Liu et al., 2024) and a SASRec-style Transformer, on item sequences.

FT-Mamba runs Mamba over the *feature tokens* of one user or item; Mamba4Rec runs the same layer over a
user's *interaction sequence* (the items in the order they were consumed) and predicts the next item. Both
models here share everything but the sequence layer: the item embedding, the read-out at the last position,
the score (dot product with every item embedding) and the loss (cross-entropy over all items), so a
comparison isolates Mamba against causal self-attention.

Dimension letters (docs/notation.md, plus two for sequences):
    b  batch (users)          l  length (items in the history, at most ``max_len``)
    d  d_model (hidden)       n  d_state          e  expand        w  d_conv
    v  items (catalogue)      f  feed-forward width (4 d)

Item ids: 0 is padding, the catalogue is 1..v. Histories are right-padded (b, l) int64 with their true
``lengths`` (b,): the models are causal, so padding after the last item never changes its state.

Mamba4Rec (paper section 3, Figure 1; reference code ``chengkai-liu/Mamba4Rec``):

    E      = LayerNorm(Dropout(Embedding(items)))                   (b, l, d)   embedding layer (3.1)
    per block (3.2):
      H    = Mamba(E)                                               (b, l, d)   selective SSM, causal
      H    = LayerNorm(Dropout(H))          one block               (b, l, d)
      H    = LayerNorm(Dropout(H) + E)      stacked blocks: residual
      E    = LayerNorm(H + Dropout(W_2 Dropout(GELU(W_1 H))))       (b, l, d)   position-wise FFN (3.3)
    s      = E[:, length - 1]                                       (b, d)      last position's state
    scores = s E_items^T                                            (b, v)      prediction layer (3.4)
    loss   = cross-entropy(scores, next item)                                   over all v items

Paper defaults: d = 64, n = 32, w = 4, e = 2, one block, dropout 0.2, max length 200. The Mamba layer is
the library's :class:`~ftmamba_lite.mamba.MambaLayer` without its LayerNorm (the block adds its own after
dropout).
Mamba4Rec uses no position embedding: the order is in the recurrence itself.

SASRec (Kang & McAuley, 2018, as in RecBole): E = Dropout(LayerNorm(Embedding(items) + P)) with learned
positions P (l, d); then post-norm Transformer layers (causal self-attention, GELU feed-forward of width
4 d), 2 layers and 2 heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mamba import MambaLayer

__all__ = [
    "SEQUENCE_MODELS",
    "FeedForward",
    "Mamba4Rec",
    "Mamba4RecBlock",
    "PopularityRecommender",
    "SASRec",
    "SequenceRecommender",
    "make_sequence_model",
]

LAYER_NORM_EPS = 1e-12  # RecBole's and Mamba4Rec's LayerNorm epsilon


class FeedForward(nn.Module):
    """Position-wise feed-forward network (Mamba4Rec 3.3): LayerNorm(x + Dropout(W_2 Dropout(GELU(W_1 x)))).

    (b, l, d) -> (b, l, d); W_1: (f, d), W_2: (d, f) with f = ``inner`` (Mamba4Rec: 4 d).
    """

    def __init__(self, d_model: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.w_1 = nn.Linear(d_model, inner)
        self.w_2 = nn.Linear(inner, d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)

    def forward(self, x: Tensor) -> Tensor:
        """(b, l, d) -> (b, l, d)."""
        hidden = self.dropout(F.gelu(self.w_1(x)))  # (b, l, f)
        return self.norm(x + self.dropout(self.w_2(hidden)))


class Mamba4RecBlock(nn.Module):
    """One Mamba4Rec block (paper 3.2-3.3): Mamba -> Dropout -> LayerNorm (residual if stacked) -> FFN.

    Args:
        d_model: d.
        d_state, d_conv, expand: n, w, e of the :class:`MambaLayer`.
        dropout: dropout after the Mamba layer and inside the feed-forward network.
        residual: add the block's input before the LayerNorm (the paper does so only when blocks are stacked).
    """

    def __init__(
        self, d_model: int, d_state: int, d_conv: int, expand: int, dropout: float, residual: bool
    ) -> None:
        super().__init__()
        self.mamba = MambaLayer(d_model, d_state=d_state, d_conv=d_conv, expand=expand, layer_norm=False)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.ffn = FeedForward(d_model, 4 * d_model, dropout)
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        """(b, l, d) -> (b, l, d)."""
        hidden = self.dropout(self.mamba(x))  # (b, l, d)
        hidden = self.norm(hidden + x) if self.residual else self.norm(hidden)
        return self.ffn(hidden)


class SequenceRecommender(nn.Module):
    """What the two sequence models share: item embedding, read-out at the last position, scores, loss.

    Subclasses implement :meth:`encode`: (b, l) item ids -> (b, l, d) states, causal (position t sees
    items 0..t only).

    Args:
        n_items: v, the catalogue size; the embedding has v + 1 rows, row 0 the padding.
        d_model: d.
        max_len: the longest history the model reads (longer ones are cut to their last ``max_len`` items
            by the data pipeline).
    """

    def __init__(self, n_items: int, d_model: int, max_len: int) -> None:
        super().__init__()
        if n_items < 1 or d_model < 1 or max_len < 1:
            raise ValueError(
                f"n_items, d_model and max_len must be >= 1, got {n_items}, {d_model}, {max_len}"
            )
        self.n_items, self.d_model, self.max_len = n_items, d_model, max_len
        self.item_embedding = nn.Embedding(n_items + 1, d_model, padding_idx=0)

    def _check_items(self, items: Tensor) -> None:
        if items.dim() != 2 or items.dtype != torch.long:
            raise ValueError(
                f"items must be an int64 (batch, length) tensor, got {items.dtype} {tuple(items.shape)}"
            )
        if items.shape[1] > self.max_len:
            raise ValueError(f"histories of length {items.shape[1]} exceed max_len={self.max_len}")

    def encode(self, items: Tensor) -> Tensor:
        """(b, l) item ids -> (b, l, d) causal states."""
        raise NotImplementedError

    def item_vectors(self) -> Tensor:
        """The catalogue's embeddings E_items (v, d) (padding row excluded)."""
        return self.item_embedding.weight[1:]

    def forward(self, items: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The state of each history's last item (Mamba4Rec 3.4): (b, l) ids, (b,) lengths -> (b, d).

        ``lengths`` None means every history fills all l positions.
        """
        self._check_items(items)
        states = self.encode(items)  # (b, l, d)
        if lengths is None:
            return states[:, -1]
        last = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, self.d_model)  # (b, 1, d)
        return states.gather(1, last).squeeze(1)  # (b, 1, d) -> (b, d)

    def scores(self, items: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Scores of every catalogue item for every history: s E_items^T, (b, v); column j is item j + 1."""
        return self(items, lengths) @ self.item_vectors().T

    def loss(self, items: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy over all v items of the next item at every position (every prefix of a
        history is one training example).

        Args:
            items: (b, l) right-padded inputs.
            targets: (b, l) the item following each position, 0 where there is none (ignored).
        """
        self._check_items(items)
        states = self.encode(items)  # (b, l, d)
        mask = targets > 0
        logits = states[mask] @ self.item_vectors().T  # (m, d) @ (d, v) -> (m, v), m real positions
        return F.cross_entropy(logits, targets[mask] - 1)


class Mamba4Rec(SequenceRecommender):
    """Mamba4Rec (Liu et al., 2024): item embedding, ``n_layers`` Mamba blocks, last-position read-out.

    Defaults are the paper's: d = 64, n = 32, w = 4, e = 2, 1 block, dropout 0.2, max length 200.
    """

    def __init__(
        self,
        n_items: int,
        d_model: int = 64,
        n_layers: int = 1,
        d_state: int = 32,
        d_conv: int = 4,
        expand: int = 2,
        dropout: float = 0.2,
        max_len: int = 200,
    ) -> None:
        super().__init__(n_items, d_model, max_len)
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.blocks = nn.ModuleList(
            Mamba4RecBlock(d_model, d_state, d_conv, expand, dropout, residual=n_layers > 1)
            for _ in range(n_layers)
        )
        _init_weights(self)

    def encode(self, items: Tensor) -> Tensor:
        """(b, l) -> (b, l, d): embedding, dropout, LayerNorm (3.1), then the blocks."""
        x = self.norm(self.dropout(self.item_embedding(items)))  # (b, l, d)
        for block in self.blocks:
            x = block(x)
        return x


class SASRec(SequenceRecommender):
    """SASRec-style baseline: learned positions and ``n_layers`` causal post-norm Transformer layers.

    Same embedding, read-out, scores and loss as :class:`Mamba4Rec`; defaults 2 layers, 2 heads, d = 64,
    feed-forward width 4 d, GELU, dropout 0.2 (as Mamba4Rec, so that only the sequence layer differs).
    """

    def __init__(
        self,
        n_items: int,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 2,
        dropout: float = 0.2,
        max_len: int = 200,
    ) -> None:
        super().__init__(n_items, d_model, max_len)
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.position_embedding = nn.Embedding(max_len, d_model)
        self.norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                n_heads,
                dim_feedforward=4 * d_model,
                dropout=dropout,
                activation="gelu",
                layer_norm_eps=LAYER_NORM_EPS,
                batch_first=True,
            )
            for _ in range(n_layers)
        )
        _init_weights(self)

    def encode(self, items: Tensor) -> Tensor:
        """(b, l) -> (b, l, d): items + positions, LayerNorm, dropout, causal self-attention layers."""
        length = items.shape[1]
        positions = self.position_embedding.weight[:length]  # (l, d)
        x = self.dropout(self.norm(self.item_embedding(items) + positions))  # (b, l, d)
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=items.device)  # (l, l)
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return x


class PopularityRecommender(nn.Module):
    """The popularity baseline: every history gets the same scores, the items' training counts.

    Args:
        counts: (v,) how often each item 1..v occurs in the training sequences.
    """

    def __init__(self, counts: Tensor) -> None:
        super().__init__()
        if counts.dim() != 1 or len(counts) < 1:
            raise ValueError(f"counts must be a non-empty 1-D tensor (v,), got shape {tuple(counts.shape)}")
        self.n_items = len(counts)
        self.register_buffer("counts", counts.float())

    def scores(self, items: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(b, l) histories -> (b, v): the counts for every history."""
        return self.counts.expand(items.shape[0], -1)


def _init_weights(model: nn.Module) -> None:
    """RecBole's initialisation: Linear and Embedding weights N(0, 0.02), biases 0, LayerNorm (1, 0).

    The Mamba layers keep mamba-ssm's own initialisation (Δ bias from [0.001, 0.1], S4D-real A), which the
    reference Mamba4Rec code overwrites with the same N(0, 0.02) rule.
    """
    skip = {id(m) for layer in model.modules() if isinstance(layer, MambaLayer) for m in layer.modules()}
    for module in model.modules():
        if id(module) in skip:
            continue
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if isinstance(model, SequenceRecommender):
        with torch.no_grad():
            model.item_embedding.weight[0].zero_()  # the padding row stays 0


SEQUENCE_MODELS: dict[str, type[SequenceRecommender]] = {"mamba4rec": Mamba4Rec, "sasrec": SASRec}
"""The trainable sequence models by name (``"popularity"`` is built from counts, see below)."""


def make_sequence_model(name: str, n_items: int, **kwargs: object) -> SequenceRecommender:
    """``"mamba4rec"`` or ``"sasrec"`` for a catalogue of ``n_items``; ``kwargs`` override the defaults."""
    if name not in SEQUENCE_MODELS:
        raise ValueError(f"unknown sequence model {name!r}; choose one of {sorted(SEQUENCE_MODELS)}")
    return SEQUENCE_MODELS[name](n_items, **kwargs)
