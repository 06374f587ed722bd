"""The Transformer embedder of FT-Transformer, the paper's baseline (Figure 1(b); paper II-B and III).

Dimension letters (docs/notation.md):
    b  batch     l  length (tokens)     d  d_model     h  heads     f  feed-forward width

One post-norm layer (PyTorch's ``nn.TransformerEncoderLayer`` with ``norm_first=False``):

    x = LayerNorm(x + MultiHeadAttention(x, x, x))      (b, l, d)    cost O(l^2 d) in the attention
    x = LayerNorm(x + W_2 relu(W_1 x + b_1) + b_2)      (b, l, d)    W_1: (f, d), W_2: (d, f)
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["TransformerEmbedder"]


class TransformerEmbedder(nn.Module):
    """``n_layers`` post-norm Transformer encoder layers (paper Figure 1(b)). (b, l, d) -> (b, l, d).

    Args:
        n_layers: number of layers.
        d_model: d, the token width.
        n_heads: h, attention heads (d must be divisible by h).
        dim_feedforward: f, the feed-forward width (PyTorch's default 2048).
        dropout: dropout in attention and feed-forward (the paper: 0).
    """

    def __init__(
        self,
        n_layers: int = 2,
        d_model: int = 128,
        n_heads: int = 2,
        dim_feedforward: int = 2048,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model, n_heads, dim_feedforward=dim_feedforward, dropout=dropout, batch_first=True
            )
            for _ in range(n_layers)
        )

    def forward(self, tokens: Tensor) -> Tensor:
        """(b, l, d) -> (b, l, d)."""
        if tokens.dim() != 3 or tokens.shape[-1] != self.d_model:
            raise ValueError(
                f"TransformerEmbedder expects (batch, length, d_model={self.d_model}), "
                f"got {tuple(tokens.shape)}"
            )
        for layer in self.layers:
            tokens = layer(tokens)
        return tokens

    @classmethod
    def paper(cls, d_model: int = 128, n_layers: int = 2, **overrides: object) -> TransformerEmbedder:
        """The paper's Transformer embedder (III): 2 layers, 2 heads, dropout 0, other PyTorch defaults.

        ``overrides`` replace single settings (e.g. ``n_heads=4``) for experiments.

        At d_model = 128 it has exactly the paper's 1,186,048 trainable parameters: per layer attention
        4*128^2 + 4*128 = 66,048; feed-forward 128*2048 + 2048 + 2048*128 + 128 = 526,464; two LayerNorms
        512; total 593,024, times 2 layers. See ``MambaEmbedder.paper`` for why d = 128 and not 192.
        """
        options = {"n_heads": 2, "dim_feedforward": 2048, "dropout": 0.0, **overrides}
        return cls(n_layers=n_layers, d_model=d_model, **options)
