"""Sigmoid, Tanh, LeakyReLU, Softmax and Identity as layers (ReLU and LogSoftmax live in ``layers``)."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops import _checks
from .module import OpPair


class _Elementwise(OpPair):
    """Any shape in, the same shape out: x is checked to be a float array before the op sees it."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._op(_checks.float_array, x)
        return super().forward(x)


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), element-wise."""

    _keeps_output = True
    _forward_op, _backward_op = staticmethod(ops.sigmoid_forward), staticmethod(ops.sigmoid_backward)


class Tanh(_Elementwise):
    """tanh(x), element-wise."""

    _keeps_output = True
    _forward_op, _backward_op = staticmethod(ops.tanh_forward), staticmethod(ops.tanh_backward)


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope * x otherwise (torch's default slope 0.01)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _name(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"

    _forward_op, _backward_op = staticmethod(ops.leaky_relu_forward), staticmethod(ops.leaky_relu_backward)

    def _op_args(self, x) -> tuple:
        return (self.negative_slope,)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Identity(_Elementwise):
    """Returns its input (torch's placeholder; any arguments are ignored, as there)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    _forward_op, _backward_op = staticmethod(ops.identity_forward), staticmethod(ops.identity_backward)


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

    _forward_op, _backward_op = staticmethod(ops.softmax_forward), staticmethod(ops.softmax_backward)

    def _op_args(self, x) -> tuple:
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{self._name()}: dim out of range for input of shape {x.shape}")
        return (self.dim,)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
