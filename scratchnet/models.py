"""The three MNIST models, named as their torch twins in ``torchref.models`` (same state_dict keys).

- ``FFN``: 784-128-64-10 with ReLU and Dropout(0.2) after the first hidden layer (the workshop's SimpleNN).
- ``SeedCNN``: the course CNN, two 3x3 conv + ReLU + 2x2 max-pool stages and one Linear(784, 10).
- ``ExamplesNet``: the net of the official PyTorch MNIST example (1,199,882 parameters), ending in log-softmax.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .nn import Conv2d, CrossEntropyLoss, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, NLLLoss, ReLU, Sequential
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


MODELS: dict[str, type[MNISTModel]] = {"ffn": FFN, "seedcnn": SeedCNN, "examplesnet": ExamplesNet}


def build_model(name: str, **kwargs) -> MNISTModel:
    """Build a model by its lower-case name: 'ffn', 'seedcnn' or 'examplesnet'."""
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(MODELS)}")
    return MODELS[key](**kwargs)
