"""train_val_split and kfold_indices: disjoint, covering, reproducible, stratified proportions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet.data import kfold_indices, train_val_split


def skewed_labels(seed: int = 0) -> np.ndarray:
    counts = [50, 23, 7, 3, 1, 16]
    labels = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(seed).permutation(labels)


def assert_partition(train, val, n):
    assert len(np.intersect1d(train, val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert train.dtype == val.dtype == np.int64


@pytest.mark.parametrize("n, fraction, n_val", [(100, 0.2, 20), (10, 0.25, 3), (3, 0.2, 1), (7, 0.5, 4)])
def test_train_val_split_is_a_partition_with_the_rounded_size(n, fraction, n_val):
    train, val = train_val_split(n, fraction, seed=1)
    assert_partition(train, val, n)
    assert len(val) == n_val


def test_train_val_split_is_reproducible_per_seed():
    a, b, c = (train_val_split(100, 0.3, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_stratified_train_val_split_keeps_class_proportions():
    labels = skewed_labels()
    train, val = train_val_split(labels, 0.3, seed=2, stratify=True)
    assert_partition(train, val, len(labels))
    assert len(val) == round(len(labels) * 0.3)
    for c, n_c in enumerate(np.bincount(labels)):
        assert abs(np.sum(labels[val] == c) - n_c * 0.3) < 1


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((10, 0.0), {}, "val_fraction must be a number strictly between 0 and 1, got 0.0"),
        ((10, 1.0), {}, "strictly between 0 and 1"),
        ((10, "0.1"), {}, "strictly between 0 and 1"),
        ((10, 0.01), {}, "gives 0 validation and 10 training samples"),
        ((2, 0.9), {}, "gives 2 validation and 0 training samples"),
        ((10, 0.2), {"stratify": True}, "stratifying needs the labels array"),
        ((np.zeros((3, 2)), 0.5), {}, r"1-D labels \(N,\), got shape \(3, 2\)"),
        ((10, 0.2), {"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_train_val_split_rejects_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_val_split(*args, **kwargs)


@pytest.mark.parametrize("shuffle", [True, False])
def test_kfold_folds_partition_the_samples(shuffle):
    n, k = 23, 5
    folds = kfold_indices(n, k, seed=0, shuffle=shuffle)
    assert len(folds) == k
    for train, val in folds:
        assert_partition(train, val, n)
    vals = np.concatenate([val for _, val in folds])
    np.testing.assert_array_equal(np.sort(vals), np.arange(n))
    assert sorted(len(val) for _, val in folds) == [4, 4, 5, 5, 5]
    if not shuffle:
        assert folds[0][1].tolist() == [0, 1, 2, 3, 4]


def test_kfold_is_reproducible_and_seed_dependent():
    a, b, c = (kfold_indices(40, 4, seed=s) for s in (1, 1, 2))
    for (ta, va), (tb, vb) in zip(a, b):
        np.testing.assert_array_equal(va, vb)
    assert not all(np.array_equal(va, vc) for (_, va), (_, vc) in zip(a, c))


def test_stratified_kfold_keeps_class_proportions_within_one_sample():
    labels = skewed_labels()
    k = 5
    folds = kfold_indices(labels, k, seed=3, stratified=True)
    vals = np.concatenate([val for _, val in folds])
    np.testing.assert_array_equal(np.sort(vals), np.arange(len(labels)))
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1
    for train, val in folds:
        assert_partition(train, val, len(labels))
        for c, n_c in enumerate(np.bincount(labels)):
            assert np.sum(labels[val] == c) in (n_c // k, -(-n_c // k))


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=60), st.integers(2, 8), st.integers(0, 2**32 - 1), st.booleans())
def test_stratified_kfold_properties_hold_for_any_labels(labels, k, seed, shuffle):
    labels = np.array(labels)
    k = min(k, len(labels))
    folds = kfold_indices(labels, k, seed=seed, shuffle=shuffle, stratified=True)
    vals = np.concatenate([val for _, val in folds])
    np.testing.assert_array_equal(np.sort(vals), np.arange(len(labels)))
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1
    counts = np.bincount(labels)
    for _, val in folds:
        fold_counts = np.bincount(labels[val], minlength=len(counts))
        assert np.all(np.abs(fold_counts - counts / k) < 1)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((10, 1), {}, "k must be an integer >= 2, got 1"),
        ((10, 2.0), {}, "k must be an integer >= 2"),
        ((3, 4), {}, "k=4 folds need at least 4 samples, got 3"),
        ((10, 2), {"stratified": True}, "stratifying needs the labels array"),
        ((10, 2), {"seed": -3}, "seed must be an integer >= 0"),
    ],
)
def test_kfold_rejects_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kfold_indices(*args, **kwargs)
