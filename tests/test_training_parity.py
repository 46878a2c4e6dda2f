"""Whole networks train step for step like torch: same initial weights, same batches, same optimiser.

FFN, SeedCNN and ExamplesNet (dropout probabilities set to 0, so both sides compute the same function)
for 60 steps with Adam, and with Adadelta + StepLR(step_size=1, gamma=0.7) stepped every 15 steps
(as the official example steps it each epoch). The loss curves agree to 1e-9 in float64 and 1e-4
relative in float32, and so do the final weights (relative to each tensor's scale).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchref
from scratchnet import models, optim

from .parity_utils import assert_parity, striped_batches

STEPS = 60
EPOCH_STEPS = 15  # StepLR is stepped every this many steps
BATCH = {"ffn": 60, "seedcnn": 30, "examplesnet": 4}
NO_DROPOUT = {"ffn": {"dropout": 0.0}, "seedcnn": {}, "examplesnet": {"dropout1": 0.0, "dropout2": 0.0}}
# Final weights in float32: Adam and Adadelta divide by running gradient scales, so round-off in
# near-zero gradients is amplified into parameter differences of a few 1e-4 of the tensor's scale.
TOL = {np.float64: {"loss": 1e-9, "weights": 1e-8}, np.float32: {"loss": 1e-4, "weights": 5e-3}}


def _optimisers(kind: str, ours_params, theirs_params):
    if kind == "adam":
        return optim.Adam(ours_params, lr=1e-3), torch.optim.Adam(theirs_params, lr=1e-3), None, None
    o = optim.Adadelta(ours_params, lr=1.0)
    t = torch.optim.Adadelta(theirs_params, lr=1.0)
    return o, t, optim.StepLR(o, step_size=1, gamma=0.7), torch.optim.lr_scheduler.StepLR(t, step_size=1, gamma=0.7)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kind", ["adam", "adadelta-steplr"])
@pytest.mark.parametrize("name", ["ffn", "seedcnn", "examplesnet"])
def test_training_matches_torch_step_for_step(name, kind, dtype):
    ours = models.build_model(name, dtype=dtype, rng=11, **NO_DROPOUT[name])
    theirs = torchref.from_scratch(ours, torchref.build_model(name, **NO_DROPOUT[name]))
    ours_loss, theirs_loss = ours.make_loss(), torchref.models.make_loss(theirs)
    opt, topt, sched, tsched = _optimisers(kind, list(ours.parameters()), theirs.parameters())

    ours_curve, theirs_curve = [], []
    for step, (x, y) in enumerate(striped_batches(STEPS, BATCH[name], dtype, seed=2024, noise=0.3)):
        loss = ours_loss(ours(x), y)
        opt.zero_grad()
        ours.backward(ours_loss.backward())
        opt.step()
        ours_curve.append(loss)

        tloss = theirs_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        theirs_curve.append(tloss.item())

        if sched is not None and (step + 1) % EPOCH_STEPS == 0:
            sched.step()
            tsched.step()
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-15)

    label = f"{name} {kind} {np.dtype(dtype).name}"
    first, last = np.mean(ours_curve[:10]), np.mean(ours_curve[-10:])
    assert last < first, f"{label}: the loss did not go down: mean of the first 10 steps {first}, last 10 {last}"
    curve, tcurve = np.array(ours_curve), np.array(theirs_curve)
    rel = np.abs(curve - tcurve) / np.abs(tcurve)
    worst = int(np.argmax(rel))
    assert rel[worst] <= TOL[dtype]["loss"], (
        f"{label} loss curve: scratchnet vs torch: worst relative difference {rel[worst]:.3e} at step {worst}: "
        f"scratchnet={curve[worst]!r}, torch={tcurve[worst]!r}"
    )
    tstate = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert_parity(f"{label} final {key}", value, tstate[key], TOL[dtype]["weights"])
