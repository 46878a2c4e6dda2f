"""Average pooling as forward/backward pairs: fixed windows (AvgPool2d) and adaptive ones (AdaptiveAvgPool2d).

Forward: ``out[n, c, y, x] = (1/D) sum_{(h, w) in window(y, x)} x[n, c, h, w]``, where D is the
window's size (``count_include_pad``: padding counted; else only the input positions), or
``divisor_override``. An average is linear, so its backward spreads each upstream gradient evenly
back over its window: ``dL/dx[n, c, h, w] = sum_{windows containing (h, w)} dout[n, c, y, x] / D``.

Adaptive windows (torch's rule) cover output row ``i`` of ``OH`` with input rows
``floor(i * H / OH)`` to ``ceil((i + 1) * H / OH)`` (exclusive), likewise for columns; with output
1x1 this is the global average pool that ends ResNet.

Every array handed to a kernel is checked first (``_checks``): the input is a float (N, C, H, W) batch,
the upstream gradient has the output's shape (its dtype is the layer's to check: the caches do not
record it, and dx takes dout's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from . import _checks
from ._checks import pair


def _fixed_windows(size: int, out: int, k: int, stride: int, pad: int, count_include_pad: bool):
    """Per output position along one axis: the window's [lo, hi) in the input (clipped) and its divisor
    factor (the window's length within the padded input, or within the input alone)."""
    start = np.arange(out, dtype=np.int64) * stride - pad
    end = np.minimum(start + k, size + pad)
    lo, hi = np.maximum(start, 0), np.minimum(end, size)
    return lo, hi, (end - start) if count_include_pad else (hi - lo)


def _adaptive_windows(size: int, out: int):
    """torch's adaptive rule along one axis: window [floor(o*size/out), ceil((o+1)*size/out)), divisor its length."""
    o = np.arange(out, dtype=np.int64)
    lo, hi = (o * size) // out, ((o + 1) * size + out - 1) // out
    return lo, hi, hi - lo


def _pool(x: np.ndarray, windows: tuple) -> np.ndarray:
    """Run the forward kernel over x viewed as (N*C, H, W); windows = (h_lo, h_hi, h_div, w_lo, w_hi, w_div, override)."""
    N, C, H, W = x.shape
    out = np.empty((N * C, len(windows[0]), len(windows[3])), dtype=x.dtype)
    kernels.avgpool2d_forward(_checks.kernel_array(x).reshape(N * C, H, W), out, *windows)
    return out.reshape(N, C, *out.shape[1:])


def _spread(dout: np.ndarray, x_shape: tuple, windows: tuple) -> np.ndarray:
    """Run the backward kernel: dout (N, C, OH, OW), already checked and made kernel-ready by ``_checks.upstream``,
    spread over the windows into dx of x_shape."""
    N, C, H, W = x_shape
    dx = np.empty((N * C, H, W), dtype=dout.dtype)
    kernels.avgpool2d_backward(dout.reshape(N * C, *dout.shape[2:]), dx, *windows)
    return dx.reshape(x_shape)


def avgpool2d_forward(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> tuple[np.ndarray, Any]:
    """Average-pool a batch x (N, C, H, W); returns out (N, C, OH, OW), OH = (H + 2ph - KH) // sh + 1,
    and the cache (x.shape, the windows)."""
    (kh, kw, sh, sw, ph, pw), OH, OW = _checks.pool_window(x, kernel_size, stride, padding, "avgpool2d")
    cip = bool(count_include_pad)
    windows = (*_fixed_windows(x.shape[2], OH, kh, sh, ph, cip), *_fixed_windows(x.shape[3], OW, kw, sw, pw, cip),
               int(divisor_override or 0))
    return _pool(x, windows), (x.shape, windows)


def avgpool2d_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Spread dout (N, C, OH, OW) evenly over each window; returns dx (N, C, H, W)."""
    x_shape, windows = cache
    out_shape = (*x_shape[:2], len(windows[0]), len(windows[3]))
    dout = _checks.upstream(dout, out_shape, _checks.float_array(dout, "upstream gradient").dtype)
    return _spread(dout, x_shape, windows)


def adaptive_output_size(output_size, h: int, w: int) -> tuple[int, int]:
    """(OH, OW) from an int, a pair, or a pair with None (keep that input size), as torch reads it."""
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise ValueError(f"output_size: expected an int or a pair, got {output_size!r}")
    return pair(tuple(size if given is None else given for given, size in zip(sizes, (h, w))), "output_size", 1)


def adaptive_avgpool2d_forward(x: np.ndarray, output_size) -> tuple[np.ndarray, Any]:
    """Average x (N, C, H, W) over torch's adaptive windows; returns out (N, C, OH, OW) and the cache
    (x.shape, the windows)."""
    _checks.image_batch(_checks.float_array(x))
    N, C, H, W = x.shape
    OH, OW = adaptive_output_size(output_size, H, W)
    windows = (*_adaptive_windows(H, OH), *_adaptive_windows(W, OW), 0)
    return _pool(x, windows), (x.shape, windows)


def adaptive_avgpool2d_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Spread dout (N, C, OH, OW) evenly over each adaptive window; returns dx (N, C, H, W). The cache carries
    its windows, so this is the fixed-window backward; dout must have the forward output's shape and dtype."""
    return avgpool2d_backward(dout, cache)
