"""to_float and normalize: scaling, presets, shapes (N, 1, H, W), and errors."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.data import NORMALIZATION_PRESETS, normalize, to_float


def images(n=3, h=4, w=5):
    return np.random.default_rng(0).integers(0, 256, (n, h, w), dtype=np.uint8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_float_divides_by_255_in_the_requested_dtype(dtype):
    x = to_float(np.array([0, 51, 255], dtype=np.uint8), dtype)
    assert x.dtype == dtype
    np.testing.assert_array_equal(x, np.array([0, 51, 255], dtype=dtype) / dtype(255))


def test_to_float_refuses_floats_so_nothing_is_divided_twice():
    with pytest.raises(TypeError, match="expected integer pixels 0..255 \\(uint8\\), got float32"):
        to_float(np.zeros(3, np.float32))


@pytest.mark.parametrize("preset, mean, std", [("mnist", 0.1307, 0.3081), ("half", 0.5, 0.5), ("none", 0.0, 1.0), ("unit", 0.0, 1.0)])
def test_presets_match_the_reference_formula(preset, mean, std):
    x = images()
    out = normalize(x, preset)
    assert out.shape == (3, 1, 4, 5) and out.dtype == np.float32
    f32 = np.float32
    expected = ((x.astype(f32) / f32(255) - f32(mean)) / f32(std))[:, None]
    np.testing.assert_array_equal(out, expected)
    assert NORMALIZATION_PRESETS[preset] == ((mean,), (std,))


def test_explicit_mean_and_std_per_channel():
    x = np.stack([images(), images()], axis=1)  # (3, 2, 4, 5)
    out = normalize(x, (0.5, 0.25), (0.5, 0.25), dtype=np.float64)
    assert out.shape == (3, 2, 4, 5) and out.dtype == np.float64
    np.testing.assert_allclose(out[:, 1], (x[:, 1] / 255 - 0.25) / 0.25)


@pytest.mark.parametrize(
    "args, message",
    [
        (("mnist", 0.3), "preset 'mnist' sets std"),
        (("imagenet",), "unknown preset 'imagenet'"),
        ((0.5,), "std is required"),
        ((0.5, 0.0), "std must be positive"),
        (((0.1, 0.2, 0.3), 0.5), "mean must have 1 or 1 values"),
    ],
)
def test_bad_normalisation_arguments_are_rejected(args, message):
    with pytest.raises(ValueError, match=message):
        normalize(images(), *args)


def test_normalize_needs_a_batch_of_images():
    with pytest.raises(ValueError, match=r"expected images \(N, H, W\) or \(N, C, H, W\), got shape \(4, 5\)"):
        normalize(images()[0])
