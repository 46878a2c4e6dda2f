"""The obvious twins of the fast ops: plain NumPy loops, slow and easy to read.

Tests check that each fast op (conv2d, max-pool, linear, relu, dropout, log-softmax, cross-entropy, ...) agrees
with its twin here (tests/test_fast_vs_naive.py), and that both agree with torch. The optimisers' one-pass update
kernels have theirs too, the NumPy array expressions they replace, which they reproduce bit for bit.
Walkthroughs use these to show the arithmetic step by step.
"""

from __future__ import annotations

import numpy as np

from ._checks import out_size, pair


def _conv_setup(x, w, stride, padding):
    """stride and padding as pairs, x's and w's shapes, and x zero-padded."""
    stride = pair(stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    return stride, (ph, pw), x.shape, w.shape, np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d_forward_naive(x, w, b, stride=1, padding=0):
    """out[n, f, y, x] = b[f] + sum(window * w[f]) — one window at a time."""
    (sh, sw), (ph, pw), (N, C, H, W), (F, _, KH, KW), xp = _conv_setup(x, w, stride, padding)
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
    (sh, sw), (ph, pw), (N, C, H, W), (F, _, KH, KW), xp = _conv_setup(x, w, stride, padding)
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
    (sh, sw), (ph, pw), (N, C, H, W), (F, _, KH, KW), xp = _conv_setup(x, w, stride, padding)
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


def softmax_cross_entropy_naive(z, y, label_smoothing=0.0):
    """Mean cross-entropy and its gradient, one row at a time with the textbook formulas: the target
    distribution q is one-hot, or (1 - e) one-hot + e / K with label smoothing e; loss -sum q log p, dz = p - q."""
    N, K = z.shape
    loss, dz = 0.0, np.zeros_like(z)
    for n in range(N):
        e = np.exp(z[n] - z[n].max())
        p = e / e.sum()
        q = np.full(K, label_smoothing / K)
        q[y[n]] += 1 - label_smoothing
        loss -= (q * np.log(p)).sum() / N
        dz[n] = p - q
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


# ================================================================================================
# ResNet's ops (batch norm, average pooling, element-wise activations, softmax): the obvious twins
# ================================================================================================


def batchnorm_forward_naive(x, gamma, beta, eps=1e-5, running_mean=None, running_var=None):
    """Normalise channel by channel with NumPy's mean/var (batch statistics unless running ones are given).

    Returns out and what the naive backward needs: (x, mean, var, gamma, eps, batch_stats).
    """
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if running_mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)  # biased variance
    else:
        mean, var = running_mean, running_var
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    out = xhat * (1 if gamma is None else gamma.reshape(shape)) + (0 if beta is None else beta.reshape(shape))
    return out, (x, mean, var, gamma, eps, running_mean is None)


def batchnorm_backward_naive(dout, cache):
    """The long way through the graph x -> mu -> var -> xhat -> out, one node at a time (CS231n's staged
    backward), instead of the closed form."""
    x, mean, var, gamma, eps, batch_stats = cache
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    M = x.size // x.shape[1]
    mu, v = mean.reshape(shape), var.reshape(shape)
    std = np.sqrt(v + eps)
    xc = x - mu
    xhat = xc / std
    dgamma = None if gamma is None else np.sum(dout * xhat, axis=axes)
    dbeta = None if gamma is None else np.sum(dout, axis=axes)
    dxhat = dout * (1 if gamma is None else gamma.reshape(shape))
    if not batch_stats:  # running statistics are constants
        return dxhat / std, dgamma, dbeta
    dstd = np.sum(dxhat * xc, axis=axes, keepdims=True) * (-1.0 / std**2)  # xhat = xc / std
    dvar = dstd * 0.5 / std  # std = sqrt(var + eps)
    dxc = dxhat / std + dvar * 2.0 * xc / M  # var = mean(xc^2), and xhat's direct path
    dmu = -np.sum(dxc, axis=axes, keepdims=True)  # xc = x - mu
    dx = dxc + dmu / M  # mu = mean(x)
    return dx, dgamma, dbeta


