"""Sigmoid, Tanh, LeakyReLU, Softmax and Identity as layers (ReLU and LogSoftmax live in ``layers``)."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops import _checks
from .module import Module


class _Elementwise(Module):
    """Any shape in, the same shape out; the op pair does the math, the cache keeps out's shape and dtype.

    ``_keeps_output``: the op's cache is the output itself (sigmoid, tanh, softmax), which the caller
    holds: backward checks that it was not changed in place.
    """

    _keeps_output = False

    def _forward_op(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _backward_op(self, dout, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._op(_checks.float_array, x)
        out, cache = self._forward_op(x)
        out = np.asarray(out)  # NumPy gives a scalar, not a 0-d array, for some ops on 0-d input
        self._save_cache((cache, out.shape, out.dtype), keep=out if self._keeps_output else None)
        return out

    def _kept_what(self) -> str:
        return "the output it returned"

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        cache, shape, dtype = self._pop_cache()
        dout = self._op(_checks.upstream, dout, shape, dtype)
        return np.asarray(self._backward_op(dout, cache)) if input_grad else None


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), element-wise."""

    _keeps_output = True

    def _forward_op(self, x):
        return ops.sigmoid_forward(x)

    def _backward_op(self, dout, cache):
        return ops.sigmoid_backward(dout, cache)


class Tanh(_Elementwise):
    """tanh(x), element-wise."""

    _keeps_output = True

    def _forward_op(self, x):
        return ops.tanh_forward(x)

    def _backward_op(self, dout, cache):
        return ops.tanh_backward(dout, cache)


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope * x otherwise (torch's default slope 0.01)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _name(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"

    def _forward_op(self, x):
        return ops.leaky_relu_forward(x, self.negative_slope)

    def _backward_op(self, dout, cache):
        return ops.leaky_relu_backward(dout, cache)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Identity(_Elementwise):
    """Returns its input (torch's placeholder; any arguments are ignored, as there)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def _forward_op(self, x):
        return ops.identity_forward(x)

    def _backward_op(self, dout, cache):
        return ops.identity_backward(dout, cache)


class Softmax(_Elementwise):
    """Softmax along ``dim`` (required, as torch now asks for it): exp(x) / sum exp(x)."""

    _keeps_output = True

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ValueError(f"Softmax: dim must be an int, got {dim!r}")
        self.dim = dim

    def _name(self) -> str:
        return f"Softmax(dim={self.dim})"

    def _forward_op(self, x):
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{self._name()}: dim out of range for input of shape {x.shape}")
        return ops.softmax_forward(x, self.dim)

    def _backward_op(self, dout, cache):
        return ops.softmax_backward(dout, cache)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
