"""Numba kernels: the hot loops, nothing else.

Plain arrays in, arrays out, ``cache=True``. Parallel loops run over independent outputs
(batch items, channel pairs), and every sum is taken in a fixed order, so results are
bit-for-bit the same for a given input whatever the number of threads.

Importing this package also tunes glibc's malloc to keep freed blocks for reuse (see ``_malloc``):
without it, page faults on re-fetched memory cost a third of a training step.
"""

from ._malloc import tune_malloc

tune_malloc()

from .conv import (
    conv2d_backward_input,
    conv2d_backward_weight_s1,
    conv2d_forward,
    conv2d_forward_s1,
    conv2d_forward_crops,
)
from .activation import dropout_apply, relu_backward, relu_forward
from .checksum import checksum
from .avgpool import avgpool2d_backward, avgpool2d_forward
from .im2row import im2row, nchw_to_rows, row2im, rows_to_nchw
from .batchnorm import batchnorm_apply, batchnorm_backward_input, batchnorm_backward_sums, batchnorm_stats
from .linear import linear_forward, matmul
from .pool import maxpool2d_backward, maxpool2d_forward, maxpool2d_forward_2x2
from .optim import adadelta_update, adam_update, sgd_update

__all__ = [
    "conv2d_forward",
    "conv2d_forward_s1",
    "conv2d_forward_crops",
    "conv2d_backward_weight_s1",
    "conv2d_backward_input",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward_2x2",
    "linear_forward",
    "matmul",
    "relu_forward",
    "relu_backward",
    "dropout_apply",
    "checksum",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "im2row",
    "row2im",
    "rows_to_nchw",
    "nchw_to_rows",
    "batchnorm_stats",
    "batchnorm_apply",
    "batchnorm_backward_sums",
    "batchnorm_backward_input",
    "adam_update",
    "adadelta_update",
    "sgd_update",
]
