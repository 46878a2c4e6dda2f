"""ResNet's fast ops (Numba kernels) agree with their obvious twins in scratchnet.ops.naive: batch norm
(closed-form backward against the staged one), average and adaptive pooling, the convolution's matrix
path (im2row + products, padding-only taps left out) against the plain loops, softmax and sigmoid."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import ops
from scratchnet.ops import naive

from .parity_utils import conv_against_naive

TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}
DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("batch_stats", [True, False], ids=["batch", "running"])
@pytest.mark.parametrize("shape,affine", [((4, 3, 5, 6), True), ((2, 5), True), ((3, 2, 7), False), ((1, 4, 3, 3), True)])
def test_batchnorm_closed_form_equals_the_staged_backward(shape, affine, batch_stats, dtype):
    rng = np.random.default_rng(0)
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype) if affine else None
    beta = rng.standard_normal(C).astype(dtype) if affine else None
    rm, rv = (None, None) if batch_stats else (rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype))
    out, cache = ops.batchnorm_forward(x, gamma, beta, 1e-5, rm, rv)
    nout, ncache = naive.batchnorm_forward_naive(x.astype(np.float64), gamma if gamma is None else gamma.astype(np.float64),
                                                 beta if beta is None else beta.astype(np.float64), 1e-5,
                                                 rm if rm is None else rm.astype(np.float64),
                                                 rv if rv is None else rv.astype(np.float64))
    np.testing.assert_allclose(out, nout, **TOL[dtype])
    dout = rng.standard_normal(shape).astype(dtype)
    dx, dgamma, dbeta = ops.batchnorm_backward(dout, cache)
    ndx, ndgamma, ndbeta = naive.batchnorm_backward_naive(dout.astype(np.float64), ncache)
    np.testing.assert_allclose(dx, ndx, **TOL[dtype])
    if affine:
        np.testing.assert_allclose(dgamma, ndgamma, **TOL[dtype])
        np.testing.assert_allclose(dbeta, ndbeta, **TOL[dtype])
    else:
        assert dgamma is None and dbeta is None


def test_batchnorm_running_statistics_follow_torchs_rule():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 2, 2))
    _, cache = ops.batchnorm_forward(x, None, None)
    rm, rv = np.full(3, 0.5), np.full(3, 2.0)
    ops.update_running_stats(rm, rv, cache, 0.3)
    np.testing.assert_allclose(rm, 0.7 * 0.5 + 0.3 * x.mean(axis=(0, 2, 3)), rtol=1e-14)
    np.testing.assert_allclose(rv, 0.7 * 2.0 + 0.3 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-14)


AVG = [((2, 3, 7, 8), 2, None, 0, True, None), ((1, 2, 7, 7), 3, 2, 1, False, None), ((2, 2, 6, 5), (3, 2), (2, 1), (1, 1), True, None),
       ((1, 1, 5, 5), 3, 1, 1, True, 4)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape,k,s,p,cip,div", AVG)
def test_avgpool_fast_equals_naive(shape, k, s, p, cip, div, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    out, cache = ops.avgpool2d_forward(x, k, s, p, cip, div)
    np.testing.assert_allclose(out, naive.avgpool2d_forward_naive(x, k, s, p, cip, div), **TOL[dtype])
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_allclose(ops.avgpool2d_backward(dout, cache), naive.avgpool2d_backward_naive(dout, x, k, s, p, cip, div),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape,size", [((2, 3, 7, 7), 1), ((1, 2, 7, 9), 3), ((2, 2, 5, 6), (2, 4)), ((1, 1, 3, 3), 5),
                                        ((1, 2, 6, 7), (None, 2))])
def test_adaptive_avgpool_fast_equals_naive(shape, size, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    out, cache = ops.adaptive_avgpool2d_forward(x, size)
    np.testing.assert_allclose(out, naive.adaptive_avgpool2d_forward_naive(x, size), **TOL[dtype])
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_allclose(ops.adaptive_avgpool2d_backward(dout, cache), naive.adaptive_avgpool2d_backward_naive(dout, x),
                               **TOL[dtype])


# (x shape, w shape, stride, padding): every case takes the matrix path (strided, or a small plane with
# C*KH*KW >= 256), including taps that read only padding (3x3 on 1x1 and 2x2 planes)
MATRIX_CASES = [
    ((2, 1, 28, 28), (8, 1, 7, 7), 2, 3),
    ((2, 8, 7, 7), (16, 8, 3, 3), 2, 1),
    ((2, 8, 7, 7), (16, 8, 1, 1), 2, 0),
    ((3, 32, 7, 7), (8, 32, 3, 3), 1, 1),
    ((2, 64, 1, 1), (4, 64, 3, 3), 1, 1),
    ((2, 32, 2, 2), (4, 32, 3, 3), 2, 1),
    ((1, 300, 3, 2), (5, 300, 1, 1), 1, 0),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("xs,ws,stride,padding", MATRIX_CASES)
def test_conv2d_matrix_path_equals_naive(xs, ws, stride, padding, dtype):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    tol = TOL[dtype] if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)  # sums of up to 300 float32 terms
    cache, db, _ = conv_against_naive(x, w, None, stride, padding, tol, rng)
    assert isinstance(cache, ops.conv.Im2RowCache)
    assert db is None


def test_softmax_and_sigmoid_equal_their_textbook_twins():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5)) * 5
    for dim in (0, 1, -1):
        y, cache = ops.softmax_forward(x, dim)
        np.testing.assert_allclose(y, naive.softmax_naive(x, dim), rtol=1e-13)
        dout = rng.standard_normal(x.shape)
        np.testing.assert_allclose(ops.softmax_backward(dout, cache), naive.softmax_backward_naive(dout, y, dim), rtol=1e-12,
                                   atol=1e-14)
    x[0, 0, :2] = [800.0, -800.0]
    np.testing.assert_allclose(ops.sigmoid_forward(x)[0], naive.sigmoid_naive(x), rtol=1e-15, atol=0)


def test_resnet_kernels_are_bit_identical_for_any_thread_count():
    """Batch norm (sums per channel in a fixed order), pooling and the convolution's matrix path (im2row,
    products, row2im) give the same bits on 1 and on 2 Numba threads."""
    import numba

    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 16, 7, 7)).astype(np.float32)
    w = rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    gamma, beta = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)

    def run():
        out, cache = ops.conv2d_forward(x, w, None, 2, 1)
        dx, dw, _ = ops.conv2d_backward(np.ones_like(out) * 0.3, cache)
        bn, bcache = ops.batchnorm_forward(x, gamma, beta)
        bdx, dg, db = ops.batchnorm_backward(x[::-1].copy(), bcache)
        ap, acache = ops.avgpool2d_forward(x, 3, 2, 1)
        gp, gcache = ops.adaptive_avgpool2d_forward(x, 1)
        return [out, dx, dw, bn, bdx, dg, db, ap, ops.avgpool2d_backward(ap, acache), gp,
                ops.adaptive_avgpool2d_backward(gp, gcache)]

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run()
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
