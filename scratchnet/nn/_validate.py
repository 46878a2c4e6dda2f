"""Input and upstream-gradient checks shared by the layers added for ResNet (each error names the layer)."""

from __future__ import annotations

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def check_input(x, who: str, dtype: np.dtype | None = None) -> np.ndarray:
    """x must be a float32/float64 ndarray (of ``dtype`` when given, the layer's parameter dtype)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise ValueError(f"{who}: expected a float32 or float64 input, got dtype {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(
            f"{who}: input dtype {x.dtype} does not match the layer's {dtype} parameters "
            f"(convert the input with x.astype(np.{dtype}) or the model with model.to(np.{x.dtype}))"
        )
    return x


def check_upstream(dout, shape: tuple[int, ...], dtype: np.dtype, who: str) -> np.ndarray:
    """dL/dout must be an ndarray shaped like the forward's output, in its dtype."""
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"{who}.backward: expected the upstream gradient as a numpy.ndarray, got {type(dout).__name__}")
    if dout.shape != tuple(shape):
        raise ValueError(f"{who}.backward: expected an upstream gradient of shape {tuple(shape)} (the output's), got {dout.shape}")
    if dout.dtype != dtype:
        raise ValueError(f"{who}.backward: expected an upstream gradient of dtype {dtype} (the output's), got {dout.dtype}")
    return dout
