"""torchref: the PyTorch twins of scratchnet's models, and the bridge that moves weights between them."""

from .models import MODELS, ExamplesNet, FFN, SeedCNN, build_model
from .transfer import from_scratch, load_scratch_weights, to_scratch

__all__ = ["FFN", "SeedCNN", "ExamplesNet", "MODELS", "build_model", "from_scratch", "to_scratch", "load_scratch_weights"]
