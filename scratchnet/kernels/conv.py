"""Direct 2-D convolution (cross-correlation, as in torch) kernels, NCHW.

Three families:

- **Stride 1** (every convolution of the three models): *flat-row* kernels. Zero-pad one image into a
  scratch buffer whose planes are laid out flat with row length ``Wp``; then tap ``(i, j)`` of output
  position ``p = oh*Wp + ow`` reads ``xflat[p + i*Wp + j]``, so each tap is one long contiguous loop over
  ``p`` (all output rows at once) instead of ``OH`` short rows. The ``Wp - OW`` positions per row that
  run past the right edge are computed and dropped (they are 2 of 26-30 on MNIST sizes). Loops are
  rounded up to whole vectors and the scratch buffers are long enough that the extra lanes read zeros.
  The grad-input is the same forward kernel applied to ``dout`` with the kernel flipped and in/out
  channels swapped ("full convolution"); the grad-weight is a sum of dot products of such flat planes.
- **Stride 1, one input channel** (a first layer): ``conv2d_forward_crops`` lays each kernel column's
  OW-wide crop of the padded plane out on its own, so the flat rows have the output's own length: no
  columns computed and dropped, no row-by-row copy of the result (the crops cost a copy of the input
  per kernel column, cheap for one channel, dearer than the savings from 8 channels on).
- **Plain loops** over the output, any stride (``conv2d_forward``, ``conv2d_backward_input``: one loop nest
  run in the two directions). ``ops.conv`` sends strided layers to the matrix path (``im2row``), so the
  scatter runs only for the grad-input of a stride-1 layer padded by more than K - 1, and the forward only
  in the tests, which hold the flat-row kernels to its bits.

Register blocking: the inner loops handle 4 output channels x 3 taps at once, so one load of an input
vector feeds 4 FMAs and one load/store of an accumulator carries 3 taps (the weights sit in registers).

Summation order: the forward and the grad-input add each output's terms one at a time, in the order
of the plain loops (bias, then c, i, j; see ``_blocks``), so they give the very same bits as the
plain kernels below. The grad-weight keeps one partial sum per image and vector lane and adds the
images in order.

Determinism: each output element is written by one thread; parallel loops run over batch items (the
grad-weight's per-image partials are added in image order afterwards), and every sum is taken in an
order fixed at compile time, so results are bit-for-bit the same for any thread count.
"""

import numba as nb
import numpy as np

from ._blocks import CONTRACT as _CONTRACT
from ._blocks import FASTMATH as _FASTMATH
from ._blocks import LANES as _LANES
from ._blocks import axpy_1x1, axpy_1x3, axpy_4x1, axpy_4x3

#: Output channels per register block, and taps per pass (fixed by the code of the inner loops).
_FBLOCK = 4
_TBLOCK = 3


# ------------------------------------------------------------------------------------------------
# stride 1: flat-row kernels
# ------------------------------------------------------------------------------------------------
@nb.njit(cache=True)
def _flat_geometry(H, W, KH, KW, ph, pw):
    """Row length Wp of the padded plane, flat loop length L (rounded up) and scratch plane length."""
    Hp, Wp = H + 2 * ph, W + 2 * pw
    OH, OW = Hp - KH + 1, Wp - KW + 1
    L = ((OH - 1) * Wp + OW + _LANES - 1) // _LANES * _LANES
    plane = max(Hp * Wp, L + (KH - 1) * Wp + KW - 1)  # the last tap of the last lane stays inside
    return Wp, L, plane


@nb.njit(cache=True)
def _tap_offsets(KH, KW, Wp, flip):
    """Flat offset of every tap, in row-major (i, j) order: i*Wp + j, or (KH-1-i)*Wp + (KW-1-j) with
    ``flip`` (the full convolution of the grad-input: the same taps in the same order as the scatter it
    replaces)."""
    offs = np.empty(KH * KW, dtype=np.int64)
    for t in range(KH * KW):
        i, j = t // KW, t % KW
        if flip:
            i, j = KH - 1 - i, KW - 1 - j
        offs[t] = i * Wp + j
    return offs


