"""Fixtures shared by the report tests."""

import os

import numpy as np
import pytest

from scratchnet.data import write_idx


@pytest.fixture
def data_dir(tmp_path):
    """The real MNIST when MNIST_DIR is set, else a small generated data set in MNIST's format."""
    if os.environ.get("MNIST_DIR"):
        return os.environ["MNIST_DIR"]
    rng = np.random.default_rng(0)
    root = tmp_path / "mnist"
    for split, n in (("train", 2000), ("t10k", 500)):
        y = rng.integers(0, 10, size=n)
        img = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            img[i, 2 + 2 * c : 5 + 2 * c, 4:24] = 255
        write_idx(root / f"{split}-images-idx3-ubyte", img)
        write_idx(root / f"{split}-labels-idx1-ubyte", y.astype(np.uint8))
    return str(root)
