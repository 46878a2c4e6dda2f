"""Solution: one winner per window (argmax returns the first maximum), not every tied maximum."""
import numpy as np


def maxpool_backward(dout, x, k):
    n, c, oh, ow = dout.shape
    dx = np.zeros_like(x)
    for i in range(n):
        for ch in range(c):
            for r in range(oh):
                for q in range(ow):
                    window = x[i, ch, r * k : (r + 1) * k, q * k : (q + 1) * k]
                    a, b = np.unravel_index(int(np.argmax(window)), window.shape)  # argmax: the first maximum
                    dx[i, ch, r * k + a, q * k + b] += dout[i, ch, r, q]
    return dx
