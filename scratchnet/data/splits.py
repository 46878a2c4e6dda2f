"""Reproducible train/validation splits and k-fold cross-validation indices, optionally stratified.

Stratified means each class is split on its own, so every part keeps the class proportions of the
whole to within one sample per class.
"""

from __future__ import annotations

import numpy as np

__all__ = ["train_val_split", "kfold_indices"]


def _as_labels(n_or_labels, where: str, need_labels: bool) -> tuple[int, np.ndarray | None]:
    """(n, labels or None) from an int or a 1-D labels array."""
    if isinstance(n_or_labels, (int, np.integer)) and not isinstance(n_or_labels, bool):
        if need_labels:
            raise ValueError(f"{where}: stratifying needs the labels array, got the int {n_or_labels}")
        if n_or_labels < 0:
            raise ValueError(f"{where}: n must be >= 0, got {n_or_labels}")
        return int(n_or_labels), None
    labels = np.asarray(n_or_labels)
    if labels.ndim != 1:
        raise ValueError(f"{where}: expected an int n or 1-D labels (N,), got shape {labels.shape}")
    return len(labels), labels


def _check_seed(seed, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{where}: seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _class_members(labels: np.ndarray, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Indices of each class (classes in sorted order), shuffled by ``rng`` if given."""
    _, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    members = np.split(order, np.cumsum(counts)[:-1])
    return [rng.permutation(m) if rng is not None else m for m in members]


def train_val_split(
    n_or_labels: int | np.ndarray,
    val_fraction: float = 0.1,
    seed: int = 0,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into a training part and a validation part.

    Parameters
    ----------
    n_or_labels : number of samples N, or the (N,) labels (required when ``stratify``).
    val_fraction : share of samples for validation, in (0, 1); the validation part has
        ``round(N * val_fraction)`` samples (halves rounded up), at least 1 and at most N - 1.
    seed : the shuffle's seed; the same seed gives the same split.
    stratify : give each class ``floor`` or ``ceil`` of ``n_c * val_fraction`` validation samples
        (largest remainders first, ties to the smaller class label).

    Returns
    -------
    train_idx, val_idx : sorted int64 index arrays, disjoint, together covering 0..N-1.
    """
    where = "train_val_split"
    n, labels = _as_labels(n_or_labels, where, stratify)
    seed = _check_seed(seed, where)
    is_number = isinstance(val_fraction, (float, int, np.floating, np.integer)) and not isinstance(val_fraction, bool)
    if not is_number or not 0 < val_fraction < 1:
        raise ValueError(f"{where}: val_fraction must be a number strictly between 0 and 1, got {val_fraction!r}")
    n_val = int(np.floor(n * val_fraction + 0.5))
    if not 1 <= n_val <= n - 1:
        raise ValueError(
            f"{where}: val_fraction={val_fraction} of {n} samples gives {n_val} validation and "
            f"{n - n_val} training samples; expected at least 1 of each"
        )
    rng = np.random.default_rng(seed)
    if not stratify:
        val = rng.permutation(n)[:n_val]
    else:
        members = _class_members(labels, rng)
        exact = np.array([len(m) * val_fraction for m in members])
        take = np.floor(exact).astype(np.int64)
        extra = n_val - int(take.sum())
        by_remainder = np.argsort(-(exact - take), kind="stable")
        take[by_remainder[:extra]] += 1
        val = np.concatenate([m[:k] for m, k in zip(members, take)])
    is_val = np.zeros(n, dtype=bool)
    is_val[val] = True
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def kfold_indices(
    n_or_labels: int | np.ndarray,
    k: int = 5,
    seed: int = 0,
    shuffle: bool = True,
    stratified: bool = False,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Indices for k-fold cross-validation.

    Parameters
    ----------
    n_or_labels : number of samples N, or the (N,) labels (required when ``stratified``).
    k : number of folds, 2 <= k <= N.
    seed : the shuffle's seed (ignored without ``shuffle``).
    shuffle : shuffle before cutting folds; else folds are consecutive (per class, if stratified).
    stratified : each fold gets ``floor`` or ``ceil`` of ``n_c / k`` samples of each class c; the
        leftover samples go round the folds so fold sizes still differ by at most one.
        A class with fewer than k samples is allowed (some folds then lack it).

    Returns
    -------
    folds : k pairs ``(train_idx, val_idx)`` of sorted int64 arrays; each pair is disjoint and covers
        0..N-1, and the k validation parts cover every sample exactly once.
    """
    where = "kfold_indices"
    n, labels = _as_labels(n_or_labels, where, stratified)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"{where}: k must be an integer >= 2, got {k!r}")
    if k > n:
        raise ValueError(f"{where}: k={k} folds need at least {k} samples, got {n}")
    rng = np.random.default_rng(_check_seed(seed, where)) if shuffle else None
    fold_of = np.empty(n, dtype=np.int64)
    if not stratified:
        order = rng.permutation(n) if rng is not None else np.arange(n)
        for f, part in enumerate(np.array_split(order, k)):
            fold_of[part] = f
    else:
        offset = 0  # where the next class's leftovers start, so they spread over the folds
        for m in _class_members(labels, rng):
            base, left = divmod(len(m), k)
            sizes = np.full(k, base)
            sizes[(offset + np.arange(left)) % k] += 1
            offset = (offset + left) % k
            fold_of[m] = np.repeat(np.arange(k), sizes)
    folds = []
    for f in range(k):
        in_fold = fold_of == f
        folds.append((np.flatnonzero(~in_fold).astype(np.int64), np.flatnonzero(in_fold).astype(np.int64)))
    return folds
