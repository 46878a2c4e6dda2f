"""scratchnet's resnet18 is torchvision's: state_dict names, shapes and dtypes (buffers included), weights
loaded from a torchvision state dict file, weight exchange with torchref in both directions, the whole
network forward and backward against torchvision's; frozen parameters get no gradient and no optimiser
step; backward stops where nothing below needs a gradient; ``no_grad`` keeps nothing for backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

import scratchnet
import torchref
from torchref.transfer import state_dict_to_numpy
from scratchnet import models, optim
from scratchnet import nn as snn
from scratchnet.nn import layers as snn_layers

from .torch_twins import compare_with_torch

pytestmark = pytest.mark.usefixtures("one_numba_thread")  # see conftest: same bits, less waiting


def _workshop_torchvision() -> torch.nn.Module:
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


@pytest.mark.parametrize("in_channels,num_classes", [(3, 1000), (1, 10)], ids=["imagenet", "workshop"])
def test_state_dict_is_torchvisions(in_channels, num_classes):
    ours = models.resnet18(num_classes=num_classes, in_channels=in_channels, rng=0).state_dict()
    tv = torchvision.models.resnet18(weights=None, num_classes=num_classes) if in_channels == 3 else _workshop_torchvision()
    theirs = tv.state_dict()
    assert list(ours) == list(theirs) and len(ours) == 122
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k
        assert ours[k].dtype == theirs[k].numpy().dtype, k  # float32, and int64 num_batches_tracked
    assert "layer4.1.bn2.num_batches_tracked" in ours and "layer2.0.downsample.1.running_var" in ours
    n_params = sum(p.size for p in models.resnet18(num_classes, in_channels, rng=0).parameters())
    assert n_params == sum(p.numel() for p in tv.parameters())


def test_a_torchvision_weights_file_loads_and_gives_torchvisions_outputs(fake_imagenet_file):
    """The weights-file path with a generated state dict (ImageNet's cannot be downloaded here)."""
    path, _ = fake_imagenet_file
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours = models.resnet18(dtype=np.float64, rng=0)
    ours.load_state_dict(state_dict_to_numpy(state))
    theirs = torchvision.models.resnet18(weights=None).double()
    theirs.load_state_dict(state)
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v, state[k].numpy().astype(v.dtype), err_msg=k)
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 48))
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x), expected, rtol=0, atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_weights_move_both_ways_with_torchref(dtype):
    ours = models.resnet18(num_classes=10, in_channels=1, dtype=dtype, rng=2)
    x = np.random.default_rng(3).standard_normal((3, 1, 28, 28)).astype(dtype)
    ours(x)  # one training pass: running statistics and counters are not the initial ones
    twin = torchref.from_scratch(ours, torchref.models.resnet18(num_classes=10, in_channels=1))
    for k, v in twin.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours.state_dict()[k], err_msg=k)
    back = torchref.to_scratch(twin, models.resnet18(num_classes=10, in_channels=1, dtype=dtype, rng=99))
    for k, v in back.state_dict().items():
        np.testing.assert_array_equal(v, ours.state_dict()[k], err_msg=k)
    workshop = torchref.build_resnet18("workshop", weights="none")  # the fine-tuning model: its ``resnet``
    torchref.from_scratch(ours, workshop)
    assert torch.equal(workshop.resnet.layer3[0].bn1.running_mean,
                       torch.from_numpy(ours.layer3[0].bn1.running_mean))


@pytest.mark.slow
def test_resnet18_forward_and_backward_match_torchvision_in_train_and_eval():
    """The whole network as one layer, float64: output, dL/dx, all 62 parameter gradients and all 60 buffers
    to 1e-10, over two training steps and one evaluation."""
    ours = models.resnet18(num_classes=10, in_channels=1, dtype=np.float64, rng=4)
    twin = torchref.from_scratch(ours, _workshop_torchvision())
    rng = np.random.default_rng(5)
    for step in range(2):
        compare_with_torch(ours, rng.standard_normal((4, 1, 28, 28)), seed=step, label=f"resnet18 train {step}", twin=twin)
    ours.eval()
    compare_with_torch(ours, rng.standard_normal((3, 1, 28, 28)), seed=7, label="resnet18 eval", twin=twin)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resnet18_float32_is_as_close_to_the_float64_result_as_torchs(mode):
    """In float32 the round-off of 20 layers compounds (training-mode BatchNorm's backward subtracts means),
    so the bar for the whole network is the float64 result: scratchnet's float32 output, dL/dx and every
    parameter gradient are at least as close to it as torch's float32 ones (within 2x), and within 5e-4."""
    o32 = models.resnet18(num_classes=10, in_channels=1, dtype=np.float32, rng=4)
    o64 = models.resnet18(num_classes=10, in_channels=1, dtype=np.float64, rng=0)
    o64.load_state_dict(o32.state_dict())
    t32 = torchref.from_scratch(o32, _workshop_torchvision())
    rng = np.random.default_rng(5)
    if mode == "eval":  # running statistics from two training passes, the same on all three
        for _ in range(2):
            x = rng.standard_normal((4, 1, 28, 28))
            o64(x)
            o32(x.astype(np.float32))
            t32(torch.from_numpy(x.astype(np.float32)))
        for m in (o64, o32, t32):
            m.eval()
    x, g = rng.standard_normal((4, 1, 28, 28)), rng.standard_normal((4, 10))

    def run(model, dtype):
        model.zero_grad()
        out = model(x.astype(dtype))
        dx = model.backward(g.astype(dtype))
        return {"output": out, "grad input": dx, **{n: p.grad for n, p in model.named_parameters()}}

    truth, ours = run(o64, np.float64), run(o32, np.float32)
    tx = torch.from_numpy(x.astype(np.float32)).requires_grad_(True)
    t32.zero_grad()
    tout = t32(tx)
    tout.backward(torch.from_numpy(g.astype(np.float32)))
    theirs = {"output": tout.detach().numpy(), "grad input": tx.grad.numpy(),
              **{n: p.grad.numpy() for n, p in t32.named_parameters()}}

    def err(a, b):
        return float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max())

    for name, t in truth.items():
        e_ours, e_torch = err(ours[name], t), err(theirs[name], t)
        assert e_ours <= max(2 * e_torch, 1e-5) and e_ours <= 5e-4, (
            f"resnet18 float32 {mode} {name}: scratchnet is {e_ours:.2e} from the float64 result, torch {e_torch:.2e}")


