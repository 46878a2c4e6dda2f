"""The models compare runs: their display names, and a scratchnet model with its torch twin built from one
recipe (the same initial weights through ``torchref.from_scratch``, each side's optimiser from its library's
``build_optimizer``). torch is imported only by what builds a torch model, so scratchnet-only code stays light."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scratchnet import models as scratch_models
from scratchnet.recipes import Recipe
from scratchnet.recipes import build_optimizer as scratch_optimizer

#: ``ffn -> FFN``, ``seedcnn -> SeedCNN``, ``examplesnet -> ExamplesNet``: scratchnet's class names, which
#: torchref's twins share (the home of these names is ``scratchnet.models.MODELS``)
DISPLAY_NAMES: dict[str, str] = {key: cls.__name__ for key, cls in scratch_models.MODELS.items()}


def display_name(model: str) -> str:
    """How reports name a model: ``FFN`` for ``ffn``...; a name it does not know, unchanged."""
    return DISPLAY_NAMES.get(model, model)


@dataclass
class Side:
    """One library's model with its loss, optimiser and scheduler (None when the recipe has none)."""

    model: Any
    loss: Any
    optimizer: Any
    scheduler: Any

    def step(self, x, y):
        """One training step on a batch: forward, loss, zero_grad, backward, optimiser step; returns the loss
        (for torch the tensor, so that a timed loop does not wait for its value)."""
        loss = self.loss(self.model(x), y)
        self.optimizer.zero_grad()
        self.backward(loss)
        self.optimizer.step()
        return loss

    def backward(self, loss) -> None:
        """scratchnet's explicit backprop; the input needs no gradient (as for a torch input without requires_grad)."""
        self.model.backward(self.loss.backward(), input_grad=False)


class TorchSide(Side):
    """The torch side: autograd runs the backward pass."""

    def backward(self, loss) -> None:
        loss.backward()


@dataclass
class Pair:
    """A scratchnet model and its torch twin, equal at the start."""

    scratchnet: Side
    torch: Side


def scratch_side(recipe: Recipe, seed: int = 0, dtype=np.float32, **model_kwargs) -> Side:
    """scratchnet's model for ``recipe``, initialised from ``np.random.default_rng(seed)`` as ``scratchnet.train``
    builds it, with its loss and the recipe's optimiser."""
    model = scratch_models.build_model(recipe.model, dtype=dtype, rng=np.random.default_rng(seed), **model_kwargs)
    return Side(model, model.make_loss(), *scratch_optimizer(recipe, model))


def torch_side(recipe: Recipe, model) -> Side:
    """A torch model with its loss and the recipe's optimiser (``torchref.recipes.build_optimizer``)."""
    from torchref.models import make_loss
    from torchref.recipes import build_optimizer

    return TorchSide(model, make_loss(model), *build_optimizer(recipe, model))


def torch_twin(scratch_model, seed: int = 0, device="cpu", **model_kwargs):
    """The torch twin of a scratchnet model, with its weights and dtype, on ``device``. ``torch.manual_seed(seed)``
    first, as ``torchref.recipes.make_model`` does, so the twin's dropout masks repeat for a seed."""
    import torch

    import torchref

    torch.manual_seed(seed)
    name = type(scratch_model).__name__.lower()
    return torchref.from_scratch(scratch_model, torchref.build_model(name, **model_kwargs)).to(device)


def forget_forward(model) -> None:
    """Drop what a scratchnet model's layers kept for a backward pass (after forwards made for evaluation)."""
    for m in model.modules():
        object.__setattr__(m, "_cache", None)


def scratch_probabilities(model, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Class probabilities (N, classes), float64, of a scratchnet model in eval mode; it is left training."""
    from scratchnet.ops.loss import log_softmax_forward

    model.eval()
    out = np.concatenate([np.exp(log_softmax_forward(model(x[i:i + batch]).astype(np.float64))[0])
                          for i in range(0, len(x), batch)])
    forget_forward(model)
    model.train()
    return out


def torch_probabilities(model, x, batch: int = 1000) -> np.ndarray:
    """Class probabilities (N, classes), float64, of a torch model in eval mode; it is left training."""
    import torch

    model.eval()
    with torch.no_grad():
        out = torch.cat([torch.softmax(model(x[i:i + batch]).double(), dim=1) for i in range(0, len(x), batch)])
    model.train()
    return out.cpu().numpy()


def build_pair(recipe: Recipe, seed: int = 0, *, dtype=np.float32, device="cpu", **model_kwargs) -> Pair:
    """scratchnet's model for ``recipe`` and ``seed`` and its torch twin from the same weights, each with its
    loss and the recipe's optimiser (``model_kwargs``, e.g. ``dropout=0.0``, go to both models)."""
    ours = scratch_side(recipe, seed, dtype, **model_kwargs)
    return Pair(ours, torch_side(recipe, torch_twin(ours.model, seed, device, **model_kwargs)))


__all__ = ["DISPLAY_NAMES", "display_name", "Side", "TorchSide", "Pair", "scratch_side", "torch_side", "torch_twin", "build_pair",
           "forget_forward", "scratch_probabilities", "torch_probabilities"]
