"""Kernels give bit-identical results whatever the number of Numba threads, and the same seed gives
the same model."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from scratchnet import models, ops


def _conv_and_pool(x, w, b):
    out, cache = ops.conv2d_forward(x, w, b, 1, 1)
    dx, dw, db = ops.conv2d_backward(np.cos(out), cache)
    pooled, pcache = ops.maxpool2d_forward(out, 2)
    return out, dx, dw, db, pooled, ops.maxpool2d_backward(np.sin(pooled), pcache)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least 2 Numba threads")
def test_kernels_are_bit_identical_for_any_thread_count():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 8, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _conv_and_pool(x, w, b)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _conv_and_pool(x, w, b)
    finally:
        numba.set_num_threads(before)
    for a, c in zip(one, two):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("name", ["ffn", "seedcnn", "examplesnet"])
def test_same_seed_same_weights(name):
    a = models.build_model(name, rng=123).state_dict()
    b = models.build_model(name, rng=123).state_dict()
    c = models.build_model(name, rng=124).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def _short_run(threads: int):
    from scratchnet import optim
    from scratchnet.train import fit

    rng = np.random.default_rng(1)
    x = rng.random((120, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=120)
    model = models.SeedCNN(rng=5)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        hist = fit(model, optim.Adam(model.parameters(), lr=1e-3), (x, y), epochs=2, batch_size=30,
                   progress=False).to_dict()
    finally:
        numba.set_num_threads(before)
    return [(e["train_loss"], e["train_accuracy"]) for e in hist["epochs"]], model.state_dict()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least 2 Numba threads")
def test_training_runs_are_bit_identical_for_the_same_seed_whatever_the_thread_count():
    curve1, weights1 = _short_run(1)
    curve2, weights2 = _short_run(2)
    curve3, weights3 = _short_run(2)
    assert curve1 == curve2 == curve3
    for k in weights1:
        np.testing.assert_array_equal(weights1[k], weights2[k])
        np.testing.assert_array_equal(weights2[k], weights3[k])
