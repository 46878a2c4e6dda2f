"""The three MNIST models, named as their torch twins in ``torchref.models`` (same state_dict keys).

- ``FFN``: 784-128-64-10 with ReLU and Dropout(0.2) after the first hidden layer (the workshop's SimpleNN).
- ``SeedCNN``: the course CNN, two 3x3 conv + ReLU + 2x2 max-pool stages and one Linear(784, 10).
- ``ExamplesNet``: the net of the official PyTorch MNIST example (1,199,882 parameters), ending in log-softmax.
- ``resnet18``: torchvision's ResNet18 (same state_dict names and shapes, buffers included), any input
  channels and classes; the workshop's MNIST version is ``resnet18(num_classes=10, in_channels=1)``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .nn import (AdaptiveAvgPool2d, BasicBlock, BatchNorm2d, Conv2d, CrossEntropyLoss, Dropout, Flatten, Linear,
                 LogSoftmax, MaxPool2d, Module, NLLLoss, ReLU, Sequential, init)
from .nn.residual import backward_through
from .random import resolve_rng


class MNISTModel(Sequential):
    """A Sequential with the facts a trainer needs: input shape and the matching loss."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    outputs_log_probs = False

    def make_loss(self):
        """NLLLoss for nets that end in log-softmax, CrossEntropyLoss for nets that output logits."""
        return NLLLoss() if self.outputs_log_probs else CrossEntropyLoss()


class FFN(MNISTModel):
    """Flatten -> Linear(784, 128) -> ReLU -> Dropout(0.2) -> Linear(128, 64) -> ReLU -> Linear(64, 10)."""

    def __init__(self, dropout: float = 0.2, dtype=np.float32, rng=None) -> None:
        rng = resolve_rng(rng)
        super().__init__(
            OrderedDict(
                flatten=Flatten(),
                fc1=Linear(784, 128, dtype=dtype, rng=rng),
                relu1=ReLU(),
                dropout=Dropout(dropout, rng=rng),
                fc2=Linear(128, 64, dtype=dtype, rng=rng),
                relu2=ReLU(),
                fc3=Linear(64, 10, dtype=dtype, rng=rng),
            )
        )


class SeedCNN(MNISTModel):
    """Conv(1->8, 3, p1) -> ReLU -> MaxPool(2) -> Conv(8->16, 3, p1) -> ReLU -> MaxPool(2) -> Linear(784, 10)."""

    def __init__(self, dtype=np.float32, rng=None) -> None:
        rng = resolve_rng(rng)
        super().__init__(
            OrderedDict(
                conv1=Conv2d(1, 8, 3, padding=1, dtype=dtype, rng=rng),
                relu1=ReLU(),
                pool1=MaxPool2d(2),
                conv2=Conv2d(8, 16, 3, padding=1, dtype=dtype, rng=rng),
                relu2=ReLU(),
                pool2=MaxPool2d(2),
                flatten=Flatten(),
                fc=Linear(16 * 7 * 7, 10, dtype=dtype, rng=rng),
            )
        )


class ExamplesNet(MNISTModel):
    """The official PyTorch MNIST example net; outputs log-probabilities (train it with NLLLoss).

    Conv(1->32, 3) -> ReLU -> Conv(32->64, 3) -> ReLU -> MaxPool(2) -> Dropout(0.25) -> Flatten ->
    Linear(9216, 128) -> ReLU -> Dropout(0.5) -> Linear(128, 10) -> LogSoftmax.
    """

    outputs_log_probs = True

    def __init__(self, dropout1: float = 0.25, dropout2: float = 0.5, dtype=np.float32, rng=None) -> None:
        rng = resolve_rng(rng)
        super().__init__(
            OrderedDict(
                conv1=Conv2d(1, 32, 3, dtype=dtype, rng=rng),
                relu1=ReLU(),
                conv2=Conv2d(32, 64, 3, dtype=dtype, rng=rng),
                relu2=ReLU(),
                pool=MaxPool2d(2),
                dropout1=Dropout(dropout1, rng=rng),
                flatten=Flatten(),
                fc1=Linear(9216, 128, dtype=dtype, rng=rng),
                relu3=ReLU(),
                dropout2=Dropout(dropout2, rng=rng),
                fc2=Linear(128, 10, dtype=dtype, rng=rng),
                log_softmax=LogSoftmax(dim=1),
            )
        )


