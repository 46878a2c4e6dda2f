"""Mini-batches over (x, y) arrays, shuffled reproducibly: epoch k's order depends only on (seed, k).

So a resumed run reproduces epoch k without replaying epochs 0..k-1, and the torch side can ask
for the very same index order (:func:`epoch_order`) and train on the very same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["epoch_order", "DataLoader"]


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"DataLoader: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def epoch_order(n: int, epoch: int, *, seed: int = 0, shuffle: bool = True) -> np.ndarray:
    """The order in which an epoch visits ``n`` samples.

    ``np.random.default_rng([seed, epoch]).permutation(n)`` when shuffling, else ``arange(n)``:
    a fresh permutation per epoch, the same one for the same (seed, epoch) on any machine.

    Returns
    -------
    (n,) int64 indices.
    """
    n = _check_int(n, "n", 0)
    epoch = _check_int(epoch, "epoch", 0)
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    seed = _check_int(seed, "seed", 0)
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int64, copy=False)


class DataLoader:
    """Iterate over ``(x[batch], y[batch])`` pairs, one epoch per ``iter()``.

    Parameters
    ----------
    x, y : arrays with the same first dimension N (e.g. images (N, 1, 28, 28) and labels (N,)).
    batch_size : samples per batch; the last batch may be smaller unless ``drop_last``.
    shuffle : visit samples in :func:`epoch_order` (seed, epoch) order; else in index order.
    seed : non-negative integer seed for the shuffles.
    drop_last : leave out the last, incomplete batch.
    epoch : the epoch the next ``iter()`` produces (set it to k to resume at epoch k).

    Each ``iter(loader)`` (each ``for`` loop) uses ``loader.epoch`` and then advances it by one.
    :meth:`iter_epoch` and :meth:`epoch_indices` look at any epoch without changing the state.

    Examples
    --------
    >>> loader = DataLoader(x, y, batch_size=64, shuffle=True, seed=0)
    >>> for epoch in range(3):
    ...     for xb, yb in loader:
    ...         ...
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int = 64,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        epoch: int = 0,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"DataLoader: x has {len(x)} samples but y has {len(y)}; expected the same count")
        self.x = x
        self.y = y
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.shuffle = bool(shuffle)
        self.seed = _check_int(seed, "seed", 0)
        self.drop_last = bool(drop_last)
        self.epoch = _check_int(epoch, "epoch", 0)

    @property
    def num_samples(self) -> int:
        """Samples visited per epoch (fewer than N when ``drop_last`` drops a partial batch)."""
        return len(self) * self.batch_size if self.drop_last else len(self.x)

    def __len__(self) -> int:
        """Batches per epoch."""
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` produce epoch ``epoch`` (to resume a run)."""
        self.epoch = _check_int(epoch, "epoch", 0)

    def epoch_indices(self, epoch: int | None = None) -> np.ndarray:
        """The sample indices of ``epoch`` (default: the next one) in visiting order.

        Only the samples actually visited: with ``drop_last`` the dropped tail is left out, so the
        batches are exactly ``indices[i * batch_size:(i + 1) * batch_size]``.
        """
        epoch = self.epoch if epoch is None else epoch
        return epoch_order(len(self.x), epoch, seed=self.seed, shuffle=self.shuffle)[: self.num_samples]

    def batch_indices(self, epoch: int | None = None) -> list[np.ndarray]:
        """The index array of each batch of ``epoch`` (default: the next one)."""
        order, b = self.epoch_indices(epoch), self.batch_size
        return [order[i : i + b] for i in range(0, len(order), b)]

    def iter_epoch(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the batches of ``epoch`` without changing ``self.epoch``."""
        order = self.epoch_indices(epoch)
        b = self.batch_size
        for start in range(0, len(order), b):
            if self.shuffle:
                idx = order[start : start + b]
                yield self.x[idx], self.y[idx]
            else:  # index order: slices are views, no copy
                yield self.x[start : start + b], self.y[start : start + b]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = self.epoch
        self.epoch += 1
        return self.iter_epoch(epoch)

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={len(self.x)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"seed={self.seed}, drop_last={self.drop_last}, epoch={self.epoch})"
        )
