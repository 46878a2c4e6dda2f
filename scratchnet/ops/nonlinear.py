"""Smooth element-wise activations and softmax as forward/backward pairs (NumPy; none is a hot loop).

    sigmoid:    y = 1 / (1 + exp(-x))            dL/dx = dout * y * (1 - y)
    tanh:       y = tanh(x)                      dL/dx = dout * (1 - y^2)
    leaky ReLU: y = x if x > 0 else a * x        dL/dx = dout if x > 0 else a * dout   (torch's side at 0)
    softmax:    y = exp(x - max) / sum exp(...)  dL/dx = y * (dout - sum_k dout_k y_k)   (along ``dim``)
    identity:   y = x                            dL/dx = dout

Each cache is what the derivative is written in: the output y (sigmoid, tanh, softmax) or x (leaky ReLU).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """y = 1 / (1 + exp(-x)), written so that no exp overflows: exp(-|x|) only."""
    e = np.exp(-np.abs(x))
    y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return y, y


def sigmoid_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    y = cache
    return dout * (y * (1 - y))


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    y = np.tanh(x)
    return y, y


def tanh_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    y = cache
    return dout * (1 - y * y)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, Any]:
    slope = x.dtype.type(negative_slope)
    return np.where(x > 0, x, x * slope), (x > 0, slope)


def leaky_relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    positive, slope = cache
    return np.where(positive, dout, dout * slope)


def softmax_forward(x: np.ndarray, dim: int = -1) -> tuple[np.ndarray, Any]:
    """Softmax along ``dim``, shifted by the max for stability (an empty x gives an empty y, as in torch)."""
    if x.size == 0:
        y = np.empty(x.shape, dtype=x.dtype)
        return y, (y, dim)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    y = e / e.sum(axis=dim, keepdims=True)
    return y, (y, dim)


def softmax_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dL/dx = y * (dout - sum(dout * y)) along dim: the softmax Jacobian diag(y) - y y^T applied to dout."""
    y, dim = cache
    return y * (dout - np.sum(dout * y, axis=dim, keepdims=True))


def identity_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    return x, None


def identity_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    return dout
