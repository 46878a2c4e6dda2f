"""Element-wise kernels: ReLU forward/backward and the application of a dropout mask.

Arrays come in flattened (1-D, contiguous). These loops are memory-bound and short (well under a
millisecond at MNIST sizes), so they run on one thread: waking a thread pool would cost more than it
saves. Each element is computed on its own, so the result cannot depend on threads anyway.
"""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def relu_forward(x: np.ndarray, out: np.ndarray, mask: np.ndarray) -> None:
    """out = max(x, 0) as torch computes it (NaN stays NaN, -0.0 stays -0.0); mask = x > 0.

    x, out: (M,) floats; mask: (M,) bool. out and mask are overwritten.
    """
    zero = out.dtype.type(0.0)
    for i in range(x.shape[0]):
        v = x[i]
        mask[i] = v > 0
        out[i] = zero if v < 0 else v


@nb.njit(cache=True)
def relu_backward(dout: np.ndarray, mask: np.ndarray, dx: np.ndarray) -> None:
    """dx = dout where mask else 0. dout, dx: (M,) floats; mask: (M,) bool; dx is overwritten."""
    zero = dx.dtype.type(0.0)
    for i in range(dout.shape[0]):
        dx[i] = dout[i] if mask[i] else zero


@nb.njit(cache=True)
def dropout_apply(x: np.ndarray, u: np.ndarray, p: float, scale: np.ndarray, out: np.ndarray, mask: np.ndarray) -> None:
    """mask = scale[0] where u >= p else 0 (the scaled keep-mask); out = x * mask.

    x, out, mask: (M,) floats of one dtype; u: (M,) uniform draws in [0, 1); scale: (1,) array holding
    1 / (1 - p) already rounded to the dtype, so that mask and out equal ``keep.astype(dtype) / (1 - p)``
    and ``x * mask`` computed by NumPy, bit for bit.
    """
    s = scale[0]
    zero = mask.dtype.type(0.0)
    for i in range(x.shape[0]):
        m = s if u[i] >= p else zero
        mask[i] = m
        out[i] = x[i] * m
