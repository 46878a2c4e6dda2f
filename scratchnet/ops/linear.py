"""Fully connected layer as a forward/backward pair.

Forward: ``out = x @ W.T + b`` with x (N, in), W (out, in), b (out,) — torch's layout.
Backward with upstream ``dout = dL/dout`` (N, out), by the chain rule::

    dL/dx = dout @ W        (N, in)
    dL/dW = dout.T @ x      (out, in)
    dL/db = sum_n dout[n]   (out,)

The products run in Numba kernels (``scratchnet.kernels.linear``), not in NumPy's BLAS: see there why.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, Any]:
    """x: (N, in); w: (out, in); b: (out,) or None. Returns out (N, out) and the cache (x, w, has_bias)."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    dtype = np.result_type(x, w)
    bias = np.zeros(w.shape[0], dtype=dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
    out = np.empty((x.shape[0], w.shape[0]), dtype=dtype)
    kernels.linear_forward(x, w, bias, out)
    return out, (x, w, b is not None)


def linear_backward(dout: np.ndarray, cache: Any, need_dx: bool = True, need_dw: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, out). Returns dx (N, in) (None when ``need_dx`` is False: nothing upstream wants it,
    as for a network's input), dw (out, in) and db (out,) (None without bias, or both None when
    ``need_dw`` is False: the parameters are frozen)."""
    x, w, has_bias = cache
    dout = np.ascontiguousarray(dout, dtype=x.dtype)
    dx = None
    if need_dx:
        dx = np.empty((dout.shape[0], w.shape[1]), dtype=x.dtype)
        kernels.matmul(dout, w, dx)  # dout @ w
    if not need_dw:
        return dx, None, None
    dw = np.empty(w.shape, dtype=x.dtype)
    kernels.matmul(dout.T, x, dw)  # dout.T @ x
    db = dout.sum(axis=0) if has_bias else None
    return dx, dw, db
