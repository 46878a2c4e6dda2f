"""Average-pooling kernels over planes (an NCHW batch viewed as (N*C, H, W)), for fixed windows (AvgPool2d) and
adaptive ones (AdaptiveAvgPool2d) alike.

The caller describes the windows per axis: output row ``oh`` averages input rows ``h_lo[oh]`` to
``h_hi[oh]`` (exclusive) and its divisor is ``h_div[oh] * w_div[ow]`` (or ``divisor_override`` when > 0);
likewise for columns. Each output is the sum of its window, taken in row-major order, divided once (as
torch's CPU kernel does). Parallel over the (n, c) planes of x viewed as (N*C, H, W); every output and every
input gradient belongs to one plane, so the results do not depend on the number of threads.
"""

import numba as nb


@nb.njit(parallel=True, cache=True)
def avgpool2d_forward(x, out, h_lo, h_hi, h_div, w_lo, w_hi, w_div, divisor_override):
    """out[p, oh, ow] = sum of x[p] over the window / its divisor. x: (P, H, W); out: (P, OH, OW), overwritten."""
    for p in nb.prange(x.shape[0]):
        xp = x[p]
        for oh in range(out.shape[1]):
            for ow in range(out.shape[2]):
                s = x.dtype.type(0.0)
                for h in range(h_lo[oh], h_hi[oh]):
                    for v in range(w_lo[ow], w_hi[ow]):
                        s += xp[h, v]
                d = divisor_override if divisor_override > 0 else h_div[oh] * w_div[ow]
                out[p, oh, ow] = s / d


@nb.njit(parallel=True, cache=True)
def avgpool2d_backward(dout, dx, h_lo, h_hi, h_div, w_lo, w_hi, w_div, divisor_override):
    """dx[p][window of (oh, ow)] += dout[p, oh, ow] / divisor, windows in row-major order; dx overwritten."""
    for p in nb.prange(dx.shape[0]):
        d = dx[p]
        d[:, :] = 0.0
        for oh in range(dout.shape[1]):
            for ow in range(dout.shape[2]):
                div = divisor_override if divisor_override > 0 else h_div[oh] * w_div[ow]
                g = dout[p, oh, ow] / div
                for h in range(h_lo[oh], h_hi[oh]):
                    for v in range(w_lo[ow], w_hi[ow]):
                        d[h, v] += g
