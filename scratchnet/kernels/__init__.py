"""Numba kernels: the hot loops, nothing else.

Plain arrays in, arrays out, ``cache=True``. Parallel loops run over independent outputs
(batch items, channel pairs), and every sum is taken in a fixed order, so results are
bit-for-bit the same for a given input whatever the number of threads.
"""

from .conv import conv2d_backward_input, conv2d_backward_weight, conv2d_forward
from .pool import maxpool2d_backward, maxpool2d_forward

__all__ = [
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "maxpool2d_forward",
    "maxpool2d_backward",
]
