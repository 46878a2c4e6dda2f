"""Layers, containers, losses and initialisation, shaped like ``torch.nn``."""

from . import init
from .layers import Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from .loss import CrossEntropyLoss, NLLLoss
from .module import Module, Parameter, Sequential

__all__ = [
    "Module",
    "Parameter",
    "Sequential",
    "Linear",
    "Conv2d",
    "MaxPool2d",
    "ReLU",
    "Dropout",
    "Flatten",
    "LogSoftmax",
    "CrossEntropyLoss",
    "NLLLoss",
    "init",
]
