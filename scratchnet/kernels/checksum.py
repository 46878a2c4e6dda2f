"""A checksum of an array's raw bits: how a layer notices that its saved input changed in place.

``checksum(words)`` reads the array once (about 35 GB/s on the benchmark machine: 5 us for a batch of
60 MNIST images in float32) and returns two 64-bit sums of its 32-bit words ``v[i]``:
``s0 = sum v[i]`` and ``s1 = sum (2i + 1) * v[i]`` (mod 2**64). Changing any one element always
changes ``s1`` (an odd multiplier is invertible mod 2**64), moving elements changes it too, and a
change of many elements goes unnoticed only if both sums cancel by coincidence (odds of about 2**-64
for unrelated values). The bits are read, not the values, so NaN and -0.0 count like any other value.
"""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def checksum(words: np.ndarray) -> tuple:
    """(s0, s1) over ``words``, a 1-D uint32 view of a C-contiguous array. One thread, one pass."""
    s0 = np.uint64(0)
    s1 = np.uint64(0)
    for i in range(words.shape[0]):
        v = np.uint64(words[i])
        s0 += v
        s1 += v * np.uint64(2 * i + 1)
    return s0, s1
