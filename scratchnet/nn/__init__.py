"""Layers, containers, losses and initialisation, shaped like ``torch.nn``."""

from . import init
from .activation import Identity, LeakyReLU, Sigmoid, Softmax, Tanh
from .grad_mode import is_grad_enabled, no_grad
from .layers import Conv2d, Dropout, Flatten, Linear, LogSoftmax, MaxPool2d, ReLU
from .loss import CrossEntropyLoss, NLLLoss
from .module import Module, Parameter, Sequential
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d
from .residual import BasicBlock

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
    "BatchNorm1d",
    "BatchNorm2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "Sigmoid",
    "Tanh",
    "LeakyReLU",
    "Identity",
    "Softmax",
    "BasicBlock",
    "no_grad",
    "is_grad_enabled",
]
