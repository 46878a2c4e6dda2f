"""torchref: the PyTorch reference beside scratchnet: twins of its models (same state_dict names, weights
moved both ways), training on the best device with scratchnet's batches and history format, ResNet18
fine-tuning and k-fold cross-validation.

    python -m torchref.train --model seedcnn          # scratchnet's recipe in torch (CUDA if present)
    python -m torchref.kfold --model ffn --k 5        # k-fold cross-validation
"""

from scratchnet.run.command import require_torch

require_torch()

from .device import DeviceError, select_device  # noqa: E402
from .models import MODELS, ExamplesNet, FFN, SeedCNN, build_model, make_loss
from .resnet import PROTOCOLS, WeightsNotFoundError, build_resnet18
from .transfer import from_scratch, load_scratch_weights, to_scratch

__all__ = [
    "FFN", "SeedCNN", "ExamplesNet", "MODELS", "build_model", "make_loss", "from_scratch", "to_scratch",
    "load_scratch_weights", "select_device", "DeviceError", "build_resnet18", "PROTOCOLS", "WeightsNotFoundError",
]
