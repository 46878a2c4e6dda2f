"""Module behaviour: names, state_dict, gradient accumulation, modes, input checks and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchref
from scratchnet import models
from scratchnet import nn as snn


@pytest.mark.parametrize("name", ["ffn", "seedcnn", "examplesnet"])
def test_state_dict_names_and_shapes_equal_the_torch_twin(name):
    ours = models.build_model(name, rng=0).state_dict()
    theirs = torchref.build_model(name).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == tuple(theirs[k].shape) for k in ours)


def test_examplesnet_has_the_official_parameter_count():
    assert models.ExamplesNet(rng=0).num_parameters() == 1_199_882


@pytest.mark.parametrize("name", ["ffn", "seedcnn", "examplesnet"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_dict_round_trip_through_torch_keeps_outputs(name, dtype):
    model = models.build_model(name, dtype=dtype, rng=1).eval()
    x = np.random.default_rng(2).standard_normal((3, 1, 28, 28)).astype(dtype)
    expected = model(x)
    twin = torchref.from_scratch(model, torchref.build_model(name)).eval()
    with torch.no_grad():
        twin_out = twin(torch.from_numpy(x)).numpy()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(twin_out, expected, rtol=tol, atol=tol)
    back = torchref.to_scratch(twin, models.build_model(name, dtype=dtype, rng=99)).eval()
    np.testing.assert_array_equal(back(x), expected)


def test_transfer_refuses_a_different_architecture():
    with pytest.raises(ValueError, match="only in the source: conv1.weight"):
        torchref.from_scratch(models.SeedCNN(rng=0), torchref.FFN())


def test_load_state_dict_lists_missing_unexpected_and_misshaped_keys():
    model = models.SeedCNN(rng=0)
    state = model.state_dict()
    del state["fc.bias"]
    state["extra.weight"] = np.zeros(3, dtype=np.float32)
    state["conv1.weight"] = np.zeros((8, 1, 5, 5), dtype=np.float32)
    before = model.state_dict()
    with pytest.raises(ValueError) as err:
        model.load_state_dict(state)
    msg = str(err.value)
    assert "missing keys: fc.bias" in msg
    assert "unexpected keys: extra.weight" in msg
    assert "conv1.weight: expected (8, 1, 3, 3), got (8, 1, 5, 5)" in msg
    for k, v in model.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_non_strict_reports_and_keeps_dtype():
    model = models.FFN(rng=0)
    state = {k: v.astype(np.float64) for k, v in models.FFN(rng=1).state_dict().items() if k != "fc3.bias"}
    result = model.load_state_dict(state, strict=False)
    assert result["missing_keys"] == ["fc3.bias"]
    assert model.fc1.weight.dtype == np.float32
    np.testing.assert_array_equal(model.fc1.weight.data, state["fc1.weight"].astype(np.float32))


def test_gradients_accumulate_across_backward_calls_like_torch():
    layer = snn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=0)
    twin = torch.nn.Conv2d(2, 3, 3, padding=1).double()
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.weight.data))
        twin.bias.copy_(torch.from_numpy(layer.bias.data))
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal((2, 2, 5, 5))
        g = rng.standard_normal((2, 3, 5, 5))
        layer.backward_input = layer(x)
        layer.backward(g)
        twin(torch.from_numpy(x)).backward(torch.from_numpy(g))
    np.testing.assert_allclose(layer.weight.grad, twin.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, twin.bias.grad.numpy(), rtol=1e-12)
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_zero_grad_can_keep_zeroed_arrays():
    layer = snn.Linear(3, 2, rng=0)
    layer(np.ones((1, 3), dtype=np.float32))
    layer.backward(np.ones((1, 2), dtype=np.float32))
    layer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(layer.weight.grad, np.zeros((2, 3), dtype=np.float32))


def test_frozen_parameter_gets_no_gradient():
    layer = snn.Linear(3, 2, rng=0)
    layer.weight.requires_grad = False
    layer(np.ones((1, 3), dtype=np.float32))
    layer.backward(np.ones((1, 2), dtype=np.float32))
    assert layer.weight.grad is None and layer.bias.grad is not None
    assert layer.num_parameters(trainable_only=True) == 2


def test_backward_without_forward_is_a_clear_error():
    layer = snn.Conv2d(1, 2, 3, rng=0)
    with pytest.raises(RuntimeError, match=r"Conv2d\(in_channels=1\)\.backward\(\) called without a preceding forward"):
        layer.backward(np.ones((1, 2, 1, 1), dtype=np.float32))
    model = models.SeedCNN(rng=0)
    model(np.zeros((1, 1, 28, 28), dtype=np.float32))
    model.backward(np.ones((1, 10), dtype=np.float32))
    with pytest.raises(RuntimeError, match="without a preceding forward"):  # one backward per forward
        model.backward(np.ones((1, 10), dtype=np.float32))


def test_train_eval_switches_every_submodule():
    model = models.ExamplesNet(rng=0)
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(model(x), model(x))  # dropout is off in eval
    model.train()
    assert not np.array_equal(model(x), model(x))


def test_named_parameters_order_and_sequential_access():
    model = models.SeedCNN(rng=0)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]
    assert model["conv1"] is model[0] and len(model) == 8
    seq = snn.Sequential(snn.Linear(2, 3, rng=0), snn.ReLU())
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


def test_to_converts_dtype():
    model = models.FFN(rng=0).double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model(np.zeros((1, 784))).dtype == np.float64
    with pytest.raises(ValueError, match="float32 or float64"):
        model.to(np.int32)


@pytest.mark.parametrize(
    "layer,x,message",
    [
        (snn.Conv2d(1, 8, 3, rng=0), np.zeros((2, 3, 28, 28), np.float32),
         r"Conv2d\(in_channels=1\): expected input \(N, 1, H, W\), got \(2, 3, 28, 28\)"),
        (snn.Conv2d(1, 8, 3, rng=0), np.zeros((28, 28), np.float32),
         r"Conv2d\(in_channels=1\): expected input \(N, 1, H, W\), got \(28, 28\)"),
        (snn.Conv2d(1, 8, 5, rng=0), np.zeros((1, 1, 4, 9), np.float32), r"input 4x9 .* smaller than the kernel 5x5"),
        (snn.Conv2d(1, 8, 3, rng=0), np.zeros((1, 1, 8, 8), np.float64), r"input dtype float64 does not match .* float32"),
        (snn.Linear(784, 10, rng=0), np.zeros((5, 28, 28), np.float32),
         r"Linear\(in_features=784\): expected input \(\*, 784\), got \(5, 28, 28\)"),
        (snn.Linear(4, 2, rng=0), np.zeros((5, 4), np.uint8), r"expected a float32 or float64 input, got dtype uint8"),
        (snn.MaxPool2d(2), np.zeros((4, 4), np.float32), r"MaxPool2d\(kernel_size=2\): expected input \(N, C, H, W\)"),
        (snn.MaxPool2d(3), np.zeros((1, 1, 2, 5), np.float32), r"smaller than the kernel 3x3"),
        (snn.ReLU(), [1.0, -1.0], r"ReLU: expected a numpy.ndarray, got list"),
    ],
)
def test_bad_input_is_a_clear_error_naming_the_layer(layer, x, message):
    with pytest.raises((ValueError, TypeError), match=message):
        layer(x)


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: snn.Conv2d(1, 2, 0), "kernel_size: expected int"),
        (lambda: snn.Conv2d(1, 2, 3, stride=0), "stride: expected int"),
        (lambda: snn.Conv2d(1, 2, 2, padding="same"), "padding='same' needs stride 1 and odd kernel sizes"),
        (lambda: snn.MaxPool2d(2, padding=2), "at most half the kernel size"),
        (lambda: snn.Dropout(1.5), r"p must be in \[0, 1\]"),
        (lambda: snn.Linear(0, 3), "must be >= 1"),
        (lambda: snn.Linear(2, 3, dtype=np.int64), "float32 or float64"),
    ],
)
def test_bad_configuration_is_a_clear_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_conv_same_padding_keeps_the_size():
    out = snn.Conv2d(1, 2, (3, 5), padding="same", rng=0)(np.zeros((1, 1, 7, 6), np.float32))
    assert out.shape == (1, 2, 7, 6)


@pytest.mark.parametrize("name", ["ffn", "seedcnn", "examplesnet"])
def test_backward_without_input_grad_gives_the_same_parameter_gradients_and_skips_dx(name, monkeypatch):
    from scratchnet import models, ops

    x = np.random.default_rng(1).random((4, 1, 28, 28))
    y = np.arange(4)
    grads = []
    calls = []
    for input_grad in (True, False):
        model = models.build_model(name, dtype=np.float64, rng=0)
        model.eval()  # no dropout masks: both passes see the same function
        crit = model.make_loss()
        crit(model(x), y)
        for op in ("linear_backward", "conv2d_backward"):
            real = getattr(ops, op)
            monkeypatch.setattr(ops, op, lambda *a, _real=real, _op=op, **k: calls.append((_op, k)) or _real(*a, **k))
        dx = model.backward(crit.backward(), input_grad=input_grad)
        monkeypatch.undo()
        assert (dx is None) == (not input_grad)
        grads.append({k: p.grad.copy() for k, p in model.named_parameters()})
        if not input_grad:
            assert calls[-1][1].get("need_dx") is False, "the first layer with parameters skips its input gradient"
            with pytest.raises(RuntimeError, match="without a preceding forward"):
                model.backward(np.ones((4, 10)), input_grad=False)
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        np.testing.assert_array_equal(grads[0][k], grads[1][k], err_msg=k)


def test_backward_without_input_grad_works_with_a_layer_of_ones_own():
    """Module.backward(dout, input_grad=True) is the base signature: Sequential passes input_grad=False
    to its first layer with parameters without looking at signatures, and only then."""
    from scratchnet.nn import Linear, Module, Sequential

    class Scale(Module):  # parameters, and a backward with the base signature
        def __init__(self):
            super().__init__()
            self.inner = Linear(3, 3, rng=0)

        def forward(self, x):
            return self.inner(x)

        def backward(self, dout, input_grad=True):
            return self.inner.backward(dout, input_grad=input_grad)

    net = Sequential(Scale(), Linear(3, 2, rng=1))
    net(np.ones((2, 3), dtype=np.float32))
    assert net.backward(np.ones((2, 2), dtype=np.float32), input_grad=False) is None
    assert net[0].inner.weight.grad is not None

    class OldStyle(Scale):  # a backward written before input_grad existed still works by default
        def backward(self, dout):
            return self.inner.backward(dout)

    net = Sequential(OldStyle(), Linear(3, 2, rng=1))
    net(np.ones((2, 3), dtype=np.float32))
    assert net.backward(np.ones((2, 2), dtype=np.float32)).shape == (2, 3)
    net(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="backward.*input_grad"):  # ... and says what it lacks
        net.backward(np.ones((2, 2), dtype=np.float32), input_grad=False)


def test_takes_input_grad_is_gone_from_sequential():
    import inspect

    from scratchnet.nn import module

    assert "takes_input_grad" not in inspect.getsource(module.Sequential)
    assert "inspect" not in inspect.getsource(module)  # no signature is read anywhere
    assert "input_grad" in inspect.signature(module.Module.backward).parameters