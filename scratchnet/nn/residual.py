"""Residual composition: ResNet's BasicBlock, whose forward is not a chain and whose backward forks.

``out = relu(F(x) + S(x))`` with the main path ``F = bn2 . conv2 . relu . bn1 . conv1`` and the
shortcut ``S`` the identity or a 1x1 stride-2 ``Sequential(conv, bn)``. By the chain rule the
gradient of the sum goes unchanged into both paths, and since x feeds both, its gradient is the sum
of what comes back down each: ``dL/dx = dF^T g + dS^T g`` (``dS^T g = g`` for the identity).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .layers import Conv2d, ReLU
from .module import Module, needs_grad
from .normalization import BatchNorm2d


def forget_forward(module: Module) -> None:
    """Drop the caches a forward left in ``module`` and its children (nothing will go back through them)."""
    module._forget()


def backward_through(layers: Sequence[Module], dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
    """Backprop ``dout`` through ``layers`` (applied first to last in the forward), last to first.

    With ``input_grad=False`` nobody wants dL/d(input of the first layer): the walk stops at the
    earliest layer with a trainable parameter (its own input gradient is skipped too), and the frozen
    layers below it are not visited at all; returns None then.
    """
    first = 0
    if not input_grad:
        first = next((i for i, m in enumerate(layers) if needs_grad(m)), len(layers))
        for m in layers[:first]:
            forget_forward(m)
    for i in range(len(layers) - 1, first - 1, -1):
        if i == first and not input_grad:
            layers[i].backward(dout, input_grad=False)
            return None
        dout = layers[i].backward(dout)
    return dout if input_grad else None


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, dtype=np.float32, rng=None) -> Conv2d:
    """3x3 convolution, padding 1, no bias (BatchNorm follows)."""
    return Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False, dtype=dtype, rng=rng)


class BasicBlock(Module):
    """torchvision's BasicBlock: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    ``conv1`` carries the stride; ``downsample`` (None: identity shortcut) is the block's
    ``Sequential(Conv2d(inplanes, planes, 1, stride, bias=False), BatchNorm2d(planes))`` when the shape
    changes. state_dict names are torchvision's: conv1, bn1, conv2, bn2, downsample.0, downsample.1.
    (torchvision applies one ``relu`` module twice; here each use has its own ReLU, ``relu`` and
    ``relu_out``, because a layer keeps the mask of its own forward for the backward.)
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Module | None = None,
                 dtype=np.float32, rng=None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride, dtype=dtype, rng=rng)
        self.bn1 = BatchNorm2d(planes, dtype=dtype)
        self.relu = ReLU()
        self.conv2 = conv3x3(planes, planes, dtype=dtype, rng=rng)
        self.bn2 = BatchNorm2d(planes, dtype=dtype)
        self.downsample = downsample
        self.relu_out = ReLU()
        self.stride = stride

    def _main_path(self) -> list[Module]:
        return [self.conv1, self.bn1, self.relu, self.conv2, self.bn2]

    def forward(self, x: np.ndarray) -> np.ndarray:
        main = x
        for layer in self._main_path():
            main = layer(main)
        shortcut = x if self.downsample is None else self.downsample(x)
        if main.shape != shortcut.shape:
            raise ValueError(
                f"BasicBlock: the main path gives {main.shape} but the shortcut {shortcut.shape}; a block that "
                "changes the shape needs a downsample"
            )
        return self.relu_out(main + shortcut)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Return dL/dx (None with ``input_grad=False``); parameter gradients accumulate on the way.

        The gradient of the final sum forks: the same g goes down the main path and the shortcut,
        and the two gradients that come back at the block's input add up.
        """
        try:
            g = self.relu_out.backward(dout)  # dL/d(main + shortcut)
        except (ValueError, TypeError) as err:  # a wrong upstream gradient: say which block was given it
            raise type(err)(f"BasicBlock(stride={self.stride}): {err}") from None

        d_main = backward_through(self._main_path(), g, input_grad)  # down the main path
        if self.downsample is None:
            d_shortcut = g  # the identity passes g through unchanged
        else:
            d_shortcut = backward_through([self.downsample], g, input_grad)  # down the 1x1 conv + bn

        if not input_grad:
            return None
        return d_main + d_shortcut  # x fed both paths: its gradient is the sum of theirs

    def extra_repr(self) -> str:
        return f"stride={self.stride}"
