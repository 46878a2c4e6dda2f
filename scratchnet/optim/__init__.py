"""Optimisers and learning-rate schedulers in torch.optim's shape: SGD, Adam, Adadelta, StepLR, ...

``opt = Adam(model.parameters(), lr=1e-3)``; each step: ``opt.zero_grad()``, backward, ``opt.step()``.
"""

from scratchnet.optim import lr_scheduler
from scratchnet.optim.adadelta import Adadelta
from scratchnet.optim.adam import Adam
from scratchnet.optim.lr_scheduler import ExponentialLR, LRScheduler, MultiStepLR, OneCycleLR, StepLR
from scratchnet.optim.optimizer import Optimizer, flatten_state, unflatten_state
from scratchnet.optim.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "Adadelta",
    "lr_scheduler",
    "LRScheduler",
    "StepLR",
    "OneCycleLR",
    "MultiStepLR",
    "ExponentialLR",
    "flatten_state",
    "unflatten_state",
]
