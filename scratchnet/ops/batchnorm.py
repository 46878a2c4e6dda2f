"""Batch normalisation as a forward/backward pair, with the backward in its compact closed form.

Per channel c, over the M = N*S values of the batch (S = H*W for images, 1 for (N, C) input)::

    mu     = (1/M) sum_i x_i                      (training: batch statistics)
    var    = (1/M) sum_i (x_i - mu)^2             (biased; torch uses it to normalise)
    xhat_i = (x_i - mu) / sqrt(var + eps)         (= (x_i - mu) * invstd)
    y_i    = gamma * xhat_i + beta

In evaluation with tracked statistics, mu and var are the running estimates instead: constants.

Backward. With g_i = dL/dy_i, the parameter gradients are direct::

    dL/dbeta  = sum_i g_i
    dL/dgamma = sum_i g_i * xhat_i

For x, the graph x -> (mu, var) -> xhat has three paths; the chain rule gives, with dxhat_i = gamma g_i,
``dL/dx_i = dxhat_i * invstd + dL/dvar * 2 (x_i - mu) / M + dL/dmu / M`` where::

    dL/dvar = sum_j dxhat_j (x_j - mu) * (-1/2) invstd^3
    dL/dmu  = -invstd sum_j dxhat_j  + dL/dvar * (-2/M) sum_j (x_j - mu)      (the last sum is 0)

Substituting, every term carries gamma * invstd, and ``(x_i - mu) invstd^2 = xhat_i invstd``::

    dL/dx_i = (gamma * invstd / M) * ( M g_i  -  sum_j g_j  -  xhat_i * sum_j g_j xhat_j )
            = gamma * invstd * ( g_i - mean(g) - (x_i - mu) * invstd^2 * mean(g * (x - mu)) )

two per-channel sums (the same two that give dgamma and dbeta) and one pass over the data. With
running statistics mu and var do not depend on x, and the gradient is just ``gamma * invstd * g_i``.
``scratchnet.ops.naive`` walks the long way (through dvar and dmu) as the obvious twin.

Running statistics (updated by the layer, not here): ``running = (1 - f) * running + f * batch``
with the *unbiased* variance ``var * M / (M - 1)``; f is ``momentum``, or 1/num_batches_tracked
(a cumulative average) when momentum is None. Sums run in float64 (torch accumulates float32 so too).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels
from . import _checks


class BatchNormCache(NamedTuple):
    """What the backward needs, and the batch statistics the layer folds into its running ones."""

    x: np.ndarray  # (N, C, S) view of the input
    mean: np.ndarray  # (C,) float64: the mean used to normalise (batch or running)
    var: np.ndarray  # (C,) float64: the variance used (biased batch variance, or running)
    invstd: np.ndarray  # (C,) float64: 1 / sqrt(var + eps)
    gamma: np.ndarray | None  # (C,) or None (affine=False)
    batch_stats: bool  # True: normalised with the batch's own statistics (training)
    shape: tuple[int, ...]  # the input's shape


def _as_ncs(x: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> C-contiguous (N, C, S) (S computed, so that an empty batch reshapes too)."""
    return _checks.kernel_array(x).reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:], dtype=np.int64)))


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    eps: float = 1e-5,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
) -> tuple[np.ndarray, BatchNormCache]:
    """Normalise each channel of x, then scale by gamma and shift by beta.

    Parameters
    ----------
    x : (N, C) or (N, C, L) or (N, C, H, W) input.
    gamma, beta : (C,) affine parameters, or None (no scale / no shift).
    eps : added to the variance.
    running_mean, running_var : (C,) statistics to normalise with (evaluation), or None to use the
        batch's own (training; needs more than one value per channel).

    Returns
    -------
    out : like x.
    cache : a :class:`BatchNormCache`; ``cache.mean`` and ``cache.var`` are the batch statistics in training.
    """
    if _checks.float_array(x).ndim < 2 or x.shape[1] < 1:
        raise ValueError(f"expected input (N, C, *) with C >= 1, got {x.shape}")
    C = x.shape[1]
    for name, a in (("weight", gamma), ("bias", beta), ("running_mean", running_mean), ("running_var", running_var)):
        if a is not None and (not isinstance(a, np.ndarray) or a.shape != (C,) or a.dtype not in _checks.FLOATS):
            raise ValueError(f"expected {name} of shape ({C},), got {getattr(a, 'shape', type(a).__name__)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("expected both running_mean and running_var, or neither")
    x3 = _as_ncs(x)
    if running_mean is None:
        mean, var = np.empty(C), np.empty(C)
        if x3.size:
            kernels.batchnorm_stats(x3, mean, var)
        else:  # an empty batch has no statistics; nothing is normalised with these (torch keeps its running ones)
            mean[...], var[...] = 0.0, 1.0
    else:
        mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    alpha = invstd if gamma is None else gamma.astype(np.float64) * invstd
    shift = -mean * alpha if beta is None else beta.astype(np.float64) - mean * alpha
    out = np.empty_like(x3)
    kernels.batchnorm_apply(x3, alpha.astype(x.dtype), shift.astype(x.dtype), out)
    cache = BatchNormCache(x3, mean, var, invstd, gamma, running_mean is None, x.shape)
    return out.reshape(x.shape), cache


def batchnorm_backward(
    dout: np.ndarray, cache: BatchNormCache, need_dx: bool = True, need_dparams: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of batch normalisation (the closed form above).

    Parameters
    ----------
    dout : upstream gradient dL/dout, shaped like the input.
    cache : from :func:`batchnorm_forward`.
    need_dx : False when nothing below wants dL/dx.
    need_dparams : False when gamma and beta are frozen (or absent).

    Returns
    -------
    dx : like the input, or None; dgamma, dbeta : (C,), or None without affine parameters (or not needed).
    """
    x3, mean, _, invstd, gamma, batch_stats, shape = cache
    g3 = _as_ncs(_checks.upstream(dout, shape, x3.dtype))
    N, C, S = x3.shape
    M = N * S
    sum_g, sum_gxc = np.empty(C), np.empty(C)
    if need_dparams or (need_dx and batch_stats):
        kernels.batchnorm_backward_sums(g3, x3, mean, sum_g, sum_gxc)
    dgamma = dbeta = None
    if need_dparams and gamma is not None:
        dgamma = (sum_gxc * invstd).astype(x3.dtype)  # sum g * xhat
        dbeta = sum_g.astype(x3.dtype)
    dx = None
    if need_dx:
        scale = invstd if gamma is None else gamma.astype(np.float64) * invstd
        if batch_stats and M:
            mean_g, k_xc = sum_g / M, sum_gxc * invstd * invstd / M
        else:
            mean_g, k_xc = np.zeros(C), np.zeros(C)
        dx = np.empty_like(x3)
        kernels.batchnorm_backward_input(g3, x3, mean, mean_g, k_xc, scale, dx)
        dx = dx.reshape(shape)
    return dx, dgamma, dbeta


def update_running_stats(
    running_mean: np.ndarray, running_var: np.ndarray, cache: BatchNormCache, factor: float
) -> None:
    """In place: ``running = (1 - factor) * running + factor * batch``, the variance unbiased (M / (M - 1)).

    Computed in float64 and rounded once into the running arrays' dtype.
    """
    N, _, S = cache.x.shape
    M = N * S
    unbiased = cache.var * (M / (M - 1)) if M > 1 else np.full_like(cache.var, np.nan)
    running_mean[...] = factor * cache.mean + (1.0 - factor) * running_mean.astype(np.float64)
    running_var[...] = factor * unbiased + (1.0 - factor) * running_var.astype(np.float64)
