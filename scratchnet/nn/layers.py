"""The layers: Linear, Conv2d, MaxPool2d, ReLU, Dropout, Flatten, LogSoftmax.

Each wraps a forward/backward pair from ``scratchnet.ops``. The ops check every argument (see
``scratchnet.ops._checks`` for what is accepted and why); a layer calls them through ``Module._op``,
which puts the layer's name before the message of what they raise:
``Conv2d(in_channels=1): expected input (N, 1, H, W), got (2, 3, 28, 28)``. Every ``backward`` takes
``input_grad`` (False: return None instead of dL/dx) and checks the upstream gradient against the
forward output's shape and dtype. A batch of 0 goes through every layer, as in torch.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..ops import _checks
from ..ops._checks import pair, show_pair
from ..random import resolve_rng
from . import init
from .module import Module, OpPair, Parameter


def _bias(layer: Module) -> np.ndarray | None:
    return None if layer.bias is None else layer.bias.data


def _callers(saved: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """``saved`` (the input array an op kept for backward) when it may be the caller's memory: x itself or
    a view (views have a base). None when the op made a copy of its own, which nobody else can change."""
    return saved if saved is x or saved.base is not None else None


class _WeightBiasLayer(Module):
    """What Linear and Conv2d do alike around their ops: call the forward op with the weight and bias, keep
    its cache for backward; call the backward op and add its dW, db into the parameters' ``.grad``."""

    def _forward_op(self, op, x: np.ndarray, *args) -> np.ndarray:
        out, cache = self._op(op, x, self.weight.data, _bias(self), *args)
        self._save_cache(cache, keep=_callers(cache[0], x))
        return out

    def _backward_op(self, op, dout: np.ndarray, input_grad: bool) -> np.ndarray | None:
        trainable = self.weight.requires_grad or (self.bias is not None and self.bias.requires_grad)
        dx, dw, db = self._op(op, dout, self._pop_cache(), need_dx=input_grad, need_dw=trainable)
        if trainable:  # frozen parameters: their gradients are not even computed
            self.weight.accumulate_grad(dw)
            if self.bias is not None:
                self.bias.accumulate_grad(db)
        return dx


