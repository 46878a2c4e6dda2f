"""Torch twins of ``scratchnet.models``: same layers, same order, same state_dict names and shapes.

Built as ``nn.Sequential`` with named children so ``state_dict()`` keys read ``conv1.weight`` etc.;
ExamplesNet's keys (conv1, conv2, fc1, fc2) are those of the official PyTorch MNIST example.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


class FFN(nn.Sequential):
    """Flatten -> Linear(784, 128) -> ReLU -> Dropout(0.2) -> Linear(128, 64) -> ReLU -> Linear(64, 10)."""

    outputs_log_probs = False

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__(
            OrderedDict(
                flatten=nn.Flatten(),
                fc1=nn.Linear(784, 128),
                relu1=nn.ReLU(),
                dropout=nn.Dropout(dropout),
                fc2=nn.Linear(128, 64),
                relu2=nn.ReLU(),
                fc3=nn.Linear(64, 10),
            )
        )


class SeedCNN(nn.Sequential):
    """Conv(1->8, 3, p1) -> ReLU -> MaxPool(2) -> Conv(8->16, 3, p1) -> ReLU -> MaxPool(2) -> Linear(784, 10)."""

    outputs_log_probs = False

    def __init__(self) -> None:
        super().__init__(
            OrderedDict(
                conv1=nn.Conv2d(1, 8, 3, padding=1),
                relu1=nn.ReLU(),
                pool1=nn.MaxPool2d(2),
                conv2=nn.Conv2d(8, 16, 3, padding=1),
                relu2=nn.ReLU(),
                pool2=nn.MaxPool2d(2),
                flatten=nn.Flatten(),
                fc=nn.Linear(16 * 7 * 7, 10),
            )
        )


class SpeedCNN(nn.Sequential):
    """The twin of ``scratchnet.models.SpeedCNN`` (same arguments, same layer names): Conv(1->c1, k, p=k//2)
    [-> BatchNorm] -> MaxPool(2) -> ReLU -> Conv(c1->c2, 3, p1) [-> BatchNorm] -> MaxPool(2) -> ReLU -> Flatten
    -> Linear(c2*7*7, hidden) -> ReLU -> Linear(hidden, 10) (or one Linear(c2*7*7, 10) with ``hidden=0``)."""

    outputs_log_probs = False

    def __init__(self, channels: tuple[int, int] = (8, 16), kernel_size: int = 3, hidden: int = 128,
                 batch_norm: bool = False) -> None:
        c1, c2 = channels
        layers: list[tuple[str, nn.Module]] = [("conv1", nn.Conv2d(1, c1, kernel_size, padding=kernel_size // 2, bias=not batch_norm))]
        layers += [("bn1", nn.BatchNorm2d(c1))] if batch_norm else []
        layers += [("pool1", nn.MaxPool2d(2)), ("relu1", nn.ReLU()), ("conv2", nn.Conv2d(c1, c2, 3, padding=1, bias=not batch_norm))]
        layers += [("bn2", nn.BatchNorm2d(c2))] if batch_norm else []
        layers += [("pool2", nn.MaxPool2d(2)), ("relu2", nn.ReLU()), ("flatten", nn.Flatten())]
        if hidden:
            layers += [("fc1", nn.Linear(c2 * 7 * 7, hidden)), ("relu3", nn.ReLU()), ("fc2", nn.Linear(hidden, 10))]
        else:
            layers += [("fc", nn.Linear(c2 * 7 * 7, 10))]
        super().__init__(OrderedDict(layers))


class ExamplesNet(nn.Sequential):
    """The official PyTorch MNIST example net (pytorch/examples mnist/main.py), ending in log_softmax."""

    outputs_log_probs = True

    def __init__(self, dropout1: float = 0.25, dropout2: float = 0.5) -> None:
        super().__init__(
            OrderedDict(
                conv1=nn.Conv2d(1, 32, 3),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(32, 64, 3),
                relu2=nn.ReLU(),
                pool=nn.MaxPool2d(2),
                dropout1=nn.Dropout(dropout1),
                flatten=nn.Flatten(),
                fc1=nn.Linear(9216, 128),
                relu3=nn.ReLU(),
                dropout2=nn.Dropout(dropout2),
                fc2=nn.Linear(128, 10),
                log_softmax=nn.LogSoftmax(dim=1),
            )
        )


def resnet18(num_classes: int = 1000, in_channels: int = 3) -> nn.Module:
    """The twin of ``scratchnet.models.resnet18``: ``torchvision.models.resnet18`` (random init), with conv1
    replaced by ``Conv2d(in_channels, 64, 7, 2, 3, bias=False)`` when ``in_channels != 3`` (the workshop's
    1-channel adaptation). Same state_dict keys and shapes, buffers included."""
    from .resnet import resnet18_architecture

    model, _ = resnet18_architecture(num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.outputs_log_probs = False
    return model


MODELS: dict[str, type[nn.Module]] = {"ffn": FFN, "seedcnn": SeedCNN, "examplesnet": ExamplesNet, "speedcnn": SpeedCNN}


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a torch twin by its lower-case name: 'ffn', 'seedcnn', 'examplesnet' or 'speedcnn'."""
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(MODELS)}")
    return MODELS[key](**kwargs)


def make_loss(model: nn.Module) -> nn.Module:
    """NLLLoss for twins that output log-probabilities, CrossEntropyLoss otherwise."""
    return nn.NLLLoss() if getattr(model, "outputs_log_probs", False) else nn.CrossEntropyLoss()


__all__ = ["FFN", "SeedCNN", "SpeedCNN", "ExamplesNet", "MODELS", "build_model", "make_loss", "resnet18"]
