"""Checkers of the build-it-yourself exercises: the student writes a function, the checker runs it on random
inputs against the library and reports the first mismatch.

Every ``check_<name>(fn)`` calls ``fn`` on a few random cases (different shapes, edge cases such as an empty
feature group or a length of 1), compares the result with the library's (shape first, then values), and prints
one verdict: ``Correct!``, ``Not written yet`` (the function still raises ``NotImplementedError`` or returns
None: the notebook keeps running), or ``Not quite`` with the first mismatch (which case, which index, expected
against got) and a hint. Where a known mistake explains the numbers (Euler instead of zero-order hold, a
missing LayerNorm, log2(r) instead of log2(r + 1), ...) the hint names it. The worked solutions are the
``solve_*`` functions below (``exercises.solution("02.2")`` prints one). Symbols: ``docs/notation.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..datasets.movielens import training_windows
from ..mamba import MambaLayer
from ..metrics import per_user_metrics
from ..ops.ssm import associative_scan, selective_scan_ref
from ..tokenizer import FeatureTokenizer
from .demos import combine as library_combine

__all__ = [
    "check_blelloch_scan",
    "check_combine",
    "check_hr_ndcg",
    "check_mamba_layer",
    "check_recurrence",
    "check_tokenizer_forward",
    "check_training_windows",
    "solve_blelloch_scan",
    "solve_combine",
    "solve_hr_ndcg",
    "solve_mamba_layer",
    "solve_recurrence",
    "solve_tokenizer_forward",
    "solve_training_windows",
]


class _Mismatch(Exception):
    """The first difference between the student's result and the library's, as a sentence."""


@dataclass
class _Case:
    """One random input: ``args`` for the student's function, ``what`` describes it in a report."""

    args: tuple
    what: str
    extra: dict = field(default_factory=dict)


def _as_tensor(value: object, name: str) -> Tensor:
    """The student's result as a float64 tensor (tensors, arrays, lists and numbers accepted)."""
    if isinstance(value, Tensor):
        return value.detach().to(torch.float64)
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise _Mismatch(f"{name} should be a tensor or an array, got {type(value).__name__}") from err


def _index_text(index: Sequence[int], axes: Sequence[str]) -> str:
    return ", ".join(f"{a}={i}" for a, i in zip(axes, index, strict=True))


def _compare(
    got: object, expected: Tensor, name: str, axes: Sequence[str], rtol: float = 1e-4, atol: float = 1e-5
) -> tuple[int, ...] | None:
    """Raise :class:`_Mismatch` on a wrong shape; return the first index whose value differs, or None."""
    value = _as_tensor(got, name)
    expected = expected.detach().to(torch.float64)
    if tuple(value.shape) != tuple(expected.shape):
        raise _Mismatch(
            f"{name} has shape {tuple(value.shape)}, expected {tuple(expected.shape)} = ({', '.join(axes)})"
        )
    close = torch.isclose(value, expected, rtol=rtol, atol=atol)
    if bool(close.all()):
        return None
    index = tuple(int(i) for i in (~close).nonzero()[0])
    raise _Mismatch(
        f"{name}[{_index_text(index, axes)}] is {value[index].item():.6g}, expected "
        f"{expected[index].item():.6g}"
    )


