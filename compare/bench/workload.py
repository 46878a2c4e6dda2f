"""What the benchmark runs: MNIST training images (synthetic ones of the same shape when the data set is not
there), cut into batches, the models (the three recipes' and ResNet18) with their optimisers on either side,
and a closure that runs one train step per batch. scratchnet and torch are imported only when called, so a
child process can time their imports."""

from __future__ import annotations

from typing import Callable

import numpy as np

IMPLS = ("scratchnet", "torch")
MODEL_NAMES = ("ffn", "seedcnn", "examplesnet", "resnet18")
INFER_BATCH = 1000
_MNIST: list = []
_OPTIMISER_NAMES = {"adam": "Adam", "adadelta": "Adadelta", "sgd": "SGD"}  # torch.optim's class names


#: ResNet18 as the finetune protocols adapt it to MNIST (``scratchnet.models.resnet18(10, 1)``: a 1-channel
#: conv1 and a 10-class fc, 28x28 input), trained whole at batch 64 with SGD and momentum (issue 14)
RESNET_LR, RESNET_MOMENTUM, RESNET_BATCH = 1e-2, 0.9, 64


def recipe(name: str):
    """The model's training recipe (``scratchnet.recipes.RECIPES``): batch size and optimiser; for ResNet18
    the benchmark's own (SGD with momentum; the momentum is added where the sides are built)."""
    from scratchnet.recipes import RECIPES, Recipe

    if name == "resnet18":
        return Recipe("resnet18", "sgd", RESNET_LR, RESNET_BATCH, 1, "mnist", source="compare.bench")
    return RECIPES[name]


def model_label(name: str) -> str:
    """How the report names a model: ``compare.models.display_name``, and ``ResNet18``."""
    from ..models import display_name

    return "ResNet18" if name == "resnet18" else display_name(name)


def optimiser_label(name: str) -> str:
    """``Adam(lr=0.001)``...: the recipe's optimiser as the report names it."""
    r = recipe(name)
    extra = f", momentum={RESNET_MOMENTUM:g}" if name == "resnet18" else ""
    return f"{_OPTIMISER_NAMES[r.optimizer]}(lr={r.lr:g}{extra})"


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


def _resnet_scratch(seed: int):
    from scratchnet import models, optim

    from ..models import Side

    model = models.resnet18(num_classes=10, in_channels=1, rng=np.random.default_rng(seed))
    return Side(model, model.make_loss(), optim.SGD(list(model.parameters()), lr=RESNET_LR,
                                                    momentum=RESNET_MOMENTUM), None)


def _resnet_torch(scratch_model=None):
    """torchvision's resnet18 adapted as scratchnet's (``torchref.models.resnet18(10, 1)``), with the weights of
    ``scratch_model`` when one is given (``torchref.from_scratch``), else torch's own initialisation."""
    import torch

    import torchref
    from torchref.models import resnet18

    from ..models import TorchSide

    model = resnet18(num_classes=10, in_channels=1)
    if scratch_model is not None:
        torchref.from_scratch(scratch_model, model)
    opt = torch.optim.SGD(model.parameters(), lr=RESNET_LR, momentum=RESNET_MOMENTUM)
    return TorchSide(model, torch.nn.CrossEntropyLoss(), opt, None)


def build_pair(name: str, seed: int = 0):
    """Both libraries' models for ``name`` from the same weights (``compare.models.build_pair``; for ResNet18
    through torchref's transfer functions too), each with its loss and optimiser."""
    from ..models import Pair, build_pair as recipe_pair

    if name != "resnet18":
        return recipe_pair(recipe(name), seed=seed)
    ours = _resnet_scratch(seed)
    return Pair(ours, _resnet_torch(ours.model))


def side_alone(impl: str, name: str, seed: int = 0):
    """One library's model for ``name`` with its loss and the recipe's optimiser, built without the other
    library: scratchnet's from ``seed``; torch's with torch's own initialisation."""
    if impl == "scratchnet":
        from ..models import scratch_side

        return _resnet_scratch(seed) if name == "resnet18" else scratch_side(recipe(name), seed)
    if name == "resnet18":
        return _resnet_torch()
    import torchref

    from ..models import torch_side

    return torch_side(recipe(name), torchref.build_model(name))
