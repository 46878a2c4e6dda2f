"""Move weights between a scratchnet model and its torch twin (both directions), checked by name and shape.

The two sides use the same state_dict keys, so a transfer is a copy per key; any missing,
unexpected or mis-shaped key is an error that lists them all before anything is written. Buffers
travel too (BatchNorm's running statistics and ``num_batches_tracked``). For ResNet18 the torch side
is a ``torchvision.models.resnet18`` (``torchref.models.resnet18``) or a fine-tuning model
(``torchref.resnet.ResNet18MNIST``), whose weights are those of its ``resnet`` child.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import numpy as np
import torch
from torch import nn

from scratchnet.nn.module import key_mismatch

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _check_keys(ours: Mapping[str, tuple], theirs: Mapping[str, tuple], who: str) -> None:
    missing = [k for k in ours if k not in theirs]
    unexpected = [k for k in theirs if k not in ours]
    misshaped = [f"{k}: {ours[k]} vs {theirs[k]}" for k in ours if k in theirs and tuple(ours[k]) != tuple(theirs[k])]
    if missing or unexpected or misshaped:
        raise ValueError(key_mismatch(f"{who}: the two models do not have the same parameters",
                                      ("only in the source", missing), ("only in the target", unexpected),
                                      ("shape mismatch", misshaped)))


def state_dict_to_torch(state: Mapping[str, np.ndarray], device: torch.device | str = "cpu") -> "OrderedDict[str, torch.Tensor]":
    """NumPy arrays -> tensors (dtype kept), e.g. to load a scratchnet state_dict into a torch twin."""
    return OrderedDict((k, torch.from_numpy(np.ascontiguousarray(v)).to(device)) for k, v in state.items())


def state_dict_to_numpy(state: Mapping[str, torch.Tensor]) -> "OrderedDict[str, np.ndarray]":
    """Tensors -> NumPy arrays (dtype kept), e.g. to load a torch state_dict into scratchnet."""
    return OrderedDict((k, v.detach().cpu().numpy().copy()) for k, v in state.items())


def _weights_module(torch_model: nn.Module) -> nn.Module:
    """The module whose state_dict matches scratchnet's: a ResNet18MNIST's ``resnet``, else the model."""
    from .resnet import ResNet18MNIST

    return torch_model.resnet if isinstance(torch_model, ResNet18MNIST) else torch_model


def from_scratch(scratch_model, torch_model: nn.Module) -> nn.Module:
    """Copy a scratchnet model's weights (and buffers) into its torch twin; the twin takes the scratchnet
    dtype. Returns ``torch_model``."""
    state = scratch_model.state_dict()
    dtype = next(v.dtype for v in state.values() if np.issubdtype(v.dtype, np.floating))
    torch_model.to(_TORCH_DTYPES[dtype])
    load_scratch_weights(_weights_module(torch_model), state)
    return torch_model


def to_scratch(torch_model: nn.Module, scratch_model):
    """Copy a torch twin's weights (and buffers) into a scratchnet model (which keeps its own dtype)."""
    src = state_dict_to_numpy(_weights_module(torch_model).state_dict())
    dst = scratch_model.state_dict()
    _check_keys({k: v.shape for k, v in src.items()}, {k: v.shape for k, v in dst.items()}, "to_scratch")
    scratch_model.load_state_dict(src)
    return scratch_model


def load_scratch_weights(torch_model: nn.Module, state: Mapping[str, np.ndarray]) -> nn.Module:
    """Load a scratchnet state_dict (name -> ndarray) into a torch model, checking names and shapes."""
    dst = torch_model.state_dict()
    _check_keys({k: np.shape(v) for k, v in state.items()}, {k: tuple(v.shape) for k, v in dst.items()}, "load_scratch_weights")
    device = next(torch_model.parameters()).device
    torch_model.load_state_dict(state_dict_to_torch(state, device))
    return torch_model