class ResNet(Module):
    """torchvision's ResNet with BasicBlocks (v1.5: the stride sits in the block's first 3x3 conv).

    conv1 (7x7, stride 2, pad 3, no bias) -> bn1 -> relu -> maxpool (3, 2, 1) -> layer1..layer4
    (64, 128, 256, 512 planes; layer2-4 start with stride 2 and a 1x1 downsample) -> avgpool
    (global) -> flatten -> fc. Initialised as torchvision does: convs Kaiming-normal (fan_out, relu),
    BatchNorm weight 1 and bias 0, fc torch's Linear default. ``backward(dout, input_grad=False)``
    stops at the first layer that has a trainable parameter (everything below frozen is not visited).
    """

    outputs_log_probs = False

    def __init__(self, layers: tuple[int, int, int, int] = (2, 2, 2, 2), num_classes: int = 1000,
                 in_channels: int = 3, dtype=np.float32, rng=None) -> None:
        super().__init__()
        rng = resolve_rng(rng)
        self.input_shape = (in_channels, 28, 28) if in_channels == 1 else (in_channels, 224, 224)
        self.inplanes = 64
        self.conv1 = Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False, dtype=dtype, rng=rng)
        self.bn1 = BatchNorm2d(64, dtype=dtype)
        self.relu = ReLU()
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0], 1, dtype, rng)
        self.layer2 = self._make_layer(128, layers[1], 2, dtype, rng)
        self.layer3 = self._make_layer(256, layers[2], 2, dtype, rng)
        self.layer4 = self._make_layer(512, layers[3], 2, dtype, rng)
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.flatten = Flatten()
        self.fc = Linear(512, num_classes, dtype=dtype, rng=rng)
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", rng=rng)

    def _make_layer(self, planes: int, blocks: int, stride: int, dtype, rng) -> Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = Sequential(
                Conv2d(self.inplanes, planes, 1, stride=stride, bias=False, dtype=dtype, rng=rng),
                BatchNorm2d(planes, dtype=dtype),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample, dtype=dtype, rng=rng)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, dtype=dtype, rng=rng) for _ in range(1, blocks)]
        return Sequential(*layers)

    def _chain(self) -> list[Module]:
        return [self.conv1, self.bn1, self.relu, self.maxpool, self.layer1, self.layer2, self.layer3, self.layer4,
                self.avgpool, self.flatten, self.fc]

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] != self.conv1.in_channels:
            raise ValueError(f"ResNet: expected input (N, {self.conv1.in_channels}, H, W), got {x.shape}")
        for layer in self._chain():
            x = layer(x)
        return x

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backprop through the stages in reverse (each BasicBlock forks and joins inside); returns dL/dx,
        or None with ``input_grad=False``."""
        return backward_through(self._chain(), dout, input_grad)

    def make_loss(self):
        return CrossEntropyLoss()


def resnet18(num_classes: int = 1000, in_channels: int = 3, dtype=np.float32, rng=None) -> ResNet:
    """torchvision's ``resnet18``: state_dict keys and shapes equal theirs, so its weights load directly.

    The workshop's MNIST adaptation is ``resnet18(num_classes=10, in_channels=1)`` (conv1 becomes
    ``Conv2d(1, 64, 7, 2, 3, bias=False)`` and fc ``Linear(512, 10)``).
    """
    return ResNet((2, 2, 2, 2), num_classes=num_classes, in_channels=in_channels, dtype=dtype, rng=rng)


MODELS: dict[str, type[MNISTModel]] = {"ffn": FFN, "seedcnn": SeedCNN, "examplesnet": ExamplesNet}


def build_model(name: str, **kwargs) -> MNISTModel:
    """Build a model by its lower-case name: 'ffn', 'seedcnn' or 'examplesnet'."""
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(MODELS)}")
    return MODELS[key](**kwargs)
