"""Each fast op (Numba kernel) agrees with its obvious NumPy twin in scratchnet.ops.naive."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import ops
from scratchnet.ops import naive

CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1),
    ((1, 2, 8, 9), (3, 2, 2, 3), (2, 1), (0, 1)),
    ((3, 1, 5, 5), (2, 1, 5, 5), 1, 2),
    ((2, 4, 6, 6), (5, 4, 1, 1), 2, 0),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("xs,ws,stride,padding", CASES)
def test_conv2d_fast_equals_naive_and_im2col(xs, ws, stride, padding, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    out, cache = ops.conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(out, naive.conv2d_forward_naive(x, w, b, stride, padding), **tol)
    np.testing.assert_allclose(out, naive.conv2d_im2col(x, w, b, stride, padding), **tol)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = ops.conv2d_backward(dout, cache)
    ndx, ndw, ndb = naive.conv2d_backward_naive(dout, x, w, stride, padding)
    np.testing.assert_allclose(dx, ndx, **tol)
    np.testing.assert_allclose(dw, ndw, **tol)
    np.testing.assert_allclose(db, ndb, **tol)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), (3, 1, 1), ((2, 3), (2, 1), (1, 0))])
def test_maxpool_fast_equals_naive_including_ties_and_nan(k, s, p, ties):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(np.float64) if ties else rng.standard_normal((2, 3, 7, 8))
    x[0, 0, 2, 2] = np.nan
    out, cache = ops.maxpool2d_forward(x, k, s, p)
    nout, _ = naive.maxpool2d_forward_naive(x, k, s, p)
    np.testing.assert_array_equal(out, nout)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(ops.maxpool2d_backward(dout, cache), naive.maxpool2d_backward_naive(dout, x, k, s, p))


def test_softmax_cross_entropy_fast_equals_textbook():
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((6, 10)) * 4, rng.integers(0, 10, size=6)
    loss, dz = ops.softmax_cross_entropy(z, y)
    nloss, ndz = naive.softmax_cross_entropy_naive(z, y)
    assert loss == pytest.approx(nloss, rel=1e-12)
    np.testing.assert_allclose(dz, ndz, rtol=1e-12, atol=1e-15)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32)
    loss, dz = ops.softmax_cross_entropy(z, np.array([1, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    assert loss == pytest.approx((2e4 + (2e4 + np.log(2))) / 2, rel=1e-6)
