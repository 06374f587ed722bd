"""Numba kernels of the fused CPU selective scan and of the causal depthwise convolution.

Loaded only through :mod:`ftmamba_lite.ops.runtime` (``numba_kernels()``, ``kernels()``); importing it imports
numba. Callers pass every argument by name: ``scan_fwd(u=..., delta=..., ...)`` and so on, CPU tensors (read
and written in place through their addresses) and Python ints and bools. Dimension letters (docs/notation.md):

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

**How a kernel runs.** Each kernel is written as one *work item* (a batch row, a group of its channels, or one
token) and compiled once per dtype as a C-callable function (numba's ``cfunc``) that takes the item, the
thread's number and a block of int64 parameters (:data:`SLOT` per argument: an array's address and shape, or
an int). One small ``prange`` loop, :func:`_run_items`, calls a kernel's items through its address over
numba's threads (serially at one thread). The kernels compile as plain serial code: numba's parallel lowering
of the whole kernel, the slow part of its compile, runs on that one small loop only, and calling through an
address keeps LLVM from linking the kernel into the loop and optimising it a second time. A fresh process
compiles four kernels and the loop, at any thread count, instead of a serial and a parallel set of four, and
on a cold cache it compiles the longest of them in a second process (:func:`_cold_start`;
benchmarks/README.md, section j). The kernels' results do not depend on the number of threads: every item
writes its own outputs.

Both scan kernels run step by step over the channels of a work item: at step t they update the item's (NB,
channels) state row by row with the channels innermost (contiguous, so a row is a few vector instructions),
and sums over n (y_t forward; dh_t · B_t and the dΔ_t term backward) accumulate row by row into (channels,)
vectors, with no horizontal sum over n. The channel loops run over unsigned bounds: with signed ones numba's
negative-index wraparound stops LLVM from vectorising them. This is faster than walking one channel at a time
over its n-vector state (benchmarks/README.md has the measurements behind each choice here).

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
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from types import FunctionType
from typing import Any

import numpy as np
import torch
from llvmlite import ir
from numba import carray, cfunc, get_num_threads, get_thread_id, njit, prange, set_num_threads, types
from numba.extending import intrinsic, overload

__all__ = [
    "KERNELS",
    "NB",
    "SLOT",
    "T",
    "conv_bwd",
    "conv_fwd",
    "fast_exp",
    "fast_sigmoid",
    "fast_softplus",
    "get_num_threads",
    "Kernel",
    "scan_bwd",
    "scan_fwd",
    "set_num_threads",
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


def _cached(decorator: Callable[..., Any], fn: Callable[..., Any], **options: Any) -> Any:
    """``decorator(cache=True, **options)(fn)`` where some cache directory is writable, uncached otherwise.

    numba caches next to the source (``__pycache__``), or, if the package directory is read-only, in the
    user-wide cache directory (``NUMBA_CACHE_DIR`` overrides both); if neither is writable, ``cache=True``
    raises at decoration and the function is compiled in every process instead.
    """
    try:
        return decorator(cache=True, **options)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return decorator(cache=False, **options)(fn)


def _jit(parallel: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """``njit`` with on-disk caching where possible (:func:`_cached`). numpy's error model (no
    division-by-zero checks, which no kernel needs) lets LLVM vectorise the channel loops."""
    return lambda fn: _cached(njit, fn, fastmath=_FASTMATH, parallel=parallel, error_model="numpy")


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


# --- the kernels' calling convention ---------------------------------------------------------------------
# A kernel's C signature: void kernel(int64 item, int64 thread, int64 *p). Argument k of a kernel (in the
# order of its Kernel's ``arguments``) fills p[SLOT k : SLOT (k + 1)]: an array's address then its shape, or
# an int (a bool as 0 or 1). A work item's first lines read them back, one argument per line
# (tests/ops/test_kernels.py checks that they read what the Kernel packs).

SLOT = 5
_ITEM = types.void(types.int64, types.int64, types.CPointer(types.int64))


@intrinsic
def _pointer(typingctx, address, dtype):  # type: ignore[no-untyped-def]
    """The integer ``address`` as a pointer to ``dtype`` (a numba number class such as np.float32)."""
    target = getattr(dtype, "instance_type", dtype)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(target)))

    return types.CPointer(target)(address, dtype), codegen


@intrinsic
def _call_item(typingctx, address, item, thread, params):  # type: ignore[no-untyped-def]
    """Call the kernel at ``address`` (a C function of the kernels' signature) on one work item."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i64 = ir.IntType(64)
        kernel = ir.FunctionType(ir.VoidType(), [i64, i64, i64.as_pointer()])
        builder.call(builder.inttoptr(args[0], kernel.as_pointer()), args[1:])
        return context.get_dummy_value()

    return types.void(types.int64, types.int64, types.int64, types.CPointer(types.int64)), codegen


def _run_items(address: int, items: int, params: np.ndarray) -> None:
    """Run work items 0 .. items - 1 of the kernel at ``address`` over numba's threads, each with its
    thread's number (the index of its scratch) and ``params`` (int64, SLOT per argument)."""
    p = _pointer(params.ctypes.data, np.int64)
    for item in prange(items):
        _call_item(address, np.int64(item), np.int64(get_thread_id()), p)


_run_items = _jit(parallel=True)(_run_items)
_RUN_ITEMS = (types.int64, types.int64, types.int64[::1])  # its one signature


DT = np.float32  # the dtype a kernel's source reads its arrays in; each compiled version has its own


# The work items below index their arrays directly (no views, no slices, no allocations), so that LLVM
# vectorises the channel loops. The callers pass distinct arrays, scratch included.

NB = 16  # the callers zero-pad a smaller state size n to NB (padded states stay 0); a larger n takes the
# PyTorch path. The kernels read n from At, so the n-loops are not unrolled: unrolled, they compiled 20 %
# longer and ran no faster (benchmarks/README.md)
T = 32  # steps per chunk: a chunk's rows of the (b, l, d) arrays stay in L1 while its channels are walked


def scan_fwd_item(item: int, thread: int, p: Any) -> None:
    """Selective scan forward (Gu & Dao 2023, Algorithm 2) into ``out`` (b, l, d), vectorised over channels.

    Per channel: Δ_t = softplus(delta_t + delta_bias), h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t u_t B_t,
    y_t = C_t · h_t + D u_t, out_t = y_t silu(z_t). Step by step, the n state rows of a work item's channels,
    (NB, channels), are updated with the channels innermost (contiguous, so each row is a few vector
    instructions) and y_t accumulates row by row: no horizontal sum over n. The channel loops run over
    unsigned bounds: with signed ones numba's negative-index wraparound stops LLVM from vectorising them.
    Work item ``item`` is channel group ``item // b`` of batch row ``item % b``.

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
    u = carray(_pointer(p[0], DT), (p[1], p[2], p[3]))
    delta = carray(_pointer(p[5], DT), (p[6], p[7], p[8]))
    delta_bias = carray(_pointer(p[10], DT), (p[11],))
    softplus = p[15] != 0
    At = carray(_pointer(p[20], DT), (p[21], p[22]))
    B = carray(_pointer(p[25], DT), (p[26], p[27], p[28]))
    b_off = p[30]
    C = carray(_pointer(p[35], DT), (p[36], p[37], p[38]))
    c_off = p[40]
    D = carray(_pointer(p[45], DT), (p[46],))
    z = carray(_pointer(p[50], DT), (p[51], p[52], p[53]))
    z_off = p[55]
    has_z = p[60] != 0
    save = p[65] != 0
    out = carray(_pointer(p[70], DT), (p[71], p[72], p[73]))
    ckpt = carray(_pointer(p[75], DT), (p[76], p[77], p[78], p[79]))
    dtrow = carray(_pointer(p[80], DT), (p[81], p[82]))
    hs = carray(_pointer(p[85], DT), (p[86], p[87], p[88]))
    bsz, l, d = u.shape
    n = At.shape[0]
    groups = hs.shape[0] // bsz
    zero = u.dtype.type(0.0)
    zo = np.uint64(z_off)
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


def scan_bwd_item(item: int, thread: int, p: Any) -> None:
    """Selective scan backward, last chunk first: recompute the chunk's states from its checkpoint, then run
    the adjoint recurrence through it in reverse; vectorised over channels like :func:`scan_fwd_item`. Work
    item ``item`` is channel group ``item // b`` of batch row ``item % b``, run on the scratch of ``thread``.

    With dh the gradient flowing into h_t from later steps (zero after the last step):

        dy_t = dout_t silu(z_t);   dh_t = dh + dy_t C_t
        dC_t += dy_t h_t;  dB_t += Δ_t u_t dh_t;  du_t = D dy_t + Δ_t dh_t · B_t
        dΔ_t = u_t dh_t · B_t + Σ_n dh_t h_{t-1} Ā_t A;  dA += Δ_t dh_t h_{t-1} Ā_t
        dh = Ā_t dh_t   (flows into h_{t-1})
        ddelta_t = dΔ_t sigmoid(delta_t + delta_bias)   (softplus' = sigmoid)

    dC_t and dB_t are sums over the item's channels (vector reductions); the sums over n (dh_t · B_t and the
    dΔ_t term) accumulate row by row into (channels,) vectors, as y_t does in the forward.

    Args:
        u, delta, delta_bias, softplus, At, B, b_off, C, c_off, D, z, z_off, has_z: as :func:`scan_fwd_item`.
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
    u = carray(_pointer(p[0], DT), (p[1], p[2], p[3]))
    delta = carray(_pointer(p[5], DT), (p[6], p[7], p[8]))
    delta_bias = carray(_pointer(p[10], DT), (p[11],))
    softplus = p[15] != 0
    At = carray(_pointer(p[20], DT), (p[21], p[22]))
    B = carray(_pointer(p[25], DT), (p[26], p[27], p[28]))
    b_off = p[30]
    C = carray(_pointer(p[35], DT), (p[36], p[37], p[38]))
    c_off = p[40]
    D = carray(_pointer(p[45], DT), (p[46],))
    z = carray(_pointer(p[50], DT), (p[51], p[52], p[53]))
    z_off = p[55]
    has_z = p[60] != 0
    ckpt = carray(_pointer(p[65], DT), (p[66], p[67], p[68], p[69]))
    dout = carray(_pointer(p[70], DT), (p[71], p[72], p[73]))
    du = carray(_pointer(p[75], DT), (p[76], p[77], p[78]))
    ddelta = carray(_pointer(p[80], DT), (p[81], p[82], p[83]))
    dz = carray(_pointer(p[85], DT), (p[86], p[87], p[88]))
    dz_off = p[90]
    dA_part = carray(_pointer(p[95], DT), (p[96], p[97], p[98]))
    dD_part = carray(_pointer(p[100], DT), (p[101], p[102]))
    dbias_part = carray(_pointer(p[105], DT), (p[106], p[107]))
    dB_part = carray(_pointer(p[110], DT), (p[111], p[112], p[113], p[114]))
    db_off = p[115]
    dC_part = carray(_pointer(p[120], DT), (p[121], p[122], p[123], p[124]))
    dc_off = p[125]
    dts = carray(_pointer(p[130], DT), (p[131], p[132], p[133]))
    ys = carray(_pointer(p[135], DT), (p[136], p[137], p[138]))
    Hs = carray(_pointer(p[140], DT), (p[141], p[142], p[143], p[144]))
    Es = carray(_pointer(p[145], DT), (p[146], p[147], p[148], p[149]))
    hr = carray(_pointer(p[150], DT), (p[151], p[152], p[153]))
    dhs = carray(_pointer(p[155], DT), (p[156], p[157], p[158]))
    sb = carray(_pointer(p[160], DT), (p[161], p[162]))
    sa = carray(_pointer(p[165], DT), (p[166], p[167]))
    bsz, l, d = u.shape
    n = At.shape[0]
    groups = dB_part.shape[0]
    zero = u.dtype.type(0.0)
    one = u.dtype.type(1.0)
    zo, dzo = np.uint64(z_off), np.uint64(dz_off)
    w = thread  # the scratch is per thread
    g = item // bsz
    b = item - g * bsz
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


def conv_fwd_item(bt: int, thread: int, p: Any) -> None:
    """Causal depthwise convolution, optionally followed by SiLU, vectorised over channels; work item ``bt``
    is token ``bt % l`` of batch row ``bt // l``.

    out[b, t, c] = act(bias[c] + sum_k weight[k, c] x[b, t - (w - 1) + k, x_off + c]), x = 0 before the start.

    Args:
        x, x_off: the input is x[:, :, x_off : x_off + d] (x may be wider: the (b, l, 2d) in_proj output).
        weight: (w, d) (transposed, so that a tap is contiguous over channels). bias: (d,).
        out: (b, l, d), written.
    """
    x = carray(_pointer(p[0], DT), (p[1], p[2], p[3]))
    x_off = p[5]
    weight = carray(_pointer(p[10], DT), (p[11], p[12]))
    bias = carray(_pointer(p[15], DT), (p[16],))
    silu = p[20] != 0
    out = carray(_pointer(p[25], DT), (p[26], p[27], p[28]))
    bsz, l, _ = out.shape
    d = np.uint64(out.shape[2])  # unsigned channel indices: see the module doc
    w = weight.shape[0]
    xo = np.uint64(x_off)
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


def conv_bwd_item(b: int, thread: int, p: Any) -> None:
    """Backward of :func:`conv_fwd_item`; work item ``b`` is batch row ``b``.

    Args:
        x, x_off, weight, bias, silu: as :func:`conv_fwd`.
        dout: (b, l, d).
        dx, dx_off: dx[:, :, dx_off : dx_off + d] is written.
        dweight_part (b, w, d), dbias_part (b, d): written; the caller sums them over b.
        gp: scratch (b, l, d) for the gradient at the pre-activation (with SiLU the pre-activation is
            recomputed: cheaper than keeping it).
    """
    x = carray(_pointer(p[0], DT), (p[1], p[2], p[3]))
    x_off = p[5]
    weight = carray(_pointer(p[10], DT), (p[11], p[12]))
    bias = carray(_pointer(p[15], DT), (p[16],))
    silu = p[20] != 0
    dout = carray(_pointer(p[25], DT), (p[26], p[27], p[28]))
    dx = carray(_pointer(p[30], DT), (p[31], p[32], p[33]))
    dx_off = p[35]
    dweight_part = carray(_pointer(p[40], DT), (p[41], p[42], p[43]))
    dbias_part = carray(_pointer(p[45], DT), (p[46], p[47]))
    gp = carray(_pointer(p[50], DT), (p[51], p[52], p[53]))
    bsz, l, _ = dout.shape
    d = np.uint64(dout.shape[2])  # unsigned channel indices: see the module doc
    w = weight.shape[0]
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    xo, dxo = np.uint64(x_off), np.uint64(dx_off)
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


# --- the compiled kernels, called with their arguments by name ---------------------------------------------
class Kernel:
    """One kernel: its work item's source, compiled on first use per dtype, and the launcher that packs its
    arguments (CPU tensors, ints, bools, by name) and runs its items over numba's threads.

    Args:
        item: the work item's source (plain Python, ``item(item, thread, p)``).
        arguments: (name, number of dimensions) per argument, in the order the source reads them; 0 for an
            int or a bool.
        items: how many work items a call has, from its arguments.
    """

    def __init__(
        self, item: Callable[..., None], arguments: tuple[tuple[str, int], ...], items: Callable[..., int]
    ) -> None:
        self.item, self.arguments, self.items = item, arguments, items
        self.name = item.__name__.removesuffix("_item")
        self.__doc__ = item.__doc__
        self._names = {name for name, _ in arguments}
        self._compiled: dict[np.dtype, Any] = {}
        self._lock = threading.Lock()

    def compiled(self, dtype: np.dtype | type) -> Any:
        """The work item compiled for arrays of ``dtype`` (numba's ``CFunc``: its ``address``, its
        ``cache_hits``), compiled or loaded from numba's on-disk cache on first use (see
        :func:`_cold_start`)."""
        dtype = np.dtype(dtype)
        found = self._compiled.get(dtype)
        if found is None:
            helper = _cold_start(dtype).get(self.name)
            if helper is not None:  # compile the other kernels meanwhile, then load this one from the cache
                for kernel in KERNELS:
                    if kernel.name not in _HELPED:
                        kernel.compiled(dtype)
                _wait(helper)
            with self._lock:
                found = self._compiled.get(dtype)
                if found is None:
                    found = self._compiled[dtype] = _compile(self.item, dtype)
        return found

    def __call__(self, **values: Any) -> None:
        params, dtype = self.pack(values)
        _run_items(self.compiled(dtype).address, self.items(**values), params)

    def pack(self, values: dict[str, Any]) -> tuple[np.ndarray, np.dtype]:
        """The int64 parameter block of a call (SLOT per argument), and the arrays' common dtype. Arrays must
        be C-contiguous CPU tensors of the argument's dimensions, all float32 or all float64: a kernel reads
        them through their addresses, with nothing to check them but this."""
        if values.keys() != self._names:
            expected = ", ".join(name for name, _ in self.arguments)
            raise TypeError(f"{self.name}() takes the arguments {expected} by name, got {', '.join(values)}")
        block: list[int] = []
        dtype = None
        for name, ndim in self.arguments:
            value = values[name]
            if ndim == 0:
                block += (int(value), 0, 0, 0, 0)
                continue
            if (
                not isinstance(value, torch.Tensor)
                or value.dim() != ndim
                or not value.is_contiguous()
                or value.device.type != "cpu"
            ):
                got = (
                    f"{value.dim()}-d, contiguous={value.is_contiguous()}, on {value.device}"
                    if isinstance(value, torch.Tensor)
                    else type(value).__name__
                )
                raise TypeError(f"{self.name}(): {name} must be a contiguous {ndim}-d CPU tensor, got {got}")
            if value.dtype is not dtype:
                if dtype is not None or value.dtype not in _DTYPES:
                    raise TypeError(
                        f"{self.name}(): {name} is {value.dtype}; "
                        "the tensors must all be float32 or all float64"
                    )
                dtype = value.dtype
            block += (value.data_ptr(), *value.shape, *_PADDING[ndim])
        return np.array(block, dtype=np.int64), _DTYPES[dtype]


_DTYPES = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
}  # what the kernels compile for
_PADDING = [(0,) * (SLOT - 1 - ndim) for ndim in range(SLOT)]  # an argument's unused slots


