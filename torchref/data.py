"""The whole data set as one tensor on the device, and batches by index in scratchnet's order.

Images travel to the device once as uint8 and are scaled and normalised there, with the same float32
arithmetic as ``scratchnet.data.normalize`` (so both sides see bit-identical inputs). Batches are
``x[idx]`` for index arrays from ``scratchnet.data.epoch_order``: no DataLoader, no per-image work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from scratchnet.data import NORMALIZATION_PRESETS, epoch_order, load_mnist_split


@dataclass
class DeviceData:
    """Images (N, 1, H, W) float and labels (N,) int64, both on one device."""

    x: torch.Tensor
    y: torch.Tensor
    normalization: str
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray | torch.Tensor) -> "DeviceData":
        """The samples at ``idx`` (copied on the device), e.g. the training folds of a k-fold split."""
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.x.device)
        return DeviceData(self.x.index_select(0, idx), self.y.index_select(0, idx), self.normalization,
                          {**self.info, "samples": int(len(idx))})


def to_device(images: np.ndarray, labels: np.ndarray, device: torch.device | str = "cpu", *,
              normalization: str = "unit", dtype: torch.dtype = torch.float32) -> DeviceData:
    """uint8 images (N, H, W) or (N, 1, H, W) and labels (N,) -> a normalised DeviceData.

    The uint8 array is copied to the device as it is (a quarter of the float size), then
    ``x / 255`` and ``(x - mean) / std`` run there once, in ``dtype``.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8:
        raise TypeError(f"to_device: expected uint8 images (pixels 0..255), got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"to_device: expected images (N, H, W) or (N, 1, H, W), got shape {images.shape}")
    if len(images) != len(labels):
        raise ValueError(f"to_device: {len(images)} images but {len(labels)} labels; expected the same count")
    if normalization not in NORMALIZATION_PRESETS:
        raise ValueError(f"to_device: unknown normalization {normalization!r}; expected one of {', '.join(NORMALIZATION_PRESETS)}")
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).to(dtype).div_(255)
    (mean,), (std,) = NORMALIZATION_PRESETS[normalization]
    if mean != 0.0 or std != 1.0:
        x.sub_(torch.tensor(mean, dtype=dtype)).div_(torch.tensor(std, dtype=dtype))
    y = torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64, copy=False)).to(device)
    return DeviceData(x, y, normalization, {"samples": int(len(labels))})


def load_device_mnist(data_dir: str | None, split: str, device: torch.device | str = "cpu", *,
                      normalization: str = "unit", subset: int | None = None,
                      dtype: torch.dtype = torch.float32) -> DeviceData:
    """One MNIST split (scratchnet's IDX reader and locate rules) as a DeviceData; ``subset``: the first N."""
    data = load_mnist_split(data_dir, split)
    out = to_device(data.images[:subset or None], data.labels[:subset or None], device, normalization=normalization,
                    dtype=dtype)  # no subset (None or 0): all images
    out.info.update({"split": split, "directory": str(data.directory)})
    return out


def batch_indices(n: int, epoch: int, batch_size: int, *, seed: int = 0, shuffle: bool = True,
                  drop_last: bool = False) -> list[np.ndarray]:
    """The index array of each batch of ``epoch``: exactly ``scratchnet.data.DataLoader.batch_indices``."""
    order = epoch_order(n, epoch, seed=seed, shuffle=shuffle)
    if drop_last:
        order = order[: (n // batch_size) * batch_size]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


__all__ = ["DeviceData", "to_device", "load_device_mnist", "batch_indices"]
