"""Solution: plain loops over the windows."""
import numpy as np


def im2col(x, kh, kw, stride, pad):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    rows = []
    for i in range(n):
        for r in range(oh):
            for q in range(ow):
                rows.append(xp[i, :, r * stride : r * stride + kh, q * stride : q * stride + kw].reshape(-1))
    return np.array(rows)