def avgpool2d_forward_naive(x, kernel_size, stride=None, padding=0, count_include_pad=True, divisor_override=None):
    """Mean of each window of the zero-padded input, divided by the window size (padding counted or not)."""
    kh, kw = pair(kernel_size, "kernel_size", 1)
    sh, sw = pair(kernel_size if stride is None else stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    inside = np.pad(np.ones((H, W)), ((ph, ph), (pw, pw)))  # 1 where the window sees the input
    OH, OW = out_size(H, kh, sh, ph), out_size(W, kw, sw, pw)
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            divisor = divisor_override or (kh * kw if count_include_pad else inside[rows, cols].sum())
            out[:, :, i, j] = xp[:, :, rows, cols].sum(axis=(2, 3)) / divisor
    return out


def avgpool2d_backward_naive(dout, x, kernel_size, stride=None, padding=0, count_include_pad=True, divisor_override=None):
    """Each upstream gradient, divided by its window's divisor, added to every position of the window."""
    kh, kw = pair(kernel_size, "kernel_size", 1)
    sh, sw = pair(kernel_size if stride is None else stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    N, C, H, W = x.shape
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dout.dtype)
    inside = np.pad(np.ones((H, W)), ((ph, ph), (pw, pw)))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            divisor = divisor_override or (kh * kw if count_include_pad else inside[rows, cols].sum())
            dxp[:, :, rows, cols] += dout[:, :, i : i + 1, j : j + 1] / divisor
    return dxp[:, :, ph : ph + H, pw : pw + W]


def _adaptive_windows(size, out):
    """torch's adaptive windows: [floor(i * size / out), ceil((i + 1) * size / out)) for each i < out."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_avgpool2d_forward_naive(x, output_size):
    """Mean of each adaptive window."""
    N, C, H, W = x.shape
    OH, OW = (output_size, output_size) if isinstance(output_size, int) else output_size
    OH, OW = OH or H, OW or W
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for i, (h0, h1) in enumerate(_adaptive_windows(H, OH)):
        for j, (w0, w1) in enumerate(_adaptive_windows(W, OW)):
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


def adaptive_avgpool2d_backward_naive(dout, x):
    """Each upstream gradient spread evenly over its adaptive window."""
    N, C, H, W = x.shape
    OH, OW = dout.shape[2], dout.shape[3]
    dx = np.zeros_like(x, dtype=dout.dtype)
    for i, (h0, h1) in enumerate(_adaptive_windows(H, OH)):
        for j, (w0, w1) in enumerate(_adaptive_windows(W, OW)):
            dx[:, :, h0:h1, w0:w1] += dout[:, :, i : i + 1, j : j + 1] / ((h1 - h0) * (w1 - w0))
    return dx


def sigmoid_naive(x):
    """1 / (1 + e^-x), element by element with math.exp (the stable branch for negative x)."""
    import math

    flat = [1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in x.reshape(-1).tolist()]
    return np.array(flat, dtype=x.dtype).reshape(x.shape)


def softmax_naive(x, dim=-1):
    """exp(x) / sum exp(x) along ``dim``, one slice at a time, with the Jacobian for the backward."""
    xm = np.moveaxis(x, dim, -1)
    out = np.empty_like(xm)
    for idx in np.ndindex(*xm.shape[:-1]):
        e = np.exp(xm[idx] - xm[idx].max())
        out[idx] = e / e.sum()
    return np.moveaxis(out, -1, dim)


def softmax_backward_naive(dout, y, dim=-1):
    """dL/dx = J^T dout with the full Jacobian J = diag(y) - y y^T of each slice."""
    ym, gm = np.moveaxis(y, dim, -1), np.moveaxis(dout, dim, -1)
    dx = np.empty_like(gm)
    for idx in np.ndindex(*ym.shape[:-1]):
        s = ym[idx]
        dx[idx] = (np.diag(s) - np.outer(s, s)).T @ gm[idx]
    return np.moveaxis(dx, -1, dim)


# -- the optimisers' one-pass kernels (scratchnet.kernels.optim) as the NumPy array expressions they replace
def _signed_decayed(g, p, negate, wd):
    g = -g if negate else g
    return g + wd * p if wd != 0 else g


def adam_update_naive(p, g, m, v, vmax, amsgrad, negate, wd, w, one_minus_w, beta2, one_minus_beta2, bc2_sqrt, eps,
                      step_size):
    """``kernels.adam_update`` as torch's single-tensor Adam writes it, array by array, in place (same arguments):
    the moment lerp, the second moment, its running max (amsgrad), then the step."""
    g = _signed_decayed(g, p, negate, wd)
    m[...] = m + (g - m) * w if abs(w) < 0.5 else g - (g - m) * one_minus_w
    v[...] = v * beta2 + (one_minus_beta2 * g) * g
    if amsgrad:
        np.maximum(vmax, v, out=vmax)
    p[...] = p - (step_size * m) / (np.sqrt(vmax if amsgrad else v) / bc2_sqrt + eps)


def adadelta_update_naive(p, g, square_avg, acc_delta, negate, wd, rho, one_minus_rho, eps, lr):
    """``kernels.adadelta_update`` array by array, in place (same arguments)."""
    g = _signed_decayed(g, p, negate, wd)
    square_avg[...] = square_avg * rho + (one_minus_rho * g) * g
    delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
    acc_delta[...] = acc_delta * rho + (one_minus_rho * delta) * delta
    p[...] = p - lr * delta


def sgd_update_naive(p, g, buf, first, negate, wd, momentum, one_minus_dampening, nesterov, lr):
    """``kernels.sgd_update`` array by array, in place (same arguments; ``buf`` of length 0: no momentum)."""
    d = _signed_decayed(g, p, negate, wd)
    if buf.shape[0] > 0:
        buf[...] = d if first else buf * momentum + one_minus_dampening * d
        d = d + momentum * buf if nesterov else buf
    p[...] = p - lr * d
