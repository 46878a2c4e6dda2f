"""Every layer agrees with its torch twin: forward, input gradient, parameter gradients, float32 and float64."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from scratchnet import nn as snn

from .parity_utils import assert_parity
from .torch_twins import compare_with_torch

DTYPES = [np.float64, np.float32]

# (batch, in_ch, out_ch, (H, W), kernel, stride, padding, bias): batch 1 and >1, odd and non-square
# sizes, stride 1 and 2, padding 0/1/2, kernels 1/2/3/5 and non-square kernels.
CONV_CASES = [
    (1, 1, 1, (5, 5), 1, 1, 0, True),
    (2, 3, 4, (7, 9), 3, 1, 1, True),
    (3, 2, 5, (8, 6), 2, 2, 0, True),
    (1, 4, 3, (11, 7), 5, 1, 2, False),
    (2, 3, 2, (9, 9), 3, 2, 1, True),
    (2, 1, 8, (28, 28), 3, 1, 1, True),
    (2, 8, 16, (14, 14), 3, 1, 1, True),
    (1, 2, 3, (6, 10), (3, 5), (1, 2), (1, 2), True),
    (2, 3, 2, (5, 7), (2, 3), (2, 1), 0, False),
    (3, 2, 4, (10, 8), 5, 2, 2, True),
    (1, 3, 6, (4, 4), 1, 2, 1, True),
    (2, 2, 2, (3, 5), (3, 1), 1, (0, 2), True),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_conv2d_matches_torch(case, dtype):
    n, cin, cout, (h, w), k, s, p, bias = case
    layer = snn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias, dtype=dtype, rng=1)
    x = np.random.default_rng(2).standard_normal((n, cin, h, w)).astype(dtype)
    compare_with_torch(layer, x, label=f"Conv2d{case}")


POOL_CASES = [
    # (batch, ch, (H, W), kernel, stride, padding)
    (1, 1, (4, 4), 2, None, 0),
    (2, 3, (7, 9), 2, None, 0),
    (2, 2, (7, 7), 3, 2, 1),
    (1, 3, (6, 8), 3, 1, 0),
    (2, 2, (5, 6), (2, 3), (1, 2), (1, 1)),
    (3, 4, (28, 28), 2, 2, 0),
    (1, 2, (9, 5), 3, 3, 1),
    (2, 1, (8, 8), 2, 1, 1),
]


def _pool_input(shape, dtype, ties: bool, seed: int = 3):
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: windows hold several equal maxima (and ReLU-like zeros)
        return np.maximum(rng.integers(-2, 3, size=shape), 0).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[f"pool{i}" for i in range(len(POOL_CASES))])
def test_maxpool2d_matches_torch_including_ties(case, dtype, ties):
    n, c, (h, w), k, s, p = case
    layer = snn.MaxPool2d(k, stride=s, padding=p)
    compare_with_torch(layer, _pool_input((n, c, h, w), dtype, ties), label=f"MaxPool2d{case}")


def test_maxpool2d_propagates_nan_like_torch():
    x = np.arange(2 * 6 * 6, dtype=np.float64).reshape(1, 2, 6, 6)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 4, 5] = np.nan
    compare_with_torch(snn.MaxPool2d(3, stride=2, padding=1), x, label="MaxPool2d with NaN")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape,fin,fout,bias", [((1, 5), 5, 3, True), ((7, 784), 784, 128, True), ((4, 3, 6), 6, 2, False)])
def test_linear_matches_torch(shape, fin, fout, bias, dtype):
    layer = snn.Linear(fin, fout, bias=bias, dtype=dtype, rng=4)
    x = np.random.default_rng(5).standard_normal(shape).astype(dtype)
    compare_with_torch(layer, x, label=f"Linear{shape}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_relu_matches_torch_including_exact_zeros(dtype):
    x = np.random.default_rng(6).standard_normal((3, 4, 5, 5)).astype(dtype)
    x[0, 0, :2, :] = 0.0  # the kink itself: torch passes no gradient at 0
    compare_with_torch(snn.ReLU(), x, label="ReLU")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("start,end", [(1, -1), (2, 3), (0, 1)])
def test_flatten_matches_torch(start, end, dtype):
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 5)).astype(dtype)
    compare_with_torch(snn.Flatten(start, end), x, label=f"Flatten({start}, {end})")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_log_softmax_matches_torch(dtype):
    x = (np.random.default_rng(8).standard_normal((6, 10)) * 5).astype(dtype)
    compare_with_torch(snn.LogSoftmax(dim=1), x, label="LogSoftmax")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4], ids=["unit", "large", "1e4"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0], ids=["hard", "smooth0.1", "smooth1"])
def test_cross_entropy_matches_torch_and_stays_finite(scale, reduction, dtype, smoothing):
    rng = np.random.default_rng(9)
    z = (rng.standard_normal((5, 10)) * scale).astype(dtype)
    y = rng.integers(0, 10, size=5)
    crit = snn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)
    loss = crit(z, y)
    tz = torch.from_numpy(z.copy()).requires_grad_(True)
    tloss = torch.nn.functional.cross_entropy(tz, torch.from_numpy(y), reduction=reduction, label_smoothing=smoothing)
    tloss.backward()
    assert np.isfinite(loss)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert_parity(f"CrossEntropyLoss(x{scale}) value", np.array(loss), tloss, rtol)
    assert_parity(f"CrossEntropyLoss(x{scale}) grad", crit.backward(), tz.grad, rtol)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_nll_loss_matches_torch(dtype):
    rng = np.random.default_rng(10)
    logp = np.log(rng.dirichlet(np.ones(10), size=7)).astype(dtype)
    y = rng.integers(0, 10, size=7)
    crit = snn.NLLLoss()
    loss = crit(logp, y)
    tl = torch.from_numpy(logp.copy()).requires_grad_(True)
    tloss = torch.nn.functional.nll_loss(tl, torch.from_numpy(y))
    tloss.backward()
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert_parity("NLLLoss value", np.array(loss), tloss, rtol)
    assert_parity("NLLLoss grad", crit.backward(), tl.grad, rtol)


@pytest.mark.parametrize("crit", [snn.CrossEntropyLoss(), snn.NLLLoss()], ids=["ce", "nll"])
@pytest.mark.parametrize("labels", [[0, 10, 2], [-1, 0, 1]], ids=["too-big", "negative"])
def test_losses_reject_labels_out_of_range(crit, labels):
    with pytest.raises(ValueError, match=r"out of range: expected 0 <= label < 10"):
        crit(np.zeros((3, 10), dtype=np.float32), np.array(labels))


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", True, float("nan")])
def test_cross_entropy_rejects_label_smoothing_outside_0_1(bad):
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: label_smoothing must be a number between 0\.0 and 1\.0"):
        snn.CrossEntropyLoss(label_smoothing=bad)


def test_losses_reject_float_labels_and_wrong_shapes():
    crit = snn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="integer class labels"):
        crit(np.zeros((2, 10), dtype=np.float32), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target of shape \(2,\)"):
        crit(np.zeros((2, 10), dtype=np.float32), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"scores of shape \(N, num_classes\)"):
        crit(np.zeros((2, 10, 1), dtype=np.float32), np.array([1, 2]))


def test_dropout_is_inverted_and_identity_in_eval():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((200, 500))
    layer = snn.Dropout(0.2, rng=12)
    out = layer(x)
    kept = out != 0
    assert abs(kept.mean() - 0.8) < 0.007  # 100k Bernoulli(0.8) draws: sigma 0.0013, so 5 sigma
    scale = 1.0 / 0.8  # torch's mask.div_(1 - p), then input * mask
    np.testing.assert_array_equal(out[kept], x[kept] * scale)
    up = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(up), np.where(kept, up * scale, 0.0))
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(up), up)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_edge_probabilities_match_torch(p):
    x = np.random.default_rng(13).standard_normal((4, 6)).astype(np.float32)
    out = snn.Dropout(p, rng=0)(x)
    tout = torch.nn.functional.dropout(torch.from_numpy(x), p=p, training=True)
    np.testing.assert_array_equal(out, tout.numpy())


def test_dropout_same_seed_same_mask():
    x = np.ones((10, 10), dtype=np.float32)
    a = snn.Dropout(0.5, rng=3)(x)
    b = snn.Dropout(0.5, rng=3)(x)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "k,s,p", list(itertools.product([1, 2, 3, 5], [1, 2], [0, 1, 2])), ids=lambda v: str(v)
)
def test_conv2d_sweep_float64_against_torch(k, s, p):
    """The full kernel x stride x padding grid on an odd, non-square input, float64."""
    if k + 2 * p > 9:
        pytest.skip("kernel larger than the padded input")
    layer = snn.Conv2d(2, 3, k, stride=s, padding=p, dtype=np.float64, rng=k * 100 + s * 10 + p)
    x = np.random.default_rng(k + s + p).standard_normal((2, 2, 7, 9))
    compare_with_torch(layer, x, label=f"Conv2d(k={k}, s={s}, p={p})")
