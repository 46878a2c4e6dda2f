"""2-D convolution as a forward/backward pair, in the CS231n manner.

Forward (cross-correlation, as torch computes it), for stride ``s`` and zero padding ``p``::

    out[n, f, y, x] = b[f] + sum_{c, i, j} w[f, c, i, j] * xpad[n, c, y*s + i, x*s + j]

Backward, by the chain rule with upstream gradient ``dout = dL/dout``::

    dL/db[f]          = sum_{n, y, x} dout[n, f, y, x]
    dL/dw[f, c, i, j] = sum_{n, y, x} dout[n, f, y, x] * xpad[n, c, y*s + i, x*s + j]   (correlation)
    dL/dxpad[n, c, y*s + i, x*s + j] += sum_f w[f, c, i, j] * dout[n, f, y, x]          (full conv, flipped w)

and ``dL/dx`` is ``dL/dxpad`` with the padding cut off. The loops run in Numba kernels
(``scratchnet.kernels.conv``); ``scratchnet.ops.naive`` has the obvious twin. Arguments are checked
here (see ``_checks``): the kernels never see a wrong shape. An empty batch gives an empty output and
zero dL/dw, dL/db.

Two ways to compute it. Large planes with stride 1 (the MNIST nets) run the direct kernels. Strided
convolutions and small planes with many channels (ResNet's 7x7 ... 1x1 stages, its 1x1 downsamples)
run as matrix products: unroll every window into a row (``im2row``: R is (N*OH*OW, C*KH*KW)), then::

    out_rows = R @ W^T          (N*OH*OW, F)    the forward, with W as (F, C*KH*KW)
    dL/dW    = dout_rows^T @ R  (F, C*KH*KW)    the same correlation as above, summed over rows
    dL/dR    = dout_rows @ W    (N*OH*OW, C*KH*KW), added back to the windows (``row2im``) = dL/dx

Kernel taps that read only padding for every output position (all but the centre tap of a 3x3
convolution on a 1x1 plane) contribute zeros and are left out of R and W.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from .. import kernels
from . import _checks
from ._checks import out_size, pair


class Im2RowCache(NamedTuple):
    """What the backward of the matrix-product path needs."""

    rows: np.ndarray  # (N*OH*OW, C*T) unrolled windows, T live taps
    w: np.ndarray  # (F, C, KH, KW)
    w_live: np.ndarray  # (F, C*T) the weights of the live taps
    has_bias: bool
    taps: tuple[np.ndarray, np.ndarray]  # live kernel rows and columns
    stride: tuple[int, int]
    padding: tuple[int, int]
    x_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


def uses_matrix_path(c: int, kh: int, kw: int, stride: tuple[int, int], oh: int, ow: int) -> bool:
    """Strided convolutions, and small planes (<= 64 outputs) with many terms per output (C*KH*KW >= 256),
    run as matrix products; the rest on the direct stride-1 kernels."""
    return tuple(stride) != (1, 1) or (c * kh * kw >= 256 and oh * ow <= 64)


@functools.lru_cache(maxsize=256)
def _live_taps(size: int, k: int, stride: int, pad: int, out: int) -> np.ndarray:
    taps = np.array([i for i in range(k) if any(0 <= o * stride + i - pad < size for o in range(out))], dtype=np.int64)
    taps.setflags(write=False)
    return taps


def live_taps(size: int, k: int, stride: int, pad: int, out: int) -> np.ndarray:
    """Kernel offsets i < k that read the input (not padding) for at least one of the ``out`` positions
    (read-only; computed once per geometry)."""
    return _live_taps(size, k, stride, pad, out)


def _conv2d_forward_rows(x, w, bias, stride, padding, OH, OW, has_bias):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    (sh, sw), (ph, pw) = stride, padding
    ti, tj = live_taps(H, KH, sh, ph, OH), live_taps(W, KW, sw, pw, OW)
    T = len(ti) * len(tj)
    rows = np.empty((N * OH * OW, C * T), dtype=x.dtype)
    kernels.im2row(x, rows, ti, tj, sh, sw, ph, pw, OH, OW)
    if T == KH * KW:  # every tap reads the input somewhere: the weight as it is
        w_live = w.reshape(F, C * T)
    else:
        w_live = np.ascontiguousarray(w[:, :, ti][:, :, :, tj].reshape(F, C * T))
    out_rows = np.empty((N * OH * OW, F), dtype=x.dtype)
    kernels.linear_forward(rows, w_live, bias, out_rows)  # R @ W^T + b
    out = np.empty((N, F, OH, OW), dtype=x.dtype)
    kernels.rows_to_nchw(out_rows, out.reshape(N, F, OH * OW))
    return out, Im2RowCache(rows, w, w_live, has_bias, (ti, tj), stride, padding, x.shape, out.shape)


def _dout_rows(dout: np.ndarray, cache: Im2RowCache) -> np.ndarray:
    """dout (checked by the caller) as (N*OH*OW, F) rows."""
    N, F, OH, OW = cache.out_shape
    rows = np.empty((N * OH * OW, F), dtype=cache.rows.dtype)
    kernels.nchw_to_rows(dout.reshape(N, F, OH * OW), rows)
    return rows


def _conv2d_backward_rows(dout, cache: Im2RowCache, need_dx: bool, need_dw: bool):
    g = _dout_rows(dout, cache)
    (ti, tj), (sh, sw), (ph, pw) = cache.taps, cache.stride, cache.padding
    OH, OW = cache.out_shape[2], cache.out_shape[3]
    dx = dw = db = None
    if need_dx:
        drows = np.empty(cache.rows.shape, dtype=g.dtype)
        kernels.matmul(g, cache.w_live, drows)  # dL/dR = dout_rows @ W
        dx = np.empty(cache.x_shape, dtype=g.dtype)
        kernels.row2im(dx, drows, ti, tj, sh, sw, ph, pw, OH, OW)
    if need_dw:
        F, C = cache.w.shape[0], cache.w.shape[1]
        dw_live = np.empty(cache.w_live.shape, dtype=g.dtype)
        kernels.matmul(np.ascontiguousarray(g.T), cache.rows, dw_live)  # dL/dW = dout_rows^T @ R (C order: see kernels.matmul)
        if dw_live.size == cache.w.size:
            dw = dw_live.reshape(cache.w.shape)
        else:
            dw = np.zeros(cache.w.shape, dtype=g.dtype)
            dw[:, :, ti[:, None], tj[None, :]] = dw_live.reshape(F, C, len(ti), len(tj))
        db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw, db


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> tuple[np.ndarray, Any]:
    """Convolve a batch of images with a bank of filters.

    Parameters
    ----------
    x : (N, C, H, W) input.
    w : (F, C, KH, KW) filters.
    b : (F,) bias, or None.
    stride, padding : int or (h, w) pair.

    Returns
    -------
    out : (N, F, OH, OW) with OH = (H + 2*ph - KH) // sh + 1 (likewise OW).
    cache : what ``conv2d_backward`` needs: (x, w, has_bias, stride, padding, x.shape, out.shape), or an
        ``Im2RowCache`` on the matrix-product path.
    """
    sh, sw = pair(stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    _checks.float_array(w, "weight")
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(f"expected weight (F, C, KH, KW), got {w.shape}")
    F, Cw, KH, KW = w.shape
    _checks.image_batch(_checks.float_array(x), Cw)
    _checks.same_dtype(x, w.dtype)
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, sh, ph), out_size(W, KW, sw, pw)
    if OH < 1 or OW < 1:
        raise ValueError(f"input {H}x{W} (padding {(ph, pw)}) is smaller than the kernel {KH}x{KW}")
    x = _checks.kernel_array(x)
    w = _checks.kernel_array(w)
    bias = np.zeros(F, dtype=x.dtype) if b is None else _checks.parameter(b, (F,), x.dtype, "bias")
    if uses_matrix_path(C, KH, KW, (sh, sw), OH, OW):
        return _conv2d_forward_rows(x, w, bias, (sh, sw), (ph, pw), OH, OW, b is not None)
    out = np.empty((N, F, OH, OW), dtype=x.dtype)  # stride 1 from here on (uses_matrix_path)
    if C == 1:  # a first layer: one crop per kernel column, no per-row copy of the result
        kernels.conv2d_forward_crops(x, w, bias, out, ph, pw)
    else:  # the flat-row kernel pads each image itself
        kernels.conv2d_forward_s1(x, w, bias, out, ph, pw, False)
    return out, (x, w, b is not None, (sh, sw), (ph, pw), x.shape, out.shape)


def _upstream(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dout checked against the output the forward recorded (shape and dtype), ready for the kernels."""
    if isinstance(cache, Im2RowCache):
        return _checks.upstream(dout, cache.out_shape, cache.rows.dtype)
    return _checks.upstream(dout, cache[6], cache[0].dtype)


