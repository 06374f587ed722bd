"""Numba kernels of the fused CPU selective scan and of the causal depthwise convolution.

Loaded only through :mod:`ftmamba_lite.ops.runtime` (``numba_kernels()``, ``kernels()``); importing it imports
numba. The functions below are the kernels' source (plain Python, where ``prange`` is ``range``);
:data:`SERIAL` and :data:`PARALLEL` hold them compiled, serially and over numba's threads, and the runtime
picks the set by numba's thread count. The first call of each compiled kernel compiles it (seconds, then
cached on disk, see :func:`_jit`). Callers pass every argument by name.

Dimension letters (docs/notation.md):
    b  batch            l  length (tokens)
    d  d_inner (channels)
    n  d_state          w  d_conv (convolution width)

Layouts, all C-contiguous, float32 or float64 (one compiled version per dtype, compiled on first use):
    u, delta, z, out, Δ and their gradients   (b, l, d)   tokens-major, as the model's projections produce
                                                          (z and dz may lie at an offset in a (b, l, 2d) one)
    A, as At                                  (NB, d)     transposed: a state row is contiguous over channels
    B, C                                      (b, l, NB)  one step's state vector is contiguous; or read at a
                                                          column offset inside a wider (b, l, .) array
    D, delta_bias                             (d,)

Both kernels run step by step over the channels of a work item (a batch row, or a group of its channels): at
step t they update the item's (NB, channels) state row by row with the channels innermost (contiguous, so a
row is a few vector instructions), and sums over n (y_t forward; dh_t · B_t and the dΔ_t term backward)
accumulate row by row into (channels,) vectors, with no horizontal sum over n. The channel loops run over
unsigned bounds: with signed ones numba's negative-index wraparound stops LLVM from vectorising them. Work
items are independent and spread over the threads with ``prange``. This is faster than walking one channel at
a time over its n-vector state (benchmarks/README.md has the measurements behind each choice here).

Nothing of size (b, l, d, n) is ever allocated: the forward keeps the running state and, for the backward, the
state entering every chunk of T = 32 steps (1/T of the expanded state). The backward, last chunk first,
recomputes the chunk's states and Ā = exp(Δ A) from its checkpoint into per-thread scratch, (T + 1, NB, m)
for the m channels of the item, and walks them in reverse; dB_t and dC_t are sums over the item's channels
(vector reductions, one per step and state row). Wide items are fastest, although their scratch no longer fits
in L2: the reductions and loop overheads, not the cache, set the cost.

There are b l d n exps forward and again backward (2.75 M per layer and direction at the paper size), and
numba's ``math.exp`` is a scalar libm call that LLVM cannot vectorise;
:func:`fast_exp` is a float32 exp written with arithmetic and bit operations only, which vectorises: relative
error below 3e-7 on [-87.3, 88] (below, results are clamped to 1e-38, which the recurrence cannot tell from 0;
above, to exp(88)). :func:`fast_softplus` and :func:`fast_sigmoid` build on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import FunctionType, SimpleNamespace
from typing import Any

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange, set_num_threads, types
from numba.extending import overload

__all__ = [
    "NB",
    "PARALLEL",
    "SERIAL",
    "T",
    "fast_exp",
    "fast_sigmoid",
    "fast_softplus",
    "get_num_threads",
    "scan_fwd",
    "scan_bwd",
    "conv_fwd",
    "conv_bwd",
]

# Like fastmath=True without "nnan"/"ninf": NaN and Inf still propagate as in IEEE arithmetic.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)  # ln 2 = _LN2_HI + _LN2_LO, _LN2_HI exact in few bits (Cody & Waite)
_LN2_LO = np.float32(-2.1219444005469057e-4)
_X_MIN, _X_MAX = np.float32(-87.3), np.float32(88.0)  # 2^k of the result stays within float32's normal range
# exp(r) on [-ln2 / 2, ln2 / 2]: weighted least squares on Chebyshev nodes, relative error 2.2e-7 in float32.
_P0 = np.float32(1.0000000710297003)
_P1 = np.float32(0.9999996661619829)
_P2 = np.float32(0.49998899075803005)
_P3 = np.float32(0.16667662837726083)
_P4 = np.float32(0.04191502854162086)
_P5 = np.float32(0.008291716685092106)


def _jit(parallel: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """``njit`` with on-disk caching where some cache directory is writable, without caching otherwise.

    numba caches next to the source (``__pycache__``), or, if the package directory is read-only, in the
    user-wide cache directory (``NUMBA_CACHE_DIR`` overrides both); if neither is writable, ``cache=True``
    raises at decoration and the kernel is compiled in every process instead. numpy's error model (no
    division-by-zero checks, which no kernel needs) lets LLVM vectorise the channel loops of the serial
    variants as well as parfor lowering does for the parallel ones.
    """

    def decorate(fn: Callable[..., Any]) -> Any:
        options = {"fastmath": _FASTMATH, "parallel": parallel, "error_model": "numpy"}
        try:
            return njit(cache=True, **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(cache=False, **options)(fn)

    return decorate


def fast_exp(x: float) -> float:
    """exp(x); in numba-compiled code float32 arguments use a vectorisable polynomial (see the module doc)."""
    return math.exp(x)


@overload(fast_exp, jit_options={"fastmath": _FASTMATH})
def _fast_exp_overload(x):  # type: ignore[no-untyped-def]  # numba requires the same parameters as the impls
    if isinstance(x, types.Float) and x.bitwidth == 32:

        def exp_f32(x):  # type: ignore[no-untyped-def]
            # exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 in [-ln2 / 2, ln2 / 2] (ln 2 in two
            # parts, so r is exact): 2^k goes into the exponent bits, exp(r) is a degree-5 polynomial.
            x = min(max(x, _X_MIN), _X_MAX)
            k = np.floor(x * _LOG2E + np.float32(0.5))
            r = (x - k * _LN2_HI) - k * _LN2_LO
            p = np.float32(((((_P5 * r + _P4) * r + _P3) * r + _P2) * r + _P1) * r + _P0)
            return np.int32(p.view(np.int32) + (np.int32(k) << np.int32(23))).view(np.float32)

        return exp_f32
    if isinstance(x, types.Float):
        return lambda x: math.exp(x)
    return None


def fast_softplus(x: float) -> float:
    """softplus(x) = log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) (no overflow); vectorisable in
    compiled float32 code (see :func:`_fast_softplus_overload`)."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def fast_sigmoid(x: float) -> float:
    """1 / (1 + exp(-x)) without overflow; vectorisable in compiled float32 code."""
    y = math.exp(-abs(x))
    return 1.0 / (1.0 + y) if x >= 0 else y / (1.0 + y)


