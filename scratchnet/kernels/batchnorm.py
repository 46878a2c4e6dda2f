"""Batch-normalisation kernels over (N, C, S) arrays (S = H*W for images, 1 for (N, C) input).

Every per-channel sum is accumulated in float64 (as torch's CPU kernel accumulates float32 input),
in the fixed order n = 0..N-1, s = 0..S-1. Parallel over channels: each channel's statistics and
outputs belong to one thread, so the results are bit-for-bit the same for any thread count.
"""

import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def batchnorm_stats(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> None:
    """mean[c] = (1/M) sum x[:, c, :] and the biased var[c] = (1/M) sum (x[:, c, :] - mean[c])^2 (two
    passes, M = N*S), both float64. x: (N, C, S); mean, var: (C,) float64, overwritten."""
    N, C, S = x.shape
    M = N * S
    for c in nb.prange(C):
        s = 0.0
        for n in range(N):
            for k in range(S):
                s += x[n, c, k]
        mu = s / M
        q = 0.0
        for n in range(N):
            for k in range(S):
                d = x[n, c, k] - mu
                q += d * d
        mean[c] = mu
        var[c] = q / M


@nb.njit(parallel=True, cache=True)
def batchnorm_apply(x: np.ndarray, alpha: np.ndarray, beta: np.ndarray, out: np.ndarray) -> None:
    """out[n, c, s] = x[n, c, s] * alpha[c] + beta[c] (alpha = gamma / std, beta = b - mean * alpha, as torch
    folds them). x, out: (N, C, S); alpha, beta: (C,) in x's dtype. Parallel over channels."""
    N, C, S = x.shape
    for c in nb.prange(C):
        a, b = alpha[c], beta[c]
        for n in range(N):
            xr, orow = x[n, c], out[n, c]
            for k in range(S):
                orow[k] = xr[k] * a + b


@nb.njit(parallel=True, cache=True)
def batchnorm_backward_sums(dout: np.ndarray, x: np.ndarray, mean: np.ndarray, sum_dout: np.ndarray,
                            sum_dout_xc: np.ndarray) -> None:
    """sum_dout[c] = sum dout[:, c, :] and sum_dout_xc[c] = sum dout[:, c, :] * (x[:, c, :] - mean[c]), float64.
    Parallel over channels."""
    N, C, S = x.shape
    for c in nb.prange(C):
        mu = mean[c]
        s1 = 0.0
        s2 = 0.0
        for n in range(N):
            g, xr = dout[n, c], x[n, c]
            for k in range(S):
                gv = np.float64(g[k])
                s1 += gv
                s2 += gv * (xr[k] - mu)
        sum_dout[c] = s1
        sum_dout_xc[c] = s2


@nb.njit(parallel=True, cache=True)
def batchnorm_backward_input(dout: np.ndarray, x: np.ndarray, mean: np.ndarray, mean_dout: np.ndarray,
                             k_xc: np.ndarray, scale: np.ndarray, dx: np.ndarray) -> None:
    """dx[n, c, s] = (dout[n, c, s] - mean_dout[c] - (x[n, c, s] - mean[c]) * k_xc[c]) * scale[c].

    Batch statistics: mean_dout = sum(dout)/M, k_xc = sum(dout*(x-mean)) * invstd^2 / M, scale = gamma*invstd.
    Running statistics (eval): mean_dout = k_xc = 0, scale = gamma*invstd. The per-channel numbers
    are float64, the arithmetic is done in float64 and rounded once. Parallel over channels."""
    N, C, S = x.shape
    for c in nb.prange(C):
        mu, md, kx, sc = mean[c], mean_dout[c], k_xc[c], scale[c]
        for n in range(N):
            g, xr, d = dout[n, c], x[n, c], dx[n, c]
            for k in range(S):
                d[k] = (np.float64(g[k]) - md - (xr[k] - mu) * kx) * sc
