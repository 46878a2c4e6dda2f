"""The obvious twins of the fast ops: plain NumPy loops, slow and easy to read.

Tests check that each fast op (conv2d, max-pool, linear, relu, dropout, log-softmax, cross-entropy) agrees
with its twin here (tests/test_fast_vs_naive.py), and that both agree with torch.
Walkthroughs use these to show the arithmetic step by step.
"""

from __future__ import annotations

import numpy as np

from ._checks import out_size, pair


def conv2d_forward_naive(x, w, b, stride=1, padding=0):
    """out[n, f, y, x] = b[f] + sum(window * w[f]) — one window at a time."""
    sh, sw = pair(stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH, OW = out_size(H, KH, sh, ph), out_size(W, KW, sw, pw)
    out = np.zeros((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = xp[n, :, i * sh : i * sh + KH, j * sw : j * sw + KW]
                    out[n, f, i, j] = np.sum(window * w[f]) + (0 if b is None else b[f])
    return out


def conv2d_backward_naive(dout, x, w, stride=1, padding=0):
    """Each output position sends dout * w back to its window, and dout * window to w."""
    sh, sw = pair(stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    OH, OW = dout.shape[2], dout.shape[3]
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    g = dout[n, f, i, j]
                    dxp[n, :, i * sh : i * sh + KH, j * sw : j * sw + KW] += g * w[f]
                    dw[f] += g * xp[n, :, i * sh : i * sh + KH, j * sw : j * sw + KW]
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, ph : ph + H, pw : pw + W], dw, db


def conv2d_im2col(x, w, b, stride=1, padding=0):
    """The same convolution as one matrix product: columns of unrolled windows times flattened filters."""
    sh, sw = pair(stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::sh, ::sw]
    OH, OW = windows.shape[2], windows.shape[3]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * OH * OW, C * KH * KW)  # one row per window
    out = cols @ w.reshape(F, -1).T
    if b is not None:
        out = out + b
    return out.reshape(N, OH, OW, F).transpose(0, 3, 1, 2)


def maxpool2d_forward_naive(x, kernel_size, stride=None, padding=0):
    """Max of each window, scanning rows then columns; the first maximum wins ties, NaN wins over numbers."""
    kh, kw = pair(kernel_size, "kernel_size", 1)
    sh, sw = pair(kernel_size if stride is None else stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    N, C, H, W = x.shape
    OH, OW = out_size(H, kh, sh, ph), out_size(W, kw, sw, pw)
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    winner = np.zeros((N, C, OH, OW, 2), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    best, where = -np.inf, None
                    for h in range(i * sh - ph, i * sh - ph + kh):
                        for v in range(j * sw - pw, j * sw - pw + kw):
                            if 0 <= h < H and 0 <= v < W:
                                if where is None:
                                    where = (h, v)
                                if x[n, c, h, v] > best or np.isnan(x[n, c, h, v]):
                                    best, where = x[n, c, h, v], (h, v)
                    out[n, c, i, j] = best
                    winner[n, c, i, j] = where
    return out, winner


def maxpool2d_backward_naive(dout, x, kernel_size, stride=None, padding=0):
    """Send each upstream gradient to the window's winner."""
    _, winner = maxpool2d_forward_naive(x, kernel_size, stride, padding)
    dx = np.zeros_like(x)
    N, C, OH, OW = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    h, v = winner[n, c, i, j]
                    dx[n, c, h, v] += dout[n, c, i, j]
    return dx


def softmax_cross_entropy_naive(z, y):
    """Mean cross-entropy and its gradient, one row at a time with the textbook formulas."""
    N = z.shape[0]
    loss, dz = 0.0, np.zeros_like(z)
    for n in range(N):
        e = np.exp(z[n] - z[n].max())
        p = e / e.sum()
        loss -= np.log(p[y[n]]) / N
        dz[n] = p
        dz[n, y[n]] -= 1
    return loss, dz / N


def linear_forward_naive(x, w, b):
    """out[n, o] = b[o] + sum_i x[n, i] * w[o, i], for x (*, in): einsum over the last axis."""
    out = np.einsum("...i,oi->...o", x, w)
    return out if b is None else out + b


def linear_backward_naive(dout, x, w):
    """dx = dout @ w, dw = sum over the batch of outer(dout[n], x[n]), db = sum of dout over the batch."""
    dx = np.einsum("...o,oi->...i", dout, w)
    d2, x2 = dout.reshape(-1, w.shape[0]), x.reshape(-1, w.shape[1])  # the leading axes are one batch
    dw = np.einsum("no,ni->oi", d2, x2)
    db = d2.sum(axis=0)
    return dx, dw, db


def relu_forward_naive(x):
    """max(x, 0) element by element (NaN stays NaN, as in torch); the mask x > 0."""
    out = np.where(x < 0, np.zeros_like(x), x)
    return out, x > 0


def relu_backward_naive(dout, x):
    """The slope of max(x, 0) is 1 where x > 0 and 0 elsewhere (0 at x = 0, as torch takes it)."""
    return np.where(x > 0, dout, np.zeros_like(dout))


def dropout_forward_naive(x, p, rng, training=True):
    """Keep each element where a uniform draw u >= p and scale it by 1/(1 - p); identity in eval.

    Draws ``rng.random(x.shape)`` as the fast op does, so the same generator gives the same mask.
    Returns (out, keep) with keep the boolean mask.
    """
    if not training or p == 0.0:
        return x, np.ones(x.shape, dtype=bool)
    if p >= 1.0:
        return np.zeros_like(x), np.zeros(x.shape, dtype=bool)
    keep = rng.random(x.shape) >= p
    scale = x.dtype.type(1) / x.dtype.type(1.0 - p)
    return x * (keep.astype(x.dtype) * scale), keep


def dropout_backward_naive(dout, keep, p):
    """dL/dx = dout * keep / (1 - p): the gradient flows only where the forward kept the element."""
    if p >= 1.0:
        return np.zeros_like(dout)
    scale = dout.dtype.type(1) / dout.dtype.type(1.0 - p)
    return dout * (keep.astype(dout.dtype) * scale)


def log_softmax_forward_naive(z):
    """log p[n, k] = z[n, k] - log sum_j exp(z[n, j]), one row at a time, shifted by the row max."""
    out = np.empty_like(z)
    for n in range(z.shape[0]):
        m = z[n].max() if z.shape[1] else 0.0
        out[n] = z[n] - m - np.log(np.sum(np.exp(z[n] - m)))
    return out


def log_softmax_backward_naive(dlogp, z):
    """dz = J^T dlogp with the Jacobian J[k, j] = d logp[k] / d z[j] = [k == j] - softmax(z)[j], built per row."""
    dz = np.empty_like(dlogp)
    for n in range(z.shape[0]):
        p = np.exp(log_softmax_forward_naive(z[n : n + 1])[0])
        jac = np.eye(z.shape[1], dtype=z.dtype) - p[None, :]
        dz[n] = jac.T @ dlogp[n]
    return dz
