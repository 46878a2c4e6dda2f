"""scratchnet: a from-scratch neural-network core in NumPy + Numba, checked against PyTorch.

It never imports torch. Start with ``scratchnet.nn`` (layers), ``scratchnet.optim`` (optimisers)
and ``scratchnet.models`` (FFN, SeedCNN, ExamplesNet).
"""

__version__ = "0.1.0"

from . import models, nn, ops
from .nn.grad_mode import is_grad_enabled, no_grad
from .random import manual_seed

__all__ = ["nn", "ops", "models", "manual_seed", "no_grad", "is_grad_enabled", "__version__"]
