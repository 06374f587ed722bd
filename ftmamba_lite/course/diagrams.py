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
* :func:`recommender_pipeline` -- :class:`ftmamba_lite.recommender.Recommender` from three tables to a ranked
  list, notebook 00.
* :func:`figure5_procedure` and :func:`plateau_position` -- the paper's Figure 5 analysis and where a seed
  ended between popularity and the oracle, notebook 05.
* :func:`hm_pipeline` -- the Kaggle H&M files to (user, article, target) triples, notebook 06.
* :func:`vaccine_environment` -- the cluster-matching environment of the vaccine experiment, notebook 07.
* :func:`leave_one_out_windows` and :func:`causal_mask` -- leave-one-out, the windows with inputs and targets
  shifted by one, and which inputs each output reads, notebook 08.

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
    "causal_mask",
    "feature_tokenizer",
    "figure5_procedure",
    "hm_pipeline",
    "leave_one_out_windows",
    "mamba4rec_block",
    "mamba_block",
    "plateau_position",
    "recommender_pipeline",
    "scan_trees",
    "two_towers",
    "vaccine_environment",
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


def _node(c: _Canvas, x: float, y: float, label: str) -> None:
    c.items.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='13' fill='white' stroke='{_INK}'/>")
    c.text(x, y + 4, label, size=10)


def _scan_panel(c: _Canvas, x0: float, y0: float, length: int, kind: str) -> None:
    """One scan tree: columns are the positions t = 1..length, rows the rounds, dots the combines."""
    dx, dy = 44, 46
    xs = [x0 + i * dx for i in range(length)]
    for i, x in enumerate(xs):
        _node(c, x, y0, f"s{i + 1}")
    if kind == "hillis-steele":
        _hillis_steele_rounds(c, xs, y0, dy, length)
    else:
        _blelloch_sweeps(c, xs, y0, dy, length)


def _hillis_steele_rounds(c: _Canvas, xs: list[float], y0: float, dy: float, length: int) -> None:
    """Hillis-Steele: round r combines each position with the one 2^r before it."""
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
            _node(c, x, yb, f"{lo}:{hi}" if lo < hi else f"{hi}")
        c.text(xs[0] - 34, (ya + yb) / 2 + 4, f"+{offset}", size=10, color="#c0504d")
    c.text(xs[0] - 34, y0 + 4, "input", size=10, anchor="middle")


