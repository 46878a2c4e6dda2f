"""The layers: Linear, Conv2d, MaxPool2d, ReLU, Dropout, Flatten, LogSoftmax.

Each wraps a forward/backward pair from ``scratchnet.ops``, checks its input and names itself in
every error: ``Conv2d(in_channels=1): expected input (N, 1, H, W), got (N, 3, 28, 28)``.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._checks import pair
from ..random import resolve_rng
from . import init
from .module import Module, Parameter

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _float_dtype(dtype, who: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in _FLOATS:
        raise ValueError(f"{who}: dtype must be float32 or float64, got {dt}")
    return dt


def _check_array(x, who: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise ValueError(f"{who}: expected a float32 or float64 input, got dtype {x.dtype}")
    return x


def _check_dtype(x: np.ndarray, param: Parameter, who: str) -> None:
    if x.dtype != param.dtype:
        raise ValueError(
            f"{who}: input dtype {x.dtype} does not match the layer's {param.dtype} parameters "
            f"(convert the input with x.astype(np.{param.dtype}) or the model with model.to(np.{x.dtype}))"
        )


class Linear(Module):
    """y = x W^T + b, with W (out_features, in_features) and b (out_features,) as in torch.

    Input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, rng=None) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: in_features and out_features must be >= 1, got {in_features}, {out_features}")
        dt = _float_dtype(dtype, "Linear")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dt))
        self.bias = Parameter(np.empty(out_features, dtype=dt)) if bias else None
        init.torch_default_(self.weight, self.bias, rng)

    def _name(self) -> str:
        return f"Linear(in_features={self.in_features})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_array(x, self._name())
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self._name()}: expected input (*, {self.in_features}), got {x.shape}")
        _check_dtype(x, self.weight, self._name())
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        out, cache = ops.linear_forward(x2, self.weight.data, None if self.bias is None else self.bias.data)
        self._save_cache((cache, lead))
        return out.reshape(*lead, self.out_features)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Accumulate dL/dweight and dL/dbias; return dL/dx, or None with ``input_grad=False``."""
        cache, lead = self._pop_cache()
        trainable = self.weight.requires_grad or (self.bias is not None and self.bias.requires_grad)
        dx, dw, db = ops.linear_backward(dout.reshape(-1, self.out_features), cache, need_dx=input_grad,
                                         need_dw=trainable)
        if trainable:  # frozen parameters: their gradients are not even computed
            self.weight.accumulate_grad(dw)
            if self.bias is not None:
                self.bias.accumulate_grad(db)
        return None if dx is None else dx.reshape(*lead, self.in_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
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
        dt = _float_dtype(dtype, "Conv2d")
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
        who = self._name()
        _check_array(x, who)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{who}: expected input (N, {self.in_channels}, H, W), got {x.shape}")
        _check_dtype(x, self.weight, who)
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(
                f"{who}: input {x.shape[2]}x{x.shape[3]} (padding {self.padding}) is smaller than the kernel {kh}x{kw}"
            )
        out, cache = ops.conv2d_forward(
            x, self.weight.data, None if self.bias is None else self.bias.data, self.stride, self.padding
        )
        self._save_cache(cache)
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Accumulate dL/dweight and dL/dbias; return dL/dx, or None with ``input_grad=False``."""
        trainable = self.weight.requires_grad or (self.bias is not None and self.bias.requires_grad)
        dx, dw, db = ops.conv2d_backward(dout, self._pop_cache(), need_dx=input_grad, need_dw=trainable)
        if trainable:  # frozen parameters: their gradients are not even computed
            self.weight.accumulate_grad(dw)
            if self.bias is not None:
                self.bias.accumulate_grad(db)
        return dx

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class MaxPool2d(Module):
    """Max over (KH, KW) windows of (N, C, H, W); stride defaults to kernel_size, padding <= kernel/2."""

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
        if self.padding[0] > self.kernel_size[0] // 2 or self.padding[1] > self.kernel_size[1] // 2:
            raise ValueError(
                f"MaxPool2d: padding {self.padding} must be at most half the kernel size {self.kernel_size}"
            )

    def _name(self) -> str:
        return f"MaxPool2d(kernel_size={self.kernel_size})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        who = self._name()
        _check_array(x, who)
        if x.ndim != 4:
            raise ValueError(f"{who}: expected input (N, C, H, W), got {x.shape}")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(f"{who}: input {x.shape[2]}x{x.shape[3]} is smaller than the kernel {kh}x{kw}")
        out, cache = ops.maxpool2d_forward(x, self.kernel_size, self.stride, self.padding)
        self._save_cache(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return ops.maxpool2d_backward(dout, self._pop_cache())

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class ReLU(Module):
    """max(x, 0), element-wise; any shape."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, mask = ops.relu_forward(_check_array(x, "ReLU"))
        self._save_cache(mask)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return ops.relu_backward(dout, self._pop_cache())


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
        out, mask = ops.dropout_forward(_check_array(x, "Dropout"), self.p, self.rng, self.training)
        self._save_cache((mask,))
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        (mask,) = self._pop_cache()
        return ops.dropout_backward(dout, mask)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge dimensions start_dim..end_dim (default: all but the batch) into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_array(x, "Flatten")
        nd = x.ndim
        s = self.start_dim % nd if nd else 0
        e = self.end_dim % nd if nd else 0
        if s > e:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} for {x.shape}")
        self._save_cache(x.shape)
        return x.reshape(*x.shape[:s], -1, *x.shape[e + 1 :])

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._pop_cache())

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class LogSoftmax(Module):
    """log softmax over the classes of (N, K) scores (dim=1); pair it with NLLLoss."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        if dim not in (1, -1):
            raise ValueError(f"LogSoftmax: only dim=1 over (N, K) input is supported, got dim={dim}")
        self.dim = dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_array(x, "LogSoftmax")
        if x.ndim != 2:
            raise ValueError(f"LogSoftmax(dim=1): expected input (N, K), got {x.shape}")
        out, cache = ops.log_softmax_forward(x)
        self._save_cache(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return ops.log_softmax_backward(dout, self._pop_cache())

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
