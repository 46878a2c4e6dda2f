"""2-D max pooling as a forward/backward pair.

Forward: ``out[n, c, y, x] = max_{i, j} x[n, c, y*s + i - p, x*s + j - p]`` over the positions
inside the input (padding never wins). The gradient of a max is 1 for the element that won and 0
for the rest, so backward routes each ``dout[n, c, y, x]`` to the winner's position (adding where
windows overlap). Ties go to the first maximum in row-major window order, as in torch.
Arguments are checked here (see ``_checks``): the kernels never see a wrong shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from . import _checks


def maxpool2d_forward(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> tuple[np.ndarray, Any]:
    """Max-pool a batch.

    Parameters
    ----------
    x : (N, C, H, W) input.
    kernel_size : int or pair; stride defaults to kernel_size; padding : int or pair,
        at most half the kernel (as torch requires).

    Returns
    -------
    out : (N, C, OH, OW) with OH = (H + 2*ph - KH) // sh + 1.
    cache : (argmax, x.shape), argmax holding each window's winning flat index ``h*W + w`` (int32).
    """
    (kh, kw, sh, sw, ph, pw), OH, OW = _checks.pool_window(x, kernel_size, stride, padding, "maxpool2d")
    N, C, H, W = x.shape
    x = _checks.kernel_array(x)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.int32 if H * W <= np.iinfo(np.int32).max else np.int64)
    if (kh, kw, sh, sw, ph, pw) == (2, 2, 2, 2, 0, 0):  # the common case, unrolled
        kernels.maxpool2d_forward_2x2(x, out, argmax)
    else:
        kernels.maxpool2d_forward(x, out, argmax, kh, kw, sh, sw, ph, pw)
    return out, (argmax, x.shape)


def maxpool2d_backward(dout: np.ndarray, cache: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """Route ``dout`` (N, C, OH, OW) to the winners; returns dx (N, C, H, W) in dout's dtype.

    ``dtype``: the forward output's, which dout must have (for a caller that knows it: the cache does not
    record it, so without it any float dtype goes; the MaxPool2d layer checks dout against its output itself,
    as ``nn.OpPair`` does for every such layer).
    """
    argmax, x_shape = cache
    if dtype is None:
        dtype = _checks.float_array(dout, "upstream gradient").dtype
    dout = _checks.upstream(dout, argmax.shape, dtype)
    dx = np.empty(x_shape, dtype=dtype)  # the kernel zeroes each plane before it adds
    kernels.maxpool2d_backward(dout, argmax, dx)
    return dx
