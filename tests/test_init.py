"""Initialisation follows torch's distributions (bounds, mean, variance), seeded from a NumPy Generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scratchnet import nn as snn
from scratchnet.nn import init


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: snn.Linear(784, 512, rng=0), lambda: torch.nn.Linear(784, 512)),
        (lambda: snn.Conv2d(32, 64, 3, rng=0), lambda: torch.nn.Conv2d(32, 64, 3)),
        (lambda: snn.Conv2d(3, 200, (5, 3), rng=0), lambda: torch.nn.Conv2d(3, 200, (5, 3))),
    ],
    ids=["linear", "conv", "conv-nonsquare"],
)
def test_default_init_has_torchs_distribution(ours, theirs):
    torch.manual_seed(0)
    a, b = ours(), theirs()
    for name in ("weight", "bias"):
        ours_v = getattr(a, name).data.astype(np.float64).ravel()
        theirs_v = getattr(b, name).detach().numpy().astype(np.float64).ravel()
        fan_in = np.prod(a.weight.shape[1:])
        bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) == U(+-1/sqrt(fan_in))
        for v in (ours_v, theirs_v):
            assert v.min() >= -bound and v.max() <= bound
        n = ours_v.size
        if n < 1000:
            continue
        # U(-b, b): mean 0 with sd b/sqrt(3n), variance b^2/3; compare both to theory and to each other
        assert abs(ours_v.mean()) < 5 * bound / math.sqrt(3 * n)
        assert ours_v.var() == pytest.approx(bound**2 / 3, rel=0.05)
        assert ours_v.var() == pytest.approx(theirs_v.var(), rel=0.05)
        # the extremes reach the bound
        assert ours_v.max() > 0.99 * bound and ours_v.min() < -0.99 * bound
        # two-sample Kolmogorov-Smirnov distance of ours vs torch's draws (critical ~1.36*sqrt(2/n) at 5%)
        grid = np.sort(np.concatenate([ours_v, theirs_v]))
        ks = np.max(np.abs(np.searchsorted(np.sort(ours_v), grid, "right") / n
                           - np.searchsorted(np.sort(theirs_v), grid, "right") / theirs_v.size))
        assert ks < 1.63 * math.sqrt(2 / n)  # 1% level


@pytest.mark.parametrize(
    "fn,kwargs,std",
    [
        (init.kaiming_normal_, dict(nonlinearity="relu"), lambda fi, fo: math.sqrt(2) / math.sqrt(fi)),
        (init.xavier_normal_, dict(), lambda fi, fo: math.sqrt(2 / (fi + fo))),
        (init.kaiming_uniform_, dict(nonlinearity="relu"), lambda fi, fo: math.sqrt(2) * math.sqrt(3 / fi) / math.sqrt(3)),
        (init.xavier_uniform_, dict(gain=2.0), lambda fi, fo: 2 * math.sqrt(6 / (fi + fo)) / math.sqrt(3)),
    ],
)
def test_named_initialisers_have_the_documented_spread(fn, kwargs, std):
    w = np.empty((300, 200, 3, 3))
    fn(w, rng=1, **kwargs)
    fan_in, fan_out = 200 * 9, 300 * 9
    assert w.std() == pytest.approx(std(fan_in, fan_out), rel=0.02)
    t = torch.empty(300, 200, 3, 3, dtype=torch.float64)
    getattr(torch.nn.init, fn.__name__)(t, **kwargs)
    assert w.std() == pytest.approx(t.std().item(), rel=0.02)


def test_calculate_gain_matches_torch():
    for nl, param in [("relu", None), ("tanh", None), ("linear", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5))]:
        assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


def test_seeded_init_is_reproducible_and_the_global_seed_works():
    import scratchnet

    np.testing.assert_array_equal(snn.Linear(5, 4, rng=3).weight.data, snn.Linear(5, 4, rng=3).weight.data)
    scratchnet.manual_seed(7)
    a = snn.Linear(5, 4).weight.data
    scratchnet.manual_seed(7)
    np.testing.assert_array_equal(a, snn.Linear(5, 4).weight.data)
