"""The math of every layer, as forward/backward function pairs: ``f_forward(...) -> (out, cache)``
and ``f_backward(dout, cache) -> grads``. Fast versions here, obvious twins in ``ops.naive``."""

from .activation import dropout_backward, dropout_forward, relu_backward, relu_forward
from .avgpool import adaptive_avgpool2d_backward, adaptive_avgpool2d_forward, avgpool2d_backward, avgpool2d_forward
from .nonlinear import (identity_backward, identity_forward, leaky_relu_backward, leaky_relu_forward,
                        sigmoid_backward, sigmoid_forward, softmax_backward, softmax_forward, tanh_backward,
                        tanh_forward)
from .batchnorm import batchnorm_backward, batchnorm_forward, update_running_stats
from .conv import conv2d_backward, conv2d_forward
from .linear import linear_backward, linear_forward
from .loss import log_softmax_backward, log_softmax_forward, nll_loss, softmax_cross_entropy
from .pool import maxpool2d_backward, maxpool2d_forward

__all__ = [
    "avgpool2d_forward",
    "avgpool2d_backward",
    "adaptive_avgpool2d_forward",
    "adaptive_avgpool2d_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "softmax_forward",
    "softmax_backward",
    "identity_forward",
    "identity_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "update_running_stats",
    "conv2d_forward",
    "conv2d_backward",
    "linear_forward",
    "linear_backward",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "relu_forward",
    "relu_backward",
    "dropout_forward",
    "dropout_backward",
    "log_softmax_forward",
    "log_softmax_backward",
    "softmax_cross_entropy",
    "nll_loss",
]
