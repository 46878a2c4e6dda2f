"""resnet18 (1 channel, 10 classes, the workshop's shape) trains step for step like torchvision's: the same
weights, the same batches of 28x28 images, SGD with momentum and weight decay, training mode (batch
statistics) for 30 steps. Losses, final weights and every BatchNorm's running statistics agree to 1e-9 in
float64.

float32 cannot meet the bar of the other models (loss curves to 1e-4) here, and torch does not meet it
either: with batch statistics of 8 images, ReLUs and momentum, a round-off difference that moves one
activation across a kink changes the trajectory, so after two or three steps *torch's own* float32 run
leaves its float64 run by percents (1.6e-2 at step 3, 13% at step 5 on this data). So the float32 test
checks what holds: the first steps agree with torch to 1e-5, and over all 30 steps scratchnet's float32
curve stays at least as close to the float64 trajectory as torch's float32 curve does (within 2x).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

import torchref
from scratchnet import models, optim
from scratchnet import nn as snn

from .parity_utils import assert_parity, striped_batches

pytestmark = pytest.mark.usefixtures("one_numba_thread", "one_torch_thread")  # see conftest: same bits, less waiting

STEPS = 30
BATCH = 8


def _train(dtype, torch_side: bool) -> tuple[list[float], object]:
    """30 SGD steps of scratchnet's resnet18, or of torchvision's started from the very same weights."""
    ours = models.resnet18(num_classes=10, in_channels=1, dtype=dtype, rng=21)
    if torch_side:
        model = torchvision.models.resnet18(weights=None, num_classes=10)
        model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        torchref.from_scratch(ours, model).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9, weight_decay=5e-4)
        crit = torch.nn.CrossEntropyLoss()
    else:
        model = ours.train()
        opt = optim.SGD(list(model.parameters()), lr=0.002, momentum=0.9, weight_decay=5e-4)
        crit = snn.CrossEntropyLoss()
    curve = []
    for x, y in striped_batches(STEPS, BATCH, dtype, seed=2025, noise=0.1):
        if torch_side:
            loss = crit(model(torch.from_numpy(x)), torch.from_numpy(y))
            opt.zero_grad()
            loss.backward()
            curve.append(loss.item())
        else:
            curve.append(crit(model(x), y))
            opt.zero_grad()
            model.backward(crit.backward(), input_grad=False)
        opt.step()
    return curve, model


def _worst(curve, reference, label, tol, steps=slice(None)):
    curve, reference = np.array(curve)[steps], np.array(reference)[steps]
    rel = np.abs(curve - reference) / np.abs(reference)
    worst = int(np.argmax(rel))
    assert rel[worst] <= tol, (
        f"{label} loss curve: scratchnet vs torch: worst relative difference {rel[worst]:.3e} at step {worst}: "
        f"scratchnet={curve[worst]!r}, torch={reference[worst]!r}")


@pytest.mark.slow
def test_resnet18_trains_like_torchvisions_with_sgd_momentum_and_weight_decay_float64():
    curve, ours = _train(np.float64, torch_side=False)
    tcurve, theirs = _train(np.float64, torch_side=True)
    label = "resnet18 SGD float64"
    assert np.mean(curve[-10:]) < 0.6 * np.mean(curve[:10]), f"{label}: the loss did not go down: {curve}"
    _worst(curve, tcurve, label, 1e-9)
    tstate = theirs.state_dict()
    for key, value in ours.state_dict().items():  # weights, running means/variances, batch counters
        if key.endswith("num_batches_tracked"):
            assert int(value) == int(tstate[key]) == STEPS, key
        else:
            assert_parity(f"{label} final {key}", value, tstate[key], 1e-9)


@pytest.mark.slow
def test_resnet18_float32_training_stays_as_close_to_float64_as_torchs():
    curve64, _ = _train(np.float64, torch_side=False)  # the trajectory both float32 runs approximate
    curve, _ = _train(np.float32, torch_side=False)
    tcurve, _ = _train(np.float32, torch_side=True)
    label = "resnet18 SGD float32"
    assert np.mean(curve[-10:]) < 0.6 * np.mean(curve[:10]), f"{label}: the loss did not go down: {curve}"
    _worst(curve, tcurve, label, 1e-5, steps=slice(0, 2))  # before any kink is crossed
    ours_dev = np.median(np.abs(np.array(curve) - curve64) / np.abs(curve64))
    torch_dev = np.median(np.abs(np.array(tcurve) - curve64) / np.abs(curve64))
    assert ours_dev <= 2 * torch_dev + 1e-4, (
        f"{label}: median relative distance from the float64 curve: scratchnet {ours_dev:.2e}, torch {torch_dev:.2e}")