def conv2d_backward_input(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dL/dx (N, C, H, W) for the upstream gradient ``dout`` (N, F, OH, OW); see ``_grad_input``."""
    return _grad_input(_upstream(dout, cache), cache)


def _grad_input(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dL/dx (N, C, H, W): the full convolution of ``dout`` with the flipped kernel, padding cut off.

    With stride 1 and padding p <= K - 1 this *is* a stride-1 convolution: pad ``dout`` by K - 1 - p and
    correlate it with ``w`` flipped in both kernel axes and with in/out channels swapped,
    ``dx[n, c, y, x] = sum_{f,i,j} w[f, c, i, j] * doutpad[n, f, y + K-1-i, x + K-1-j]``,
    so it runs on the forward kernel (its ``flip`` option reads the taps mirrored, in the same order as
    the scatter). Otherwise each ``dout`` element is scattered back to its window.
    """
    if isinstance(cache, Im2RowCache):
        return _conv2d_backward_rows(dout, cache, True, False)[0]
    x, w, _, (sh, sw), (ph, pw), x_shape, _ = cache
    KH, KW = w.shape[2], w.shape[3]
    H, W = x_shape[2], x_shape[3]
    if (sh, sw) == (1, 1) and ph <= KH - 1 and pw <= KW - 1:
        w_t = np.ascontiguousarray(w.transpose(1, 0, 2, 3))  # (C, F, KH, KW): dout's channels are the inputs
        dx = np.empty(x_shape, dtype=x.dtype)
        kernels.conv2d_forward_s1(dout, w_t, np.zeros(w.shape[1], dtype=x.dtype), dx, KH - 1 - ph, KW - 1 - pw, True)
        return dx
    dxp = np.zeros((x_shape[0], x_shape[1], H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    kernels.conv2d_backward_input(dout, dxp, w, sh, sw)
    return np.ascontiguousarray(dxp[:, :, ph : ph + H, pw : pw + W])


def conv2d_backward_weight(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """dL/dw (F, C, KH, KW), the correlation of the padded input with ``dout``, and dL/db (F,) (None without bias)."""
    return _grad_weight(_upstream(dout, cache), cache)


def _grad_weight(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(cache, Im2RowCache):
        return _conv2d_backward_rows(dout, cache, False, True)[1:]
    x, w, has_bias, _, (ph, pw), _, _ = cache  # stride 1 (a strided layer's cache is an Im2RowCache)
    dw = np.empty_like(w)
    db = np.empty(w.shape[0], dtype=x.dtype)
    kernels.conv2d_backward_weight_s1(x, dout, dw, db, ph, pw)
    return dw, (db if has_bias else None)


def conv2d_backward(dout: np.ndarray, cache: Any, need_dx: bool = True, need_dw: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of the convolution.

    Parameters
    ----------
    dout : (N, F, OH, OW) upstream gradient dL/dout, the forward output's shape and dtype.
    cache : from ``conv2d_forward``.
    need_dx : False when nothing upstream wants dL/dx (the layer sees the network's input): skip it.
    need_dw : False when the weight and bias are frozen (``requires_grad=False``): skip dw and db.

    Returns
    -------
    dx : (N, C, H, W) or None, dw : (F, C, KH, KW) or None, db : (F,) or None when the layer has no bias.
    """
    dout = _upstream(dout, cache)
    if isinstance(cache, Im2RowCache):  # one transpose of dout serves both products
        return _conv2d_backward_rows(dout, cache, need_dx, need_dw)
    dx = _grad_input(dout, cache) if need_dx else None
    dw, db = _grad_weight(dout, cache) if need_dw else (None, None)
    return dx, dw, db
