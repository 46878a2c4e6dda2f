"""Weight initialisation with the same distributions as ``torch.nn.init``, drawn from a NumPy Generator.

torch's default for ``Linear`` and ``Conv2d`` is ``kaiming_uniform_(w, a=sqrt(5))``, i.e.
``w ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, and ``b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
Functions ending in ``_`` fill their argument (a Parameter or an ndarray) in place and return it.
"""

from __future__ import annotations

import math

import numpy as np

from ..random import resolve_rng
from .module import Parameter

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch's table): relu sqrt(2), tanh 5/3, leaky_relu sqrt(2/(1+a^2))."""
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _array(t: Parameter | np.ndarray) -> np.ndarray:
    return t.data if isinstance(t, Parameter) else t


def fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (torch's definition)."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform_(t, a: float = 0.0, b: float = 1.0, rng=None):
    arr = _array(t)
    arr[...] = resolve_rng(rng).uniform(a, b, size=arr.shape)
    return t


def normal_(t, mean: float = 0.0, std: float = 1.0, rng=None):
    arr = _array(t)
    arr[...] = resolve_rng(rng).normal(mean, std, size=arr.shape)
    return t


def zeros_(t):
    _array(t)[...] = 0
    return t


def constant_(t, value: float):
    _array(t)[...] = value
    return t


def _fan(shape, mode: str) -> int:
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(_array(t).shape, mode))
    return uniform_(t, -bound, bound, rng)


def kaiming_normal_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(_array(t).shape, mode))
    return normal_(t, 0.0, std, rng)


def xavier_uniform_(t, gain: float = 1.0, rng=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(_array(t).shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, rng)


def xavier_normal_(t, gain: float = 1.0, rng=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(_array(t).shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def torch_default_(weight, bias=None, rng=None) -> None:
    """torch's reset_parameters for Linear/Conv: kaiming_uniform_(a=sqrt(5)) and U(+-1/sqrt(fan_in)) bias."""
    rng = resolve_rng(rng)
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = fan_in_and_fan_out(_array(weight).shape)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, rng)