def _compile(item: Callable[..., None], dtype: np.dtype) -> Any:
    """``item`` compiled as a C function of the kernels' signature for arrays of ``dtype``, from a copy of it
    under its own name (numba names its cache files after the function's qualified name)."""
    name = f"{item.__name__}_{dtype.name}"
    copy = FunctionType(item.__code__, {**item.__globals__, "DT": dtype.type}, name)
    copy.__qualname__, copy.__doc__ = name, item.__doc__
    return _cached(lambda **options: cfunc(_ITEM, **options), copy, fastmath=_FASTMATH, error_model="numpy")


scan_fwd = Kernel(
    scan_fwd_item,
    (("u", 3), ("delta", 3), ("delta_bias", 1), ("softplus", 0), ("At", 2), ("B", 3), ("b_off", 0), ("C", 3),
     ("c_off", 0), ("D", 1), ("z", 3), ("z_off", 0), ("has_z", 0), ("save", 0), ("out", 3), ("ckpt", 4),
     ("dtrow", 2), ("hs", 3)),
    lambda hs, **_: hs.shape[0],
)  # fmt: skip
scan_bwd = Kernel(
    scan_bwd_item,
    (("u", 3), ("delta", 3), ("delta_bias", 1), ("softplus", 0), ("At", 2), ("B", 3), ("b_off", 0), ("C", 3),
     ("c_off", 0), ("D", 1), ("z", 3), ("z_off", 0), ("has_z", 0), ("ckpt", 4), ("dout", 3), ("du", 3),
     ("ddelta", 3), ("dz", 3), ("dz_off", 0), ("dA_part", 3), ("dD_part", 2), ("dbias_part", 2),
     ("dB_part", 4), ("db_off", 0), ("dC_part", 4), ("dc_off", 0), ("dts", 3), ("ys", 3), ("Hs", 4),
     ("Es", 4), ("hr", 3), ("dhs", 3), ("sb", 2), ("sa", 2)),
    lambda dB_part, u, **_: dB_part.shape[0] * u.shape[0],
)  # fmt: skip
conv_fwd = Kernel(
    conv_fwd_item,
    (("x", 3), ("x_off", 0), ("weight", 2), ("bias", 1), ("silu", 0), ("out", 3)),
    lambda out, **_: out.shape[0] * out.shape[1],
)
conv_bwd = Kernel(
    conv_bwd_item,
    (("x", 3), ("x_off", 0), ("weight", 2), ("bias", 1), ("silu", 0), ("dout", 3), ("dx", 3), ("dx_off", 0),
     ("dweight_part", 3), ("dbias_part", 2), ("gp", 3)),
    lambda dout, **_: dout.shape[0],
)  # fmt: skip
KERNELS = (scan_fwd, scan_bwd, conv_fwd, conv_bwd)