@overload(fast_softplus, jit_options={"fastmath": _FASTMATH})
def _fast_softplus_overload(x):  # type: ignore[no-untyped-def]
    if isinstance(x, types.Float) and x.bitwidth == 32:

        def softplus_f32(x):  # type: ignore[no-untyped-def]
            # log1p(y) = 2 atanh(s) with s = y / (2 + y) in [0, 1/3] for y = exp(-|x|) in (0, 1]: the odd
            # series to s^11 is within 2e-7 relative, and stays relatively accurate for tiny y.
            y = fast_exp(-abs(x))
            s = y / (np.float32(2.0) + y)
            s2 = s * s
            q = np.float32(1 / 9) + s2 * np.float32(1 / 11)
            q = np.float32(1 / 3) + s2 * (np.float32(1 / 5) + s2 * (np.float32(1 / 7) + s2 * q))
            return max(x, np.float32(0.0)) + np.float32(2.0) * s * (np.float32(1.0) + s2 * q)

        return softplus_f32
    if isinstance(x, types.Float):
        return lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x)))
    return None


@overload(fast_sigmoid, jit_options={"fastmath": _FASTMATH})
def _fast_sigmoid_overload(x):  # type: ignore[no-untyped-def]
    if isinstance(x, types.Float) and x.bitwidth == 32:

        def sigmoid_f32(x):  # type: ignore[no-untyped-def]
            # fast_exp saturates at exp(88) instead of overflowing, so no branch on the sign is needed
            return np.float32(1.0) / (np.float32(1.0) + fast_exp(-x))

        return sigmoid_f32
    if isinstance(x, types.Float):

        def sigmoid_f64(x):  # type: ignore[no-untyped-def]
            y = math.exp(-abs(x))
            return 1.0 / (1.0 + y) if x >= 0.0 else y / (1.0 + y)

        return sigmoid_f64
    return None


# The kernels below index their array arguments directly (no views, no slices, no allocations), so that LLVM
# sees no aliasing and vectorises the channel loops. The callers pass distinct arrays, scratch included.

