"""Issues 15 and 20: the layer API checks what it is given, handles empty batches, notices inputs changed
in place, and has one backward signature. Inputs that crashed the interpreter on main (an upstream
gradient of the wrong shape) are run in a worker process by tests/test_layer_api_properties.py; none
of the inputs here crashed main."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

import torchref
from scratchnet import models
from scratchnet import nn as snn
from scratchnet.nn import module as module_mod

from .parity_utils import assert_parity
from .torch_twins import compare_with_torch

LAYERS = {
    "Linear": lambda dt: (snn.Linear(5, 3, dtype=dt, rng=0), (4, 5)),
    "Linear3d": lambda dt: (snn.Linear(5, 3, dtype=dt, rng=0), (2, 3, 5)),
    "Conv2d": lambda dt: (snn.Conv2d(2, 3, 3, padding=1, dtype=dt, rng=0), (2, 2, 6, 5)),
    "Conv2d-s2": lambda dt: (snn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False, dtype=dt, rng=0), (2, 2, 7, 6)),
    "MaxPool2d": lambda dt: (snn.MaxPool2d(2), (2, 3, 6, 6)),
    "MaxPool2d-3s1p1": lambda dt: (snn.MaxPool2d(3, stride=1, padding=1), (2, 3, 5, 4)),
    "ReLU": lambda dt: (snn.ReLU(), (3, 4)),
    "Flatten": lambda dt: (snn.Flatten(), (2, 3, 4)),
    "LogSoftmax": lambda dt: (snn.LogSoftmax(dim=1), (3, 7)),
    "BatchNorm1d": lambda dt: (snn.BatchNorm1d(3, dtype=dt), (4, 3)),
    "BatchNorm2d": lambda dt: (snn.BatchNorm2d(2, dtype=dt), (2, 2, 3, 3)),
    "AvgPool2d": lambda dt: (snn.AvgPool2d(2), (2, 3, 6, 5)),
    "AdaptiveAvgPool2d": lambda dt: (snn.AdaptiveAvgPool2d((2, 3)), (2, 3, 5, 7)),
    "Sigmoid": lambda dt: (snn.Sigmoid(), (3, 4)),
    "Tanh": lambda dt: (snn.Tanh(), (3, 4)),
    "LeakyReLU": lambda dt: (snn.LeakyReLU(0.2), (3, 4)),
    "Identity": lambda dt: (snn.Identity(), (3, 4)),
    "Softmax": lambda dt: (snn.Softmax(dim=1), (3, 4)),
}


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# -- issue 15, defect 1: the upstream gradient is checked (shape, dtype, type), any layout accepted -------
@pytest.mark.parametrize("name", LAYERS)
def test_upstream_gradient_of_another_dtype_or_type_is_refused_naming_the_layer(name):
    layer, shape = LAYERS[name](np.float32)
    out = layer(_x(shape, np.float32))
    who = layer._name()
    for bad, kind, message in [
        (np.ones(out.shape, np.float64), ValueError, f"expected upstream gradient {out.shape} float32, got {out.shape} float64"),
        (np.ones(out.shape, np.int64), ValueError, f"expected upstream gradient {out.shape} float32, got {out.shape} int64"),
        (np.ones(out.shape, np.float32).tolist(), TypeError, f"expected upstream gradient {out.shape} float32 as a numpy.ndarray, got list"),
    ]:
        layer(_x(shape, np.float32))
        with pytest.raises(kind) as err:
            layer.backward(bad)
        assert str(err.value) == f"{who}: {message}"


def test_relu_with_a_longer_gradient_no_longer_returns_garbage():
    relu = snn.ReLU()
    relu(np.array([1, 1, 1, 1, -1], np.float32))
    with pytest.raises(ValueError, match=r"ReLU: expected upstream gradient \(5,\) float32, got \(8,\) float32"):
        relu.backward(np.ones(8, np.float32))  # main returned [1 1 1 1 0 1 0 0]


def test_conv2d_with_a_smaller_batch_gradient_no_longer_gives_nan_weights():
    conv = snn.Conv2d(1, 2, 3, rng=0)
    conv(np.ones((2, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=1\): expected upstream gradient \(2, 2, 3, 3\)"):
        conv.backward(np.ones((1, 2, 3, 3), np.float32))  # main: dW of NaN from uninitialised memory
    assert conv.weight.grad is None


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "readonly", "unaligned"])
@pytest.mark.parametrize("name", ["Conv2d", "Linear3d", "MaxPool2d", "ReLU", "LogSoftmax"])
def test_any_layout_of_input_and_gradient_gives_the_contiguous_result(name, layout):
    def relayout(a):
        if layout == "fortran":
            return np.asfortranarray(a)
        if layout == "transposed":
            axes = tuple(range(a.ndim))[::-1]
            return np.ascontiguousarray(a.transpose(axes)).transpose(axes)
        if layout == "strided":
            wide = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
            wide[..., ::2] = a
            return wide[..., ::2]
        if layout == "readonly":
            b = a.copy()
            b.flags.writeable = False
            return b
        raw = np.zeros(a.nbytes + 1, np.uint8)
        b = raw[1:].view(a.dtype).reshape(a.shape)
        b[...] = a
        return b

    results = []
    for fn in (lambda a: a, relayout):
        layer, shape = LAYERS[name](np.float64)
        x = _x(shape, np.float64)
        out = layer(fn(x))
        g = _x(out.shape, np.float64, seed=1)
        layer.zero_grad()
        dx = layer.backward(fn(g))
        results.append([out, dx] + [p.grad for p in layer.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_other_input_dtypes_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"ReLU: expected a float32 or float64 input, got dtype float16"):
        snn.ReLU()(np.ones(3, np.float16))
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2\): expected a float32 or float64 input, got dtype int32"):
        snn.MaxPool2d(2)(np.ones((1, 1, 2, 2), np.int32))
    with pytest.raises(ValueError, match=r"Flatten: expected a float32 or float64 input, got dtype >f4"):
        snn.Flatten()(np.ones((1, 2), ">f4"))  # non-native byte order: torch refuses it too
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=1\): expected input \(N, C, H, W\) with C, H, W >= 1"):
        snn.Conv2d(1, 2, 1, rng=0)(np.ones((1, 1, 0, 3), np.float32))


# -- issue 15, defect 2: a batch of 0 ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", LAYERS)
def test_empty_batch_through_every_layer_matches_torch(name, dtype):
    layer, shape = LAYERS[name](dtype)
    x = np.zeros((0, *shape[1:]), dtype)
    compare_with_torch(layer, x, label=f"{name} batch 0")
    for p in layer.parameters():
        np.testing.assert_array_equal(p.grad, np.zeros_like(p.data))  # torch gives zeros, not None


@pytest.mark.parametrize("training", [True, False])
def test_empty_batch_through_dropout(training):
    layer = snn.Dropout(0.5, rng=0).train(training)
    out = layer(np.zeros((0, 4), np.float32))
    assert out.shape == (0, 4) and out.dtype == np.float32
    assert layer.backward(np.zeros((0, 4), np.float32)).shape == (0, 4)


@pytest.mark.parametrize("name", ["ffn", "seedcnn", "examplesnet"])
def test_empty_batch_through_the_models_matches_torch(name):
    ours = models.build_model(name, dtype=np.float64, rng=0).eval()
    theirs = torchref.from_scratch(ours, torchref.build_model(name)).eval()
    x = np.zeros((0, 1, 28, 28))
    out = ours(x)
    tx = torch.from_numpy(x).requires_grad_(True)
    tout = theirs(tx)
    assert out.shape == tuple(tout.shape) == (0, 10)  # main: ValueError in Flatten
    tout.backward(torch.zeros(0, 10, dtype=torch.float64))
    dx = ours.backward(np.zeros((0, 10)))
    assert_parity(f"{name} batch 0 grad input", dx, tx.grad, 0.0)
    tparams = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        assert_parity(f"{name} batch 0 grad {pname}", p.grad, tparams[pname].grad, 0.0)


# -- issue 15, defect 3: an input changed in place between forward and backward ----------------------
INPLACE = "was modified by an inplace operation between forward\\(\\) and backward\\(\\)"


@pytest.mark.parametrize("name", ["Linear", "Linear3d", "Conv2d", "Conv2d-s2"])
@pytest.mark.parametrize("change", ["all", "one element", "via a view"])
def test_input_changed_in_place_is_detected_like_torch_or_harmless(name, change):
    """A layer whose backward reads the caller's x raises; one that kept its own copy (Conv2d's matrix
    path keeps the unrolled windows) gives the gradient of the x it saw. Never a wrong dW."""
    layer, shape = LAYERS[name](np.float32)
    x = _x(shape, np.float32)
    reference, _ = LAYERS[name](np.float32)
    g = _x(reference(x.copy()).shape, np.float32, seed=1)
    reference.backward(g)
    out = layer(x)
    if change == "all":
        x *= 2
    elif change == "one element":
        x.flat[x.size // 2] += 1
    else:
        x.reshape(-1)[-1] = 0.0
    keeps_callers_x = layer.__dict__["_kept"] is not None
    if keeps_callers_x:
        with pytest.raises(RuntimeError, match=rf"^{re.escape(layer._name())}: .*{INPLACE}"):
            layer.backward(g)
        assert all(p.grad is None for p in layer.parameters())  # nothing half-accumulated
    else:
        layer.backward(g)
        for p, q in zip(layer.parameters(), reference.parameters()):
            np.testing.assert_array_equal(p.grad, q.grad)
    assert keeps_callers_x or name == "Conv2d-s2"  # the direct paths read x itself


@pytest.mark.parametrize("name", ["LogSoftmax", "Sigmoid", "Tanh", "Softmax"])
def test_an_output_its_backward_reads_changed_in_place_is_detected(name):
    layer, shape = LAYERS[name](np.float64)
    out = layer(_x(shape, np.float64))
    out -= 1.0
    with pytest.raises(RuntimeError, match=rf"{re.escape(layer._name())}: .*the output it returned.*{INPLACE}"):
        layer.backward(np.ones(shape))


@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_input_changed_in_place_is_detected(name):
    layer, shape = LAYERS[name](np.float64)
    x = _x(shape, np.float64)
    layer(x)
    x[0] += 1
    with pytest.raises(RuntimeError, match=rf"{re.escape(layer._name())}: .*{INPLACE}"):
        layer.backward(np.ones(shape))


@pytest.mark.parametrize("name,where", [("seedcnn", "input"), ("ffn", "input"), ("examplesnet", "output")])
def test_model_input_or_output_changed_in_place_is_detected(name, where):
    model = models.build_model(name, rng=0)
    x = _x((2, 1, 28, 28), np.float32)
    out = model(x)
    (x if where == "input" else out)[0, 0] += 1
    with pytest.raises(RuntimeError, match=INPLACE):
        model.backward(np.ones((2, 10), np.float32))


def test_a_copied_input_needs_no_check_and_unchanged_inputs_pass():
    layer = snn.Linear(4, 2, dtype=np.float64, rng=0)
    x = np.asfortranarray(_x((3, 4), np.float64))  # copied to C order by the op: the layer owns the copy
    ref = x.copy()
    layer(x)
    x[...] = 0  # harmless: backward reads the copy
    layer.backward(np.ones((3, 2)))
    np.testing.assert_allclose(layer.weight.grad, np.ones((2, 3)) @ ref)


@pytest.mark.parametrize("name,expected", [("seedcnn", 1), ("ffn", 1), ("examplesnet", 2)])
def test_inside_a_model_only_arrays_the_caller_can_reach_are_summed(name, expected, monkeypatch):
    """The cost of the check: one pass over the input batch (and the returned log-probabilities), none
    over hidden activations, which never leave the model's forward."""
    calls = []
    real = module_mod._fingerprint
    monkeypatch.setattr(module_mod, "_fingerprint", lambda a: calls.append(a.shape) or real(a))
    model = models.build_model(name, rng=0)
    x = _x((3, 1, 28, 28), np.float32)
    model(x)
    model.backward(np.ones((3, 10), np.float32), input_grad=False)
    assert len(calls) == 2 * expected, calls  # forward and backward
    assert calls[0][0] == 3 and np.prod(calls[0]) == x.size


# -- issue 20: one backward signature ----------------------------------------------------------------
@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_takes_input_grad_and_returns_none_without_it(name):
    layer, shape = LAYERS[name](np.float64)
    assert "input_grad" in inspect.signature(type(layer).backward).parameters
    out = layer(_x(shape, np.float64))
    g = _x(out.shape, np.float64, seed=1)
    assert layer.backward(g, input_grad=False) is None
    grads = [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()
    layer(_x(shape, np.float64))
    assert layer.backward(g) is not None
    for a, p in zip(grads, layer.parameters()):
        np.testing.assert_array_equal(a, p.grad)  # parameter gradients do not depend on it