def _blelloch_sweeps(c: _Canvas, xs: list[float], y0: float, dy: float, length: int) -> None:
    """Blelloch: the up-sweep (reduce), then the down-sweep (distribute) from the identity."""
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
            _node(c, x, yb, f"{lo + 1}:{hi + 1}" if lo < hi else f"{hi + 1}")
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
            _node(
                c,
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
    c.shape(20, 407, "B, C: (b, l, n)", anchor="start")

    c.box(cx + 30, 440, 250, 42, "selective SSM (scan)", "ssm", "h_t = exp(Δ_t A) h_t-1 + Δ_t B_t x_t")
    c.shape(cx + 40, 478, "A: (d_in, n), D: (d_in,)", anchor="start")
    c.shape(cx + 40, 493, "state h: (b, d_in, n)", anchor="start")
    c.text(cx + 40, 508, "B, C enter the scan as (b, n, l)", size=10, anchor="start")
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
    c.box(x, 556, 300, 34, "last position q = S_l, scores q E^T", "linear", "softmax cross-entropy")
    c.shape(x, 590, "q: (b, d)   scores: (b, v)")
    c.text(x, 620, "causal: the state at position t has read i_1 ... i_t only", size=11)
    return c.diagram()


def recommender_pipeline() -> Diagram:
    """:class:`ftmamba_lite.recommender.Recommender`: interactions, users and items tables -> one encoder per
    table -> (user, item, target) triples -> the two towers trained -> every item scored for a user -> the
    top k unseen items, a ranked list."""
    c = _Canvas(760, 470, "Recommender: three tables in, a ranked list out")
    for x, name, cols in (
        (130, "interactions", "user_id, item_id (, target)"),
        (380, "users", "user_id + feature columns"),
        (630, "items", "item_id + feature columns"),
    ):
        c.box(x, 70, 220, 38, name, "data", cols)
    for x in (380, 630):
        c.line([(x, 89), (x, 130)])
        c.box(x, 148, 210, 34, "TableEncoder", "conv", "numeric standardised, K_j + 1 rows")
        c.shape(x, 182, "x_num (rows, k_num), x_cat (rows, k_cat)")
    c.line([(130, 89), (130, 228)])
    c.box(130, 248, 220, 38, "triples (u, i, y)", "data", "implicit: + sampled negatives y = 0")
    c.line([(380, 187), (380, 228)])
    c.line([(630, 187), (630, 228)])
    c.box(505, 248, 400, 38, "two towers f(u), g(i) (04), trained by fit", "ssm", "MSE or in-batch softmax")
    c.line([(240, 248), (303, 248)])
    c.line([(505, 267), (505, 300)])
    c.box(505, 318, 330, 34, "score every item: s(u, i) = <f(u), g(i)>", "linear")
    c.shape(505, 350, "scores: (users, v)")
    c.line([(505, 356), (505, 380)])
    c.box(505, 398, 330, 34, "drop seen items, take the top k", "op", "recommend(users, k)")
    c.line([(340, 398), (250, 398)])
    c.box(140, 398, 210, 40, "ranked list", "data", "user_id, item_id, score, rank")
    c.shape(140, 432, "(users x k rows)")
    c.text(380, 460, "a new user: the same encoder, the id falls back to the 'unknown' row", size=11)
    return c.diagram()


def figure5_procedure() -> Diagram:
    """The paper's Figure 5 for one run: every test user receives as many recommendations as songs they like
    (the top n_u of their ranking); per song, recommended minus liked counts; songs ordered by like rank."""
    c = _Canvas(760, 430, "Figure 5: is a song recommended more or less often than it is liked?")
    c.box(120, 70, 200, 40, "scores", "data", "s(u, i): (users, items)")
    c.box(120, 140, 200, 40, "relevant", "data", "liked: (users, items)")
    c.line([(220, 70), (283, 95)])
    c.line([(220, 135), (283, 118)])
    c.box(380, 105, 190, 48, "user u gets its top n_u", "op", "n_u = songs u likes")
    c.box(590, 70, 150, 34, "recommended(i)", "linear", "count over users")
    c.box(590, 140, 150, 34, "liked(i)", "linear", "count over users")
    c.line([(475, 95), (513, 75)])
    c.line([(220, 150), (513, 150)])
    c.box(590, 215, 260, 34, "difference(i) = recommended - liked", "op")
    c.line([(665, 70), (740, 70), (740, 215), (722, 215)])
    c.line([(590, 157), (590, 196)])
    c.text(590, 262, "sums to 0 over the songs (as many recommendations as likes)", size=11)
    base, x0 = 340, 100
    heights = [-6, -2, 4, 1, -3, 18, -5, -4, 2, -5]  # a made-up run, for the picture only
    c.line([(x0 - 10, base), (x0 + 10 * 42 + 10, base)], arrow=False)
    for j, h in enumerate(heights):
        x = x0 + j * 42
        colour = "#c0504d" if h > 0 else "#4f81bd"
        c.items.append(
            f"<rect x='{x:.1f}' y='{base - 4 * max(h, 0):.1f}' width='28' height='{4 * abs(h):.1f}' "
            f"fill='{colour}'/>"
        )
        c.text(x + 14, base + 40, str(j + 1), size=10)
    c.text(x0 + 210, base + 56, "like rank (1 = the song liked by most test users)", size=11)
    c.text(560, 298, "above 0: over-recommended", size=11, anchor="start", color="#c0504d")
    c.text(560, 372, "below 0: under-recommended", size=11, anchor="start", color="#4f81bd")
    c.text(560, 392, "a tall bar: a song pushed to everyone", size=11, anchor="start")
    return c.diagram()


def plateau_position() -> Diagram:
    """Where a trained seed ended: 0 at the popularity baseline of the same seed (the plateau), 1 at the
    oracle of the same seed (the ceiling); above 0.5 it left the plateau (``experiments.plateau_position``).
    """
    c = _Canvas(720, 230, "Plateau position of one seed: (model - popularity) / (oracle - popularity)")
    x0, x1, y = 140, 600, 120
    c.line([(x0, y), (x1, y)], arrow=False, width=2)
    for pos, label, sub in (
        (0.0, "popularity", "the plateau: one ranking for all"),
        (1.0, "oracle", "ceiling"),
    ):
        x = x0 + pos * (x1 - x0)
        c.line([(x, y - 12), (x, y + 12)], arrow=False, width=2)
        c.text(x, y - 22, f"{pos:g}: {label}", size=12, weight="bold")
        c.text(x, y + 30, sub, size=10, color="#555555")
    mid = (x0 + x1) / 2
    c.line([(mid, y - 30), (mid, y + 30)], arrow=False, dashed=True)
    c.text(mid, y - 38, "0.5", size=11)
    c.dot(x0 + 0.05 * (x1 - x0), y, fill="#c0504d")
    c.text(x0 + 0.05 * (x1 - x0), y + 52, "stayed", size=11, color="#c0504d")
    c.dot(x0 + 0.93 * (x1 - x0), y, fill="#4f81bd")
    c.text(x0 + 0.93 * (x1 - x0), y + 52, "left the plateau", size=11, color="#4f81bd")
    c.shape(360, 205, "one position per (model, seed), metric HR@1 on the test users (100, 50)")
    return c.diagram()


def hm_pipeline() -> Diagram:
    """The H&M loader (``datasets.hm.load_hm``): the three Kaggle files -> the 100 most purchased articles,
    the customers' features, and (user, article, target) triples with one sampled negative per purchase."""
    c = _Canvas(780, 460, "H&M: three Kaggle files -> (user, article, target) triples")
    files = (
        (130, "customers.csv", "age, FN, Active, club, news freq."),
        (390, "transactions_train.csv", "customer, article, date"),
        (650, "articles.csv", "article_id, prod_name, ..."),
    )
    for x, name, cols in files:
        c.box(x, 70, 240, 40, name, "data", cols)
    c.line([(390, 90), (390, 130)])
    c.box(390, 150, 260, 34, "the 100 most purchased articles", "op", "the rest is dropped")
    c.line([(650, 90), (650, 150), (520, 150)])
    c.line([(130, 90), (130, 228)])
    c.box(130, 248, 240, 40, "user table", "conv", "age (numeric) + 4 categorical")
    c.shape(130, 282, "user_num (users, 1), user_cat (users, 4)")
    c.line([(390, 167), (390, 228)])
    c.box(390, 248, 230, 40, "purchases among the 100", "op", "each drawn purchase:")
    c.line([(500, 167), (600, 228)])
    c.box(650, 248, 170, 40, "item table", "conv", "prod_name (categorical)")
    c.shape(650, 282, "item_cat (v, 1), v = 100")
    c.line([(390, 268), (300, 330)])
    c.line([(390, 268), (480, 330)])
    c.box(300, 348, 170, 34, "positive (u, i, 1)", "linear", "the article bought")
    c.box(480, 348, 170, 34, "negative (u, j, 0)", "linear", "j never bought by u")
    c.line([(300, 365), (390, 400)])
    c.line([(480, 365), (390, 400)])
    c.box(390, 418, 240, 30, "training triples (u, i, y)", "data")
    for row, line in enumerate(
        (
            "test users: 5+ purchases,",
            "kept out of training; their",
            "purchases are the relevant",
            "items: (users, 100)",
        )
    ):
        c.text(585, 340 + 16 * row, line, size=11, anchor="start")
    return c.diagram()


def vaccine_environment() -> Diagram:
    """The vaccine-messaging environment (``datasets.vaccine.load_vaccine``): k-means on users and on
    messages; a pair is a vaccination with probability 0.9 when the two clusters match, 0.1 otherwise."""
    c = _Canvas(760, 450, "Vaccine messaging: clusters decide who is persuaded by which message")
    c.box(170, 70, 250, 40, "users", "data", "age + 7 categorical features")
    c.box(590, 70, 250, 40, "messages", "data", "100 texts (10 themes)")
    c.line([(170, 90), (170, 130)])
    c.box(170, 150, 250, 36, "one-hot + standardised age", "conv")
    c.line([(590, 90), (590, 130)])
    c.box(590, 150, 250, 36, "TF-IDF, reduced to 32 dims", "conv")
    for x, who in ((170, "user"), (590, "message")):
        c.line([(x, 168), (x, 200)])
        c.box(x, 220, 250, 36, f"k-means: {who} cluster", "ssm", "CLUSTERS groups")
    c.line([(295, 220), (465, 220)], arrow=False, dashed=True)
    c.text(380, 212, "same label = match", size=11)
    c.text(380, 236, "(labels paired at random)", size=10, color="#555555")
    c.line([(170, 238), (330, 300)])
    c.line([(590, 238), (430, 300)])
    c.box(380, 318, 320, 40, "P(y = 1 | u, i)", "op", "0.9 if the clusters match, else 0.1")
    c.line([(380, 338), (380, 372)])
    c.box(380, 390, 320, 34, "training pairs (u, i, y), y in {0, 1}", "data")
    c.text(
        380,
        432,
        "a test user's relevant messages: those of the matching cluster (messages / clusters)",
        size=11,
    )
    return c.diagram()


def leave_one_out_windows(length: int = 8) -> Diagram:
    """Leave-one-out on one history of ``length`` items: the last item is the test target, the one before the
    validation target; the m training items give inputs i_1 .. i_{m-1} and targets i_2 .. i_m, shifted by
    one."""
    if length < 4:
        raise ValueError(f"length must be at least 4 to show the split, got {length}")
    c = _Canvas(760, 330, "Leave-one-out: one history, and its training window shifted by one")
    x0, w = 110, 64
    c.text(20, 82, "history", size=12, anchor="start", weight="bold")
    for t in range(length):
        kind = "norm" if t == length - 1 else "act" if t == length - 2 else "data"
        c.box(x0 + t * w + w / 2, 78, w - 8, 30, f"i_{t + 1}", kind)
    c.text(x0 + (length - 1) * w + w / 2, 112, "test", size=11)
    c.text(x0 + (length - 2) * w + w / 2, 112, "validation", size=11)
    c.text(x0 + (length - 2) * w / 2, 112, "training items", size=11)
    m = length - 2  # training items
    c.text(20, 172, "inputs", size=12, anchor="start", weight="bold")
    c.text(20, 232, "targets", size=12, anchor="start", weight="bold")
    for t in range(m - 1):
        x = x0 + t * w + w / 2
        c.box(x, 168, w - 8, 30, f"i_{t + 1}", "data")
        c.box(x, 228, w - 8, 30, f"i_{t + 2}", "linear")
        c.line([(x, 184), (x, 212)])
    c.text(x0 + (m - 1) * w + 10, 172, "0 (padding)", size=11, anchor="start", color="#555555")
    c.shape(x0 + (m - 1) * w + 10, 232, "inputs, targets: (windows, l)", anchor="start")
    c.text(
        380,
        280,
        f"position t reads i_1 ... i_t and is trained to predict i_(t+1): {m - 1} examples in one pass",
        size=11,
    )
    c.text(380, 300, "histories longer than max_len + 1 are cut into several windows", size=11)
    return c.diagram()


def causal_mask(length: int = 6) -> Diagram:
    """Which inputs each output reads: the causal mask (Mamba by construction, SASRec's attention mask)
    against full attention (FT-Transformer's layers, no mask); rows are outputs t, columns inputs."""
    c = _Canvas(700, 330, "Which inputs can output t read? Causal versus full attention")
    cell = 30
    for x0, title, causal in (
        (80, "causal: Mamba, SASRec (mask)", True),
        (410, "full attention: no mask", False),
    ):
        c.text(x0 + length * cell / 2, 60, title, size=12, weight="bold")
        for t in range(length):
            c.text(x0 - 8, 102 + t * cell, f"{t + 1}", size=10, anchor="end")
            c.text(x0 + t * cell + cell / 2, 80, f"{t + 1}", size=10)
            for j in range(length):
                seen = j <= t or not causal
                fill = "#4f81bd" if seen else "#ffffff"
                c.items.append(
                    f"<rect x='{x0 + j * cell:.1f}' y='{74 + 10 + t * cell:.1f}' width='{cell - 2}' "
                    f"height='{cell - 2}' fill='{fill}' stroke='#999999'/>"
                )
        c.shape(x0 + length * cell / 2, 96 + length * cell, "mask: (l, l), rows: output t, columns: input")
    c.text(
        350,
        300,
        "blank: -inf added to that attention score (PyTorch's generate_square_subsequent_mask)",
        size=11,
    )
    c.text(
        350,
        318,
        "the state at position t has read i_1 ... i_t only; full attention reads the future too",
        size=11,
    )
    return c.diagram()


DIAGRAMS = {
    "feature_tokenizer": feature_tokenizer,
    "scan_trees": scan_trees,
    "mamba_block": mamba_block,
    "two_towers": two_towers,
    "mamba4rec_block": mamba4rec_block,
    "recommender_pipeline": recommender_pipeline,
    "figure5_procedure": figure5_procedure,
    "plateau_position": plateau_position,
    "hm_pipeline": hm_pipeline,
    "vaccine_environment": vaccine_environment,
    "leave_one_out_windows": leave_one_out_windows,
    "causal_mask": causal_mask,
}
"""Every diagram of the course by name (the notebooks call the functions directly)."""
