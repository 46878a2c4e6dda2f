"""Data for scratchnet: IDX reading and writing, MNIST locate/verify/download/load, normalisation,
a reproducible batch iterator, and train/validation and k-fold splits. NumPy and the standard
library only (tqdm for the download bar).
"""

from .idx import DEFAULT_MAX_BYTES, IDXError, IDXHeader, read_idx, read_idx_header, write_idx
from . import mnist
from .loader import DataLoader, epoch_order
from .mnist import (
    DEFAULT_MIRRORS,
    MNIST_DIR_ENV,
    MNIST_FILES,
    MNIST_SHA256,
    ChecksumError,
    MNISTNotFoundError,
    MNISTSplit,
    default_cache_dir,
    download_mnist,
    find_idx_file,
    load_idx_pair,
    load_mnist,
    load_mnist_split,
    locate_mnist,
    verify_mnist_dir,
)
from .splits import kfold_indices, train_val_split
from .transforms import NORMALIZATION_PRESETS, normalize, to_float

__all__ = [
    "IDXError",
    "IDXHeader",
    "DEFAULT_MAX_BYTES",
    "read_idx",
    "read_idx_header",
    "write_idx",
    *mnist.__all__,  # everything imported from it above
    "NORMALIZATION_PRESETS",
    "to_float",
    "normalize",
    "DataLoader",
    "epoch_order",
    "train_val_split",
    "kfold_indices",
]
