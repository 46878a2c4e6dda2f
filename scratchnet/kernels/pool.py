"""Max-pooling kernels (NCHW) that pick and route the maximum exactly as torch's CPU kernel does.

Ties go to the first maximum in row-major window order; a NaN wins over any number (so NaN
propagates); padded positions never win. The backward pass adds each upstream gradient to the
input position that won, so overlapping windows accumulate.
"""

import math

import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def maxpool2d_forward(
    x: np.ndarray, out: np.ndarray, argmax: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int
) -> None:
    """out[n, c, oh, ow] = max over the window; argmax holds the winner's flat index h*W + w.

    x: (N, C, H, W); out: (N, C, OH, OW); argmax: (N, C, OH, OW) int64. Parallel over (n, c).
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
    """dx[n, c].flat[argmax[n, c, oh, ow]] += dout[n, c, oh, ow]; dx must be zero on entry.

    Parallel over (n, c); within a plane the windows are visited in row-major order.
    """
    N, C, OH, OW = dout.shape
    W = dx.shape[3]
    for nc in nb.prange(N * C):
        n = nc // C
        c = nc % C
        for oh in range(OH):
            for ow in range(OW):
                k = argmax[n, c, oh, ow]
                dx[n, c, k // W, k % W] += dout[n, c, oh, ow]
