"""ResNet's layers agree with their torch twins: BatchNorm (train steps, running statistics, eval), average
and adaptive pooling, the stem's max-pool, bias-free strided and 1x1 convolutions, the smooth activations
and softmax, and the BasicBlock — forward, input gradient, parameter gradients and buffers, float64 to
1e-10 and float32 to 1e-5 relative (``tests/torch_twins.compare_with_torch``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from scratchnet import nn as snn

from .torch_twins import RTOL, TORCH_DTYPE, compare_with_torch

DTYPES = [np.float64, np.float32]
IDS = ["f64", "f32"]


def _x(shape, dtype, seed=0, scale=2.0, shift=0.5):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(dtype)


# (layer class, input shape): batch 1 and 2 where torch allows them in training, odd sizes
BN_SHAPES = [
    (snn.BatchNorm2d, (1, 3, 5, 7)),
    (snn.BatchNorm2d, (2, 4, 3, 3)),
    (snn.BatchNorm2d, (5, 2, 1, 2)),
    (snn.BatchNorm2d, (8, 16, 7, 7)),
    (snn.BatchNorm1d, (2, 5)),
    (snn.BatchNorm1d, (7, 3)),
    (snn.BatchNorm1d, (1, 4, 3)),
    (snn.BatchNorm1d, (3, 2, 5)),
]
BN_OPTIONS = [  # (momentum, affine, track_running_stats)
    (0.1, True, True),
    (None, True, True),
    (0.5, False, True),
    (0.0, True, True),
    (1.0, True, False),
    (0.1, False, False),
]


def _bn_term_scale(layer, x) -> float:
    """max |dout| * max |gamma| * max invstd: the size of the terms dL/dx is summed from (dout ~ N(0, 1))."""
    axes = (0,) + tuple(range(2, x.ndim))
    var = layer.running_var if not layer.training and layer.running_var is not None else x.astype(np.float64).var(axis=axes)
    gamma = 1.0 if layer.weight is None else float(np.max(np.abs(layer.weight.data)))
    return 4.0 * gamma * float(np.max(1.0 / np.sqrt(var.astype(np.float64) + layer.eps)))


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("options", BN_OPTIONS, ids=lambda o: f"m{o[0]}-affine{int(o[1])}-track{int(o[2])}")
@pytest.mark.parametrize("cls,shape", BN_SHAPES, ids=[f"{c.__name__}{s}" for c, s in BN_SHAPES])
def test_batchnorm_matches_torch_over_training_steps_then_eval(cls, shape, options, dtype):
    momentum, affine, track = options
    layer = cls(shape[1], momentum=momentum, affine=affine, track_running_stats=track, dtype=dtype)
    if affine:  # not the ones/zeros of a fresh layer
        rng = np.random.default_rng(1)
        layer.weight.data[...] = rng.uniform(0.5, 1.5, shape[1])
        layer.bias.data[...] = rng.standard_normal(shape[1])
    twin = None
    for step in range(3):  # training: batch statistics, running statistics updated
        label = f"{layer!r} train step {step}"
        x = _x(shape, dtype, seed=10 + step, shift=step)
        twin = compare_with_torch(layer, x, seed=step, label=label, twin=twin, dx_scale=_bn_term_scale(layer, x))
    layer.eval()
    for step in range(2):  # evaluation: the running statistics (or the batch's, without them)
        x = _x(shape, dtype, seed=20 + step)
        twin = compare_with_torch(layer, x, seed=5 + step, label=f"{layer!r} eval {step}", twin=twin,
                                  dx_scale=_bn_term_scale(layer, x))
    if track:
        assert int(layer.num_batches_tracked) == 3 == int(twin.num_batches_tracked)


@pytest.mark.parametrize("cls,shape", [(snn.BatchNorm1d, (1, 4)), (snn.BatchNorm2d, (1, 3, 1, 1))])
def test_batchnorm_refuses_one_value_per_channel_in_training_like_torch(cls, shape):
    x = np.ones(shape, dtype=np.float32)
    layer = cls(shape[1])
    twin = getattr(torch.nn, cls.__name__)(shape[1])
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        twin(torch.from_numpy(x))
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(num_features={shape[1]}\): expected more than 1 value per channel"):
        layer(x)
    layer.eval()
    twin.eval()
    np.testing.assert_allclose(layer(x), twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)


def test_batchnorm_names_itself_and_the_expected_shape():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(num_features=64\): expected input \(N, 64, H, W\), got \(8, 3, 28, 28\)"):
        snn.BatchNorm2d(64)(np.zeros((8, 3, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(num_features=4\): expected input \(N, 4\) or \(N, 4, L\)"):
        snn.BatchNorm1d(4)(np.zeros((2, 4, 3, 3), dtype=np.float32))
    layer = snn.BatchNorm2d(2)
    layer(np.random.default_rng(0).standard_normal((2, 2, 3, 3)).astype(np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(num_features=2\): expected upstream gradient \(2, 2, 3, 3\) float32, got \(2, 2, 3\) float32"):
        layer.backward(np.zeros((2, 2, 3), dtype=np.float32))


def test_batchnorm_state_dict_is_torchs():
    for kwargs in ({}, {"affine": False}, {"track_running_stats": False}):
        ours = snn.BatchNorm2d(3, **kwargs).state_dict()
        theirs = torch.nn.BatchNorm2d(3, **kwargs).state_dict()
        assert list(ours) == list(theirs)
        for k in ours:
            assert ours[k].shape == tuple(theirs[k].shape) and ours[k].dtype == theirs[k].numpy().dtype, k


AVG_CASES = [  # (shape, kernel, stride, padding, count_include_pad, divisor_override)
    ((2, 3, 7, 9), 2, None, 0, True, None),
    ((1, 2, 7, 7), 3, 2, 1, True, None),
    ((1, 2, 7, 7), 3, 2, 1, False, None),
    ((2, 1, 6, 5), (3, 2), (1, 2), (1, 1), False, None),
    ((3, 2, 8, 8), 2, 1, 1, True, 3),
    ((1, 1, 5, 6), 5, 1, 2, False, None),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("case", AVG_CASES, ids=[f"avg{i}" for i in range(len(AVG_CASES))])
def test_avgpool2d_matches_torch(case, dtype):
    shape, k, s, p, cip, div = case
    layer = snn.AvgPool2d(k, stride=s, padding=p, count_include_pad=cip, divisor_override=div)
    compare_with_torch(layer, _x(shape, dtype), label=f"AvgPool2d{case}")


ADAPTIVE_CASES = [  # (shape, output_size): divisible, overlapping windows, None, global, larger output
    ((2, 3, 7, 7), 1),
    ((2, 3, 7, 7), (1, 1)),
    ((1, 2, 7, 9), 3),
    ((2, 2, 5, 6), (2, 4)),
    ((1, 1, 10, 10), 5),
    ((1, 2, 6, 7), (None, 2)),
    ((2, 1, 3, 3), 5),
    ((4, 512, 1, 1), (1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=[f"adaptive{i}" for i in range(len(ADAPTIVE_CASES))])
def test_adaptive_avgpool2d_matches_torch(case, dtype):
    shape, size = case
    compare_with_torch(snn.AdaptiveAvgPool2d(size), _x(shape, dtype), label=f"AdaptiveAvgPool2d{case}")


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("shape", [(2, 4, 14, 14), (1, 3, 7, 7), (2, 2, 4, 5), (1, 1, 1, 1)])
def test_resnet_stem_maxpool_matches_torch_including_ties(shape, dtype, ties):
    rng = np.random.default_rng(3)
    x = np.maximum(rng.integers(-2, 3, size=shape), 0).astype(dtype) if ties else rng.standard_normal(shape).astype(dtype)
    compare_with_torch(snn.MaxPool2d(3, stride=2, padding=1), x, label=f"MaxPool2d(3, 2, 1){shape}")


CONV_CASES = [  # (batch, in, out, (H, W), kernel, stride, padding): ResNet's convolutions, bias-free
    (2, 1, 8, (28, 28), 7, 2, 3),  # the stem
    (2, 8, 16, (7, 7), 3, 2, 1),  # a stage's first conv
    (2, 8, 16, (7, 7), 1, 2, 0),  # its downsample
    (3, 32, 16, (7, 7), 3, 1, 1),  # a small plane with many channels (matrix path)
    (2, 64, 8, (2, 2), 3, 1, 1),
    (2, 64, 8, (1, 1), 3, 1, 1),  # only the centre tap reads the input
    (2, 32, 16, (2, 2), 3, 2, 1),
    (1, 48, 12, (3, 5), 1, 1, 0),
    (2, 3, 5, (9, 8), 1, 2, 0),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_bias_free_resnet_convolutions_match_torch(case, dtype):
    n, cin, cout, (h, w), k, s, p = case
    layer = snn.Conv2d(cin, cout, k, stride=s, padding=p, bias=False, dtype=dtype, rng=1)
    compare_with_torch(layer, _x((n, cin, h, w), dtype), label=f"Conv2d{case}")


ACTIVATIONS = [
    (lambda: snn.Sigmoid(), (3, 4, 5)),
    (lambda: snn.Tanh(), (2, 7)),
    (lambda: snn.LeakyReLU(), (2, 3, 4, 4)),
    (lambda: snn.LeakyReLU(0.2), (5, 6)),
    (lambda: snn.Identity(54, unused=1), (2, 3)),
    (lambda: snn.Softmax(dim=1), (4, 10)),
    (lambda: snn.Softmax(dim=0), (3, 5)),
    (lambda: snn.Softmax(dim=-1), (2, 3, 6)),
    (lambda: snn.LogSoftmax(dim=1), (4, 10)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("make,shape", ACTIVATIONS, ids=["sigmoid", "tanh", "leaky", "leaky0.2", "identity", "softmax1",
                                                          "softmax0", "softmax-1", "logsoftmax"])
def test_activations_match_torch(make, shape, dtype):
    x = _x(shape, dtype, scale=4.0, shift=0.0)
    x.reshape(-1)[:2] = [30.0, -30.0]  # saturated ends stay finite and exact
    if isinstance(make(), snn.LeakyReLU):
        x.reshape(-1)[2] = 0.0  # the kink: torch passes negative_slope * dout at 0
    compare_with_torch(make(), x, label=repr(make()))


def _torchvision_block(block: snn.BasicBlock, dtype) -> torch.nn.Module:
    cin, planes = block.conv1.in_channels, block.conv1.out_channels
    down = None
    if block.downsample is not None:
        down = torch.nn.Sequential(torch.nn.Conv2d(cin, planes, 1, block.stride, bias=False), torch.nn.BatchNorm2d(planes))
    twin = torchvision.models.resnet.BasicBlock(cin, planes, block.stride, down).to(TORCH_DTYPE[dtype])
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in block.state_dict().items()})
    return twin


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("downsample", [False, True], ids=["identity", "downsample"])
def test_basic_block_matches_torchvisions_over_training_steps_then_eval(downsample, dtype):
    cin, planes, stride = (4, 8, 2) if downsample else (6, 6, 1)
    down = snn.Sequential(snn.Conv2d(cin, planes, 1, stride=stride, bias=False, dtype=dtype, rng=2),
                          snn.BatchNorm2d(planes, dtype=dtype)) if downsample else None
    block = snn.BasicBlock(cin, planes, stride, down, dtype=dtype, rng=3)
    rng = np.random.default_rng(4)
    for m in block.modules():
        if isinstance(m, snn.BatchNorm2d):
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[...] = rng.standard_normal(m.num_features) * 0.3
    twin = _torchvision_block(block, dtype)
    for step in range(2):
        compare_with_torch(block, _x((3, cin, 7, 6), dtype, seed=step), seed=step, label=f"BasicBlock train {step}", twin=twin)
    block.eval()
    compare_with_torch(block, _x((2, cin, 7, 6), dtype, seed=9), seed=9, label="BasicBlock eval", twin=twin)
