"""Fully connected layer as a forward/backward pair.

Forward: ``out = x @ W.T + b`` with x (*, in), W (out, in), b (out,) — torch's layout; the leading
axes ``*`` are flattened into one batch axis N (which may be 0).
Backward with upstream ``dout = dL/dout`` (*, out), by the chain rule::

    dL/dx = dout @ W        (N, in)
    dL/dW = dout.T @ x      (out, in)     (zero for an empty batch)
    dL/db = sum_n dout[n]   (out,)

The products run in Numba kernels (``scratchnet.kernels.linear``), not in NumPy's BLAS: see there why.
``ops.naive.linear_forward_naive`` / ``linear_backward_naive`` are the obvious einsum twins.
Arguments are checked here (see ``_checks``): the kernels never see a wrong shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from . import _checks


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, Any]:
    """x: (*, in); w: (out, in); b: (out,) or None, all of one float dtype.

    Returns out (*, out) and the cache (x as (N, in), w, has_bias, x's shape, out's shape).
    """
    _checks.float_array(w, "weight")
    if w.ndim != 2:
        raise ValueError(f"expected weight (out_features, in_features), got {w.shape}")
    n_out, n_in = w.shape
    _checks.float_array(x)
    if x.ndim < 1 or x.shape[-1] != n_in:
        raise ValueError(f"expected input (*, {n_in}), got {x.shape}")
    _checks.same_dtype(x, w.dtype)
    w = _checks.kernel_array(w)
    bias = np.zeros(n_out, dtype=w.dtype) if b is None else _checks.parameter(b, (n_out,), w.dtype, "bias")
    lead = x.shape[:-1]
    x2 = _checks.kernel_array(x.reshape(-1, n_in))
    out = np.empty((x2.shape[0], n_out), dtype=w.dtype)
    kernels.linear_forward(x2, w, bias, out)
    out_shape = (*lead, n_out)
    return out.reshape(out_shape), (x2, w, b is not None, x.shape, out_shape)


def linear_backward(dout: np.ndarray, cache: Any, need_dx: bool = True, need_dw: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (*, out), the forward output's shape and dtype. Returns dx (*, in) (None when ``need_dx``
    is False: nothing upstream wants it, as for a network's input), dw (out, in) and db (out,) (None
    without bias, or both None when ``need_dw`` is False: the parameters are frozen)."""
    x, w, has_bias, x_shape, out_shape = cache
    g = _checks.upstream(dout, out_shape, x.dtype).reshape(x.shape[0], w.shape[0])
    dx = None
    if need_dx:
        dx = np.empty((g.shape[0], w.shape[1]), dtype=x.dtype)
        kernels.matmul(g, w, dx)  # dout @ w
        dx = dx.reshape(x_shape)
    if not need_dw:
        return dx, None, None
    dw = np.empty(w.shape, dtype=x.dtype)
    kernels.matmul(np.ascontiguousarray(g.T), x, dw)  # dout.T @ x; a C-order copy: see kernels.matmul
    db = g.sum(axis=0) if has_bias else None
    return dx, dw, db
