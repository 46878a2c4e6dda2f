"""Each fast op (Numba kernel) agrees with its obvious NumPy twin in scratchnet.ops.naive."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import ops
from scratchnet.ops import naive

from .parity_utils import conv_against_naive

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
    np.testing.assert_allclose(naive.conv2d_im2col(x, w, b, stride, padding),
                               naive.conv2d_forward_naive(x, w, b, stride, padding), **tol)
    _, db, ndb = conv_against_naive(x, w, b, stride, padding, tol, rng)
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


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_fast_equals_textbook(smoothing):
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((6, 10)) * 4, rng.integers(0, 10, size=6)
    loss, dz = ops.softmax_cross_entropy(z, y, label_smoothing=smoothing)
    nloss, ndz = naive.softmax_cross_entropy_naive(z, y, label_smoothing=smoothing)
    assert loss == pytest.approx(nloss, rel=1e-12)
    np.testing.assert_allclose(dz, ndz, rtol=1e-12, atol=1e-15)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32)
    loss, dz = ops.softmax_cross_entropy(z, np.array([1, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    assert loss == pytest.approx((2e4 + (2e4 + np.log(2))) / 2, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lead,n_in,n_out,bias", [((6,), 5, 3, True), ((2, 3), 7, 4, False), ((0,), 4, 2, True),
                                                   ((60,), 784, 128, True)])
def test_linear_fast_equals_naive(lead, n_in, n_out, bias, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((*lead, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype) if bias else None
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-4)
    out, cache = ops.linear_forward(x, w, b)
    np.testing.assert_allclose(out, naive.linear_forward_naive(x, w, b), **tol)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = ops.linear_backward(dout, cache)
    ndx, ndw, ndb = naive.linear_backward_naive(dout, x, w)
    np.testing.assert_allclose(dx, ndx, **tol)
    np.testing.assert_allclose(dw, ndw, **tol)
    if bias:
        np.testing.assert_allclose(db, ndb, **tol)
    else:
        assert db is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_fast_equals_naive_including_zero_nan_and_negative_zero(dtype):
    x = np.random.default_rng(4).standard_normal((3, 4, 5)).astype(dtype)
    x[0, 0, :4] = [0.0, -0.0, np.nan, -np.inf]
    out, mask = ops.relu_forward(x)
    nout, nmask = naive.relu_forward_naive(x)
    np.testing.assert_array_equal(out, nout)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(nout))  # -0.0 stays -0.0 in both
    np.testing.assert_array_equal(mask, nmask)
    dout = np.random.default_rng(5).standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(ops.relu_backward(dout, mask), naive.relu_backward_naive(dout, x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p,training", [(0.2, True), (0.5, True), (0.0, True), (1.0, True), (0.5, False)])
def test_dropout_fast_equals_naive_with_the_same_generator(p, training, dtype):
    x = np.random.default_rng(6).standard_normal((7, 9)).astype(dtype)
    out, mask = ops.dropout_forward(x, p, np.random.default_rng(7), training)
    nout, keep = naive.dropout_forward_naive(x, p, np.random.default_rng(7), training)
    np.testing.assert_array_equal(out, nout)
    dout = np.random.default_rng(8).standard_normal(x.shape).astype(dtype)
    expected = dout if not training else naive.dropout_backward_naive(dout, keep, p)
    np.testing.assert_array_equal(ops.dropout_backward(dout, mask), expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_fast_equals_naive_jacobian(dtype):
    rng = np.random.default_rng(9)
    z = (rng.standard_normal((5, 10)) * 6).astype(dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    logp, cache = ops.log_softmax_forward(z)
    np.testing.assert_allclose(logp, naive.log_softmax_forward_naive(z), **tol)
    dlogp = rng.standard_normal(z.shape).astype(dtype)
    np.testing.assert_allclose(ops.log_softmax_backward(dlogp, cache), naive.log_softmax_backward_naive(dlogp, z), **tol)


# -- the optimisers' update kernels against the NumPy expressions they replace: the same bits --------------
def _optim_arrays(dtype, n=1003, seed=0):
    """p, g and two state arrays of odd length (not a whole number of vectors), positive where they must be,
    with a NaN and infinities in g's tail (both sides must carry them the same way)."""
    rng = np.random.default_rng(seed)
    p, g = rng.standard_normal(n).astype(dtype), (rng.standard_normal(n) * 3).astype(dtype)
    g[-3:] = [np.nan, np.inf, -np.inf]
    s1, s2 = (rng.random(n) * 0.1).astype(dtype), (rng.random(n) * 0.1).astype(dtype)
    return p, g, s1, s2


def _run_both(kernel, twin, arrays, *scalars):
    fast, slow = [a.copy() for a in arrays], [a.copy() for a in arrays]
    kernel(*fast, *scalars)
    with np.errstate(invalid="ignore", over="ignore"):  # the NaN and infinities are put there on purpose
        twin(*slow, *scalars)
    for i, (a, b) in enumerate(zip(fast, slow)):
        np.testing.assert_array_equal(a, b, err_msg=f"array {i} differs")  # NaN equals NaN here
    return fast


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("amsgrad,negate,wd,w", [(False, False, 0.0, 0.1), (True, False, 0.0, 0.1),
                                                 (False, True, 0.01, 0.1), (True, True, 0.01, 0.7)])
def test_adam_kernel_is_the_numpy_expression_bit_for_bit(dtype, amsgrad, negate, wd, w):
    from scratchnet import kernels

    t = dtype
    p, g, m, v = _optim_arrays(dtype)
    vmax = v * t(0.5)
    for step in (1, 2):  # the second step starts from the first's moments
        p, g, m, v, vmax = _run_both(kernels.adam_update, naive.adam_update_naive, [p, g, m, v, vmax], amsgrad, negate,
                                     t(wd), t(w), t(1 - w), t(0.999), t(1 - 0.999), t(np.sqrt(1 - 0.999**step)),
                                     t(1e-8), t(1e-3 / (1 - 0.9**step)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("negate,wd", [(False, 0.0), (True, 0.01)])
def test_adadelta_kernel_is_the_numpy_expression_bit_for_bit(dtype, negate, wd):
    from scratchnet import kernels

    t = dtype
    _run_both(kernels.adadelta_update, naive.adadelta_update_naive, list(_optim_arrays(dtype, seed=1)), negate, t(wd),
              t(0.9), t(1 - 0.9), t(1e-6), t(1.0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum,first,nesterov,negate,wd", [(0.0, True, False, False, 0.0), (0.9, True, False, False, 0.0),
                                                               (0.9, False, False, True, 0.01), (0.9, False, True, False, 0.01)])
def test_sgd_kernel_is_the_numpy_expression_bit_for_bit(dtype, momentum, first, nesterov, negate, wd):
    from scratchnet import kernels

    t = dtype
    p, g, buf, _ = _optim_arrays(dtype, seed=2)
    buf = buf if momentum else buf[:0]
    _run_both(kernels.sgd_update, naive.sgd_update_naive, [p, g, buf], first, negate, t(wd), t(momentum), t(1 - 0.1),
              nesterov, t(0.05))
