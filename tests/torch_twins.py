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
    elif isinstance(layer, (snn.BatchNorm1d, snn.BatchNorm2d)):
        cls = tnn.BatchNorm1d if isinstance(layer, snn.BatchNorm1d) else tnn.BatchNorm2d
        twin = cls(layer.num_features, eps=layer.eps, momentum=layer.momentum, affine=layer.affine,
                   track_running_stats=layer.track_running_stats)
        return _copy_state(layer, twin, layer._param_dtype())
    elif isinstance(layer, snn.AvgPool2d):
        return tnn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, count_include_pad=layer.count_include_pad,
                             divisor_override=layer.divisor_override)
    elif isinstance(layer, snn.AdaptiveAvgPool2d):
        return tnn.AdaptiveAvgPool2d(layer.output_size)
    elif isinstance(layer, snn.Sigmoid):
        return tnn.Sigmoid()
    elif isinstance(layer, snn.Tanh):
        return tnn.Tanh()
    elif isinstance(layer, snn.LeakyReLU):
        return tnn.LeakyReLU(layer.negative_slope)
    elif isinstance(layer, snn.Identity):
        return tnn.Identity()
    elif isinstance(layer, snn.Softmax):
        return tnn.Softmax(dim=layer.dim)
    else:
        raise TypeError(f"no torch twin for {type(layer).__name__}")
    return _copy_state(layer, twin, layer.weight.dtype)


def _copy_state(layer: snn.Module, twin: tnn.Module, dtype) -> tnn.Module:
    """Give the twin the layer's dtype, parameters and buffers (running statistics, counters)."""
    twin.to(TORCH_DTYPE[np.dtype(dtype).type])
    with torch.no_grad():
        for name, value in layer.state_dict().items():
            twin.state_dict()[name].copy_(torch.from_numpy(np.array(value)))
    twin.train(layer.training)
    return twin


def compare_with_torch(layer: snn.Module, x: np.ndarray, seed: int = 0, label: str = "",
                       twin: tnn.Module | None = None, dx_scale: float | None = None,
                       rtol: float | None = None) -> tnn.Module:
    """Forward output, input gradient, every parameter gradient and every buffer (running statistics) of
    ``layer`` against its torch twin, with a random (standard normal) upstream gradient; tolerance from
    the dtype of ``x``. Pass the returned ``twin`` back in to continue over several steps (the twin
    follows the layer's train/eval mode). ``dx_scale`` is a floor for the scale the input gradient is
    compared at (see ``assert_parity``): BatchNorm's dL/dx cancels to nothing for 2 values per channel,
    where both sides are round-off of terms of size ``|dout| * gamma * invstd``. ``rtol`` overrides the
    per-layer tolerance of the dtype (for whole networks, where float32 round-off compounds)."""
    rtol = RTOL[x.dtype.type] if rtol is None else rtol
    twin = torch_twin(layer) if twin is None else twin
    twin.train(layer.training)
    twin.zero_grad()
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tout = twin(tx)
    out = layer(x)
    name = label or repr(layer)
    assert_parity(f"{name} forward", out, tout, rtol)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(x.dtype)
    tout.backward(torch.from_numpy(upstream))
    layer.zero_grad()
    dx = layer.backward(upstream)
    assert_parity(f"{name} grad input", dx, tx.grad, rtol, scale=dx_scale)
    tparams = dict(twin.named_parameters())
    for pname, p in layer.named_parameters():
        assert_parity(f"{name} grad {pname}", p.grad, tparams[pname].grad, rtol)
    tbuffers = dict(twin.named_buffers())
    for bname, b in layer.named_buffers():
        assert_parity(f"{name} buffer {bname}", b, tbuffers[bname], rtol)
    assert {n for n, _ in layer.named_buffers()} == set(tbuffers), f"{name}: buffers differ from torch's"
    return twin
