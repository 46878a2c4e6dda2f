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
from ._checks import out_size, pair


def avgpool2d_forward(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> tuple[np.ndarray, Any]:
    """Average-pool a batch x (N, C, H, W); returns out (N, C, OH, OW), OH = (H + 2ph - KH) // sh + 1,
    and the cache (x.shape, the window settings)."""
    window, OH, OW = _checks.pool_window(x, kernel_size, stride, padding, "avgpool2d")
    settings = (*window, bool(count_include_pad), int(divisor_override or 0))
    out = np.empty((*x.shape[:2], OH, OW), dtype=x.dtype)
    kernels.avgpool2d_forward(_checks.kernel_array(x), out, *settings)
    return out, (x.shape, settings)


def avgpool2d_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Spread dout (N, C, OH, OW) evenly over each window; returns dx (N, C, H, W)."""
    x_shape, settings = cache
    kh, kw, sh, sw, ph, pw = settings[:6]
    N, C, H, W = x_shape
    out_shape = (N, C, out_size(H, kh, sh, ph), out_size(W, kw, sw, pw))
    dout = _checks.upstream(dout, out_shape, _checks.float_array(dout, "upstream gradient").dtype)
    dx = np.empty(x_shape, dtype=dout.dtype)
    kernels.avgpool2d_backward(dout, dx, *settings)
    return dx


def adaptive_output_size(output_size, h: int, w: int) -> tuple[int, int]:
    """(OH, OW) from an int, a pair, or a pair with None (keep that input size), as torch reads it."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size: expected an int or a pair, got {output_size!r}")
        oh, ow = output_size
    else:
        oh = ow = output_size
    oh = h if oh is None else oh
    ow = w if ow is None else ow
    return pair((oh, ow), "output_size", 1)


def adaptive_avgpool2d_forward(x: np.ndarray, output_size) -> tuple[np.ndarray, Any]:
    """Average x (N, C, H, W) over torch's adaptive windows; returns out (N, C, OH, OW) and the cache (x.shape)."""
    _checks.image_batch(_checks.float_array(x))
    N, C, H, W = x.shape
    OH, OW = adaptive_output_size(output_size, H, W)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    kernels.adaptive_avgpool2d_forward(_checks.kernel_array(x), out)
    return out, x.shape


def adaptive_avgpool2d_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Spread dout (N, C, OH, OW) evenly over each adaptive window; returns dx (N, C, H, W)."""
    _checks.float_array(dout, "upstream gradient")
    if dout.ndim != 4 or dout.shape[:2] != tuple(cache[:2]) or 0 in dout.shape[2:]:
        raise ValueError(f"expected upstream gradient ({cache[0]}, {cache[1]}, OH, OW), got {dout.shape} {dout.dtype}")
    dout = _checks.kernel_array(dout)
    dx = np.empty(cache, dtype=dout.dtype)
    kernels.adaptive_avgpool2d_backward(dout, dx)
    return dx