# --- a cold start: one kernel compiled in a second process -------------------------------------------------
_HELPED = (
    "scan_bwd",
)  # the longest compile (about 40 % of the four kernels'), not needed until the backward
_HELPER_TIMEOUT_S = 60  # a compile takes seconds: a helper still running after this is stopped
_helpers: dict[np.dtype, dict[str, int]] = {}
_helpers_lock = threading.Lock()


def _cold_start(dtype: np.dtype) -> dict[str, int]:
    """On this process's first kernel of ``dtype``: if numba's on-disk cache is cold (:func:`_run_items` was
    not in it), the process may use two cores or more, and it runs on Linux, fork a helper process that
    compiles the kernels of :data:`_HELPED` into the cache while this one compiles the others; the kernel then
    loads from the cache what the helper compiled, the same machine code. numba compiles in one thread under
    one lock, so a second process is the only way to compile on two cores; a forked one starts with numba's
    compiler already set up, which a fresh interpreter would spend about a second on (benchmarks/README.md,
    section j, has the times).

    Returns the helpers' process ids by kernel name (none when the cache was warm, or no helper started).
    """
    with _helpers_lock:
        if dtype not in _helpers:
            _helpers[dtype] = _start_helpers(dtype)
        return _helpers[dtype]


def _start_helpers(dtype: np.dtype) -> dict[str, int]:
    _run_items.compile(_RUN_ITEMS)  # needed anyway; on a cold cache it also sets up numba's compiler
    stats = _run_items.stats
    if (
        stats.cache_path is None
        or not sum(stats.cache_misses.values())
        or not sys.platform.startswith("linux")
    ):
        return {}
    from .cpus import available_cpus  # a container's CPU quota included (Binder grants about one core)

    if available_cpus() < 2:
        return {}
    from numba.core.compiler_lock import global_compiler_lock

    # The child runs nothing but numba's compiler, in this thread: no other thread of the parent is inside
    # the compiler while the lock is held, and the child uses no OpenMP, no CUDA, no output stream.
    with global_compiler_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "use of fork() may lead to deadlocks"
        try:
            pid = os.fork()
        except OSError:
            return {}
    if pid == 0:
        status = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.stdout = sys.stderr = open(devnull, "w")  # noqa: SIM115  (the process ends below)
            for kernel in KERNELS:
                if kernel.name in _HELPED:
                    _compile(kernel.item, dtype)
            status = 0
        finally:
            os._exit(status)  # nothing of the parent's runs here: no atexit handler, no buffered output
    return dict.fromkeys(_HELPED, pid)


def _wait(helper: int) -> None:
    """Wait for a helper; one that runs too long is stopped (this process then compiles the kernel itself)."""
    deadline = time.monotonic() + _HELPER_TIMEOUT_S
    try:
        while os.waitpid(helper, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(helper, signal.SIGKILL)
                os.waitpid(helper, 0)
                return
            time.sleep(0.005)
    except ChildProcessError:  # already waited for (a second thread that needed the same kernel)
        pass
