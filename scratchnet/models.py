"""The three MNIST models, named as their torch twins in ``torchref.models`` (same state_dict keys).

- ``FFN``: 784-128-64-10 with ReLU and Dropout(0.2) after the first hidden layer (the workshop's SimpleNN).
- ``SeedCNN``: the course CNN, two 3x3 conv + ReLU + 2x2 max-pool stages and one Linear(784, 10).
- ``ExamplesNet``: the net of the official PyTorch MNIST example (1,199,882 parameters), ending in log-softmax.
- ``SpeedCNN``: the speedrun net (issue 19): two conv + 2x2 max-pool + ReLU stages (BatchNorm optional) and a
  hidden Linear layer, sized to train MNIST to 99 % in a few seconds on two CPU cores.
- ``resnet18``: torchvision's ResNet18 (same state_dict names and shapes, buffers included), any input
  channels and classes; the workshop's MNIST version is ``resnet18(num_classes=10, in_channels=1)``.
- ``ResNet18MNIST``: resnet18 under one of the three fine-tuning protocols (frozen parameters, input
  preparation, BatchNorm mode), the twin of ``torchref.resnet.ResNet18MNIST``.
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


class SpeedCNN(MNISTModel):
    """The speedrun net: Conv(1->c1, k, p=k//2) [-> BatchNorm] -> MaxPool(2) -> ReLU -> Conv(c1->c2, 3, p1)
    [-> BatchNorm] -> MaxPool(2) -> ReLU -> Flatten -> Linear(c2*7*7, hidden) -> ReLU -> Linear(hidden, 10).

    Each max-pool comes before its ReLU: the two commute (ReLU is monotone, so the max of the rectified values is
    the rectified max, and the gradient reaches the same element), and ReLU then touches a quarter of the values.

    ``channels=(c1, c2)``, ``kernel_size`` k of the first conv, ``hidden`` (0: no hidden layer, one
    Linear(c2*7*7, 10) named ``fc``) and ``batch_norm`` (the convs then have no bias, which BatchNorm would
    cancel) shape it; the defaults are the speedrun recipe's
    (``scratchnet.recipes.SPEEDRUN``). The torch twin is ``torchref.models.SpeedCNN`` with the same arguments.
    """

    def __init__(self, channels: tuple[int, int] = (8, 16), kernel_size: int = 3, hidden: int = 128,
                 batch_norm: bool = False, dtype=np.float32, rng=None) -> None:
        rng = resolve_rng(rng)
        c1, c2 = channels
        layers: list[tuple[str, Module]] = [("conv1", Conv2d(1, c1, kernel_size, padding=kernel_size // 2,
                                                             bias=not batch_norm, dtype=dtype, rng=rng))]
        layers += [("bn1", BatchNorm2d(c1, dtype=dtype))] if batch_norm else []
        layers += [("pool1", MaxPool2d(2)), ("relu1", ReLU()), ("conv2", Conv2d(c1, c2, 3, padding=1, bias=not batch_norm, dtype=dtype, rng=rng))]
        layers += [("bn2", BatchNorm2d(c2, dtype=dtype))] if batch_norm else []
        layers += [("pool2", MaxPool2d(2)), ("relu2", ReLU()), ("flatten", Flatten())]
        if hidden:
            layers += [("fc1", Linear(c2 * 7 * 7, hidden, dtype=dtype, rng=rng)), ("relu3", ReLU()),
                       ("fc2", Linear(hidden, 10, dtype=dtype, rng=rng))]
        else:
            layers += [("fc", Linear(c2 * 7 * 7, 10, dtype=dtype, rng=rng))]
        super().__init__(OrderedDict(layers))
        self.config = {"channels": [int(c1), int(c2)], "kernel_size": int(kernel_size), "hidden": int(hidden),
                       "batch_norm": bool(batch_norm)}


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


#: the fine-tuning protocols of the workshop's ResNet18 (``torchref.resnet.PROTOCOLS`` in torch)
PROTOCOLS = ("workshop", "linear-probe", "full")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class InputTransform(Module):
    """Grey digits (N, 1, H, W) to ``channels`` channels, then ``(x - mean) / std`` per channel; no parameters.

    The backward is the chain rule of a copy and a scale: ``dL/dx = sum_c dL/dy_c / std_c`` (a copy sums
    its gradients)."""

    def __init__(self, channels: int = 1, mean: tuple[float, ...] | None = None,
                 std: tuple[float, ...] | None = None) -> None:
        super().__init__()
        self.channels = int(channels)
        # float32 constants, as torch's default tensors hold them (so float64 runs match torch's too)
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
        self.std = None if std is None else np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"InputTransform: expected input (N, 1, H, W), got {x.shape}")
        y = np.repeat(x, self.channels, axis=1) if self.channels != 1 else x
        if self.mean is not None:
            y = ((y - self.mean.astype(x.dtype)) / self.std.astype(x.dtype)).astype(x.dtype, copy=False)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        g = dout / self.std.astype(dout.dtype) if self.std is not None else dout
        return g.sum(axis=1, keepdims=True).astype(dout.dtype, copy=False)


class ResNet18MNIST(Module):
    """``prepare`` (InputTransform) then ``resnet`` (resnet18 with the protocol's new layers), as torchref's
    ``ResNet18MNIST``: the same state_dict keys (``resnet.<torchvision key>``), the same frozen parameters
    and, for the linear probe, BatchNorm kept in eval mode (a fixed feature extractor). 28 px only: the
    digits are not resized here."""

    outputs_log_probs = False

    def __init__(self, protocol: str = "workshop", num_classes: int = 10, dtype=np.float32, rng=None) -> None:
        super().__init__()
        if protocol not in PROTOCOLS:
            raise ValueError(f"ResNet18MNIST: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        workshop = protocol == "workshop"
        self.prepare = InputTransform(1) if workshop else InputTransform(3, IMAGENET_MEAN, IMAGENET_STD)
        self.resnet = resnet18(num_classes=num_classes, in_channels=1 if workshop else 3, dtype=dtype, rng=rng)
        object.__setattr__(self, "protocol", protocol)
        object.__setattr__(self, "freeze_bn_stats", protocol == "linear-probe")
        if protocol != "full":  # the backbone is frozen; only the new layers train
            new = ("conv1.", "fc.") if workshop else ("fc.",)
            for name, p in self.resnet.named_parameters():
                p.requires_grad = name.startswith(new)
        self.input_shape = (1, 28, 28)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.resnet(self.prepare(x))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        d = self.resnet.backward(dout, input_grad=input_grad)
        return None if d is None else self.prepare.backward(d)

    def train(self, mode: bool = True) -> "ResNet18MNIST":
        super().train(mode)
        if mode and self.freeze_bn_stats:  # ImageNet running statistics, not batch statistics
            for m in self.resnet.modules():
                if isinstance(m, BatchNorm2d):
                    m.eval()
        return self

    def make_loss(self):
        return CrossEntropyLoss()


MODELS: dict[str, type[MNISTModel]] = {"ffn": FFN, "seedcnn": SeedCNN, "examplesnet": ExamplesNet,
                                        "speedcnn": SpeedCNN}


def build_model(name: str, **kwargs) -> MNISTModel:
    """Build a model by its lower-case name: 'ffn', 'seedcnn', 'examplesnet' or 'speedcnn'."""
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(MODELS)}")
    return MODELS[key](**kwargs)
