"""Solution: each output position sends dout * w back to its window and dout * window to w."""
import numpy as np


def conv2d_backward(dout, x, w, stride, pad):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(n):
        for k in range(f):
            for r in range(dout.shape[2]):
                for q in range(dout.shape[3]):
                    window = (slice(None), slice(r * stride, r * stride + kh), slice(q * stride, q * stride + kw))
                    dxp[i][window] += dout[i, k, r, q] * w[k]  # the scatter view: each output feeds its window
                    dw[k] += dout[i, k, r, q] * xp[i][window]
    return dxp[:, :, pad : pad + h, pad : pad + wd], dw, dout.sum(axis=(0, 2, 3))