class Linear(_WeightBiasLayer):
    """y = x W^T + b, with W (out_features, in_features) and b (out_features,) as in torch.

    Input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, rng=None) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: in_features and out_features must be >= 1, got {in_features}, {out_features}")
        dt = _checks.float_dtype(dtype, "Linear")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dt))
        self.bias = Parameter(np.empty(out_features, dtype=dt)) if bias else None
        init.torch_default_(self.weight, self.bias, rng)

    def _name(self) -> str:
        return f"Linear(in_features={self.in_features})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward_op(ops.linear_forward, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Accumulate dL/dweight and dL/dbias; return dL/dx, or None with ``input_grad=False``."""
        return self._backward_op(ops.linear_backward, dout, input_grad)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(_WeightBiasLayer):
    """2-D convolution (cross-correlation) over (N, C_in, H, W), weight (C_out, C_in, KH, KW) as in torch.

    ``kernel_size``, ``stride`` and ``padding`` take an int or an (h, w) pair; ``padding`` also takes
    ``"valid"`` (0) or ``"same"`` (stride 1, odd kernel sizes).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        dtype=np.float32,
        rng=None,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv2d: in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}")
        dt = _checks.float_dtype(dtype, "Conv2d")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "Conv2d: kernel_size", 1)
        self.stride = pair(stride, "Conv2d: stride", 1)
        self.padding = self._resolve_padding(padding)
        self.weight = Parameter(np.empty((out_channels, in_channels, *self.kernel_size), dtype=dt))
        self.bias = Parameter(np.empty(out_channels, dtype=dt)) if bias else None
        init.torch_default_(self.weight, self.bias, rng)

    def _resolve_padding(self, padding) -> tuple[int, int]:
        if padding == "valid":
            return (0, 0)
        if padding == "same":
            kh, kw = self.kernel_size
            if self.stride != (1, 1) or kh % 2 == 0 or kw % 2 == 0:
                raise ValueError(
                    f"Conv2d: padding='same' needs stride 1 and odd kernel sizes, got stride {self.stride}, "
                    f"kernel_size {self.kernel_size}"
                )
            return (kh // 2, kw // 2)
        return pair(padding, "Conv2d: padding", 0)

    def _name(self) -> str:
        return f"Conv2d(in_channels={self.in_channels})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward_op(ops.conv2d_forward, x, self.stride, self.padding)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Accumulate dL/dweight and dL/dbias; return dL/dx, or None with ``input_grad=False``."""
        return self._backward_op(ops.conv2d_backward, dout, input_grad)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class MaxPool2d(OpPair):
    """Max over (KH, KW) windows of (N, C, H, W); stride defaults to kernel_size, padding <= kernel/2. Backward
    routes dout to each window's winner (the first maximum, as torch)."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size, "MaxPool2d: kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "MaxPool2d: stride", 1)
        self.padding = pair(padding, "MaxPool2d: padding", 0)
        _checks.check_pool_padding(self.padding, self.kernel_size, "MaxPool2d")

    def _name(self) -> str:
        return f"MaxPool2d(kernel_size={show_pair(self.kernel_size)})"

    _forward_op, _backward_op = staticmethod(ops.maxpool2d_forward), staticmethod(ops.maxpool2d_backward)

    def _op_args(self, x) -> tuple:
        return self.kernel_size, self.stride, self.padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class ReLU(OpPair):
    """max(x, 0), element-wise; any shape. Backward: dout where the input was > 0, else 0."""

    _forward_op, _backward_op = staticmethod(ops.relu_forward), staticmethod(ops.relu_backward)


class Dropout(Module):
    """Inverted dropout: zero with probability p and scale by 1/(1-p) in training, identity in eval.

    Masks are drawn from ``rng`` (a Generator or seed; the library default generator if None).
    """

    def __init__(self, p: float = 0.5, rng=None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.rng = resolve_rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, mask = self._op(ops.dropout_forward, x, self.p, self.rng, self.training)
        self._save_cache((mask, out.shape, out.dtype))
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout times the forward's scaled mask (dout itself in eval); None with ``input_grad=False``."""
        mask, shape, dtype = self._pop_cache()
        if mask is not None:  # the op checks dout against the mask
            dx = self._op(ops.dropout_backward, dout, mask)
        else:  # the identity of eval has no mask: dout is checked here
            dx = self._op(_checks.upstream, dout, shape, dtype)
        return dx if input_grad else None

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge dimensions start_dim..end_dim (default: all but the batch) into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        """A view of x when its strides allow (as torch's flatten), else a copy; a batch of 0 stays empty."""
        self._op(_checks.float_array, x)
        nd = max(x.ndim, 1)  # torch treats a 0-d tensor as 1-d here
        for d in (self.start_dim, self.end_dim):
            if not -nd <= d < nd:
                raise ValueError(
                    f"{self._name()}: dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                    f"but got {d}) for input of shape {x.shape}"
                )
        s, e = self.start_dim % nd, self.end_dim % nd
        if s > e:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} for {x.shape}")
        shape = x.shape if x.ndim else (1,)
        out_shape = (*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :])
        out = x.reshape(out_shape)
        self._save_cache((x.shape, out_shape, x.dtype))
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout reshaped back to the input's shape; None with ``input_grad=False``."""
        x_shape, out_shape, dtype = self._pop_cache()
        dout = self._op(_checks.upstream, dout, out_shape, dtype)
        return dout.reshape(x_shape) if input_grad else None

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class LogSoftmax(Module):
    """log softmax over the classes of (N, K) scores (dim=1); pair it with NLLLoss."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        if dim not in (1, -1):
            raise ValueError(f"LogSoftmax: only dim=1 over (N, K) input is supported, got dim={dim}")
        self.dim = dim

    def _name(self) -> str:
        return "LogSoftmax(dim=1)"

    def _kept_what(self) -> str:
        return "the output it returned"

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = self._op(ops.log_softmax_forward, x)
        self._save_cache(cache, keep=out)  # backward reads the output, which the caller holds
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout - softmax * sum(dout) per row; None with ``input_grad=False``."""
        cache = self._pop_cache()
        dx = self._op(ops.log_softmax_backward, dout, cache)
        return dx if input_grad else None

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
