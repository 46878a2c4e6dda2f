"""Finite-difference gradient checks (float64, random upstream gradient): every layer, the losses and the
three models pass with relative error < 1e-7.

How kinks are avoided: ReLU inputs are drawn with |x| >= 0.1 and max-pool inputs are a shuffled grid of
values 0.05 apart, so a step of eps = 1e-5 cannot reach a kink (``kink_margin`` asserts it), and the
tests require that no entry crossed one. For whole models, where some of ~100k hidden activations land
within a step of zero, ``check_module`` verifies for every perturbed entry that the ReLU masks and pool
winners stay those of the unperturbed pass and leaves out the rare entries whose step crossed a kink
(a difference quotient across a kink is not a derivative); the tests require that at most 10% of any
tensor's entries were left out that way, and that all the others pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import gradcheck, models
from scratchnet import nn as snn

THRESHOLD = 1e-7


def _away_from_zero(shape, rng, margin=0.1):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(margin, 1.0, size=shape)


def _distinct_grid(shape, rng, step=0.05):
    return rng.permutation(np.arange(np.prod(shape)) * step - 1.0).reshape(shape)


def _assert_passes(result: gradcheck.GradCheckResult) -> None:
    assert result.total_kink_crossings == 0, str(result)
    assert result.passed(THRESHOLD), str(result)


@pytest.mark.parametrize(
    "layer,shape",
    [
        (lambda: snn.Linear(7, 5, dtype=np.float64, rng=0), (4, 7)),
        (lambda: snn.Linear(6, 3, bias=False, dtype=np.float64, rng=0), (2, 6)),
        (lambda: snn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=0), (2, 2, 6, 5)),
        (lambda: snn.Conv2d(3, 2, (2, 3), stride=(2, 1), padding=(1, 2), dtype=np.float64, rng=0), (2, 3, 7, 6)),
        (lambda: snn.Conv2d(1, 4, 5, stride=2, padding=2, bias=False, dtype=np.float64, rng=0), (1, 1, 9, 8)),
        (lambda: snn.Flatten(), (3, 2, 4, 4)),
        (lambda: snn.LogSoftmax(dim=1), (4, 10)),
    ],
    ids=["linear", "linear-nobias", "conv-3x3-p1", "conv-nonsquare-s2", "conv-5x5-s2-p2", "flatten", "log-softmax"],
)
def test_smooth_layers_pass_gradcheck(layer, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    _assert_passes(gradcheck.check_module(layer(), x))


def test_relu_passes_gradcheck_away_from_its_kink():
    x = _away_from_zero((3, 4, 5), np.random.default_rng(2))
    layer = snn.ReLU()
    assert gradcheck.kink_margin(snn.Sequential(layer), x) >= 0.1
    _assert_passes(gradcheck.check_module(layer, x))


@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), (3, 1, 0), ((2, 3), (1, 2), (1, 1))])
def test_maxpool_passes_gradcheck_without_ties(k, s, p):
    x = _distinct_grid((2, 2, 7, 8), np.random.default_rng(3))
    layer = snn.MaxPool2d(k, stride=s, padding=p)
    assert gradcheck.kink_margin(snn.Sequential(layer), x) >= 0.05 - 1e-12
    _assert_passes(gradcheck.check_module(layer, x))


def test_dropout_passes_gradcheck_with_its_mask_replayed():
    x = np.random.default_rng(4).standard_normal((5, 8))
    _assert_passes(gradcheck.check_module(snn.Dropout(0.3, rng=5), x))


@pytest.mark.parametrize("loss", [snn.CrossEntropyLoss(), snn.CrossEntropyLoss(reduction="sum"),
                                  snn.CrossEntropyLoss(label_smoothing=0.2), snn.NLLLoss()])
def test_losses_pass_gradcheck(loss):
    rng = np.random.default_rng(6)
    scores = rng.standard_normal((5, 10)) * 3
    result = gradcheck.check_loss(loss, scores, rng.integers(0, 10, size=5))
    assert result.passed(THRESHOLD), str(result)


@pytest.mark.parametrize(
    "name,batch,entries",
    [("ffn", 3, None), ("seedcnn", 2, 60), ("examplesnet", 1, 12)],
)
def test_whole_models_pass_gradcheck(name, batch, entries):
    """Whole networks in train mode (dropout masks replayed), every parameter tensor and the input.

    FFN is checked entry by entry everywhere; the CNNs at randomly chosen entries of every tensor.
    """
    model = models.build_model(name, dtype=np.float64, rng=7)
    x = np.random.default_rng(8).standard_normal((batch, 1, 28, 28))
    if name == "ffn":
        # every weight entry of FFN would take ~220k forward passes; check the small layers fully
        # and fc1 at 2,000 random entries
        result = gradcheck.check_module(model, x, max_entries=2000)
    else:
        result = gradcheck.check_module(model, x, max_entries=entries)
    assert set(result.errors) == {"input"} | {n for n, _ in model.named_parameters()}
    for tensor, crossings in result.kink_crossings.items():
        assert crossings <= 0.1 * (crossings + result.checked[tensor]), str(result)
    assert result.passed(THRESHOLD), str(result)


class _WrongLinear(snn.Linear):
    """A Linear whose weight gradient forgets to transpose: gradcheck must catch it."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.weight.grad = self.weight.grad * 1.01
        return dx


def test_gradcheck_catches_a_wrong_gradient():
    result = gradcheck.check_module(_WrongLinear(4, 3, dtype=np.float64, rng=0), np.ones((2, 4)))
    assert result.errors["weight"] > 1e-3
    assert not result.passed(THRESHOLD)


def test_gradcheck_counts_steps_that_cross_a_relu_kink():
    x = np.array([[1e-7, -1e-7, 0.5, -0.5]])
    result = gradcheck.check_module(snn.ReLU(), x, eps=1e-5)
    assert result.kink_crossings["input"] == 2
    assert result.checked["input"] == 2


def test_gradcheck_refuses_float32():
    with pytest.raises(ValueError, match="float64"):
        gradcheck.check_module(snn.Linear(2, 2, rng=0), np.ones((1, 2), dtype=np.float32))


def test_rel_error_is_normwise_and_symmetric():
    a, b = np.array([1.0, 0.0]), np.array([1.0, 1e-12])
    assert gradcheck.rel_error(a, b) == pytest.approx(1e-12 / 2, rel=1e-6)
    assert gradcheck.rel_error(a, b) == gradcheck.rel_error(b, a)
    assert gradcheck.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gradcheck.rel_error_elementwise(a, b) == pytest.approx(1e-4)  # the exact-zero entry dominates
