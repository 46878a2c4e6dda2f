"""Element-wise layers as forward/backward pairs: ReLU and inverted dropout.

ReLU: ``out = max(x, 0)``; ``dL/dx = dout * [x > 0]`` (the gradient at exactly 0 is taken as 0, as torch does).
Dropout (inverted): in training ``out = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``, so the expected
activation is unchanged and evaluation needs no rescaling; ``dL/dx = dout * m / (1 - p)``.
Both work on any shape (an empty one too). Their caches are the plain masks (the walkthroughs show
them), so the backward checks ``dout`` against the mask (the ReLU layer passes the output's dtype too;
the Dropout layer checks the gradient of its eval-mode identity itself, which has no mask).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from . import _checks


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """out = max(x, 0) (NaN propagates, as in torch); the cache is the mask x > 0 (bool, x's shape)."""
    x = _checks.kernel_array(_checks.float_array(x))
    out = np.empty_like(x)
    mask = np.empty(x.shape, dtype=np.bool_)
    kernels.relu_forward(x.reshape(-1), out.reshape(-1), mask.reshape(-1))
    return out, mask


def relu_backward(dout: np.ndarray, cache: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """dL/dx = dout where x > 0, else 0; dout has the mask's shape and ``dtype``, the forward output's
    (for a caller that knows it: the mask does not record it, so without it any float dtype goes, and dx has
    dout's; the ReLU layer checks dout against its output itself, as ``nn.OpPair`` does for every such layer)."""
    mask = _checks.kernel_array(cache)
    if dtype is None:
        dtype = _checks.float_array(dout, "upstream gradient").dtype
    dout = _checks.upstream(dout, mask.shape, dtype)
    dx = np.empty_like(dout)
    kernels.relu_backward(dout.reshape(-1), mask.reshape(-1), dx.reshape(-1))
    return dx


def dropout_forward(x: np.ndarray, p: float, rng: np.random.Generator, training: bool = True) -> tuple[np.ndarray, Any]:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p); identity in eval.

    The cache is the scaled mask in x's dtype (or None for the identity).
    """
    _checks.float_array(x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, None
    if p >= 1.0:
        scaled_mask = np.zeros(x.shape, dtype=x.dtype)
        return np.multiply(x, scaled_mask, out=np.empty(x.shape, x.dtype)), scaled_mask  # an array even for 0-d
    # keep = u >= p; scaled_mask = keep / (1 - p) (as torch: mask.div_(1 - p)) in x's dtype; out = x * mask
    u = rng.random(x.shape)
    x = _checks.kernel_array(x)
    scale = np.array([x.dtype.type(1) / x.dtype.type(1.0 - p)])
    out, scaled_mask = np.empty_like(x), np.empty_like(x)
    kernels.dropout_apply(x.reshape(-1), u.reshape(-1), float(p), scale, out.reshape(-1), scaled_mask.reshape(-1))
    return out, scaled_mask


def dropout_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dL/dx = dout * mask / (1 - p) (identity when the forward was); dout has the mask's shape and dtype."""
    if cache is None:
        return dout
    dout = _checks.upstream(dout, cache.shape, cache.dtype)
    return np.multiply(dout, cache, out=np.empty_like(dout))  # an array even for 0-d input
