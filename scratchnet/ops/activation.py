"""Element-wise layers as forward/backward pairs: ReLU and inverted dropout.

ReLU: ``out = max(x, 0)``; ``dL/dx = dout * [x > 0]`` (the gradient at exactly 0 is taken as 0, as torch does).
Dropout (inverted): in training ``out = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``, so the expected
activation is unchanged and evaluation needs no rescaling; ``dL/dx = dout * m / (1 - p)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """out = max(x, 0); the cache is the mask x > 0."""
    mask = x > 0
    return np.where(mask, x, x.dtype.type(0)), mask


def relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dL/dx = dout where x > 0, else 0."""
    return np.where(cache, dout, dout.dtype.type(0))


def dropout_forward(x: np.ndarray, p: float, rng: np.random.Generator, training: bool = True) -> tuple[np.ndarray, Any]:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p); identity in eval.

    The cache is the scaled mask (or None for the identity).
    """
    if not training or p == 0.0:
        return x, None
    if p >= 1.0:
        scaled_mask = np.zeros_like(x)
    else:
        keep = rng.random(x.shape) >= p
        scaled_mask = keep.astype(x.dtype) / x.dtype.type(1.0 - p)  # as torch: mask.div_(1 - p)
    return x * scaled_mask, scaled_mask


def dropout_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dL/dx = dout * mask / (1 - p) (identity when the forward was)."""
    return dout if cache is None else dout * cache