@nb.njit(cache=True)
def _pack_weights(w):
    """w (F, C, KH, KW) -> (F-blocks, C, _FBLOCK, KH*KW), zero-filled past F."""
    F, C, KH, KW = w.shape
    wp = np.zeros(((F + _FBLOCK - 1) // _FBLOCK, C, _FBLOCK, KH * KW), dtype=w.dtype)
    for f in range(F):
        for c in range(C):
            for t in range(KH * KW):
                wp[f // _FBLOCK, c, f % _FBLOCK, t] = w[f, c, t // KW, t % KW]
    return wp


@nb.njit(cache=True, inline="always")
def _copy_run(dst, d0, src, s0, n):
    """dst[d0 + k] = src[s0 + k] for k < n: a run of 16 or more values in whole vectors by a fixed-length loop, then
    the rest (7-18 % faster on 26-28-wide rows); a shorter run in a plain loop (faster on 14-wide rows)."""
    if n >= _LANES:
        for k0 in range(0, n - _LANES + 1, _LANES):
            for j in range(_LANES):
                dst[d0 + k0 + j] = src[s0 + k0 + j]
        for k in range(n - n % _LANES, n):
            dst[d0 + k] = src[s0 + k]
    else:
        for k in range(n):
            dst[d0 + k] = src[s0 + k]


@nb.njit(cache=True)
def _pad_flat(src, dst, ph, pw, Wp):
    """Copy src (C, H, W) into the zeroed flat planes dst (C, plane) at row offset ph, column offset pw."""
    C, H, W = src.shape
    for c in range(C):
        for h in range(H):
            _copy_run(dst[c], (h + ph) * Wp + pw, src[c, h], 0, W)


@nb.njit(cache=True, fastmath=_CONTRACT)  # a call, not inlined: compiled once for both kernels (2 s less on a cold cache)
def _sum_block(acc, xs, wpb, b, f0, nf, offs, L):
    """acc[q, p] = b[f0 + q] + the terms of output channel f0 + q at flat position p, for q < nf and p < L, in the
    order c, then tap: the inner loop of the stride-1 forward kernels. xs: (C, ...) the flat planes the taps
    read at ``offs``; wpb: (C, _FBLOCK, taps) the block's packed weights."""
    C, T = xs.shape[0], offs.shape[0]
    T3 = T - T % _TBLOCK  # taps in whole groups of 3; the rest go one at a time
    for q in range(nf):
        acc[q, :] = b[f0 + q]
    for c in range(C):
        xc, wc = xs[c], wpb[c]
        if nf == _FBLOCK:
            for t in range(0, T3, _TBLOCK):
                axpy_4x3(acc[0], acc[1], acc[2], acc[3], xc, wc[:, t : t + 3], offs[t], offs[t + 1], offs[t + 2], L)
            for t in range(T3, T):
                axpy_4x1(acc[0], acc[1], acc[2], acc[3], xc, wc[:, t], offs[t], L)
        else:
            for q in range(nf):
                for t in range(0, T3, _TBLOCK):
                    axpy_1x3(acc[q], xc, wc[q, t : t + 3], offs[t], offs[t + 1], offs[t + 2], L)
                for t in range(T3, T):
                    axpy_1x1(acc[q], xc, wc[q, t], offs[t], L)


@nb.njit(parallel=True, cache=True, fastmath=_CONTRACT)
def conv2d_forward_s1(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray, ph: int, pw: int, flip: bool
) -> None:
    """out[n, f, oh, ow] = b[f] + sum_{c,i,j} w[f, c, i, j] * xpad[n, c, oh + i, ow + j], stride 1;
    with ``flip``, tap (i, j) reads xpad[n, c, oh + KH-1-i, ow + KW-1-j] instead.

    x: (N, C, H, W) *unpadded* input, zero-padded here by (ph, pw); w: (F, C, KH, KW); b: (F,);
    out: (N, F, H + 2ph - KH + 1, W + 2pw - KW + 1), overwritten. Parallel over the batch.
    Each output adds b, then the terms in the order c, i, j (one FMA each), as the plain loop does.
    Blocks of 4 output channels share every input load; with fewer than 4 output channels (the
    grad-input of a first layer) each channel runs on its own.
    """
    N, C, H, W = x.shape
    F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    Wp, L, plane = _flat_geometry(H, W, KH, KW, ph, pw)
    offs = _tap_offsets(KH, KW, Wp, flip)
    wp = _pack_weights(w)
    for n in nb.prange(N):
        xs = np.zeros((C, plane), dtype=x.dtype)
        _pad_flat(x[n], xs, ph, pw, Wp)
        acc = np.empty((_FBLOCK, L), dtype=out.dtype)
        for fb in range(wp.shape[0]):
            f0 = fb * _FBLOCK
            nf = min(_FBLOCK, F - f0)
            _sum_block(acc, xs, wp[fb], b, f0, nf, offs, L)
            for q in range(nf):  # element loops, not slice assignments: see _blocks (compile time)
                for oh in range(OH):
                    _copy_run(out[n, f0 + q, oh], 0, acc[q], oh * Wp, OW)


@nb.njit(cache=True)
def _crop_copies(src, dst, ph, pw, OW, V, KW):
    """For each kernel column j < KW, dst[j*V:(j+1)*V] holds the plane src (H, W) zero-padded by (ph, pw) and cut to
    the OW columns that tap column j reads, [j, j + OW) of the padded plane, rows back to back (row stride OW),
    then zeros to V. Every element of dst is written."""
    H, W = src.shape
    zero = dst.dtype.type(0.0)
    rows = H + 2 * ph
    for j in range(KW):
        base = j * V
        for r in range(rows):
            h = r - ph
            row = base + r * OW
            for v in range(OW):
                col = v + j - pw
                dst[row + v] = src[h, col] if 0 <= h < H and 0 <= col < W else zero
        for k in range(base + rows * OW, base + V):
            dst[k] = zero


@nb.njit(parallel=True, cache=True, fastmath=_CONTRACT)
def conv2d_forward_crops(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray, ph: int, pw: int
) -> None:
    """``conv2d_forward_s1`` (without ``flip``) laid out for few input channels: the same sums in the same order,
    so the same bits, with no per-row copy of the result.

    The flat loop needs an input row stride equal to the output's; instead of one padded plane with the input's
    stride (whose last KW - 1 columns per row are computed and dropped, and whose result is then copied out row
    by row), each kernel column j reads its own crop of the padded plane, exactly OW columns wide
    (``_crop_copies``), so every output plane is one contiguous run: computed without waste and written with one
    long copy. The crops cost KW copies of each input channel per image: worth it when the input has few
    channels and the output many (a first layer), not otherwise (measured slower at 8 and 16 input channels).
    """
    N, C, H, W = x.shape
    F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    P = OH * OW
    L = (P + _LANES - 1) // _LANES * _LANES
    V = (H + 2 * ph) * OW + (L - P) + _LANES  # one crop, and room for the last lanes' reads
    T = KH * KW
    offs = np.empty(T, dtype=np.int64)
    for t in range(T):
        offs[t] = (t % KW) * V + (t // KW) * OW
    wp = _pack_weights(w)
    for n in nb.prange(N):
        xs = np.empty((C, KW * V), dtype=x.dtype)
        for c in range(C):
            _crop_copies(x[n, c], xs[c], ph, pw, OW, V, KW)
        acc = np.empty((_FBLOCK, L), dtype=out.dtype)
        for fb in range(wp.shape[0]):
            f0 = fb * _FBLOCK
            nf = min(_FBLOCK, F - f0)
            _sum_block(acc, xs, wp[fb], b, f0, nf, offs, L)
            for q in range(nf):  # a plain loop: _copy_run's fixed 16-lane loops measured 1.3-1.5x slower on this run
                o, a = out[n, f0 + q].reshape(P), acc[q]
                for k in range(P):
                    o[k] = a[k]


@nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def conv2d_backward_weight_s1(
    x: np.ndarray, dout: np.ndarray, dw: np.ndarray, db: np.ndarray, ph: int, pw: int
) -> None:
    """dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] * xpad[n, c, oh + i, ow + j] and db[f] = sum dout[n, f],
    stride 1.

    x: (N, C, H, W) unpadded input; dout: (N, F, OH, OW); dw: (F, C, KH, KW), db: (F,), overwritten.
    Parallel over the batch: image n's sums (dot products of flat planes, one partial sum per vector
    lane) go to its own partial array; the partials are then added in image order 0, 1, ..., N-1
    (parallel over f), so the result does not depend on threads. The dropped positions past each
    row's end enter the dot products as 0 * x; with an infinite input there they would turn the sum
    into NaN.
    """
    N, C, H, W = x.shape
    F, KH, KW = dw.shape[0], dw.shape[2], dw.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    Wp, L, plane = _flat_geometry(H, W, KH, KW, ph, pw)
    offs = _tap_offsets(KH, KW, Wp, False)
    T = KH * KW
    TG = (T + _TBLOCK - 1) // _TBLOCK * _TBLOCK  # taps rounded up to whole groups; the extra sums are dropped
    FB = (F + _FBLOCK - 1) // _FBLOCK
    zero = dw.dtype.type(0.0)
    part = np.empty((N, FB * _FBLOCK, C, TG), dtype=dw.dtype)
    dbp = np.empty((N, F), dtype=dw.dtype)
    for n in nb.prange(N):
        xs = np.zeros((C, plane), dtype=x.dtype)
        _pad_flat(x[n], xs, ph, pw, Wp)
        gs = np.zeros((FB * _FBLOCK, L), dtype=dout.dtype)  # dout[n] in rows of Wp, zero past OW and past F
        for f in range(F):
            s = zero
            for oh in range(OH):
                for ow in range(OW):
                    v = dout[n, f, oh, ow]
                    gs[f, oh * Wp + ow] = v
                    s += v
            dbp[n, f] = s
        for fb in range(FB):
            g0, g1, g2, g3 = gs[fb * 4], gs[fb * 4 + 1], gs[fb * 4 + 2], gs[fb * 4 + 3]
            for c in range(C):
                xc = xs[c]
                for t in range(0, TG, _TBLOCK):
                    o0, o1, o2 = offs[t], offs[min(t + 1, T - 1)], offs[min(t + 2, T - 1)]
                    x0, x1, x2 = xc[o0 : o0 + L], xc[o1 : o1 + L], xc[o2 : o2 + L]
                    s00 = s01 = s02 = s10 = s11 = s12 = zero
                    s20 = s21 = s22 = s30 = s31 = s32 = zero
                    for p in range(L):  # 4 channels x 3 taps of dot products, in registers
                        v0, v1, v2 = x0[p], x1[p], x2[p]
                        d0, d1, d2, d3 = g0[p], g1[p], g2[p], g3[p]
                        s00 += d0 * v0
                        s01 += d0 * v1
                        s02 += d0 * v2
                        s10 += d1 * v0
                        s11 += d1 * v1
                        s12 += d1 * v2
                        s20 += d2 * v0
                        s21 += d2 * v1
                        s22 += d2 * v2
                        s30 += d3 * v0
                        s31 += d3 * v1
                        s32 += d3 * v2
                    pr = part[n, fb * 4 : fb * 4 + 4, c]
                    pr[0, t], pr[0, t + 1], pr[0, t + 2] = s00, s01, s02
                    pr[1, t], pr[1, t + 1], pr[1, t + 2] = s10, s11, s12
                    pr[2, t], pr[2, t + 1], pr[2, t + 2] = s20, s21, s22
                    pr[3, t], pr[3, t + 1], pr[3, t + 2] = s30, s31, s32
    for f in nb.prange(F):  # add the images in order
        acc = np.zeros((C, TG), dtype=dw.dtype)
        s = zero
        for n in range(N):
            for c in range(C):
                for t in range(TG):
                    acc[c, t] += part[n, f, c, t]
            s += dbp[n, f]
        for c in range(C):
            for t in range(T):
                dw[f, c, t // KW, t % KW] = acc[c, t]
        db[f] = s


# ------------------------------------------------------------------------------------------------
# plain loops, any stride
# ------------------------------------------------------------------------------------------------
def _plain_kernel(name: str, forward: bool, doc: str):
    """Build the kernel ``name`` from the loop nest the forward and the grad-input share: each weight times an
    element of the padded input side (xp or dxp) meets an element of the output side (out or dout); the product
    is added to the output side (``forward``) or scattered back into the input side.

    ``forward`` is a closure constant, so each kernel compiles its own inner loop only: as fast as the two nests
    written out (measured), and cached apart (its name names the cache file; numba's cache key also hashes
    closure constants). One loop order (n, f, c, i, j, oh, ow) serves both and keeps the plain order of every
    sum: out[n, f] takes its terms in c, i, j after the bias, dxp[n, c] in f, i, j, oh, ow."""

    def kernel(y, xp, w, sh, sw):
        N, F, OH, OW = y.shape
        C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
        for n in nb.prange(N):
            for f in range(F):
                yf = y[n, f]
                for c in range(C):
                    xc = xp[n, c]
                    for i in range(KH):
                        for j in range(KW):
                            wv = w[f, c, i, j]
                            for oh in range(OH):
                                yrow = yf[oh]
                                xrow = xc[oh * sh + i]
                                if forward:
                                    for ow in range(OW):
                                        yrow[ow] += wv * xrow[ow * sw + j]
                                else:
                                    for ow in range(OW):
                                        xrow[ow * sw + j] += wv * yrow[ow]

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = doc
    return nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)(kernel)


conv2d_forward = _plain_kernel("conv2d_forward", True, """conv2d_forward(out, xp, w, sh, sw):
    out[n, f, oh, ow] += sum_{c,i,j} w[f, c, i, j] * xp[n, c, oh*sh + i, ow*sw + j].

    out: (N, F, OH, OW), holding the bias b[f] on entry (each sum starts from it, as in the flat-row kernels);
    xp: (N, C, Hp, Wp) padded input; w: (F, C, KH, KW). Parallel over the batch.""")

conv2d_backward_input = _plain_kernel("conv2d_backward_input", False, """conv2d_backward_input(dout, dxp, w, sh, sw):
    dxp[n, c, oh*sh + i, ow*sw + j] += sum_f w[f, c, i, j] * dout[n, f, oh, ow].

    This is the "full convolution with the flipped kernel" written as a scatter.
    dout: (N, F, OH, OW); dxp: (N, C, Hp, Wp), must be zero on entry; w: (F, C, KH, KW).
    Parallel over the batch.""")
