"""What the benchmark runs: MNIST training images (synthetic ones of the same shape when the data set is not
there), cut into batches, and a closure that runs one train step per batch on either side. scratchnet and torch
are imported only when called, so a child process can time their imports."""

from __future__ import annotations

from typing import Callable

import numpy as np

IMPLS = ("scratchnet", "torch")
INFER_BATCH = 1000
_MNIST: list = []
_OPTIMISER_NAMES = {"adam": "Adam", "adadelta": "Adadelta", "sgd": "SGD"}  # torch.optim's class names


def recipe(name: str):
    """The model's training recipe (``scratchnet.recipes.RECIPES``): batch size and optimiser."""
    from scratchnet.recipes import RECIPES

    return RECIPES[name]


def optimiser_label(name: str) -> str:
    """``Adam(lr=0.001)``...: the recipe's optimiser as the report names it."""
    r = recipe(name)
    return f"{_OPTIMISER_NAMES[r.optimizer]}(lr={r.lr:g})"


def sample_batches(n_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """``n_images`` normalised MNIST training images (N, 1, 28, 28) float32 and labels, found as every command
    finds MNIST (``MNIST_DIR``, then the cache; no download); synthetic images of the same shape when the data
    set is not there (the source is returned as a string)."""
    from scratchnet.data import MNISTNotFoundError, load_mnist, normalize

    try:
        if not _MNIST:
            _MNIST.append(load_mnist(None, split="train", download=False))
        images, labels = _MNIST[0]
        idx = np.random.default_rng(seed).permutation(len(images))[:n_images]
        return normalize(images[idx]), labels[idx].astype(np.int64), "MNIST train"
    except (MNISTNotFoundError, OSError, ValueError):  # benchmarks only need the right shapes
        rng = np.random.default_rng(seed)
        x = ((rng.random((n_images, 1, 28, 28)) - 0.1307) / 0.3081).astype(np.float32)
        return x, rng.integers(0, 10, n_images), "synthetic"


def train_batches(name: str, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` batches at the recipe's batch size, the same for every run of the benchmark."""
    b = recipe(name).batch_size
    x, y, _ = sample_batches(b * steps, seed=1)
    return [(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]) for i in range(steps)]


def as_tensors(batches):
    """The same batches as torch tensors (shared memory, no copy)."""
    import torch

    return [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in batches]


def step_loop(side, batches) -> Callable[[], None]:
    """A closure running one train step of ``side`` (``compare.models.Side.step``) per batch."""
    def run() -> None:
        for xb, yb in batches:
            side.step(xb, yb)
    return run


def side_alone(impl: str, name: str, seed: int = 0):
    """One library's model for ``name`` with its loss and the recipe's optimiser, built without the other
    library: scratchnet's from ``seed``; torch's with torch's own initialisation."""
    if impl == "scratchnet":
        from ..models import scratch_side

        return scratch_side(recipe(name), seed)
    import torchref

    from ..models import torch_side

    return torch_side(recipe(name), torchref.build_model(name))
