"""Direct 2-D convolution (cross-correlation, as in torch) kernels on pre-padded NCHW input.

Each output element is written by exactly one thread and its sum is formed in a fixed order,
so the kernels are deterministic for any thread count.
"""

import numba as nb
import numpy as np

# Reassociation lets LLVM vectorise the inner sums; the order is fixed at compile time, so the
# result is still deterministic (it does not depend on threads or data).
_FASTMATH = {"reassoc", "contract"}


@nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def conv2d_forward(xp: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray, sh: int, sw: int) -> None:
    """out[n, f, oh, ow] = b[f] + sum_{c,i,j} w[f, c, i, j] * xp[n, c, oh*sh + i, ow*sw + j].

    xp: (N, C, Hp, Wp) padded input; w: (F, C, KH, KW); b: (F,); out: (N, F, OH, OW), overwritten.
    Parallel over the batch.
    """
    N, C = xp.shape[0], xp.shape[1]
    F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    for n in nb.prange(N):
        for f in range(F):
            o = out[n, f]
            o[:, :] = b[f]
            for c in range(C):
                xc = xp[n, c]
                for i in range(KH):
                    for j in range(KW):
                        wv = w[f, c, i, j]
                        for oh in range(OH):
                            xrow = xc[oh * sh + i]
                            orow = o[oh]
                            for ow in range(OW):
                                orow[ow] += wv * xrow[ow * sw + j]


@nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def conv2d_backward_input(dout: np.ndarray, w: np.ndarray, dxp: np.ndarray, sh: int, sw: int) -> None:
    """dxp[n, c, oh*sh + i, ow*sw + j] += sum_f w[f, c, i, j] * dout[n, f, oh, ow].

    This is the "full convolution with the flipped kernel" written as a scatter.
    dout: (N, F, OH, OW); w: (F, C, KH, KW); dxp: (N, C, Hp, Wp), must be zero on entry.
    Parallel over the batch.
    """
    N, F, OH, OW = dout.shape
    C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    for n in nb.prange(N):
        for c in range(C):
            d = dxp[n, c]
            for f in range(F):
                g = dout[n, f]
                for i in range(KH):
                    for j in range(KW):
                        wv = w[f, c, i, j]
                        for oh in range(OH):
                            drow = d[oh * sh + i]
                            grow = g[oh]
                            for ow in range(OW):
                                drow[ow * sw + j] += wv * grow[ow]


@nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def conv2d_backward_weight(xp: np.ndarray, dout: np.ndarray, dw: np.ndarray, sh: int, sw: int) -> None:
    """dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] * xp[n, c, oh*sh + i, ow*sw + j].

    The correlation of the (padded) input with the upstream gradient. dw: (F, C, KH, KW), overwritten.
    Parallel over (f, c) pairs; the batch is summed in order inside each pair.
    """
    N, C = xp.shape[0], xp.shape[1]
    F, KH, KW = dw.shape[0], dw.shape[2], dw.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    for fc in nb.prange(F * C):
        f = fc // C
        c = fc % C
        for i in range(KH):
            for j in range(KW):
                acc = dw.dtype.type(0.0)
                for n in range(N):
                    xc = xp[n, c]
                    g = dout[n, f]
                    for oh in range(OH):
                        xrow = xc[oh * sh + i]
                        grow = g[oh]
                        for ow in range(OW):
                            acc += grow[ow] * xrow[ow * sw + j]
                dw[f, c, i, j] = acc