def _freeze_all_but(model, trainable: tuple[str, ...]):
    for name, p in model.named_parameters():
        p.requires_grad = name.split(".")[0] in trainable
    return model


class _ConvSpy:
    """Counts Conv2d backward calls: (need_dx, need_dw) per call."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = snn_layers.ops.conv2d_backward

        def spy(dout, cache, need_dx=True, need_dw=True):
            self.calls.append((need_dx, need_dw))
            return real(dout, cache, need_dx=need_dx, need_dw=need_dw)

        monkeypatch.setattr(snn_layers.ops, "conv2d_backward", spy)


def _no_cache_left(model) -> bool:
    return all(m.__dict__.get("_cache") is None for m in model.modules())


def test_linear_probe_backward_visits_only_fc(monkeypatch):
    model = _freeze_all_but(models.resnet18(num_classes=10, in_channels=1, rng=5), ("fc",))
    spy = _ConvSpy(monkeypatch)
    crit = snn.CrossEntropyLoss()
    crit(model(np.random.default_rng(6).standard_normal((4, 1, 28, 28)).astype(np.float32)), np.arange(4))
    assert model.backward(crit.backward(), input_grad=False) is None
    assert spy.calls == []  # nothing below fc needs a gradient: no convolution's backward ran
    assert _no_cache_left(model)  # and nothing is held for one
    assert [n for n, p in model.named_parameters() if p.grad is not None] == ["fc.weight", "fc.bias"]


def test_workshop_freezing_computes_only_what_conv1_and_fc_need(monkeypatch):
    model = _freeze_all_but(models.resnet18(num_classes=10, in_channels=1, rng=5), ("conv1", "fc"))
    spy = _ConvSpy(monkeypatch)
    crit = snn.CrossEntropyLoss()
    crit(model(np.random.default_rng(6).standard_normal((4, 1, 28, 28)).astype(np.float32)), np.arange(4))
    model.backward(crit.backward(), input_grad=False)
    # 19 frozen convolutions pass dL/dx down without computing their weight gradient; conv1 (the last call)
    # computes its weight gradient and no dL/d(images)
    assert spy.calls == [(True, False)] * 19 + [(False, True)]
    assert [n for n, p in model.named_parameters() if p.grad is not None] == ["conv1.weight", "fc.weight", "fc.bias"]
    assert _no_cache_left(model)


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
    lambda ps: optim.Adadelta(ps, lr=1.0, weight_decay=1e-2),
], ids=["sgd", "adam", "adadelta"])
def test_optimisers_leave_frozen_parameters_alone(make_opt):
    model = _freeze_all_but(models.resnet18(num_classes=10, in_channels=1, rng=7), ("conv1", "fc"))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    opt = make_opt(list(model.parameters()))
    crit = snn.CrossEntropyLoss()
    x = np.random.default_rng(8).standard_normal((4, 1, 28, 28)).astype(np.float32)
    for _ in range(2):
        crit(model(x), np.arange(4))
        opt.zero_grad()
        model.backward(crit.backward(), input_grad=False)
        opt.step()
    after = model.state_dict()
    changed = [k for k, p in model.named_parameters() if not np.array_equal(after[k], before[k])]
    assert changed == ["conv1.weight", "fc.weight", "fc.bias"]
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)


def test_no_grad_keeps_nothing_for_backward_and_says_so():
    model = models.resnet18(num_classes=10, in_channels=1, rng=9).eval()
    x = np.random.default_rng(10).standard_normal((2, 1, 28, 28)).astype(np.float32)
    expected = model(x)
    model.backward(np.ones_like(expected))  # (clears the caches of the forward above)
    assert scratchnet.is_grad_enabled()
    with scratchnet.no_grad():
        assert not scratchnet.is_grad_enabled()
        with scratchnet.no_grad():
            pass
        assert not scratchnet.is_grad_enabled()  # nested exits restore the outer state
        out = model(x)
    assert scratchnet.is_grad_enabled()
    np.testing.assert_array_equal(out, expected)
    assert not any(isinstance(m.__dict__.get("_cache"), (np.ndarray, tuple)) for m in model.modules())
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=512\)\.backward\(\): the forward ran under scratchnet\.no_grad\(\)"):
        model.backward(np.ones_like(out))


def test_no_grad_in_training_mode_still_updates_running_statistics_like_torch():
    bn, twin = snn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    x = np.random.default_rng(11).standard_normal((4, 3, 5, 5)).astype(np.float32)
    with scratchnet.no_grad(), torch.no_grad():
        bn(x)
        twin(torch.from_numpy(x))
    np.testing.assert_allclose(bn.running_mean, twin.running_mean.numpy(), rtol=1e-6)
    assert int(bn.num_batches_tracked) == 1


def test_resnet_names_the_expected_input():
    with pytest.raises(ValueError, match=r"ResNet: expected input \(N, 1, H, W\), got \(2, 3, 28, 28\)"):
        models.resnet18(num_classes=10, in_channels=1, rng=0)(np.zeros((2, 3, 28, 28), dtype=np.float32))
