"""Max-pooling kernels (NCHW) that pick and route the maximum exactly as torch's CPU kernel does.

Ties go to the first maximum in row-major window order; a NaN wins over any number (so NaN
propagates); padded positions never win. The backward pass adds each upstream gradient to the
input position that won, so overlapping windows accumulate.

``maxpool2d_forward_2x2`` is the same rule unrolled for the common 2x2 window with stride 2 and no
padding; the general kernels handle everything else.
"""

import math

import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def maxpool2d_forward(
    x: np.ndarray, out: np.ndarray, argmax: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int
) -> None:
    """out[n, c, oh, ow] = max over the window; argmax holds the winner's flat index h*W + w.

    x: (N, C, H, W); out: (N, C, OH, OW); argmax: (N, C, OH, OW) integers. Parallel over (n, c).
    """
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for nc in nb.prange(N * C):
        n = nc // C
        c = nc % C
        xc = x[n, c]
        for oh in range(OH):
            h0 = oh * sh - ph
            h_lo = max(h0, 0)
            h_hi = min(h0 + kh, H)
            for ow in range(OW):
                w0 = ow * sw - pw
                w_lo = max(w0, 0)
                w_hi = min(w0 + kw, W)
                best = -np.inf
                best_idx = h_lo * W + w_lo
                for h in range(h_lo, h_hi):
                    for ww in range(w_lo, w_hi):
                        v = xc[h, ww]
                        if v > best or math.isnan(v):
                            best = v
                            best_idx = h * W + ww
                out[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = best_idx


@nb.njit(parallel=True, cache=True)
def maxpool2d_backward(dout: np.ndarray, argmax: np.ndarray, dx: np.ndarray) -> None:
    """dx[n, c].flat[argmax[n, c, oh, ow]] += dout[n, c, oh, ow]; dx is overwritten (zeroed here first).

    Parallel over the batch; within a plane the windows are visited in row-major order, so where
    windows overlap the gradients add up in a fixed order.
    """
    N, C, OH, OW = dout.shape
    HW = dx.shape[2] * dx.shape[3]
    for n in nb.prange(N):
        for c in range(C):
            d = dx[n, c].reshape(HW)
            d[:] = 0.0
            g = dout[n, c].reshape(OH * OW)
            a = argmax[n, c].reshape(OH * OW)
            for k in range(OH * OW):
                d[a[k]] += g[k]


@nb.njit(parallel=True, cache=True)
def maxpool2d_forward_2x2(x: np.ndarray, out: np.ndarray, argmax: np.ndarray) -> None:
    """2x2 windows, stride 2, no padding: out = window max, argmax = winner's flat index h*W + w.

    x: (N, C, H, W); out, argmax: (N, C, H // 2, W // 2). The four candidates are tried in row-major
    order with the same rule as the general kernel (``v > best or isnan(v)``). Parallel over the batch.
    """
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in nb.prange(N):
        for c in range(C):
            xc = x[n, c]
            for oh in range(OH):
                r0 = xc[2 * oh]
                r1 = xc[2 * oh + 1]
                o = out[n, c, oh]
                a = argmax[n, c, oh]
                k0 = 2 * oh * W
                for ow in range(OW):
                    j = 2 * ow
                    best = r0[j]
                    idx = k0 + j
                    v = r0[j + 1]
                    if v > best or math.isnan(v):
                        best = v
                        idx = k0 + j + 1
                    v = r1[j]
                    if v > best or math.isnan(v):
                        best = v
                        idx = k0 + W + j
                    v = r1[j + 1]
                    if v > best or math.isnan(v):
                        best = v
                        idx = k0 + W + j + 1
                    o[ow] = best
                    a[ow] = idx