NB = 16  # the callers zero-pad a smaller state size n to NB (padded states stay 0); a larger n takes the
# PyTorch path. The kernels read n from At, so the n-loops are not unrolled: unrolled, they compiled 20 %
# longer and ran no faster (benchmarks/README.md)
T = 32  # steps per chunk: a chunk's rows of the (b, l, d) arrays stay in L1 while its channels are walked


def scan_fwd(
    u: np.ndarray,
    delta: np.ndarray,
    delta_bias: np.ndarray,
    softplus: bool,
    At: np.ndarray,
    B: np.ndarray,
    b_off: int,
    C: np.ndarray,
    c_off: int,
    D: np.ndarray,
    z: np.ndarray,
    z_off: int,
    has_z: bool,
    save: bool,
    out: np.ndarray,
    ckpt: np.ndarray,
    dtrow: np.ndarray,
    hs: np.ndarray,
) -> None:
    """Selective scan forward (Gu & Dao 2023, Algorithm 2) into ``out`` (b, l, d), vectorised over channels.

    Per channel: Δ_t = softplus(delta_t + delta_bias), h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t u_t B_t,
    y_t = C_t · h_t + D u_t, out_t = y_t silu(z_t). Step by step, the n state rows of a work item's channels,
    (NB, channels), are updated with the channels innermost (contiguous, so each row is a few vector
    instructions) and y_t accumulates row by row: no horizontal sum over n. The channel loops run over
    unsigned bounds: with signed ones numba's negative-index wraparound stops LLVM from vectorising them.

    Args:
        u, delta: (b, l, d). delta_bias: (d,), zeros for none. softplus: apply it to delta + delta_bias.
        At: A transposed, (NB, d). D: (d,), zeros for no skip.
        B, b_off: B_t is ``B[b, t, b_off : b_off + NB]``; C, c_off likewise (B and C may be one array, e.g.
            the (b, l, r + 2n) output of x_proj, and (b, l, NB) padded arrays with offset 0 otherwise).
        z, z_off: the gate is ``z[b, t, z_off : z_off + d]``, read only when ``has_z`` (z may be the
            (b, l, 2d) in_proj output, with the gate in its second half).
        save: write the checkpoints (for the backward).
        out: (b, l, d), written.
        ckpt: (b, ceil(l / T) - 1, NB, d): the state entering chunks 1, 2, ... (chunk 0 starts from 0),
            written when ``save``.
        dtrow (b g, d), hs (b g, NB, d): scratch of the b g work items (g channel groups per batch row,
            g = hs.shape[0] / b) for one step's Δ and the running state.
    """
    bsz, l, d = u.shape
    n = At.shape[0]
    groups = hs.shape[0] // bsz
    zero = u.dtype.type(0.0)
    zo = np.uint64(z_off)
    for item in prange(groups * bsz):
        g = item // bsz
        b = item - g * bsz
        c_lo = np.uint64((g * d) // groups)
        c_hi = np.uint64(((g + 1) * d) // groups)
        for i in range(n):
            for c in range(c_lo, c_hi):
                hs[item, i, c] = zero
        for t in range(l):
            if save and t > 0 and t % T == 0:  # the state entering chunk t / T
                for i in range(n):
                    for c in range(c_lo, c_hi):
                        ckpt[b, t // T - 1, i, c] = hs[item, i, c]
            if softplus:
                for c in range(c_lo, c_hi):
                    dtrow[item, c] = fast_softplus(delta[b, t, c] + delta_bias[c])
            else:
                for c in range(c_lo, c_hi):
                    dtrow[item, c] = delta[b, t, c] + delta_bias[c]
            for c in range(c_lo, c_hi):
                out[b, t, c] = D[c] * u[b, t, c]
            for i in range(n):
                bi = B[b, t, b_off + i]
                ci = C[b, t, c_off + i]
                for c in range(c_lo, c_hi):
                    dt = dtrow[item, c]
                    h = fast_exp(dt * At[i, c]) * hs[item, i, c] + dt * u[b, t, c] * bi
                    hs[item, i, c] = h
                    out[b, t, c] += h * ci
            if has_z:
                for c in range(c_lo, c_hi):
                    out[b, t, c] *= z[b, t, zo + c] * fast_sigmoid(z[b, t, zo + c])


def scan_bwd(
    u: np.ndarray,
    delta: np.ndarray,
    delta_bias: np.ndarray,
    softplus: bool,
    At: np.ndarray,
    B: np.ndarray,
    b_off: int,
    C: np.ndarray,
    c_off: int,
    D: np.ndarray,
    z: np.ndarray,
    z_off: int,
    has_z: bool,
    ckpt: np.ndarray,
    dout: np.ndarray,
    du: np.ndarray,
    ddelta: np.ndarray,
    dz: np.ndarray,
    dz_off: int,
    dA_part: np.ndarray,
    dD_part: np.ndarray,
    dbias_part: np.ndarray,
    dB_part: np.ndarray,
    db_off: int,
    dC_part: np.ndarray,
    dc_off: int,
    dts: np.ndarray,
    ys: np.ndarray,
    Hs: np.ndarray,
    Es: np.ndarray,
    hr: np.ndarray,
    dhs: np.ndarray,
    sb: np.ndarray,
    sa: np.ndarray,
) -> None:
    """Selective scan backward, last chunk first: recompute the chunk's states from its checkpoint, then run
    the adjoint recurrence through it in reverse; vectorised over channels like :func:`scan_fwd`.

    With dh the gradient flowing into h_t from later steps (zero after the last step):

        dy_t = dout_t silu(z_t);   dh_t = dh + dy_t C_t
        dC_t += dy_t h_t;  dB_t += Δ_t u_t dh_t;  du_t = D dy_t + Δ_t dh_t · B_t
        dΔ_t = u_t dh_t · B_t + Σ_n dh_t h_{t-1} Ā_t A;  dA += Δ_t dh_t h_{t-1} Ā_t
        dh = Ā_t dh_t   (flows into h_{t-1})
        ddelta_t = dΔ_t sigmoid(delta_t + delta_bias)   (softplus' = sigmoid)

    dC_t and dB_t are sums over the item's channels (vector reductions); the sums over n (dh_t · B_t and the
    dΔ_t term) accumulate row by row into (channels,) vectors, as y_t does in the forward.

    Args:
        u, delta, delta_bias, softplus, At, B, b_off, C, c_off, D, z, z_off, has_z: as :func:`scan_fwd`.
        ckpt: the forward's checkpoints (b, ceil(l / T) - 1, NB, d).
        dout: (b, l, d).
        du, ddelta: (b, l, d), written.
        dz, dz_off: dz[b, t, dz_off : dz_off + d] is written when ``has_z`` (like z, in a wider array).
        dA_part (b, NB, d), dD_part (b, d), dbias_part (b, d): written, the caller sums them over b.
        dB_part, db_off: dB_part[g, b, t, db_off : db_off + NB] is written (g channel groups), the caller sums
            over g; dC_part, dc_off likewise (they may be one array).
        Scratch of each of the p = get_num_threads() threads for the work item it runs (b g items: g =
        dB_part.shape[0] channel groups per batch row), indexed by the channel within the item's group (at
        most m = Hs.shape[3] channels): dts, ys (p, T, m) one chunk's Δ and y (then dy); Hs (p, T + 1, NB, m)
        its states (Hs[., s + 1] = h_{t0 + s}), Es (p, T, NB, m) its Ā; hr (p, NB, m) the running state, dhs
        (p, NB, m) the running dh; sb, sa (p, m) the sums over n of one step. Separate arrays, so that LLVM
        sees no aliasing and vectorises the channel loops; per thread, so that they stay small and in cache.
    """
    bsz, l, d = u.shape
    n = At.shape[0]
    groups = dB_part.shape[0]
    zero = u.dtype.type(0.0)
    one = u.dtype.type(1.0)
    zo, dzo = np.uint64(z_off), np.uint64(dz_off)
    for item in prange(groups * bsz):
        g = item // bsz
        b = item - g * bsz
        w = get_thread_id()  # the scratch is per thread
        c_lo = np.uint64((g * d) // groups)
        c_hi = np.uint64(((g + 1) * d) // groups)
        for i in range(n):
            for c in range(c_lo, c_hi):
                dhs[w, i, c - c_lo] = zero
                dA_part[b, i, c] = zero
        for c in range(c_lo, c_hi):
            dD_part[b, c] = zero
            dbias_part[b, c] = zero
        n_chunks = (l + T - 1) // T
        for kk in range(n_chunks):
            k = n_chunks - 1 - kk
            t0 = k * T
            t1 = min(t0 + T, l)
            # 1. recompute the chunk's Δ, states, Ā and y_t from its checkpoint
            for i in range(n):
                if k > 0:
                    for c in range(c_lo, c_hi):
                        hr[w, i, c - c_lo] = ckpt[b, k - 1, i, c]
                else:
                    for c in range(c_lo, c_hi):
                        hr[w, i, c - c_lo] = zero
                for c in range(c_lo, c_hi):
                    Hs[w, 0, i, c - c_lo] = hr[w, i, c - c_lo]
            for t in range(t0, t1):
                s = t - t0
                if softplus:
                    for c in range(c_lo, c_hi):
                        dts[w, s, c - c_lo] = fast_softplus(delta[b, t, c] + delta_bias[c])
                else:
                    for c in range(c_lo, c_hi):
                        dts[w, s, c - c_lo] = delta[b, t, c] + delta_bias[c]
                for c in range(c_lo, c_hi):
                    ys[w, s, c - c_lo] = D[c] * u[b, t, c]
                for i in range(n):
                    bi = B[b, t, b_off + i]
                    ci = C[b, t, c_off + i]
                    for c in range(c_lo, c_hi):
                        j = c - c_lo
                        dt = dts[w, s, j]
                        e = fast_exp(dt * At[i, c])
                        h = e * hr[w, i, j] + dt * u[b, t, c] * bi
                        hr[w, i, j] = h
                        Es[w, s, i, j] = e
                        Hs[w, s + 1, i, j] = h
                        ys[w, s, j] += h * ci
            # 2. through the gate: dz_t = dout_t y_t silu'(z_t), dy_t = dout_t silu(z_t) (into ys)
            for t in range(t0, t1):
                s = t - t0
                if has_z:
                    for c in range(c_lo, c_hi):
                        j = c - c_lo
                        zz = z[b, t, zo + c]
                        sg = fast_sigmoid(zz)
                        dz[b, t, dzo + c] = dout[b, t, c] * ys[w, s, j] * sg * (one + zz * (one - sg))
                        ys[w, s, j] = dout[b, t, c] * zz * sg
                else:
                    for c in range(c_lo, c_hi):
                        ys[w, s, c - c_lo] = dout[b, t, c]
            # 3. adjoint recurrence through the chunk, last step first
            for tt in range(t1 - t0):
                s = t1 - t0 - 1 - tt
                t = t0 + s
                for c in range(c_lo, c_hi):
                    sb[w, c - c_lo] = zero  # Σ_n dh_t B_t
                    sa[w, c - c_lo] = zero  # Σ_n dh_t h_{t-1} Ā_t A
                for i in range(n):
                    bi = B[b, t, b_off + i]
                    ci = C[b, t, c_off + i]
                    dbi = zero
                    dci = zero
                    for c in range(c_lo, c_hi):
                        j = c - c_lo
                        dt = dts[w, s, j]
                        dyt = ys[w, s, j]
                        e = Es[w, s, i, j]
                        dhi = dhs[w, i, j] + dyt * ci
                        dci += dyt * Hs[w, s + 1, i, j]
                        dbi += dhi * dt * u[b, t, c]
                        q = dhi * Hs[w, s, i, j] * e  # dL/dĀ_t ⊙ Ā_t
                        sb[w, j] += dhi * bi
                        sa[w, j] += q * At[i, c]
                        dA_part[b, i, c] += q * dt
                        dhs[w, i, j] = dhi * e
                    dB_part[g, b, t, db_off + i] = dbi
                    dC_part[g, b, t, dc_off + i] = dci
                for c in range(c_lo, c_hi):
                    j = c - c_lo
                    ut = u[b, t, c]
                    dyt = ys[w, s, j]
                    du[b, t, c] = dyt * D[c] + dts[w, s, j] * sb[w, j]
                    ddelta[b, t, c] = ut * sb[w, j] + sa[w, j]
                    dD_part[b, c] += dyt * ut
                # 4. through the softplus, and the bias gradient
                if softplus:
                    for c in range(c_lo, c_hi):
                        ddelta[b, t, c] *= fast_sigmoid(delta[b, t, c] + delta_bias[c])
                for c in range(c_lo, c_hi):
                    dbias_part[b, c] += ddelta[b, t, c]


def conv_fwd(
    x: np.ndarray, x_off: int, weight: np.ndarray, bias: np.ndarray, silu: bool, out: np.ndarray
) -> None:
    """Causal depthwise convolution, optionally followed by SiLU, vectorised over channels.

    out[b, t, c] = act(bias[c] + sum_k weight[k, c] x[b, t - (w - 1) + k, x_off + c]), x = 0 before the start.

    Args:
        x, x_off: the input is x[:, :, x_off : x_off + d] (x may be wider: the (b, l, 2d) in_proj output).
        weight: (w, d) (transposed, so that a tap is contiguous over channels). bias: (d,).
        out: (b, l, d), written.
    """
    bsz, l, _ = out.shape
    d = np.uint64(out.shape[2])  # unsigned channel indices: see the module doc
    w = weight.shape[0]
    xo = np.uint64(x_off)
    for bt in prange(bsz * l):
        b = bt // l
        t = bt - b * l
        for c in range(d):
            out[b, t, c] = bias[c]
        for k in range(max(0, w - 1 - t), w):
            for c in range(d):
                out[b, t, c] += weight[k, c] * x[b, t - (w - 1) + k, xo + c]
        if silu:
            for c in range(d):
                out[b, t, c] *= fast_sigmoid(out[b, t, c])


def conv_bwd(
    x: np.ndarray,
    x_off: int,
    weight: np.ndarray,
    bias: np.ndarray,
    silu: bool,
    dout: np.ndarray,
    dx: np.ndarray,
    dx_off: int,
    dweight_part: np.ndarray,
    dbias_part: np.ndarray,
    gp: np.ndarray,
) -> None:
    """Backward of :func:`conv_fwd`, one work item per batch row.

    Args:
        x, x_off, weight, bias, silu: as :func:`conv_fwd`.
        dout: (b, l, d).
        dx, dx_off: dx[:, :, dx_off : dx_off + d] is written.
        dweight_part (b, w, d), dbias_part (b, d): written; the caller sums them over b.
        gp: scratch (b, l, d) for the gradient at the pre-activation (with SiLU the pre-activation is
            recomputed: cheaper than keeping it).
    """
    bsz, l, _ = dout.shape
    d = np.uint64(dout.shape[2])  # unsigned channel indices: see the module doc
    w = weight.shape[0]
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    xo, dxo = np.uint64(x_off), np.uint64(dx_off)
    for b in prange(bsz):
        for t in range(l):
            if silu:
                for c in range(d):
                    gp[b, t, c] = bias[c]
                for k in range(max(0, w - 1 - t), w):
                    for c in range(d):
                        gp[b, t, c] += weight[k, c] * x[b, t - (w - 1) + k, xo + c]
                for c in range(d):
                    sig = fast_sigmoid(gp[b, t, c])
                    gp[b, t, c] = dout[b, t, c] * sig * (one + gp[b, t, c] * (one - sig))
            else:
                for c in range(d):
                    gp[b, t, c] = dout[b, t, c]
        for k in range(w):
            for c in range(d):
                dweight_part[b, k, c] = zero
        for c in range(d):
            dbias_part[b, c] = zero
        for t in range(l):
            for c in range(d):
                dx[b, t, dxo + c] = zero
                dbias_part[b, c] += gp[b, t, c]
            # out[t'] reads x[t] through tap k when t' = t + (w - 1) - k
            for k in range(max(0, w - l + t), w):
                tp = t + (w - 1) - k
                for c in range(d):
                    dx[b, t, dxo + c] += weight[k, c] * gp[b, tp, c]
                    dweight_part[b, k, c] += gp[b, tp, c] * x[b, t, xo + c]


def _compiled(fn: Callable[..., Any], parallel: bool) -> Any:
    """``fn`` compiled serially or with ``parallel=True`` (``prange`` over work items), from a copy of ``fn``
    under its own name: numba names its cache files after the function's qualified name and does not record
    the options in them, so two variants of one function would share and overwrite one cache entry."""
    name = f"{fn.__name__}_{'parallel' if parallel else 'serial'}"
    copy = FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    copy.__qualname__, copy.__doc__ = name, fn.__doc__
    return _jit(parallel)(copy)


def _kernel_set(parallel: bool) -> SimpleNamespace:
    compiled = {fn.__name__: _compiled(fn, parallel) for fn in (scan_fwd, scan_bwd, conv_fwd, conv_bwd)}
    threads = {"get_num_threads": get_num_threads, "set_num_threads": set_num_threads}
    return SimpleNamespace(NB=NB, T=T, parallel=parallel, **threads, **compiled)


# The two compiled sets :func:`ftmamba_lite.ops.runtime.kernels` chooses from by numba's thread count. At one
# thread the serial set runs as fast as the parallel one and compiles in about 40 % of its time (parfor
# lowering is most of a parallel kernel's compile); each kernel compiles on its first call, per dtype.
SERIAL = _kernel_set(parallel=False)
PARALLEL = _kernel_set(parallel=True)
