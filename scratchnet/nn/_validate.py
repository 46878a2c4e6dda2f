"""Input and upstream-gradient checks for the layers whose ops trust their callers (the ResNet layers:
BatchNorm, average pooling, the smooth activations), with the layer's name in front of every message.

The rules and messages are those of ``scratchnet.ops._checks`` (the one home of argument checks);
these two helpers only add the name, as ``Module._named`` does for the layers whose ops check.
"""

from __future__ import annotations

import numpy as np

from ..ops import _checks


def check_input(x, who: str, dtype: np.dtype | None = None) -> np.ndarray:
    """x must be a float32/float64 ndarray (of ``dtype`` when given, the layer's parameter dtype)."""
    try:
        _checks.float_array(x)
        if dtype is not None:
            _checks.same_dtype(x, dtype)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{who}: {err}") from None
    return x


def check_upstream(dout, shape: tuple[int, ...], dtype: np.dtype, who: str) -> np.ndarray:
    """dL/dout must be an ndarray shaped like the forward's output, in its dtype; returned ready for a
    kernel (C-contiguous, copied only if it is not)."""
    try:
        return _checks.upstream(dout, tuple(shape), dtype)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{who}: {err}") from None
