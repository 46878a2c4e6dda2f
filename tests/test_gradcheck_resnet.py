"""Finite-difference gradient checks (float64, random upstream gradient) for ResNet's layers, the BasicBlock
with and without downsample, and resnet18 on a small input, in training and evaluation mode.

Kinks: the new smooth layers have none (LeakyReLU is kept away from 0). In the block and the network
``check_module`` leaves out the rare entries whose +-eps step changed a ReLU mask or a max-pool winner,
and the tests require that at most 10% of any tensor's entries were left out that way. In training
mode every perturbation moves the batch statistics, so *every* activation of the batch moves: the
whole network is checked with eps = 1e-6 there (with 1e-5, a perturbation of conv1's weight moves one
of its ~60k ReLU inputs across 0 more often than not; at 1e-6 none crossed, and the round-off part of
the error, ~1e-16 / eps relative, stays near 3e-8).

The network checks run on one Numba thread: results are bit-identical for any thread count, and on a
shared 2-core machine the thread hand-offs of ~100 small kernels per forward cost 20x the work itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import gradcheck, models
from scratchnet import nn as snn

THRESHOLD = 1e-7


def _assert_passes(result: gradcheck.GradCheckResult, allow_kinks: bool = False) -> None:
    if allow_kinks:
        for tensor, crossings in result.kink_crossings.items():
            assert crossings <= 0.1 * (crossings + result.checked[tensor]), str(result)
    else:
        assert result.total_kink_crossings == 0, str(result)
    assert result.passed(THRESHOLD), str(result)


def _randomise_batchnorm(model, seed=0, train_steps_input=None):
    """Non-trivial gamma and beta; and running statistics from a few training passes, for eval checks."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (snn.BatchNorm1d, snn.BatchNorm2d)) and m.affine:
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[...] = rng.standard_normal(m.num_features) * 0.3


def _warm_running_stats(model, shape, steps=3, seed=50):
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        model(rng.standard_normal(shape) * 1.5 + 0.3)
    for m in model.modules():
        object.__setattr__(m, "_cache", None)


LAYERS = [
    (lambda: snn.BatchNorm2d(3, dtype=np.float64), (4, 3, 3, 5)),
    (lambda: snn.BatchNorm2d(2, momentum=None, affine=False, dtype=np.float64), (2, 2, 3, 3)),
    (lambda: snn.BatchNorm1d(4, dtype=np.float64), (6, 4)),
    (lambda: snn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64), (3, 3, 4)),
    (lambda: snn.AvgPool2d(3, stride=2, padding=1), (2, 2, 7, 6)),
    (lambda: snn.AvgPool2d(2, count_include_pad=False, padding=1), (1, 2, 5, 5)),
    (lambda: snn.AdaptiveAvgPool2d((3, 2)), (2, 2, 7, 5)),
    (lambda: snn.AdaptiveAvgPool2d(1), (2, 3, 4, 4)),
    (lambda: snn.Sigmoid(), (3, 5)),
    (lambda: snn.Tanh(), (3, 5)),
    (lambda: snn.Identity(), (2, 3)),
    (lambda: snn.Softmax(dim=1), (3, 6)),
    (lambda: snn.Softmax(dim=0), (4, 3, 2)),
]
LAYER_IDS = ["bn2d", "bn2d-cumulative-noaffine", "bn1d", "bn1d-untracked", "avg-3-2-1", "avg-nopad-count", "adaptive-3x2",
             "global-avg", "sigmoid", "tanh", "identity", "softmax1", "softmax0"]


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("make,shape", LAYERS, ids=LAYER_IDS)
def test_resnet_layers_pass_gradcheck(make, shape, mode):
    layer = make()
    _randomise_batchnorm(layer)
    if mode == "eval":
        if isinstance(layer, (snn.BatchNorm1d, snn.BatchNorm2d)):
            _warm_running_stats(layer, shape)
        layer.eval()
    x = np.random.default_rng(1).standard_normal(shape) * 1.5 + 0.3
    _assert_passes(gradcheck.check_module(layer, x))


def test_leaky_relu_passes_gradcheck_away_from_its_kink():
    rng = np.random.default_rng(2)
    x = rng.choice([-1.0, 1.0], size=(3, 4, 5)) * rng.uniform(0.1, 1.0, size=(3, 4, 5))
    _assert_passes(gradcheck.check_module(snn.LeakyReLU(0.1), x))


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("downsample", [False, True], ids=["identity", "downsample"])
def test_basic_block_passes_gradcheck(downsample, mode, one_numba_thread):
    cin, planes, stride = (3, 4, 2) if downsample else (4, 4, 1)
    down = snn.Sequential(snn.Conv2d(cin, planes, 1, stride=stride, bias=False, dtype=np.float64, rng=1),
                          snn.BatchNorm2d(planes, dtype=np.float64)) if downsample else None
    block = snn.BasicBlock(cin, planes, stride, down, dtype=np.float64, rng=2)
    _randomise_batchnorm(block)
    shape = (3, cin, 6, 5)
    if mode == "eval":
        _warm_running_stats(block, shape)
        block.eval()
    x = np.random.default_rng(3).standard_normal(shape)
    result = gradcheck.check_module(block, x, max_entries=40)
    assert set(result.errors) == {"input"} | {n for n, _ in block.named_parameters()}
    _assert_passes(result, allow_kinks=True)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resnet18_passes_gradcheck_on_a_small_input(mode, one_numba_thread):
    """resnet18 (1 channel, 10 classes) on 4 images of 32x32 (the last stage sees 1x1 planes), float64, at 4
    random entries of every one of its 62 parameter tensors and of the input."""
    model = models.resnet18(num_classes=10, in_channels=1, dtype=np.float64, rng=3)
    _randomise_batchnorm(model, seed=4)
    shape = (4, 1, 32, 32)
    if mode == "eval":
        _warm_running_stats(model, shape)
        model.eval()
    x = np.random.default_rng(5).standard_normal(shape)
    result = gradcheck.check_module(model, x, max_entries=4, eps=1e-6 if mode == "train" else 1e-5)
    assert set(result.errors) == {"input"} | {n for n, _ in model.named_parameters()}
    _assert_passes(result, allow_kinks=True)
