"""Average-pooling kernels (NCHW): fixed windows (AvgPool2d) and adaptive windows (AdaptiveAvgPool2d).

Each output is the sum of its window, taken in row-major order, divided once (as torch's CPU kernel
does). Parallel over (n, c) planes; every output and every input gradient belongs to one plane, so the
results do not depend on the number of threads. The global average pool (output 1x1, ResNet's) is the
adaptive kernel with one window per plane.
"""

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def _window(o, stride, pad, k, size):
    """[lo, hi) of the window in the input, clipped, and the size of the window clipped to the padded input."""
    start = o * stride - pad
    end = min(start + k, size + pad)
    padded = end - start
    return max(start, 0), min(end, size), padded


@nb.njit(parallel=True, cache=True)
def avgpool2d_forward(x, out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """out[n, c, oh, ow] = sum of the window / divisor: ``divisor_override`` if > 0, else the window's size
    counting the zero padding (``count_include_pad``) or only the input positions in it.

    x: (N, C, H, W); out: (N, C, OH, OW), overwritten.
    """
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for nc in nb.prange(N * C):
        n = nc // C
        c = nc % C
        xc = x[n, c]
        for oh in range(OH):
            h_lo, h_hi, hp = _window(oh, sh, ph, kh, H)
            for ow in range(OW):
                w_lo, w_hi, wp = _window(ow, sw, pw, kw, W)
                s = x.dtype.type(0.0)
                for h in range(h_lo, h_hi):
                    for v in range(w_lo, w_hi):
                        s += xc[h, v]
                if divisor_override > 0:
                    d = divisor_override
                elif count_include_pad:
                    d = hp * wp
                else:
                    d = (h_hi - h_lo) * (w_hi - w_lo)
                out[n, c, oh, ow] = s / d


@nb.njit(parallel=True, cache=True)
def avgpool2d_backward(dout, dx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """dx[window of (oh, ow)] += dout[n, c, oh, ow] / divisor, windows in row-major order; dx overwritten."""
    N, C, H, W = dx.shape
    OH, OW = dout.shape[2], dout.shape[3]
    for nc in nb.prange(N * C):
        n = nc // C
        c = nc % C
        d = dx[n, c]
        d[:, :] = 0.0
        for oh in range(OH):
            h_lo, h_hi, hp = _window(oh, sh, ph, kh, H)
            for ow in range(OW):
                w_lo, w_hi, wp = _window(ow, sw, pw, kw, W)
                if divisor_override > 0:
                    div = divisor_override
                elif count_include_pad:
                    div = hp * wp
                else:
                    div = (h_hi - h_lo) * (w_hi - w_lo)
                g = dout[n, c, oh, ow] / div
                for h in range(h_lo, h_hi):
                    for v in range(w_lo, w_hi):
                        d[h, v] += g


@nb.njit(cache=True, inline="always")
def _adaptive(o, out_size, in_size):
    """torch's rule: window [floor(o*in/out), ceil((o+1)*in/out))."""
    return (o * in_size) // out_size, ((o + 1) * in_size + out_size - 1) // out_size


@nb.njit(parallel=True, cache=True)
def adaptive_avgpool2d_forward(x, out):
    """out[n, c, oh, ow] = mean of x[n, c, h0:h1, w0:w1] with torch's adaptive windows; out overwritten."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for nc in nb.prange(N * C):
        n = nc // C
        c = nc % C
        xc = x[n, c]
        for oh in range(OH):
            h0, h1 = _adaptive(oh, OH, H)
            for ow in range(OW):
                w0, w1 = _adaptive(ow, OW, W)
                s = x.dtype.type(0.0)
                for h in range(h0, h1):
                    for v in range(w0, w1):
                        s += xc[h, v]
                out[n, c, oh, ow] = s / ((h1 - h0) * (w1 - w0))


@nb.njit(parallel=True, cache=True)
def adaptive_avgpool2d_backward(dout, dx):
    """dx[window] += dout / window size, windows in row-major order; dx overwritten."""
    N, C, H, W = dx.shape
    OH, OW = dout.shape[2], dout.shape[3]
    for nc in nb.prange(N * C):
        n = nc // C
        c = nc % C
        d = dx[n, c]
        d[:, :] = 0.0
        for oh in range(OH):
            h0, h1 = _adaptive(oh, OH, H)
            for ow in range(OW):
                w0, w1 = _adaptive(ow, OW, W)
                g = dout[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                for h in range(h0, h1):
                    for v in range(w0, w1):
                        d[h, v] += g
