"""AvgPool2d and AdaptiveAvgPool2d (torch's arguments and window rules); MaxPool2d lives in ``layers``."""

from __future__ import annotations

from .. import ops
from ..ops import _checks
from ..ops._checks import pair, show_pair
from .module import OpPair


class AvgPool2d(OpPair):
    """Mean over (KH, KW) windows of (N, C, H, W); stride defaults to kernel_size, zero padding of at most
    half the kernel; ``count_include_pad`` counts the padding in the divisor (torch's default),
    ``divisor_override`` replaces the divisor. ``ceil_mode=True`` is not supported."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size, "AvgPool2d: kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "AvgPool2d: stride", 1)
        self.padding = pair(padding, "AvgPool2d: padding", 0)
        _checks.check_pool_padding(self.padding, self.kernel_size, "AvgPool2d")
        if ceil_mode:
            raise ValueError("AvgPool2d: ceil_mode=True is not supported (only torch's default, False)")
        if divisor_override is not None and (isinstance(divisor_override, bool) or int(divisor_override) < 1):
            raise ValueError(f"AvgPool2d: divisor_override must be a positive int or None, got {divisor_override!r}")
        self.ceil_mode = False
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = None if divisor_override is None else int(divisor_override)

    _forward_op = staticmethod(ops.avgpool2d_forward)
    _backward_op = staticmethod(ops.avgpool2d_backward)

    def _op_args(self, x) -> tuple:
        return self.kernel_size, self.stride, self.padding, self.count_include_pad, self.divisor_override

    def _name(self) -> str:
        return f"AvgPool2d(kernel_size={show_pair(self.kernel_size)})"

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"count_include_pad={self.count_include_pad}")


class AdaptiveAvgPool2d(OpPair):
    """Mean over torch's adaptive windows, so the output is ``output_size`` (an int, a pair, or a pair with
    None to keep that input size) whatever the input size; ``AdaptiveAvgPool2d(1)`` is the global average."""

    def __init__(self, output_size) -> None:
        super().__init__()
        ops.avgpool.adaptive_output_size(output_size, 1, 1)  # validates
        self.output_size = output_size

    _forward_op = staticmethod(ops.adaptive_avgpool2d_forward)
    _backward_op = staticmethod(ops.adaptive_avgpool2d_backward)

    def _op_args(self, x) -> tuple:
        return (self.output_size,)

    def _name(self) -> str:
        return f"AdaptiveAvgPool2d(output_size={self.output_size})"

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
