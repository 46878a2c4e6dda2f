"""Turn uint8 images into the float tensors models eat: scale to [0, 1], then normalise per channel.

The arithmetic follows torchvision's ``ToTensor`` then ``Normalize`` in the output dtype, so the
float32 results are bit-identical to the torch side's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["NORMALIZATION_PRESETS", "to_float", "normalize"]

#: name -> (mean, std) applied after scaling to [0, 1]; as used by the reference code.
NORMALIZATION_PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "none": ((0.0,), (1.0,)),  # /255 only
    "unit": ((0.0,), (1.0,)),  # same as "none"
    "mnist": ((0.1307,), (0.3081,)),  # MNIST training-set mean and std
    "half": ((0.5,), (0.5,)),  # maps [0, 1] to [-1, 1]
}


def to_float(images: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Scale integer pixels 0..255 to [0, 1]: ``images.astype(dtype) / 255``, same shape.

    Raises
    ------
    TypeError : ``images`` are not integers (already floats would be divided twice).
    """
    images = np.asarray(images)
    if images.dtype.kind not in "ui":
        raise TypeError(f"to_float: expected integer pixels 0..255 (uint8), got {images.dtype}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"to_float: dtype must be a float type, got {dtype}")
    return images.astype(dtype) / dtype.type(255)


def normalize(
    images: np.ndarray,
    mean: str | float | Sequence[float] = "mnist",
    std: float | Sequence[float] | None = None,
    *,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Scale to [0, 1] and normalise: ``(images / 255 - mean) / std``, as (N, C, H, W) for CNNs.

    Parameters
    ----------
    images : (N, H, W) or (N, C, H, W) integer pixels 0..255.
    mean : a preset name from :data:`NORMALIZATION_PRESETS` ("none", "unit", "mnist", "half"),
        or the mean per channel (one value or C values).
    std : the std per channel; must be omitted with a preset, required otherwise.
    dtype : float32 (default) or float64.

    Returns
    -------
    (N, 1, H, W) for (N, H, W) input, else (N, C, H, W), in ``dtype``. The FFN takes the same
    array and flattens it itself.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim != 4:
        raise ValueError(f"normalize: expected images (N, H, W) or (N, C, H, W), got shape {images.shape}")
    if isinstance(mean, str):
        if mean not in NORMALIZATION_PRESETS:
            raise ValueError(f"normalize: unknown preset {mean!r}; expected one of {', '.join(NORMALIZATION_PRESETS)}")
        if std is not None:
            raise ValueError(f"normalize: preset {mean!r} sets std; do not pass std={std!r} too")
        mean, std = NORMALIZATION_PRESETS[mean]
    elif std is None:
        raise ValueError("normalize: std is required when mean is given as numbers")
    x = to_float(images, dtype)
    channels = images.shape[1]
    m = np.atleast_1d(np.asarray(mean, dtype=x.dtype))
    s = np.atleast_1d(np.asarray(std, dtype=x.dtype))
    for label, v in (("mean", m), ("std", s)):
        if v.ndim != 1 or len(v) not in (1, channels):
            raise ValueError(f"normalize: {label} must have 1 or {channels} values (one per channel), got {v.tolist()}")
    if not np.all(s > 0):
        raise ValueError(f"normalize: std must be positive, got {s.tolist()}")
    if np.all(m == 0) and np.all(s == 1):
        return x
    return (x - m[None, :, None, None]) / s[None, :, None, None]
