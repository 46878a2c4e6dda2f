"""Test helpers: build the torch twin of a scratchnet layer and compare the two, forward and backward."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn as tnn

from scratchnet import nn as snn

from .parity_utils import assert_parity

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
RTOL = {np.float32: 1e-5, np.float64: 1e-10}


def torch_twin(layer: snn.Module) -> tnn.Module:
    """The torch layer with the same configuration and (copied) weights."""
    if isinstance(layer, snn.Linear):
        twin = tnn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    elif isinstance(layer, snn.Conv2d):
        twin = tnn.Conv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            bias=layer.bias is not None,
        )
    elif isinstance(layer, snn.MaxPool2d):
        return tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
    elif isinstance(layer, snn.ReLU):
        return tnn.ReLU()
    elif isinstance(layer, snn.Flatten):
        return tnn.Flatten(layer.start_dim, layer.end_dim)
    elif isinstance(layer, snn.LogSoftmax):
        return tnn.LogSoftmax(dim=layer.dim)
    else:
        raise TypeError(f"no torch twin for {type(layer).__name__}")
    dtype = TORCH_DTYPE[layer.weight.dtype.type]
    twin.to(dtype)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            getattr(twin, name).copy_(torch.from_numpy(p.data))
    return twin


def compare_with_torch(layer: snn.Module, x: np.ndarray, seed: int = 0, label: str = "") -> None:
    """Forward output, input gradient and every parameter gradient of ``layer`` against its torch twin,
    with a random (standard normal) upstream gradient; tolerance from the dtype of ``x``."""
    rtol = RTOL[x.dtype.type]
    twin = torch_twin(layer)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tout = twin(tx)
    out = layer(x)
    name = label or repr(layer)
    assert_parity(f"{name} forward", out, tout, rtol)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(x.dtype)
    tout.backward(torch.from_numpy(upstream))
    layer.zero_grad()
    dx = layer.backward(upstream)
    assert_parity(f"{name} grad input", dx, tx.grad, rtol)
    for pname, p in layer.named_parameters():
        assert_parity(f"{name} grad {pname}", p.grad, getattr(twin, pname).grad, rtol)