def _same(got: object, expected: Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """True when ``got`` has ``expected``'s shape and values (used to recognise known mistakes)."""
    try:
        value = _as_tensor(got, "")
    except _Mismatch:
        return False
    expected = expected.detach().to(torch.float64)
    return value.shape == expected.shape and bool(torch.isclose(value, expected, rtol=rtol, atol=atol).all())


def _run(
    fn: object,
    name: str,
    cases: Sequence[_Case],
    verify: Callable[[object, _Case], None],
    right: str,
    hint: str,
    diagnose: Callable[[object, _Case], str | None] | None = None,
) -> bool:
    """Run ``fn`` on every case and ``verify`` each result; print the verdict and return it."""
    if fn is ... or not callable(fn):
        print(f"Not written yet: pass your function {name} to the checker. Hint: {hint}")
        return False
    for case in cases:
        try:
            got = fn(*case.args)
        except NotImplementedError:
            print(f"Not written yet: {name} still raises NotImplementedError. Hint: {hint}")
            return False
        except Exception as err:  # the student's code failed: report it instead of stopping the notebook
            print(f"Not quite: on {case.what} your function raised {type(err).__name__}: {err}. Hint: {hint}")
            return False
        if got is None:
            print(f"Not written yet: {name} returned None (is the return statement missing?). Hint: {hint}")
            return False
        try:
            verify(got, case)
        except _Mismatch as mismatch:
            known = diagnose(got, case) if diagnose is not None else None
            print(f"Not quite: on {case.what}, {mismatch}. Hint: {known or hint}")
            return False
        except Exception as err:  # a result of the wrong kind, or the function failed when rerun
            print(
                f"Not quite: on {case.what}, checking the result failed ({type(err).__name__}: {err}). "
                f"Hint: {hint}"
            )
            return False
    print(f"Correct! {right}")
    return True


# Notebook 01: the tokenizer's forward -----------------------------------------------------------------------


def _tokenizer_weights(tokenizer: FeatureTokenizer) -> SimpleNamespace:
    """The tokenizer's parameters as plain tensors: w_j, b_j (k_num, d); tables[j] (K_j + 1, d); b_j of the
    categorical features (k_cat, d); w_{k+1}, b_{k+1} (d,)."""
    weight = tokenizer.cat_embedding.weight.detach()
    starts = tokenizer.cat_offsets.tolist()[: len(tokenizer.cardinalities)]
    return SimpleNamespace(
        num_weight=tokenizer.num_weight.detach().clone(),
        num_bias=tokenizer.num_bias.detach().clone(),
        tables=[weight[s : s + K + 1].clone() for s, K in zip(starts, tokenizer.cardinalities, strict=True)],
        cat_bias=tokenizer.cat_bias.detach().clone(),
        cls_weight=tokenizer.cls_weight.detach().clone(),
        cls_bias=tokenizer.cls_bias.detach().clone(),
    )


def solve_tokenizer_forward(x_num: Tensor, x_cat: Tensor, weights: SimpleNamespace) -> Tensor:
    """Eq. (1)-(2): x_num (b, k_num), x_cat (b, k_cat) -> tokens (b, l, d): numeric, categorical, [CLS]."""
    numeric = x_num[:, :, None] * weights.num_weight + weights.num_bias  # (b, k_num, d): x_j w_j + b_j
    categorical = [table[x_cat[:, j]] for j, table in enumerate(weights.tables)]  # row x_j of W_j: (b, d)
    if categorical:
        cat = torch.stack(categorical, dim=1) + weights.cat_bias  # (b, k_cat, d)
    else:
        cat = numeric.new_zeros(len(x_num), 0, numeric.shape[-1])
    cls = (weights.cls_weight + weights.cls_bias).expand(len(x_num), 1, -1)  # (b, 1, d): w_{k+1} + b_{k+1}
    return torch.cat([numeric, cat, cls], dim=1)


def _tokenizer_cases() -> list[_Case]:
    generator = torch.Generator().manual_seed(101)
    cases = []
    for k_num, cardinalities, d, b in ((2, [3, 4], 8, 5), (0, [5, 2, 7], 4, 3), (3, [], 6, 2)):
        torch.manual_seed(len(cases))
        tokenizer = FeatureTokenizer(k_num, cardinalities, d_token=d)
        x_num = torch.randn(b, k_num, generator=generator)
        columns = [torch.randint(0, K + 1, (b,), generator=generator) for K in cardinalities]  # K_j: unknown
        x_cat = torch.stack(columns, dim=1) if columns else torch.zeros(b, 0, dtype=torch.long)
        with torch.no_grad():
            expected = tokenizer(x_num, x_cat)
        what = f"k_num = {k_num}, K_j = {cardinalities}, d = {d}, b = {b}"
        extra = {"expected": expected, "k_num": k_num}
        cases.append(_Case((x_num, x_cat, _tokenizer_weights(tokenizer)), what, extra))
    return cases


def check_tokenizer_forward(fn: object) -> bool:
    """01.2: ``fn(x_num, x_cat, weights)`` -> tokens (b, l, d) as :class:`FeatureTokenizer` computes them.

    ``weights`` has ``num_weight``, ``num_bias`` (k_num, d), ``tables`` (a list of (K_j + 1, d) tensors),
    ``cat_bias`` (k_cat, d), ``cls_weight``, ``cls_bias`` (d,). The cases include a tower without numeric
    and one without categorical features, and the 'unknown' index K_j."""

    def verify(got: object, case: _Case) -> None:
        expected = case.extra["expected"]
        try:
            _compare(got, expected, "tokens", ("b", "token", "d"))
        except _Mismatch as mismatch:
            value = _as_tensor(got, "tokens")
            if value.shape != expected.shape:
                raise
            bad = (~torch.isclose(value, expected.double(), rtol=1e-4, atol=1e-5)).nonzero()[0]
            token, k_num, l = int(bad[1]), case.extra["k_num"], expected.shape[1]
            kind = (
                "the [CLS] token"
                if token == l - 1
                else "a numeric token"
                if token < k_num
                else "a categorical token"
            )
            raise _Mismatch(f"{mismatch}, in {kind}") from None

    hint = (
        "tokens come in the order numeric (x_j w_j + b_j), categorical (row x_j of the table W_j, plus b_j; "
        "index K_j is the 'unknown' row) and [CLS] last (w_{k+1} + b_{k+1}); stack them to (b, l, d) with "
        "l = k_num + k_cat + 1."
    )
    right = (
        "your tokens equal FeatureTokenizer's on every case, with or without numeric or categorical features."
    )
    return _run(fn, "your tokenizer", _tokenizer_cases(), verify, right, hint)


# Notebook 02: zero-order hold and the recurrence ------------------------------------------------------------


def solve_recurrence(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor) -> Tensor:
    """The selective SSM, one step at a time: u, delta (b, d_in, l); A (d_in, n); B, C (b, n, l); D (d_in,)
    -> y (b, d_in, l). Δ = softplus(delta), Ā = exp(Δ A) (zero-order hold), B̄ u ≈ Δ B u, h_0 = 0."""
    step = F.softplus(delta)  # Δ (b, d_in, l), > 0
    A_bar = torch.exp(step[..., None] * A[:, None, :])  # Ā (b, d_in, l, n)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])  # h (b, d_in, n)
    ys = []
    for t in range(u.shape[-1]):
        h = (
            A_bar[:, :, t] * h + (step[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]
        )  # Ā_t h + Δ_t B_t u_t
        ys.append((h * C[:, None, :, t]).sum(-1) + D * u[:, :, t])  # y_t = C_t · h_t + D u_t: (b, d_in)
    return torch.stack(ys, dim=-1)  # (b, d_in, l)


def _recurrence_variant(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, **mistake: bool
) -> Tensor:
    """:func:`solve_recurrence` with one known mistake: ``euler`` (Ā = 1 + Δ A), ``no_softplus``, ``no_skip``
    (D u left out) or ``exact_b`` (the exact zero-order-hold B̄, which Mamba does not use)."""
    step = delta if mistake.get("no_softplus") else F.softplus(delta)
    arg = step[..., None] * A[:, None, :]  # Δ A: (b, d_in, l, n)
    A_bar = 1 + arg if mistake.get("euler") else torch.exp(arg)
    if mistake.get("exact_b"):
        B_bar = (torch.exp(arg) - 1) / A[:, None, :] * B.transpose(1, 2)[:, None]  # (ΔA)⁻¹(e^{ΔA} − 1) Δ B
    else:
        B_bar = step[..., None] * B.transpose(1, 2)[:, None]  # Δ B: (b, d_in, l, n)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[-1]):
        h = A_bar[:, :, t] * h + B_bar[:, :, t] * u[:, :, t, None]
        y = (h * C[:, None, :, t]).sum(-1)
        ys.append(y if mistake.get("no_skip") else y + D * u[:, :, t])
    return torch.stack(ys, dim=-1)


_RECURRENCE_MISTAKES = {
    "euler": "you used Euler's Ā = 1 + Δ A; zero-order hold gives Ā = exp(Δ A).",
    "no_softplus": "the step size is Δ = softplus(delta): apply the softplus before discretising.",
    "no_skip": "y_t = C_t · h_t + D u_t: the skip term D u_t is missing.",
    "exact_b": "you used the exact zero-order-hold B̄; Mamba (and the library) use B̄ u ≈ Δ B u.",
}


def check_recurrence(fn: object) -> bool:
    """02.2: ``fn(u, delta, A, B, C, D)`` -> y (b, d_in, l), the selective SSM with zero-order hold, against
    the library's :func:`~ftmamba_lite.ops.ssm.selective_scan_ref` (``delta_softplus=True``) on random shapes,
    l = 1 included. Recognises Euler's Ā, a missing softplus, a missing D u and the exact B̄."""
    generator = torch.Generator().manual_seed(202)
    cases = []
    for b, d_in, n, length in ((2, 3, 4, 7), (1, 2, 1, 1), (3, 4, 8, 21)):
        u, delta = (
            torch.randn(b, d_in, length, generator=generator),
            torch.randn(b, d_in, length, generator=generator),
        )
        A = -torch.rand(d_in, n, generator=generator) * 2 - 0.2  # (d_in, n), negative
        B, C = torch.randn(b, n, length, generator=generator), torch.randn(b, n, length, generator=generator)
        D = torch.randn(d_in, generator=generator)
        args = (u, delta, A, B, C, D)
        expected = selective_scan_ref(*args, delta_softplus=True)
        cases.append(_Case(args, f"b = {b}, d_in = {d_in}, n = {n}, l = {length}", {"expected": expected}))

    def verify(got: object, case: _Case) -> None:
        _compare(got, case.extra["expected"], "y", ("b", "d_in", "t"))

    def diagnose(got: object, case: _Case) -> str | None:
        for mistake, text in _RECURRENCE_MISTAKES.items():
            if _same(got, _recurrence_variant(*case.args, **{mistake: True})):
                return text
        return None

    hint = (
        "Δ = softplus(delta) (b, d_in, l); Ā_t = exp(Δ_t A) (b, d_in, n) per step; h starts at 0 "
        "(b, d_in, n); h_t = Ā_t h_{t-1} + Δ_t B_t u_t; y_t = C_t · h_t (sum over n) + D u_t. Mind the "
        "layouts: B, C are (b, n, l), A is (d_in, n)."
    )
    right = "your recurrence equals the library's selective_scan_ref on every case."
    return _run(fn, "your recurrence", cases, verify, right, hint, diagnose)


# Notebook 02: the associative combine and Blelloch's scan ---------------------------------------------------


def solve_combine(first: tuple[Tensor, Tensor], second: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Step (a1, x1), then step (a2, x2): h -> a2 (a1 h + x1) + x2 = (a2 a1) h + (a2 x1 + x2)."""
    (a1, x1), (a2, x2) = first, second
    return a2 * a1, a2 * x1 + x2


def check_combine(fn: object) -> bool:
    """02.4 (first part): ``fn((a1, x1), (a2, x2))`` -> (a, x), elementwise on tensors of any shape, against
    :func:`ftmamba_lite.course.combine`; recognises the steps applied in the wrong order."""
    generator = torch.Generator().manual_seed(303)
    cases = []
    for shape in ((5,), (3, 4), (2, 1, 6)):
        a1, a2 = torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)
        x1, x2 = torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)
        args = ((a1, x1), (a2, x2))
        cases.append(_Case(args, f"steps of shape {shape}", {"expected": library_combine(*args)}))
    axes = {1: ("i",), 2: ("i", "j"), 3: ("i", "j", "t")}

    def verify(got: object, case: _Case) -> None:
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise _Mismatch("the result should be one pair (a, x)")
        a, x = case.extra["expected"]
        _compare(got[0], a, "a", axes[a.dim()])
        _compare(got[1], x, "x", axes[x.dim()])

    def diagnose(got: object, case: _Case) -> str | None:
        (a1, x1), (a2, x2) = case.args
        if isinstance(got, tuple | list) and len(got) == 2 and _same(got[1], a1 * x2 + x1):
            return "you applied the second step first: (a1, x1) then (a2, x2) is h -> a2 (a1 h + x1) + x2."
        return None

    hint = "apply h -> a1 h + x1, then h -> a2 h + x2, and read off the new a (the factor of h) and x."
    right = "(a1, x1) • (a2, x2) = (a2 a1, a2 x1 + x2), elementwise, for any shape."
    return _run(fn, "your combine", cases, verify, right, hint, diagnose)


def solve_blelloch_scan(
    a: Tensor,
    x: Tensor,
    combine: Callable[[tuple[Tensor, Tensor], tuple[Tensor, Tensor]], tuple[Tensor, Tensor]],
) -> Tensor:
    """Every h_t of h_t = a_t h_{t-1} + x_t, h_{-1} = 0, along the last axis: a, x (..., l) -> h (..., l).

    Up-sweep: in round j (span s = 2^j) position i with i + 1 a multiple of 2 s composes the block before
    it, so it ends holding steps i - 2 s + 1 .. i (l - 1 combines in all). Down-sweep: with s halving, the
    position s after each block end receives the prefix up to that end (fewer than l more). Depth 2 log2 l.
    """
    length = a.shape[-1]
    a, x = a.clone(), x.clone()  # written in place below; autograd follows the writes
    span = 1
    while span < length:  # up-sweep (the reduction tree)
        right = torch.arange(2 * span - 1, length, 2 * span)
        left = right - span
        a[..., right], x[..., right] = combine((a[..., left], x[..., left]), (a[..., right], x[..., right]))
        span *= 2
    span //= 4
    while span >= 1:  # down-sweep: complete the prefixes in the middle of every block
        middle = torch.arange(3 * span - 1, length, 2 * span)
        before = middle - span
        a[..., middle], x[..., middle] = combine(
            (a[..., before], x[..., before]), (a[..., middle], x[..., middle])
        )
        span //= 2
    return x


def check_blelloch_scan(fn: object) -> bool:
    """02.4 (second part): ``fn(a, x, combine)`` -> h (..., l), every prefix of h_t = a_t h_{t-1} + x_t.

    Checked against the library's scan (:func:`~ftmamba_lite.ops.ssm.selective_scan_parallel`'s rounds) on
    l = 1, 2, 8, 16, 32 with batch axes in front: the values, the gradient with respect to a and x of a random
    weighted sum of h, the work (the pairs passed through ``combine``: at most 3 l, so O(l); the inclusive
    up- and down-sweep needs fewer than 2 l, an exclusive scan finished with one more round fewer than 3 l,
    while a Hillis-Steele scan combines about l log2 l) and the depth (calls of ``combine``, each combining
    one round's pairs: at most 2 log2 l + 1, where the recurrence needs l - 1)."""
    generator = torch.Generator().manual_seed(404)
    cases = []
    for shape in ((3, 8), (2, 4, 16), (5, 1), (1, 2), (2, 32)):
        a = torch.rand(shape, generator=generator, dtype=torch.float64) * 0.9 + 0.05  # a_t in (0.05, 0.95)
        x = torch.randn(shape, generator=generator, dtype=torch.float64)
        weight = torch.randn(shape, generator=generator, dtype=torch.float64)
        length, batch = shape[-1], math.prod(shape[:-1])
        a_ref, x_ref = a.clone().requires_grad_(), x.clone().requires_grad_()
        h = associative_scan(a_ref.reshape(batch, 1, length, 1), x_ref.reshape(batch, 1, length, 1))
        h = h.reshape(shape)
        (h * weight).sum().backward()
        extra = {
            "h": h.detach(),
            "grad_a": a_ref.grad,
            "grad_x": x_ref.grad,
            "weight": weight,
            "count": [0, 0],
        }
        counting = _counting_combine(extra["count"], batch)
        cases.append(_Case((a, x, counting), f"a, x of shape {shape} (l = {length})", extra))
    names = {2: ("batch", "t"), 3: ("batch", "channel", "t")}

    def verify(got: object, case: _Case) -> None:
        a, x, counting = case.args
        axes = names[a.dim()]
        _compare(got, case.extra["h"], "h", axes, rtol=1e-6, atol=1e-8)
        length, (pairs, calls) = a.shape[-1], case.extra["count"]
        rounds = 2 * math.ceil(math.log2(length)) + 1 if length > 1 else 1
        if length > 1 and pairs == 0:
            raise _Mismatch("the combine passed to your function was never called: use it for every step")
        if pairs > 3 * length:
            raise _Mismatch(
                f"your scan combined {pairs} pairs for l = {length}: more than the 3 l = {3 * length} a "
                "work-efficient scan needs (a Hillis-Steele scan combines about l log2 l)"
            )
        if calls > rounds:
            raise _Mismatch(
                f"your scan called combine {calls} times for l = {length}, one after another: Blelloch's "
                f"scan needs 2 log2 l rounds (+ 1 to finish an exclusive scan) = {rounds}; combine all pairs "
                "of a round in one call"
            )
        # the gradient: rerun with inputs that require it
        a_in, x_in = a.clone().requires_grad_(), x.clone().requires_grad_()
        h = fn(a_in, x_in, solve_combine)
        if not isinstance(h, Tensor) or not h.requires_grad:
            raise _Mismatch(
                "h does not depend on a and x through autograd (no .detach(), .numpy() or no_grad)"
            )
        (h * case.extra["weight"]).sum().backward()
        for name, leaf in (("a", a_in), ("x", x_in)):
            grad = torch.zeros_like(leaf) if leaf.grad is None else leaf.grad  # l = 1: a_0 is never used
            expected = case.extra[f"grad_{name}"]
            expected = torch.zeros_like(leaf) if expected is None else expected
            _compare(grad, expected, f"d loss / d {name}", axes, rtol=1e-6, atol=1e-8)

    hint = (
        "up-sweep: for span s = 1, 2, 4, ... combine position i - s into position i for i = 2s - 1, "
        "4s - 1, ...; then down-sweep: for s = l/4, ..., 2, 1 combine position i - s into position i for "
        "i = 3s - 1, 5s - 1, ...; work on clones of a and x and use index tensors (torch.arange) so that "
        "one call combines many pairs; return the x part."
    )
    right = (
        "your scan gives every prefix, its gradient matches the library's, it combines O(l) pairs "
        "(work-efficient) in O(log l) rounds, as Blelloch's."
    )
    return _run(fn, "your scan", cases, verify, right, hint)


def _counting_combine(count: list[int], batch: int) -> Callable:
    """The library's combine, counting the pairs (positions along l) it composes into ``count[0]`` and its
    calls (rounds, when every call combines one round's pairs) into ``count[1]``."""

    def counted(first: tuple[Tensor, Tensor], second: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        a, x = library_combine(first, second)
        count[0] += max(1, a.numel() // max(batch, 1))
        count[1] += 1
        return a, x

    return counted


# Notebook 03: one Mamba layer from its weights --------------------------------------------------------------


def _mamba_forward(tokens: Tensor, weights: dict[str, Tensor], **mistake: bool) -> Tensor:
    """Figure 1(a) from the weights (``MambaLayer.named_parameters()``): tokens (b, l, d) -> (b, l, d).
    ``mistake``: ``no_norm``, ``no_gate``, ``no_skip`` or ``conv_tail`` (keeps the last l outputs of the
    padded convolution, which reads the future)."""
    d_in, n = weights["A_log"].shape
    r, width = weights["dt_proj.weight"].shape[1], weights["conv1d.weight"].shape[-1]
    length = tokens.shape[1]
    x, z = F.linear(tokens, weights["in_proj.weight"]).transpose(1, 2).chunk(2, dim=1)  # (b, d_in, l) each
    conv = F.conv1d(x, weights["conv1d.weight"], weights["conv1d.bias"], padding=width - 1, groups=d_in)
    x = F.silu(
        conv[..., -length:] if mistake.get("conv_tail") else conv[..., :length]
    )  # causal: (b, d_in, l)
    dt, B, C = torch.split(F.linear(x.transpose(1, 2), weights["x_proj.weight"]), [r, n, n], dim=-1)
    delta = F.linear(dt, weights["dt_proj.weight"], weights["dt_proj.bias"]).transpose(1, 2)  # (b, d_in, l)
    A = -torch.exp(weights["A_log"])  # (d_in, n)
    y = selective_scan_ref(
        x,
        delta,
        A,
        B.transpose(1, 2),
        C.transpose(1, 2),
        None if mistake.get("no_skip") else weights["D"],
        None if mistake.get("no_gate") else z,
        delta_softplus=True,
    )  # (b, d_in, l)
    out = F.linear(y.transpose(1, 2), weights["out_proj.weight"])  # (b, l, d)
    if mistake.get("no_norm"):
        return out
    return F.layer_norm(out, out.shape[-1:], weights["norm.weight"], weights["norm.bias"])


def solve_mamba_layer(tokens: Tensor, weights: dict[str, Tensor]) -> Tensor:
    """One Mamba layer (paper Figure 1(a), LayerNorm included) from its weights: (b, l, d) -> (b, l, d).

    in_proj -> x, z (b, d_in, l); causal depthwise conv (keep the first l outputs) and SiLU; x_proj -> r-rank
    delta, B, C (b, l, n); dt_proj (with its bias) -> delta (b, d_in, l); the selective scan with A =
    -exp(A_log), D and the gate silu(z); out_proj; LayerNorm."""
    return _mamba_forward(tokens, weights)


_MAMBA_MISTAKES = {
    "no_norm": "the LayerNorm after out_proj is missing (weights 'norm.weight', 'norm.bias').",
    "no_gate": "the gate is missing: the SSM's output is multiplied by silu(z).",
    "no_skip": "the skip term D x_t is missing from the SSM's output.",
    "conv_tail": "the convolution must be causal: pad w - 1 and keep the FIRST l outputs (token t sees "
    "t - w + 1 ... t).",
}


def check_mamba_layer(fn: object) -> bool:
    """03.1: ``fn(tokens, weights)`` -> (b, l, d), one Mamba layer from the dict of its weights
    (``dict(layer.named_parameters())``, detached), against :class:`MambaLayer` on random sizes (d, n, w, l;
    D and the biases randomised). Recognises a missing LayerNorm, gate or D term, and a convolution that is
    not causal."""
    cases = []
    for d, n, width, b, length in ((8, 4, 3, 2, 5), (16, 16, 4, 3, 9), (12, 2, 2, 1, 1)):
        torch.manual_seed(500 + d)
        layer = MambaLayer(d, d_state=n, d_conv=width).eval()
        with torch.no_grad():
            for name in ("D", "dt_proj.bias", "conv1d.bias", "norm.weight", "norm.bias"):
                parameter = layer.get_parameter(name)
                parameter.add_(0.3 * torch.randn_like(parameter))
            tokens = torch.randn(b, length, d)
            expected = layer(tokens)
        weights = {name: p.detach().clone() for name, p in layer.named_parameters()}
        what = f"d = {d}, n = {n}, w = {width}, b = {b}, l = {length}"
        cases.append(_Case((tokens, weights), what, {"expected": expected}))

    def verify(got: object, case: _Case) -> None:
        _compare(got, case.extra["expected"], "output", ("b", "l", "d"), rtol=1e-4, atol=1e-4)

    def diagnose(got: object, case: _Case) -> str | None:
        for mistake, text in _MAMBA_MISTAKES.items():
            with torch.no_grad():
                if _same(got, _mamba_forward(*case.args, **{mistake: True}), rtol=1e-4, atol=1e-4):
                    return text
        return None

    hint = (
        "follow Figure 1(a) box by box with F.linear, F.conv1d(groups=d_in, padding=w - 1), F.silu, "
        "F.softplus (or the library's selective_scan_ref with delta_bias and delta_softplus=True) and "
        "F.layer_norm; read r and n from the shapes of dt_proj.weight and A_log; A = -exp(A_log)."
    )
    right = "your layer equals MambaLayer on every case: you have rebuilt Figure 1(a) from its weights."
    return _run(fn, "your Mamba layer", cases, verify, right, hint, diagnose)


# Notebook 05: HR@k and NDCG@k from a ranking ----------------------------------------------------------------


def solve_hr_ndcg(scores: np.ndarray, relevant: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per user: HR@k (1 if a relevant item is in the top k) and NDCG@k = DCG@k / IDCG@k with binary gains,
    DCG@k = sum over hits at rank r <= k of 1 / log2(r + 1). scores, relevant (n_users, n_items) ->
    two arrays (n_users,); a user with no relevant item scores 0."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (n_users, k): the k best items, best first
    hits = np.take_along_axis(relevant, top, axis=1)  # (n_users, k): is the item at rank r relevant?
    gain = 1 / np.log2(np.arange(2, k + 2))  # rank r = 1..k -> 1 / log2(r + 1)
    dcg = (hits * gain).sum(axis=1)
    ideal = np.array([gain[: min(int(n), k)].sum() for n in relevant.sum(axis=1)])  # all hits ranked first
    ndcg = np.divide(dcg, ideal, out=np.zeros(len(dcg)), where=ideal > 0)
    return hits.any(axis=1).astype(float), ndcg


def _hr_ndcg_variant(scores: np.ndarray, relevant: np.ndarray, k: int, mistake: str) -> np.ndarray:
    """NDCG@k with one known mistake: ``unnormalised`` (DCG without IDCG), ``ideal_all`` (IDCG over every
    relevant item, not the first min(n_rel, k)) or ``log2_rank`` (1 / log2(r) with rank 1 counting 1)."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(relevant, top, axis=1)
    ranks = np.arange(1, k + 1)
    gain = 1 / np.log2(np.maximum(ranks, 2)) if mistake == "log2_rank" else 1 / np.log2(ranks + 1)
    dcg = (hits * gain).sum(axis=1)
    if mistake == "unnormalised":
        return dcg
    full = 1 / np.log2(np.arange(2, relevant.shape[1] + 2))
    n_rel = relevant.sum(axis=1).astype(int)
    ideal = np.array([(full[:n] if mistake == "ideal_all" else gain[: min(n, k)]).sum() for n in n_rel])
    return np.divide(dcg, ideal, out=np.zeros(len(dcg)), where=ideal > 0)


_NDCG_MISTAKES = {
    "unnormalised": "divide DCG@k by IDCG@k, the DCG of a perfect ranking of the user's relevant items.",
    "ideal_all": "a perfect top k holds only min(n_rel, k) relevant items: IDCG@k sums 1 / log2(r + 1) over "
    "r = 1 .. min(n_rel, k).",
    "log2_rank": "the discount of rank r is 1 / log2(r + 1): rank 1 counts 1, rank 2 counts 1 / log2(3).",
}


def check_hr_ndcg(fn: object) -> bool:
    """05.1: ``fn(scores, relevant, k)`` -> (HR@k, NDCG@k), each (n_users,), against
    :func:`~ftmamba_lite.metrics.per_user_metrics` on random scores (no ties) and relevance, with users who
    like nothing and users who like more than k items; k = 1, 3, 10."""
    rng = np.random.default_rng(505)
    cases = []
    for n_users, n_items, k in ((6, 10, 3), (5, 20, 10), (4, 8, 1)):
        scores = rng.random((n_users, n_items))
        relevant = rng.random((n_users, n_items)) < 0.3
        relevant[0] = False  # a user who likes nothing
        relevant[1, : k + 2] = True  # one who likes more than k items
        table = per_user_metrics(scores, relevant, ks=(k,), ndcg_ks=(k,))
        expected = (
            torch.as_tensor(table[f"HR@{k}"].to_numpy(copy=True)),
            torch.as_tensor(table[f"NDCG@{k}"].to_numpy(copy=True)),
        )
        what = f"{n_users} users x {n_items} items, k = {k}"
        cases.append(_Case((scores, relevant, k), what, {"expected": expected}))

    def verify(got: object, case: _Case) -> None:
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise _Mismatch("the result should be a pair (hr, ndcg) of per-user arrays")
        k = case.args[2]
        _compare(got[0], case.extra["expected"][0], f"HR@{k}", ("user",))
        _compare(got[1], case.extra["expected"][1], f"NDCG@{k}", ("user",))

    def diagnose(got: object, case: _Case) -> str | None:
        if isinstance(got, tuple | list) and len(got) == 2:
            for mistake, text in _NDCG_MISTAKES.items():
                if _same(got[1], torch.as_tensor(_hr_ndcg_variant(*case.args, mistake))):
                    return text
        return None

    hint = (
        "rank each user's items by decreasing score (np.argsort(-scores, axis=1)); hits = relevant at "
        "the top k positions; HR@k = any hit; DCG@k = sum of 1 / log2(r + 1) over hits at rank r; divide by "
        "the DCG of min(n_rel, k) hits at ranks 1, 2, ...; a user with no relevant item scores 0."
    )
    right = "your HR@k and NDCG@k equal the library's for every user, including users who like nothing."
    return _run(fn, "your metric", cases, verify, right, hint, diagnose)


# Notebook 08: leave-one-out training windows ----------------------------------------------------------------


def solve_training_windows(train: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every prefix of every training sequence as a next-item example: a sequence s_1..s_m gives inputs
    s_1..s_{m-1} and targets s_2..s_m (shifted by one), cut into windows of at most ``max_len`` positions from
    the newest item backwards; rows right-padded with 0 to the longest window. -> inputs, targets (m, l)."""
    inputs, targets = [], []
    for seq in train:
        for end in range(len(seq) - 1, 0, -max_len):  # the window whose last target is seq[end]
            start = max(0, end - max_len)
            inputs.append(seq[start:end])
            targets.append(seq[start + 1 : end + 1])
    width = max((len(row) for row in inputs), default=1)
    x = np.zeros((len(inputs), width), dtype=np.int64)
    y = np.zeros((len(inputs), width), dtype=np.int64)
    for row, (a, b) in enumerate(zip(inputs, targets, strict=True)):
        x[row, : len(a)], y[row, : len(b)] = a, b
    return x, y


def _window_rows(inputs: object, targets: object) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The windows as sorted (inputs, targets) rows without their 0 padding (the order of rows is free)."""
    try:
        x, y = np.asarray(inputs, dtype=np.int64), np.asarray(targets, dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise _Mismatch(
            "inputs and targets should be two (windows, l) integer arrays, padded with 0"
        ) from err
    if x.ndim != 2 or x.shape != y.shape:
        raise _Mismatch(
            f"inputs {x.shape} and targets {y.shape} should be two 2-D arrays (m, l) of one shape"
        )
    rows = [(tuple(int(v) for v in a if v), tuple(int(v) for v in b if v)) for a, b in zip(x, y, strict=True)]
    return sorted(rows, key=lambda r: (r[1], r[0]))


def check_training_windows(fn: object) -> bool:
    """08.2: ``fn(train, max_len)`` -> (inputs, targets), each (m, l), against
    :func:`~ftmamba_lite.datasets.movielens.training_windows` on random histories (one of a single item, long
    ones cut into several windows). The rows may come in any order and with any amount of 0 padding on the
    right; every window's targets must be its inputs shifted by one."""
    rng = np.random.default_rng(808)
    cases = []
    for n_users, max_len in ((4, 50), (6, 4), (3, 3)):
        lengths = rng.integers(2, 13, size=n_users)
        lengths[0] = 1  # a history of one item: nothing to predict
        train = [rng.integers(1, 30, size=int(m)) for m in lengths]
        expected = _window_rows(*training_windows(train, max_len))
        what = f"histories of lengths {lengths.tolist()}, max_len = {max_len}"
        cases.append(_Case((train, max_len), what, {"expected": expected}))

    def verify(got: object, case: _Case) -> None:
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise _Mismatch("the result should be a pair (inputs, targets)")
        rows, expected = _window_rows(*got), case.extra["expected"]
        train, max_len = case.args
        for x, _ in rows:
            if len(x) > max_len:
                raise _Mismatch(f"a window holds {len(x)} inputs, more than max_len = {max_len}")
        examples = sum(len(y) for _, y in rows)
        wanted = sum(len(y) for _, y in expected)
        if examples != wanted:
            raise _Mismatch(
                f"your windows hold {examples} examples (nonzero targets), expected {wanted}: a history of m "
                "items gives m - 1 (prefix -> next item) examples"
            )
        for (x, y), (ex, ey) in zip(rows, expected, strict=False):
            if (x, y) != (ex, ey):
                raise _Mismatch(
                    f"the window with targets {list(ey)} should have inputs {list(ex)}; got inputs "
                    f"{list(x)}, targets {list(y)}"
                )
        if len(rows) != len(expected):
            raise _Mismatch(f"{len(rows)} windows, expected {len(expected)}")

    hint = (
        "for each history s_1..s_m: inputs s_1..s_{m-1}, targets s_2..s_m (the next item of every prefix); a "
        "history with more than max_len + 1 items is cut into windows of max_len positions, the last one "
        "ending at the newest item; pad the rows with 0 on the right into two (m, l) arrays."
    )
    right = "your windows hold exactly the library's (prefix -> next item) examples, cut at max_len."
    return _run(fn, "your windows", cases, verify, right, hint)
