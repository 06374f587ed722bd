"""Diagrams of the course, drawn as SVG by code, with the tensor shapes on them.

Each function returns a :class:`Diagram`, which a notebook displays inline (``_repr_svg_``), so it shows in
JupyterLab, Colab and the rendered site without any file beside the notebook. ``Diagram.save(path)`` writes
the SVG file.

* :func:`feature_tokenizer` -- the paper's Figure 2: a row's numeric and categorical features to tokens
  (Eq. (1)-(2)), notebook 01.
* :func:`scan_trees` -- the Hillis-Steele and the Blelloch scan over l = 8 steps, notebook 02.
* :func:`mamba_block` -- the Mamba layer of the paper's Figure 1(a), notebook 03.
* :func:`two_towers` -- the two-tower model of the paper's Figure 3, notebook 04.
* :func:`mamba4rec_block` -- Mamba4Rec's embedding, block and prediction layer, notebook 08.

Symbols follow the repository's notation page (``docs/notation.md``): b batch, k features, l tokens, d width,
d_in = e d, n state size, w convolution width, v items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

__all__ = [
    "DIAGRAMS",
    "Diagram",
    "feature_tokenizer",
    "mamba4rec_block",
    "mamba_block",
    "scan_trees",
    "two_towers",
]

_INK = "#222222"
_SHAPE = "#1f4e79"  # tensor shapes, in every diagram
_FILL = {
    "data": "#f2f2f2",
    "linear": "#dbe9f6",
    "conv": "#fde9d9",
    "ssm": "#e2f0d9",
    "norm": "#fff2cc",
    "act": "#ead1f5",
    "op": "#ffffff",
}
_FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"


@dataclass
class Diagram:
    """An SVG picture: ``svg`` is the whole document; ``shapes`` the tensor shapes written on it."""

    svg: str
    title: str
    shapes: list[str] = field(default_factory=list)

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | Path) -> Path:
        """Write the SVG to ``path`` and return it."""
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path


class _Canvas:
    """A minimal SVG writer: boxes, arrows and text in user coordinates (pixels)."""

    def __init__(self, width: int, height: int, title: str) -> None:
        self.width, self.height, self.title = width, height, title
        self.items: list[str] = []
        self.shapes: list[str] = []
        self.text(width / 2, 22, title, size=15, weight="bold")

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: int = 12,
        anchor: str = "middle",
        color: str = _INK,
        weight: str = "normal",
        italic: bool = False,
    ) -> None:
        style = " font-style='italic'" if italic else ""
        self.items.append(
            f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' fill='{color}' "
            f"font-weight='{weight}'{style} {_FONT}>{escape(text)}</text>"
        )

    def shape(self, x: float, y: float, shape: str, anchor: str = "middle") -> None:
        """A tensor shape label, e.g. "(b, l, d)", in the shape colour."""
        self.shapes.append(shape)
        self.text(x, y, shape, size=11, anchor=anchor, color=_SHAPE, italic=True)

    def box(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        label: str,
        kind: str = "linear",
        sub: str | None = None,
        dashed: bool = False,
    ) -> tuple[float, float, float, float]:
        """A rounded box centred at (x, y); returns its (left, top, right, bottom)."""
        dash = " stroke-dasharray='5,3'" if dashed else ""
        self.items.append(
            f"<rect x='{x - w / 2:.1f}' y='{y - h / 2:.1f}' width='{w:.1f}' height='{h:.1f}' rx='6' "
            f"fill='{_FILL[kind]}' stroke='{_INK}' stroke-width='1.2'{dash}/>"
        )
        if sub is None:
            self.text(x, y + 4, label)
        else:
            self.text(x, y - 3, label)
            self.text(x, y + 12, sub, size=10, color="#555555")
        return x - w / 2, y - h / 2, x + w / 2, y + h / 2

    def circle(self, x: float, y: float, label: str, r: float = 11) -> None:
        self.items.append(
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r}' fill='white' stroke='{_INK}' stroke-width='1.2'/>"
        )
        self.text(x, y + 4.5, label, size=13)

    def dot(self, x: float, y: float, r: float = 4, fill: str = _INK) -> None:
        self.items.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r}' fill='{fill}'/>")

    def line(
        self,
        points: list[tuple[float, float]],
        arrow: bool = True,
        dashed: bool = False,
        color: str = _INK,
        width: float = 1.3,
    ) -> None:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        head = " marker-end='url(#arrow)'" if arrow else ""
        dash = " stroke-dasharray='5,3'" if dashed else ""
        self.items.append(
            f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='{width}'{dash}{head}/>"
        )

    def diagram(self) -> Diagram:
        svg = (
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
            f"viewBox='0 0 {self.width} {self.height}' role='img' aria-label='{escape(self.title)}'>"
            f"<title>{escape(self.title)}</title>"
            "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
            f"markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{_INK}'/>"
            "</marker></defs>"
            f"<rect width='{self.width}' height='{self.height}' fill='white'/>"
            + "".join(self.items)
            + "</svg>"
        )
        return Diagram(svg=svg, title=self.title, shapes=list(self.shapes))


def feature_tokenizer() -> Diagram:
    """The paper's Figure 2 (Eq. (1)-(2)): one row with numeric and categorical features becomes the token
    matrix T, (b, l, d) over a batch, with l = k + 1 and [CLS] appended last."""
    c = _Canvas(790, 390, "Feature tokenizer (paper Fig. 2, Eq. (1)-(2))")
    rows = [
        ("x_1 (numeric)", "x_1 w_1 + b_1", "T_1", "linear"),
        ("x_2 (numeric)", "x_2 w_2 + b_2", "T_2", "linear"),
        ("x_3 (category)", "row x_3 of W_3 + b_3", "T_3", "conv"),
        ("x_4 (category)", "row x_4 of W_4 + b_4", "T_4", "conv"),
        ("1 (constant)", "w_[CLS] + b_[CLS]", "T_[CLS]", "norm"),
    ]
    top, gap = 75, 52
    for i, (source, rule, token, kind) in enumerate(rows):
        y = top + i * gap
        c.box(95, y, 130, 34, source, "data")
        c.line([(160, y), (225, y)])
        c.box(325, y, 196, 34, rule, kind)
        c.line([(423, y), (488, y)])
        c.box(530, y, 80, 30, token, "op")
        c.shape(530, y + 27, "(d,)")
    c.shape(30, top - 24, "batch: x_num (b, k_num), x_cat (b, k_cat)", anchor="start")
    c.text(
        325,
        top + 4 * gap + 52,
        "one rule per feature, each with its own parameters; W_j: (K_j + 1, d), one row for 'unknown'",
        size=11,
        color="#555555",
    )
    # stack into T
    x0 = 700
    c.box(x0, top + 2 * gap, 150, 4 * gap + 36, "stack", "op")
    for i in range(5):
        c.line([(570, top + i * gap), (x0 - 76, top + 2 * gap)], arrow=True, width=0.8)
    c.text(x0, top + 2 * gap + 26, "T = [T_1 ... T_[CLS]]", size=11)
    c.shape(x0, top + 2 * gap + 44, "(l, d) per row")
    c.shape(x0, top + 2 * gap + 60, "(b, l, d) per batch")
    c.text(
        395,
        372,
        "l = k + 1 tokens; [CLS] goes last so that Mamba's last output has read every feature",
        size=12,
    )
    return c.diagram()


def _scan_panel(c: _Canvas, x0: float, y0: float, length: int, kind: str) -> None:
    """One scan tree: columns are the positions t = 1..length, rows the rounds, dots the combines."""
    dx, dy = 44, 46
    xs = [x0 + i * dx for i in range(length)]

    def node(x: float, y: float, label: str) -> None:
        c.items.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='13' fill='white' stroke='{_INK}'/>")
        c.text(x, y + 4, label, size=10)

    for i, x in enumerate(xs):
        node(x, y0, f"s{i + 1}")
    if kind == "hillis-steele":
        rounds = []
        offset = 1
        while offset < length:
            rounds.append(offset)
            offset *= 2
        for r, offset in enumerate(rounds):
            ya, yb = y0 + r * dy, y0 + (r + 1) * dy
            for i, x in enumerate(xs):
                c.line([(x, ya + 13), (x, yb - 13)], arrow=False, color="#888888")
                if i >= offset:
                    c.line([(xs[i - offset], ya + 13), (x - 4, yb - 14)], arrow=True, color="#c0504d")
            for i, x in enumerate(xs):
                hi = i + 1
                lo = max(1, hi - 2 ** (r + 1) + 1)
                node(x, yb, f"{lo}:{hi}" if lo < hi else f"{hi}")
            c.text(xs[0] - 34, (ya + yb) / 2 + 4, f"+{offset}", size=10, color="#c0504d")
        c.text(xs[0] - 34, y0 + 4, "input", size=10, anchor="middle")
    else:  # blelloch: up-sweep (reduce), then down-sweep (distribute)
        spans = [(i, i) for i in range(length)]
        level, stride = 0, 1
        while stride < length:
            ya, yb = y0 + level * dy, y0 + (level + 1) * dy
            for x in xs:
                c.line([(x, ya + 13), (x, yb - 13)], arrow=False, color="#dddddd")
            new = list(spans)
            for i in range(2 * stride - 1, length, 2 * stride):
                c.line([(xs[i - stride], ya + 13), (xs[i] - 4, yb - 14)], arrow=True, color="#c0504d")
                new[i] = (spans[i - stride][0], spans[i][1])
            spans = new
            for i, x in enumerate(xs):
                lo, hi = spans[i]
                node(x, yb, f"{lo + 1}:{hi + 1}" if lo < hi else f"{hi + 1}")
            c.text(xs[0] - 34, (ya + yb) / 2 + 4, "up", size=10, color="#c0504d")
            level += 1
            stride *= 2
        spans_or_id: list[tuple[int, int] | None] = list(spans)
        spans_or_id[-1] = None  # the exclusive scan starts the down-sweep from the identity step
        c.text(xs[-1] + 24, y0 + level * dy + 4, ":= id", size=10, anchor="start", color="#4f81bd")
        stride //= 2
        while stride >= 1:
            ya, yb = y0 + level * dy, y0 + (level + 1) * dy
            for x in xs:
                c.line([(x, ya + 13), (x, yb - 13)], arrow=False, color="#dddddd")
            new_spans = list(spans_or_id)
            for i in range(2 * stride - 1, length, 2 * stride):
                c.line([(xs[i - stride], ya + 13), (xs[i] - 4, yb - 14)], arrow=True, color="#c0504d")
                c.line(
                    [(xs[i], ya + 13), (xs[i - stride] + 4, yb - 14)],
                    arrow=True,
                    dashed=True,
                    color="#4f81bd",
                )
                left, own = spans_or_id[i - stride], spans_or_id[i]
                new_spans[i - stride] = own  # pass the prefix on to the left child
                new_spans[i] = left if own is None else (own[0], left[1]) if left else own  # prefix • left
            spans_or_id = new_spans
            for i, x in enumerate(xs):
                span = spans_or_id[i]
                node(
                    x,
                    yb,
                    "id"
                    if span is None
                    else f"{span[0] + 1}:{span[1] + 1}"
                    if span[0] < span[1]
                    else f"{span[1] + 1}",
                )
            c.text(xs[0] - 34, (ya + yb) / 2 + 4, "down", size=10, color="#4f81bd")
            level += 1
            stride //= 2


def scan_trees(length: int = 8) -> Diagram:
    """The Hillis-Steele scan (log2 l rounds, every position combines with the one 2^r before) beside the
    Blelloch scan (an up-sweep tree and a down-sweep tree, work O(l)), over ``length`` steps of one channel.

    Each node holds a combined step (a, x) of h -> a h + x: "3:6" is steps 3 to 6 composed. Blelloch's
    down-sweep yields the exclusive prefixes ("1:t-1"); adding step t gives h_t. The library runs the same
    combine over (b, d_in, l, n) at once.
    """
    if length & (length - 1) or not 2 <= length <= 16:
        raise ValueError(f"length must be a power of two between 2 and 16, got {length}")
    rounds = length.bit_length() - 1
    width = 2 * (length * 44 + 80) + 20
    height = 150 + 2 * rounds * 46 + 20
    c = _Canvas(width, height, f"Scans of l = {length} steps s_t = (Ā_t, B̄_t u_t), combined with •")
    left, right = 70, length * 44 + 150
    c.text(left + (length - 1) * 22, 50, "Hillis–Steele (library: selective_scan_parallel)", size=13)
    c.text(right + (length - 1) * 22, 50, "Blelloch (work-efficient; mambapy's pscan)", size=13)
    _scan_panel(c, left, 80, length, "hillis-steele")
    _scan_panel(c, right, 80, length, "blelloch")
    hs_work = sum(length - 2**r for r in range(rounds))
    c.text(
        left + (length - 1) * 22,
        80 + rounds * 46 + 40,
        f"depth {rounds} = log2 l, work {hs_work} combines ≈ l log2 l",
        size=12,
    )
    c.text(
        right + (length - 1) * 22,
        80 + 2 * rounds * 46 + 40,
        f"depth {2 * rounds} = 2 log2 l, work {2 * (length - 1)} ≈ 2 l combines; h_t = (1:t-1) • s_t",
        size=12,
    )
    c.shape(
        width / 2,
        height - 30,
        "each node: one state (b, d_in, n) per step; u, Δ: (b, d_in, l); B, C: (b, n, l)",
    )
    c.text(
        width / 2,
        height - 12,
        "red: combine (left • right); blue dashed: the down-sweep passes a prefix to the left",
        size=11,
    )
    return c.diagram()


def mamba_block() -> Diagram:
    """The Mamba layer of the paper's Figure 1(a), with the shapes of :class:`ftmamba_lite.mamba.MambaLayer`:
    in_proj to x and z, causal conv1d and σ, x_proj/dt_proj to Δ, B, C, the selective scan with D, the gate
    σ(z), out_proj and the LayerNorm the paper adds after it (no residual)."""
    c = _Canvas(720, 650, "Mamba layer (paper Fig. 1(a)): tokens (b, l, d) in, (b, l, d) out")
    cx, zx = 250, 560
    c.box(400, 60, 220, 32, "tokens", "data")
    c.shape(410, 98, "(b, l, d)", anchor="start")
    c.line([(400, 76), (400, 112)])
    c.box(400, 130, 260, 34, "projection expansion (in_proj)", "linear", "d -> 2 d_in, d_in = e d")
    c.line([(330, 147), (cx, 192)])
    c.line([(470, 147), (zx, 253)])
    c.shape(cx - 40, 172, "x: (b, d_in, l)", anchor="end")
    c.shape(zx - 10, 196, "z: (b, d_in, l)", anchor="start")
    c.box(cx, 210, 200, 34, "causal conv1d", "conv", "width w, one kernel per channel")
    c.line([(cx, 227), (cx, 253)])
    c.box(cx, 268, 90, 28, "σ (SiLU)", "act")
    c.line([(cx, 282), (cx, 418)])
    c.shape(cx + 8, 312, "x: (b, d_in, l)", anchor="start")
    c.line([(cx, 300), (197, 330)])
    c.box(110, 345, 170, 40, "x_proj, dt_proj", "linear", "selection: Δ, B, C from x")
    c.line([(110, 366), (190, 418)])
    c.shape(20, 392, "Δ: (b, d_in, l)", anchor="start")
    c.shape(20, 407, "B, C: (b, n, l)", anchor="start")
    c.box(cx + 30, 440, 250, 42, "selective SSM (scan)", "ssm", "h_t = exp(Δ_t A) h_t-1 + Δ_t B_t x_t")
    c.shape(cx + 40, 478, "A: (d_in, n), D: (d_in,)", anchor="start")
    c.shape(cx + 40, 493, "state h: (b, d_in, n)", anchor="start")
    c.box(zx, 268, 90, 28, "σ (SiLU)", "act")
    c.line([(zx, 282), (zx, 520), (cx + 42, 520)])
    c.text(zx + 8, 400, "gate σ(z)", size=11, anchor="start")
    c.line([(cx + 30, 461), (cx + 30, 508)])
    c.circle(cx + 30, 520, "×")
    c.line([(cx + 30, 531), (cx + 30, 552), (400, 552), (400, 565)])
    c.shape(cx + 40, 546, "y: (b, d_in, l)", anchor="start")
    c.box(400, 581, 260, 30, "projection contraction (out_proj)", "linear", None)
    c.shape(410, 610, "(b, l, d_in) -> (b, l, d)", anchor="start")
    c.line([(530, 581), (600, 581)])
    c.box(650, 581, 96, 30, "LayerNorm", "norm")
    c.shape(650, 612, "out: (b, l, d)")
    c.text(
        360,
        638,
        "no residual connection (as in the paper); mamba_inner fuses in_proj's output to the gate",
        size=11,
    )
    return c.diagram()


def two_towers() -> Diagram:
    """The two-tower model of the paper's Figure 3: each tower is tokenizer -> embedder -> [CLS] output ->
    feed-forward network (d -> 64 -> 32); the score is the inner product of the two embeddings."""
    c = _Canvas(720, 520, "Two towers (paper Fig. 3): score s(u, i) = <f(u), g(i)>")
    for x, who, row, length, emb in (
        (190, "user tower", "user row (Spotify: 20 genres)", "l_u = 21", "f(u)"),
        (530, "item tower", "item row (Spotify: song id)", "l_i = 2", "g(i)"),
    ):
        c.text(x, 50, who, size=13, weight="bold")
        c.box(x, 80, 250, 30, row, "data")
        c.shape(x, 110, "x_num (b, k_num), x_cat (b, k_cat)")
        c.line([(x, 114), (x, 138)])
        c.box(x, 155, 200, 30, "feature tokenizer (01)", "conv")
        c.shape(x, 187, f"tokens (b, l, d), {length}")
        c.line([(x, 191), (x, 215)])
        c.box(x, 236, 230, 38, "embedder", "ssm", "Mamba x 4 (03) or Transformer x 2")
        c.shape(x, 271, "(b, l, d)")
        c.line([(x, 275), (x, 299)])
        c.box(x, 314, 200, 28, "output at [CLS] (last)", "op")
        c.shape(x, 343, "(b, d)")
        c.line([(x, 347), (x, 369)])
        c.box(x, 386, 210, 32, "FFN d -> 64 -> 32", "linear", "ReLU after the first layer")
        c.shape(x, 418, f"{emb}: (b, 32)")
        c.line([(x, 422), (x, 446), (360 + (-14 if x < 360 else 14), 452)])
    c.circle(360, 458, "•", r=14)
    c.text(360, 440, "inner product", size=11)
    c.line([(360, 472), (360, 490)])
    c.shape(360, 504, "s(u, i): (b,)  ->  MSE against targets y in {-1, 0, +1}")
    return c.diagram()


def mamba4rec_block() -> Diagram:
    """Mamba4Rec (Liu et al., 2024, §3): item embedding, one Mamba block (Mamba layer, dropout, LayerNorm,
    position-wise feed-forward network with a residual) and the prediction layer over all v items."""
    c = _Canvas(640, 640, "Mamba4Rec: next item from a history of l items")
    x = 300
    c.box(x, 60, 230, 30, "item ids i_1 ... i_l", "data")
    c.shape(x + 170, 64, "(b, l)")
    c.line([(x, 75), (x, 100)])
    c.box(x, 118, 260, 34, "embedding E, dropout, LayerNorm", "conv", "E: (v, d); no positions")
    c.shape(x + 200, 122, "(b, l, d)")
    c.line([(x, 135), (x, 162)])
    c.box(x, 185, 260, 40, "Mamba layer (03), no LayerNorm", "ssm", "d_in = e d, n = 32, w = 4")
    c.shape(x + 200, 189, "(b, l, d)")
    c.line([(x, 205), (x, 230)])
    c.box(x, 246, 160, 28, "dropout", "op")
    c.line([(x, 260), (x, 284)])
    c.circle(x, 296, "+")
    c.line([(x - 130, 118), (x - 180, 118), (x - 180, 296), (x - 12, 296)], dashed=True)
    c.text(x - 174, 288, "residual (stacked blocks)", size=10, anchor="start")
    c.line([(x, 307), (x, 328)])
    c.box(x, 342, 160, 28, "LayerNorm", "norm")
    c.shape(x + 10, 372, "H: (b, l, d)", anchor="start")
    c.line([(x, 356), (x, 380)])
    c.box(x, 402, 300, 38, "feed-forward W_2 GELU(W_1 H)", "linear", "d -> 4d -> d, dropout")
    c.line([(x, 421), (x, 444)])
    c.circle(x, 456, "+")
    c.line([(x + 80, 342), (x + 210, 342), (x + 210, 456), (x + 12, 456)], dashed=True)
    c.text(x + 216, 400, "residual", size=10, anchor="start")
    c.line([(x, 467), (x, 486)])
    c.box(x, 500, 160, 28, "LayerNorm", "norm")
    c.shape(x + 120, 504, "S: (b, l, d)")
    c.line([(x, 514), (x, 538)])
    c.box(x, 556, 300, 34, "last position s = S_l, scores s E^T", "linear", "softmax cross-entropy")
    c.shape(x, 590, "s: (b, d)   scores: (b, v)")
    c.text(x, 620, "causal: the state at position t has read i_1 ... i_t only", size=11)
    return c.diagram()


DIAGRAMS = {
    "feature_tokenizer": feature_tokenizer,
    "scan_trees": scan_trees,
    "mamba_block": mamba_block,
    "two_towers": two_towers,
    "mamba4rec_block": mamba4rec_block,
}
"""Every diagram of the course by name (the notebooks call the functions directly)."""
