"""The fast kernels (flat-row stride-1 convolution, unrolled 2x2 pooling, the Linear products, the
element-wise loops) against the plain kernels and NumPy: same results, same bits where the summation
order is the same, and the same bits for any number of Numba threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from scratchnet import kernels, ops
from scratchnet.ops import naive

# (N, C, F, H, W, KH, KW, padding): C = 1, F < 4, F not a multiple of 4, KH*KW not a multiple of 3,
# padding 0..2, odd and non-square sizes; the two MNIST models' layers last.
CONV_CASES = [
    (2, 3, 5, 7, 6, 3, 3, (1, 1)),
    (1, 2, 3, 8, 9, 2, 3, (0, 1)),
    (3, 1, 2, 5, 5, 5, 5, (2, 2)),
    (2, 4, 7, 6, 6, 1, 1, (0, 0)),
    (2, 5, 1, 9, 7, 3, 1, (1, 0)),
    (1, 6, 9, 11, 7, 5, 3, (2, 1)),
    (4, 1, 8, 28, 28, 3, 3, (1, 1)),
    (3, 8, 16, 14, 14, 3, 3, (1, 1)),
    (2, 32, 64, 26, 26, 3, 3, (0, 0)),
]


def _data(case, dtype, seed=0):
    n, c, f, h, w, kh, kw, _ = case
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, c, h, w)).astype(dtype),
        rng.standard_normal((f, c, kh, kw)).astype(dtype),
        rng.standard_normal(f).astype(dtype),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_flat_row_forward_and_grad_input_give_the_plain_kernels_bits(case, dtype):
    """Same terms, same order, one FMA each: the flat-row kernel reproduces the plain loops exactly."""
    x, w, b = _data(case, dtype)
    ph, pw = case[-1]
    out, cache = ops.conv2d_forward(x, w, b, 1, (ph, pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    plain = np.empty_like(out)
    plain[...] = b[:, None, None]  # the plain kernel adds the terms to the bias
    kernels.conv2d_forward(plain, xp, w, 1, 1)
    np.testing.assert_array_equal(out, plain)

    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    dx = ops.conv.conv2d_backward_input(dout, cache)
    dxp = np.zeros_like(xp)
    kernels.conv2d_backward_input(dout, dxp, w, 1, 1)
    np.testing.assert_array_equal(dx, dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_flat_row_grad_weight_agrees_with_the_naive_twin(case, dtype):
    x, w, b = _data(case, dtype, seed=2)
    ph, pw = case[-1]
    out, cache = ops.conv2d_forward(x, w, b, 1, (ph, pw))
    dout = np.random.default_rng(3).standard_normal(out.shape).astype(dtype)
    dw, db = ops.conv.conv2d_backward_weight(dout, cache)
    _, ndw, ndb = naive.conv2d_backward_naive(dout, x, w, 1, (ph, pw))
    tol = dict(rtol=1e-12, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-4)
    np.testing.assert_allclose(dw, ndw, **tol)
    np.testing.assert_allclose(db, ndb, **tol)


LINEAR_CASES = [(1, 5, 3), (7, 784, 128), (61, 783, 127), (60, 64, 10), (4, 9216, 130), (5, 2, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n,i,o", LINEAR_CASES)
def test_linear_kernels_agree_with_float64_numpy(n, i, o, dtype):
    """Odd sizes exercise the partial 4x4 blocks, k groups of 1-2 and several k blocks/chunks."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, i)).astype(dtype)
    w = rng.standard_normal((o, i)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    g = rng.standard_normal((n, o)).astype(dtype)
    out, cache = ops.linear_forward(x, w, b)
    dx, dw, db = ops.linear_backward(g, cache)
    x64, w64, g64 = x.astype(np.float64), w.astype(np.float64), g.astype(np.float64)
    scale = np.sqrt(i)
    tol = dict(rtol=1e-12, atol=1e-12 * scale) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(out, x64 @ w64.T + b, **tol)
    np.testing.assert_allclose(dx, g64 @ w64, **tol)
    np.testing.assert_allclose(dw, g64.T @ x64, **dict(tol, atol=tol["atol"] * np.sqrt(n) / scale))
    np.testing.assert_allclose(db, g64.sum(axis=0), rtol=1e-6, atol=1e-6 * n if dtype == np.float32 else 1e-13 * n)


@pytest.mark.parametrize("m,k,i", [(6, 400, 37), (3, 64, 300), (9, 192, 17), (4, 385, 260)])
def test_matmul_sums_each_element_in_order_of_k(m, k, i):
    """Blocks of 192 terms, each summed in order from zero, added in order: the reference loop, exactly (one block
    or several, 1-4 rows in the last group of rows, a partial last column chunk); zero terms included (a sum of
    products that are -0.0 still comes out +0.0, as the reference's)."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((m, k)).astype(np.float32)
    a[:, : k // 3] = 0.0
    bm = -np.abs(rng.standard_normal((k, i))).astype(np.float32)
    a[-1, :] = 0.0  # a row of products 0 * negative = -0.0
    out = np.full((m, i), np.nan, dtype=np.float32)
    kernels.matmul(a, bm, out)

    @numba.njit(fastmath={"contract"})
    def reference(a, bm):
        res = np.empty((a.shape[0], bm.shape[1]), dtype=np.float32)
        for m in range(a.shape[0]):
            for i in range(bm.shape[1]):
                acc = np.float32(0.0)
                for k0 in range(0, a.shape[1], 192):
                    part = np.float32(0.0)
                    for k in range(k0, min(a.shape[1], k0 + 192)):
                        part += a[m, k] * bm[k, i]
                    acc += part
                res[m, i] = acc
        return res

    np.testing.assert_array_equal(out.view(np.int32), reference(a, bm).view(np.int32))


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 3, 7, 9), (1, 2, 2, 2), (3, 4, 28, 28)])
@pytest.mark.parametrize("ties", [False, True])
def test_unrolled_2x2_pool_picks_what_the_general_kernel_picks(shape, ties):
    rng = np.random.default_rng(6)
    x = rng.integers(-1, 2, size=shape).astype(np.float32) if ties else rng.standard_normal(shape).astype(np.float32)
    x[0, 0, 0, 1] = np.nan
    x[-1, -1, 1, 0] = -np.inf
    oh, ow = shape[2] // 2, shape[3] // 2
    out, arg = np.empty((*shape[:2], oh, ow), np.float32), np.empty((*shape[:2], oh, ow), np.int32)
    gout, garg = np.empty_like(out), np.empty_like(arg)
    kernels.maxpool2d_forward_2x2(x, out, arg)
    kernels.maxpool2d_forward(x, gout, garg, 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(out, gout)
    np.testing.assert_array_equal(arg, garg)


def test_relu_propagates_nan_and_keeps_negative_zero_like_torch():
    torch = pytest.importorskip("torch")
    x = np.array([-1.0, -0.0, 0.0, 2.5, np.nan, -np.inf, np.inf], dtype=np.float32)
    out, mask = ops.relu_forward(x)
    expected = torch.relu(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))
    np.testing.assert_array_equal(mask, x > 0)
    np.testing.assert_array_equal(ops.relu_backward(np.ones_like(x), mask), (x > 0).astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_kernel_reproduces_the_numpy_formula_bit_for_bit(p, dtype):
    x = np.random.default_rng(7).standard_normal((3, 5, 7)).astype(dtype)
    out, mask = ops.dropout_forward(x, p, np.random.default_rng(8))
    keep = np.random.default_rng(8).random(x.shape) >= p
    expected_mask = keep.astype(dtype) / dtype(1.0 - p)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_array_equal(out, x * expected_mask)


def _everything(x, w, b, xl, wl, bl):
    out, cache = ops.conv2d_forward(x, w, b, 1, 1)
    g = np.cos(out)
    res = [out, *ops.conv2d_backward(g, cache)]
    out2, cache2 = ops.conv2d_forward(x, w[:2], b[:2], 2, 1)  # strided path, 2 output channels
    res += [out2, *ops.conv2d_backward(np.sin(out2), cache2)]
    w_few = np.ascontiguousarray(w[:3])  # fewer than 4 output channels, and its grad-input
    out3, cache3 = ops.conv2d_forward(x, w_few, b[:3], 1, 0)
    res += [out3, *ops.conv2d_backward(np.cos(out3), cache3)]
    pooled, pcache = ops.maxpool2d_forward(out, 2)
    res += [pooled, ops.maxpool2d_backward(np.sin(pooled), pcache)]
    pooled3, pcache3 = ops.maxpool2d_forward(out, 3, 1, 1)  # overlapping windows
    res += [pooled3, ops.maxpool2d_backward(np.sin(pooled3), pcache3)]
    lo, lcache = ops.linear_forward(xl, wl, bl)
    res += [lo, *ops.linear_backward(np.cos(lo), lcache)]
    r, m = ops.relu_forward(out)
    res += [r, ops.relu_backward(g, m)]
    return res


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least 2 Numba threads")
def test_every_fast_path_is_bit_identical_for_any_thread_count():
    rng = np.random.default_rng(9)
    args = (
        rng.standard_normal((9, 8, 14, 13)).astype(np.float32),
        rng.standard_normal((16, 8, 3, 3)).astype(np.float32),
        rng.standard_normal(16).astype(np.float32),
        rng.standard_normal((37, 1000)).astype(np.float32),
        rng.standard_normal((70, 1000)).astype(np.float32),
        rng.standard_normal(70).astype(np.float32),
    )
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _everything(*args)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _everything(*args)
    finally:
        numba.set_num_threads(before)
    for a, c in zip(one, two):
        np.testing.assert_array_equal(a, c)


def test_malloc_tuning_is_applied_once_and_says_what_it_did():
    from scratchnet.kernels import _malloc

    assert isinstance(_malloc.status, str) and _malloc.status
    assert _malloc.tune_malloc() == _malloc.status


def _adam_numpy(p, grad, state, lr, beta1, beta2, eps, wd, amsgrad, maximize):
    """torch's single-tensor Adam as NumPy array expressions (the optimiser's code before its kernel)."""
    state["step"] = state.get("step", 0) + 1
    m = state.setdefault("exp_avg", np.zeros_like(p))
    v = state.setdefault("exp_avg_sq", np.zeros_like(p))
    g = np.negative(grad) if maximize else grad
    if wd != 0:
        g = g + wd * p
    w = p.dtype.type(1 - beta1)
    diff = g - m
    if abs(w) < 0.5:
        diff *= w
        m += diff
    else:
        diff *= p.dtype.type(1) - w
        np.subtract(g, diff, out=m)
    v *= beta2
    v += (1 - beta2) * g * g
    step = state["step"]
    if amsgrad:
        vmax = state.setdefault("max_exp_avg_sq", np.zeros_like(p))
        np.maximum(vmax, v, out=vmax)
        denom = np.sqrt(vmax)
    else:
        denom = np.sqrt(v)
    denom /= (1 - beta2**step) ** 0.5
    denom += eps
    update = (lr / (1 - beta1**step)) * m
    update /= denom
    p -= update


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kw", [dict(), dict(betas=(0.3, 0.5)), dict(weight_decay=0.1, maximize=True),
                                dict(amsgrad=True, betas=(0.7, 0.9), eps=1e-6)],
                         ids=["defaults", "lerp-high-branch", "decay-maximize", "amsgrad"])
def test_adam_kernel_same_bits_as_numpy_expressions(dtype, kw):
    from scratchnet.nn.module import Parameter
    from scratchnet.optim import Adam

    rng = np.random.default_rng(3)
    shapes = [(7, 5), (5,), (3, 1, 2, 2)]
    ours = [Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]
    ref = [p.data.copy() for p in ours]
    # a transposed (non-contiguous) parameter: the kernel works on a copy and writes it back
    ours.append(Parameter(rng.standard_normal((4, 6)).astype(dtype).T))
    ref.append(ours[-1].data.copy())
    opt = Adam(ours, lr=1e-2, **kw)
    states = [{} for _ in ref]
    betas = kw.get("betas", (0.9, 0.999))
    for step in range(25):
        for p in ours:
            p.grad = rng.standard_normal(p.data.shape).astype(dtype) * (10.0 if step % 7 == 0 else 0.1)
        for p, r, st in zip(ours, ref, states):
            _adam_numpy(r, p.grad, st, 1e-2, *betas, kw.get("eps", 1e-8), kw.get("weight_decay", 0.0),
                        kw.get("amsgrad", False), kw.get("maximize", False))
        opt.step()
        for i, (p, r) in enumerate(zip(ours, ref)):
            np.testing.assert_array_equal(p.data, r, err_msg=f"param {i} after step {step + 1}")
    for p, st in zip(ours, states):
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if key in st:
                np.testing.assert_array_equal(opt.state[p][key], st[key], err_msg=key)


def _sgd_numpy(p, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    """torch's single-tensor SGD as NumPy array expressions (the optimiser's code before its kernel)."""
    d_p = np.negative(grad) if maximize else grad
    if weight_decay != 0:
        d_p = d_p + weight_decay * p
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = np.array(d_p, copy=True)
        else:
            buf *= momentum
            buf += (1 - dampening) * d_p
        d_p = d_p + momentum * buf if nesterov else buf
    p -= lr * d_p


def _adadelta_numpy(p, grad, state, lr, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    """torch's single-tensor Adadelta as NumPy array expressions (the optimiser's code before its kernel)."""
    sq = state.setdefault("square_avg", np.zeros_like(p))
    acc = state.setdefault("acc_delta", np.zeros_like(p))
    g = np.negative(grad) if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * p
    sq *= rho
    sq += (1 - rho) * g * g
    std = np.sqrt(sq + eps)
    delta = np.sqrt(acc + eps)
    delta /= std
    delta *= g
    acc *= rho
    acc += (1 - rho) * delta * delta
    p -= lr * delta


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,kw", [
    ("SGD", dict()), ("SGD", dict(momentum=0.9)), ("SGD", dict(momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(momentum=0.8, dampening=0.3, maximize=True)),
    ("Adadelta", dict()), ("Adadelta", dict(rho=0.5, eps=1e-4, weight_decay=0.1, maximize=True)),
], ids=["sgd-plain", "sgd-momentum", "sgd-nesterov-decay", "sgd-dampening-maximize", "adadelta", "adadelta-all"])
def test_sgd_adadelta_kernels_same_bits_as_numpy_expressions(dtype, name, kw):
    from scratchnet import optim
    from scratchnet.nn.module import Parameter

    rng = np.random.default_rng(4)
    ours = [Parameter(rng.standard_normal(s).astype(dtype)) for s in [(6, 5), (5,), (2, 3, 3)]]
    ours.append(Parameter(rng.standard_normal((4, 6)).astype(dtype).T))  # non-contiguous
    ref = [p.data.copy() for p in ours]
    lr = 0.05 if name == "SGD" else 1.0
    opt = getattr(optim, name)(ours, lr=lr, **kw)
    states = [{} for _ in ref]
    update = _sgd_numpy if name == "SGD" else _adadelta_numpy
    for step in range(20):
        for p in ours:
            p.grad = rng.standard_normal(p.data.shape).astype(dtype)
        for p, r, st in zip(ours, ref, states):
            update(r, p.grad, st, lr, **kw)
        opt.step()
        for i, (p, r) in enumerate(zip(ours, ref)):
            np.testing.assert_array_equal(p.data, r, err_msg=f"{name} param {i} after step {step + 1}")
    for p, st in zip(ours, states):
        for key, value in st.items():
            np.testing.assert_array_equal(opt.state[p][key], value, err_msg=key)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", [(3, 1, 8, 28, 28, 3, 3, 1, 1), (2, 1, 32, 28, 28, 3, 3, 0, 0), (2, 2, 5, 9, 7, 5, 5, 2, 2),
                                  (2, 1, 3, 8, 9, 1, 3, 0, 1), (2, 3, 5, 7, 6, 5, 3, 2, 1), (1, 1, 7, 6, 10, 2, 5, 1, 2),
                                  (2, 1, 4, 5, 5, 3, 1, 1, 0), (1, 1, 2, 3, 3, 3, 3, 0, 0)],
                         ids=lambda c: "x".join(map(str, c)))
def test_crops_conv_forward_gives_the_flat_row_kernels_bits(case, dtype):
    """The first-layer forward (one crop of the padded plane per kernel column) sums the same terms in the same
    order as the flat-row kernel: same bits, with -0.0 and an infinity in the input, valid and same padding."""
    n, c, f, h, w_, kh, kw, ph, pw = case
    rng = np.random.default_rng(9)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    x[0, 0, 0, 0], x[-1, -1, -1, -1] = -0.0, np.inf
    w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    oh, ow = h + 2 * ph - kh + 1, w_ + 2 * pw - kw + 1
    flat, crops = np.empty((n, f, oh, ow), dtype), np.full((n, f, oh, ow), 7.0, dtype)
    kernels.conv2d_forward_s1(x, w, b, flat, ph, pw, False)
    kernels.conv2d_forward_crops(x, w, b, crops, ph, pw)
    np.testing.assert_array_equal(crops.view(np.uint8), flat.view(np.uint8))
