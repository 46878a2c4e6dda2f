"""Fully connected layer as a forward/backward pair.

Forward: ``out = x @ W.T + b`` with x (N, in), W (out, in), b (out,) — torch's layout.
Backward with upstream ``dout = dL/dout`` (N, out), by the chain rule::

    dL/dx = dout @ W        (N, in)
    dL/dW = dout.T @ x      (out, in)
    dL/db = sum_n dout[n]   (out,)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, Any]:
    """x: (N, in); w: (out, in); b: (out,) or None. Returns out (N, out) and the cache (x, w, has_bias)."""
    out = x @ w.T
    if b is not None:
        out += b
    return out, (x, w, b is not None)


def linear_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """dout: (N, out). Returns dx (N, in), dw (out, in), db (out,) or None."""
    x, w, has_bias = cache
    dx = dout @ w
    dw = dout.T @ x
    db = dout.sum(axis=0) if has_bias else None
    return dx, dw, db
