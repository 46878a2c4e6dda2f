"""Exercises for the walkthroughs, graded with the project's own machinery.

Three kinds: **implement** a function (a linear layer's backward, im2col, an Adam step, ...), **find the
bug** in a plausible but broken function, and **predict** a number before running the experiment.
Each exercise has a starter file in ``blanks/`` (what a student edits: a stub, or the broken function)
and, for teachers, a reference in ``solutions/``: for a "find the bug", its fix, applied to the blank by
``fixed`` (where the broken function is an implement exercise's loop form, that exercise's reference
shows a second, vectorised way). The grader calls the student's function on random inputs and compares
it with what scratchnet computes — the ops and their naive twins, and centred finite differences from
``scratchnet.gradcheck`` for every gradient — and says what is wrong: which entries, the worst one with
both values, and the relative error.

Command line::

    python -m compare.walkthroughs exercises                 # list them
    python -m compare.walkthroughs exercises NAME            # the task, and where its starter file is
    python -m compare.walkthroughs check NAME [FILE]         # grade FILE (default ./NAME.py, else the blank)

In a notebook: ``from compare.walkthroughs.exercises import check; check("linear_backward", linear_backward)``.
"""

from __future__ import annotations

import argparse
import math
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
BLANKS = HERE / "blanks"
SOLUTIONS = HERE / "solutions"


class Wrong(Exception):
    """The answer is wrong; the message says how."""


@dataclass(frozen=True)
class Exercise:
    name: str
    walkthrough: str
    kind: str  # "implement", "find the bug", "predict"
    title: str
    symbol: str  # the function (or ANSWER) the file must define
    grade: Callable[[Any], str]  # returns a one-line success message, raises Wrong

    def blank(self) -> Path:
        return BLANKS / f"{self.name}.py"

    def solution(self) -> Path:
        return SOLUTIONS / f"{self.name}.py"

    def task(self) -> str:
        """The task: the starter file's docstring."""
        text = self.blank().read_text(encoding="utf-8")
        return text.split('"""')[1].strip() if '"""' in text else self.title


# ---------------------------------------------------------------------------------------------
# comparing arrays and saying what is wrong


def _compare(label: str, got: Any, want: Any, tol: float = 1e-7, expected: str = "expected") -> float:
    """Raise Wrong naming the wrong entries unless ``got`` matches ``want`` (norm-wise relative error
    <= tol and no single entry off by more than tol relative to the largest entry)."""
    from scratchnet.gradcheck import rel_error

    if got is None:
        raise Wrong(f"{label}: your function returned None (did you forget a return?)")
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise Wrong(f"{label}: could not read your result as a number array ({exc})") from None
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise Wrong(f"{label}: shape {got.shape}, {expected} {want.shape}")
    if not np.all(np.isfinite(got)):
        bad = np.argwhere(~np.isfinite(got))
        raise Wrong(f"{label}: {len(bad)} entries are not finite (first at index {tuple(int(i) for i in bad[0])})")
    err = rel_error(got, want)
    scale = max(float(np.abs(want).max(initial=0.0)), float(np.abs(got).max(initial=0.0)), 1e-300)
    off = np.abs(got - want) > tol * scale
    if err > tol or off.any():
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(got - want))), got.shape)) if got.ndim else ()
        where = f" at index {idx}" if got.ndim else ""
        raise Wrong(
            f"{label}: {int(off.sum())} of {got.size} entries wrong, relative error {err:.1e} (tolerance {tol:.0e}); "
            f"worst{where}: yours {got[idx]:.6g}, {expected} {want[idx]:.6g}"
        )
    return err


def _numeric(f: Callable[[], float], x: np.ndarray) -> np.ndarray:
    from scratchnet.gradcheck import numerical_gradient

    return numerical_gradient(f, x, eps=1e-6)


def _call(fn: Callable, *args):
    try:
        return fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    except NotImplementedError:
        raise Wrong("not implemented yet (the function still raises NotImplementedError)") from None
    except Exception as exc:  # noqa: BLE001 - a student's exception is a wrong answer, reported
        raise Wrong(f"your function raised {type(exc).__name__}: {exc}") from None


def _unpack(result, n: int, names: str):
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise Wrong(f"expected your function to return {n} values ({names}), got {type(result).__name__}")
    return result


# ---------------------------------------------------------------------------------------------
# graders: each takes the student's function (or answer) and returns a success line or raises Wrong


def grade_linear_backward(fn) -> str:
    from scratchnet import ops

    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    out, cache = ops.linear_forward(x, w, b)
    dout = rng.normal(size=out.shape)
    dx, dw, db = _unpack(_call(fn, dout, x, w), 3, "dx, dw, db")
    want = ops.linear_backward(dout, cache)
    for label, got, ref, arr in (("dx", dx, want[0], x), ("dw", dw, want[1], w), ("db", db, want[2], b)):
        _compare(label, got, _numeric(lambda: float(np.sum(ops.linear_forward(x, w, b)[0] * dout)), arr), 1e-6,
                 "centred differences")
        _compare(label, got, ref, 1e-10, "scratchnet.ops.linear_backward")
    return "dx, dw and db match centred differences and scratchnet.ops.linear_backward"


def grade_softmax_cross_entropy(fn) -> str:
    from scratchnet.ops import naive

    rng = np.random.default_rng(2)
    z = rng.normal(size=(6, 5)) * 3
    z[0] += 1000.0  # large logits: only a shifted softmax survives
    y = rng.integers(0, 5, 6)
    loss, dz = _unpack(_call(fn, z, y), 2, "loss, dz")
    want_loss, want_dz = naive.softmax_cross_entropy_naive(z, y)
    _compare("loss", loss, want_loss, 1e-10, "the naive twin")
    _compare("dz", dz, _numeric(lambda: naive.softmax_cross_entropy_naive(z, y)[0], z), 1e-6, "centred differences")
    _compare("dz", dz, want_dz, 1e-10, "the naive twin")
    return "loss and dz match the naive twin and centred differences (row 0 has logits near 1000: stable)"


def grade_relu_backward(fn) -> str:
    from scratchnet import ops

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 7))
    dout = rng.normal(size=x.shape)
    _, cache = ops.relu_forward(x)
    got = _call(fn, dout, x)
    _compare("dx", got, _numeric(lambda: float(np.sum(np.maximum(x, 0) * dout)), x), 1e-6, "centred differences")
    _compare("dx", got, ops.relu_backward(dout, cache), 1e-12, "scratchnet.ops.relu_backward")
    return "dx matches centred differences and scratchnet.ops.relu_backward"


def _pool_case(seed: int, ties: bool):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, 6, 6))
    if ties:
        x = np.round(x)  # many windows with two or more equal maxima
    dout = rng.normal(size=(2, 3, 3, 3))
    return x, dout


def grade_maxpool_backward(fn) -> str:
    from scratchnet.ops import naive

    for seed, ties in ((4, False), (5, True)):
        x, dout = _pool_case(seed, ties)
        got = _call(fn, dout, x, 2)
        want = naive.maxpool2d_backward_naive(dout, x, 2)
        if not ties:
            _compare("dx", got, _numeric(lambda: float(np.sum(naive.maxpool2d_forward_naive(x, 2)[0] * dout)), x), 1e-6,
                     "centred differences")
        _compare("dx (with ties)" if ties else "dx", got, want, 1e-12, "the naive twin (first maximum wins, as torch)")
    return "dx matches the naive twin, ties included (the first maximum in row-major order gets the gradient)"


def grade_dropout_backward(fn) -> str:
    rng = np.random.default_rng(6)
    p = 0.3
    x = rng.normal(size=(5, 8))
    keep = rng.random(x.shape) >= p
    dout = rng.normal(size=x.shape)
    got = _call(fn, dout, keep, p)
    forward = lambda: float(np.sum(x * keep / (1 - p) * dout))
    _compare("dx", got, _numeric(forward, x), 1e-6, "centred differences")
    return "dx = dout * mask / (1 - p): matches centred differences of the inverted-dropout forward"


def grade_im2col(fn) -> str:
    from scratchnet.ops import naive

    for seed, (stride, pad) in enumerate(((1, 0), (2, 1), (1, 1))):
        rng = np.random.default_rng(10 + seed)
        x = rng.normal(size=(2, 3, 5, 6))
        cols = _call(fn, x, 3, 3, stride, pad)
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))[:, :, ::stride, ::stride]
        want = win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, 3 * 3 * 3)
        _compare(f"cols (stride {stride}, pad {pad})", cols, want, 0, "one row per window, as naive.conv2d_im2col")
        w = rng.normal(size=(4, 3, 3, 3))
        out = (np.asarray(cols) @ w.reshape(4, -1).T).reshape(2, want.shape[0] // 2, 4)
        ref = naive.conv2d_forward_naive(x, w, None, stride, pad)
        _compare(f"cols @ w_flat (stride {stride}, pad {pad})", out.transpose(0, 2, 1).reshape(ref.shape), ref, 1e-12,
                 "the sliding-window convolution")
    return "cols has one row per window in the right order; cols @ w_flat is the convolution (strides and padding too)"


def grade_conv2d_backward(fn) -> str:
    from scratchnet.ops import naive

    for seed, (stride, pad) in enumerate(((1, 1), (2, 1), (2, 0))):
        rng = np.random.default_rng(20 + seed)
        x, w, b = rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
        dout = rng.normal(size=naive.conv2d_forward_naive(x, w, b, stride, pad).shape)
        dx, dw, db = _unpack(_call(fn, dout, x, w, stride, pad), 3, "dx, dw, db")
        s = lambda: float(np.sum(naive.conv2d_im2col(x, w, b, stride, pad) * dout))
        tag = f" (stride {stride}, pad {pad})"
        for label, got, arr in (("dx", dx, x), ("dw", dw, w), ("db", db, b)):
            _compare(label + tag, got, _numeric(s, arr), 1e-6, "centred differences")
        want = naive.conv2d_backward_naive(dout, x, w, stride, pad)
        for label, got, ref in zip(("dx", "dw", "db"), (dx, dw, db), want):
            _compare(label + tag, got, ref, 1e-10, "naive.conv2d_backward_naive")
    return "dx, dw, db match centred differences and the naive twin for strides 1, 2 and padding 0, 1"


def _adam_reference(theta, grads, lr, betas, eps):
    from scratchnet import optim
    from scratchnet.nn import Parameter

    p = Parameter(theta.copy())
    opt = optim.Adam([p], lr=lr, betas=betas, eps=eps)
    out = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return out


def grade_adam_step(fn) -> str:
    rng = np.random.default_rng(30)
    theta = rng.normal(size=6)
    grads = [rng.normal(size=6) * 10 ** rng.uniform(-3, 2) for _ in range(5)]
    lr, betas, eps = 1e-2, (0.9, 0.999), 1e-8
    want = _adam_reference(theta, grads, lr, betas, eps)
    t_, m, v = theta.copy(), np.zeros(6), np.zeros(6)
    for step, g in enumerate(grads, start=1):
        t_, m, v = _unpack(_call(fn, t_, g, m, v, step, lr, betas[0], betas[1], eps), 3, "theta, m, v")
        _compare(f"theta after step {step}", t_, want[step - 1], 1e-12, "scratchnet.optim.Adam")
        t_, m, v = (np.asarray(a, dtype=np.float64) for a in (t_, m, v))
    return "five steps agree with scratchnet.optim.Adam (bias corrections included)"


def grade_sgd_momentum_step(fn) -> str:
    from scratchnet import optim
    from scratchnet.nn import Parameter

    rng = np.random.default_rng(31)
    theta = rng.normal(size=5)
    p = Parameter(theta.copy())
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    t_, buf = theta.copy(), None
    for step in range(1, 6):
        g = rng.normal(size=5)
        p.grad = g.copy()
        opt.step()
        t_, buf = _unpack(_call(fn, t_, g, buf, 0.1, 0.9), 2, "theta, buf")
        _compare(f"theta after step {step}", t_, p.data, 1e-12, "scratchnet.optim.SGD(momentum=0.9)")
    return "five steps agree with scratchnet.optim.SGD (torch's rule: buf = g at the first step, then mu*buf + g)"


def grade_numerical_gradient(fn) -> str:
    rng = np.random.default_rng(40)
    x = rng.normal(size=(3, 4))
    a = rng.normal(size=(3, 4))
    f = lambda: float(np.sum(np.sin(x) * a) + np.sum(x**3))
    exact = np.cos(x) * a + 3 * x**2
    before = x.copy()
    try:
        got = fn(f, x)  # x itself: your function perturbs it in place, and f reads it
    except NotImplementedError:
        raise Wrong("not implemented yet (the function still raises NotImplementedError)") from None
    except Exception as exc:  # noqa: BLE001
        raise Wrong(f"your function raised {type(exc).__name__}: {exc}") from None
    if not np.allclose(before, x, rtol=0, atol=1e-15):
        raise Wrong("x was not restored after perturbing it (put each entry back after its two evaluations)")
    _compare("gradient", got, exact, 1e-7, "the exact derivative")
    return "centred differences agree with the exact derivative to < 1e-7"


def grade_rel_error(fn) -> str:
    from scratchnet.gradcheck import rel_error

    rng = np.random.default_rng(41)
    cases = [(rng.normal(size=(3, 3)), rng.normal(size=(3, 3))), (np.zeros(4), np.zeros(4)), (np.ones(3), 2 * np.ones(3))]
    for i, (a, b) in enumerate(cases):
        _compare(f"case {i}", _call(fn, a, b), rel_error(a, b), 1e-12, "scratchnet.gradcheck.rel_error")
    return "matches scratchnet.gradcheck.rel_error, the all-zero case included"


def grade_mlp_backward(fn) -> str:
    from scratchnet.ops import naive

    rng = np.random.default_rng(50)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    W1, b1, W2, b2 = rng.normal(size=(5, 4)), rng.normal(size=5) * 0.5, rng.normal(size=(3, 5)), rng.normal(size=3)

    def loss():
        return naive.softmax_cross_entropy_naive(np.maximum(x @ W1.T + b1, 0) @ W2.T + b2, y)[0]

    dscores = naive.softmax_cross_entropy_naive(np.maximum(x @ W1.T + b1, 0) @ W2.T + b2, y)[1]
    grads = _unpack(_call(fn, dscores, x, W1, b1, W2), 4, "dW1, db1, dW2, db2")
    for label, got, arr in zip(("dW1", "db1", "dW2", "db2"), grads, (W1, b1, W2, b2)):
        _compare(label, got, _numeric(loss, arr), 1e-6, "centred differences of the loss")
    return "all four gradients match centred differences of the MLP's loss"


def grade_sigmoid_backward(fn) -> str:
    rng = np.random.default_rng(60)
    x = rng.normal(size=(4, 5)) * 3
    dout = rng.normal(size=x.shape)
    out = 1 / (1 + np.exp(-x))
    got = _call(fn, dout, out)
    _compare("dx", got, _numeric(lambda: float(np.sum(1 / (1 + np.exp(-x)) * dout)), x), 1e-6, "centred differences")
    return "dx = dout * s * (1 - s) matches centred differences"


def grade_log_softmax(fn) -> str:
    from scratchnet import ops

    rng = np.random.default_rng(70)
    z = rng.normal(size=(4, 6)) * 5
    z[1] += 1000.0
    z[2] -= 1000.0
    got = _call(fn, z)
    _compare("log_softmax", got, ops.log_softmax_forward(z)[0], 1e-12, "scratchnet.ops.log_softmax_forward")
    return "stable for logits near +1000 and -1000; matches scratchnet.ops.log_softmax_forward"


def grade_kaiming_std(fn) -> str:
    from scratchnet.nn import init

    for fan_in in (3, 64, 784):
        want = init.calculate_gain("relu") / math.sqrt(fan_in)
        _compare(f"std for fan_in {fan_in}", _call(fn, fan_in), want, 1e-12, "√(2 / fan_in)")
    return "std = √(2 / fan_in): a ReLU layer keeps E[x²]"


def grade_chain_rule_gradient(fn) -> str:
    f = lambda x, y, z: (x + y) * max(y, z) * x
    rng = np.random.default_rng(80)
    for _ in range(5):
        x, y, z = rng.normal(size=3) * 2
        if abs(y - z) < 0.1:
            continue
        got = _unpack(_call(fn, x, y, z), 3, "df/dx, df/dy, df/dz")
        h = 1e-6
        num = [(f(x + h, y, z) - f(x - h, y, z)) / (2 * h), (f(x, y + h, z) - f(x, y - h, z)) / (2 * h),
               (f(x, y, z + h) - f(x, y, z - h)) / (2 * h)]
        _compare(f"∇f at ({x:.2f}, {y:.2f}, {z:.2f})", got, num, 1e-6, "centred differences")
    return "∇f matches centred differences at five random points (both branches of the max)"


def grade_batchnorm_backward(fn) -> str:
    from scratchnet import ops

    rng = np.random.default_rng(95)
    x = rng.normal(loc=1.0, scale=[2.0, 0.5, 1.0, 3.0], size=(7, 4))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    g = rng.normal(size=x.shape)
    dx, dgamma, dbeta = _unpack(_call(fn, g, x, gamma, 1e-5), 3, "dx, dgamma, dbeta")
    s = lambda: float(np.sum(ops.batchnorm_forward(x, gamma, beta, 1e-5)[0] * g))
    for label, got, arr in (("dx", dx, x), ("dgamma", dgamma, gamma), ("dbeta", dbeta, beta)):
        _compare(label, got, _numeric(s, arr), 1e-6, "centred differences")
    want = ops.batchnorm_backward(g, ops.batchnorm_forward(x, gamma, beta, 1e-5)[1])
    for label, got, ref in zip(("dx", "dgamma", "dbeta"), (dx, dgamma, dbeta), want):
        _compare(label, got, ref, 1e-10, "scratchnet.ops.batchnorm_backward")
    return "dx, dgamma, dbeta match centred differences and scratchnet.ops.batchnorm_backward"


def _predict(expected: float, tol: float, explain: str) -> Callable[[Any], str]:
    def grade(answer) -> str:
        if answer is None or answer is ...:
            raise Wrong("no prediction yet: set ANSWER to a number")
        try:
            value = float(answer)
        except (TypeError, ValueError):
            raise Wrong(f"ANSWER must be a number, got {answer!r}") from None
        if not (abs(value - expected) <= tol or (math.isnan(expected) and math.isnan(value))):
            raise Wrong(f"your prediction {value:g} is off (the run gives {expected:.4g}). {explain}")
        return f"right: the run gives {expected:.4g}. {explain}"

    return grade


def _predict_initial_loss(answer) -> str:
    from scratchnet import models

    model = models.SeedCNN(rng=0)
    crit = model.make_loss()
    x = np.random.default_rng(0).normal(size=(200, 1, 28, 28)).astype(np.float32)
    loss = crit(model(x), np.arange(200) % 10)
    crit.backward()
    return _predict(loss, 0.1, "An untrained net spreads its probability almost evenly: -log(1/10) = ln 10 ≈ 2.303.")(answer)


def _predict_adam_first_step(answer) -> str:
    steps = []
    for g in (1e-6, 1e3):
        theta = np.zeros(1)
        new = _adam_reference(theta, [np.array([g])], 0.01, (0.9, 0.999), 1e-8)[0]
        steps.append(abs(float(new[0])))
    return _predict(steps[1], 1e-4, f"Adam's first step is lr·g/(|g| + ε) ≈ lr for any gradient not tiny next to ε "
                    f"(|Δθ| = {steps[0]:.4g} for g = 1e-6, {steps[1]:.4g} for g = 1e3).")(answer)


def _predict_softmax_finite(answer) -> str:
    z = np.array([1000.0, 1001.0, 1002.0])
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.exp(z) / np.exp(z).sum()
    return _predict(float(np.isfinite(p).sum()), 0, "exp(1000) overflows to inf, and inf/inf is nan for every entry; "
                    "the max shift exp(z - max z) fixes it.")(answer)


def _predict_maxpool_zeros(answer) -> str:
    from scratchnet.ops import naive

    x = np.random.default_rng(90).normal(size=(1, 1, 8, 8))
    dx = naive.maxpool2d_backward_naive(np.ones((1, 1, 4, 4)), x, 2)
    return _predict(float(np.mean(dx == 0)), 1e-9, "Each 2×2 window sends its gradient to its one winner: 3 of every 4 "
                    "inputs get exactly 0.")(answer)


def _predict_relu_second_moment(answer) -> str:
    rng = np.random.default_rng(91)
    y = rng.normal(size=1_000_000) * 2.0  # Var(y) = 4
    return _predict(float(np.mean(np.maximum(y, 0) ** 2)), 0.05, "y is symmetric, so ReLU keeps half of E[y²]: 4 / 2 = 2.")(answer)


# ---------------------------------------------------------------------------------------------
# the list


def _ex(name, walkthrough, kind, title, symbol, grade):
    return Exercise(name, walkthrough, kind, title, symbol, grade)


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in [
        _ex("chain_rule_gradient", "chain_rule", "implement", "∇f of f = (x + y)·max(y, z)·x by the gate rules", "grad_f", grade_chain_rule_gradient),
        _ex("sigmoid_backward", "chain_rule", "implement", "the backward of a sigmoid from its output", "sigmoid_backward", grade_sigmoid_backward),
        _ex("linear_backward", "linear_softmax", "implement", "dx, dW, db of a linear layer", "linear_backward", grade_linear_backward),
        _ex("softmax_cross_entropy", "linear_softmax", "implement", "stable softmax cross-entropy and dL/dz", "softmax_cross_entropy", grade_softmax_cross_entropy),
        _ex("mlp_backward", "mlp_by_hand", "implement", "all four gradients of a two-layer ReLU MLP", "mlp_backward", grade_mlp_backward),
        _ex("log_softmax", "softmax_and_init", "implement", "a log-softmax that survives logits of ±1000", "log_softmax", grade_log_softmax),
        _ex("kaiming_std", "softmax_and_init", "implement", "the weight std that keeps a ReLU layer's E[x²]", "kaiming_std", grade_kaiming_std),
        _ex("numerical_gradient", "gradient_checking", "implement", "centred finite differences", "numerical_gradient", grade_numerical_gradient),
        _ex("rel_error", "gradient_checking", "implement", "the norm-wise relative error", "rel_error", grade_rel_error),
        _ex("im2col", "conv2d", "implement", "im2col with stride and padding", "im2col", grade_im2col),
        _ex("conv2d_backward", "conv2d", "implement", "dx, dW, db of a convolution with stride and padding", "conv2d_backward", grade_conv2d_backward),
        _ex("relu_backward", "pooling_relu_dropout", "implement", "the backward of ReLU", "relu_backward", grade_relu_backward),
        _ex("maxpool_backward", "pooling_relu_dropout", "implement", "2×2 max-pool backward with ties (first maximum wins)", "maxpool_backward", grade_maxpool_backward),
        _ex("dropout_backward", "pooling_relu_dropout", "implement", "the backward of inverted dropout", "dropout_backward", grade_dropout_backward),
        _ex("adam_step", "optimizers", "implement", "one Adam step with bias corrections", "adam_step", grade_adam_step),
        _ex("sgd_momentum_step", "optimizers", "implement", "one SGD-with-momentum step, torch's rule", "sgd_momentum_step", grade_sgd_momentum_step),
        _ex("bug_linear_backward", "linear_softmax", "find the bug", "a linear backward whose gradient check fails", "linear_backward", grade_linear_backward),
        _ex("bug_softmax_cross_entropy", "linear_softmax", "find the bug", "a softmax cross-entropy backward that is off by a factor", "softmax_cross_entropy", grade_softmax_cross_entropy),
        _ex("bug_conv2d_backward", "conv2d", "find the bug", "a convolution backward with a plausible mistake in dx", "conv2d_backward", grade_conv2d_backward),
        _ex("bug_maxpool_backward", "pooling_relu_dropout", "find the bug", "a max-pool backward that is wrong only at ties", "maxpool_backward", grade_maxpool_backward),
        _ex("bug_adam_step", "optimizers", "find the bug", "an Adam step that is right only at step 1", "adam_step", grade_adam_step),
        _ex("bug_sigmoid_backward", "vanishing_exploding", "find the bug", "a sigmoid backward that passes a quick look", "sigmoid_backward", grade_sigmoid_backward),
        _ex("batchnorm_backward", "batchnorm_residual", "implement", "batch norm's backward in training mode (three paths)", "batchnorm_backward", grade_batchnorm_backward),
        _ex("predict_initial_loss", "training_mnist", "predict", "the loss of an untrained 10-class network", "ANSWER", _predict_initial_loss),
        _ex("predict_adam_first_step", "optimizers", "predict", "the size of Adam's first step for a huge gradient", "ANSWER", _predict_adam_first_step),
        _ex("predict_softmax_overflow", "softmax_and_init", "predict", "how many entries of a naive softmax of [1000, 1001, 1002] are finite", "ANSWER", _predict_softmax_finite),
        _ex("predict_maxpool_zeros", "pooling_relu_dropout", "predict", "the fraction of exact zeros in a 2×2 max-pool's dx", "ANSWER", _predict_maxpool_zeros),
        _ex("predict_relu_second_moment", "softmax_and_init", "predict", "E[ReLU(y)²] for y ~ N(0, 4)", "ANSWER", _predict_relu_second_moment),
    ]
}


class UnknownExercise(ValueError):
    pass


def exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise UnknownExercise(f"unknown exercise {name!r}; expected one of: {', '.join(EXERCISES)}")
    return EXERCISES[name]


def load(path: str | Path) -> dict[str, Any]:
    """Run a student's file and return its namespace (what it defines)."""
    return runpy.run_path(str(path), run_name="exercise")


def fixed(name: str, broken: str, fix: str) -> Any:
    """A "find the bug" solution stated as its fix: the starter file ``blanks/<name>.py`` with the one
    occurrence of ``broken`` replaced by ``fix``, run, and the exercise's function returned. The solution
    file then says what was wrong and what replaces it, and cannot drift from the blank it fixes."""
    ex = exercise(name)
    if ex.kind != "find the bug":
        raise ValueError(f"fixed: {name!r} is a {ex.kind!r} exercise, not a 'find the bug' one")
    source = ex.blank().read_text(encoding="utf-8")
    found = source.count(broken)
    if found != 1:
        raise ValueError(f"fixed: broken must occur exactly once in {ex.blank()}, found {found} times: {broken!r}")
    namespace: dict[str, Any] = {"__name__": "exercise", "__file__": str(ex.blank())}
    exec(compile(source.replace(broken, fix), str(ex.blank()), "exec"), namespace)
    return namespace[ex.symbol]


def grade(name: str, answer: Any) -> tuple[bool, str]:
    """Grade ``answer`` — the function (or, for a prediction, the number) — for exercise ``name``.
    Returns (passed, message)."""
    ex = exercise(name)
    try:
        with np.errstate(all="ignore"):
            return True, ex.grade(answer)
    except Wrong as wrong:
        return False, str(wrong)


def grade_file(name: str, path: str | Path) -> tuple[bool, str]:
    """Grade the file at ``path``: it must define the exercise's function (or ``ANSWER``)."""
    ex = exercise(name)
    try:
        namespace = load(path)
    except Exception as exc:  # noqa: BLE001 - reported
        return False, f"{path}: could not run it: {type(exc).__name__}: {exc}"
    if ex.symbol not in namespace:
        return False, f"{path} defines no {ex.symbol!r}"
    return grade(name, namespace[ex.symbol])


def check(name: str, answer: Any) -> bool:
    """For a notebook cell: grade ``answer`` (your function, or your number) and print the verdict."""
    passed, message = grade(name, answer)
    print(("PASSED " if passed else "WRONG  ") + f"{name}: {message}")
    return passed


def main_list(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m compare.walkthroughs exercises",
                                     description="List the exercises, or show one's task and starter file.")
    parser.add_argument("name", nargs="?", help="an exercise: show its task")
    parser.add_argument("--walkthrough", metavar="NAME", help="only the exercises of this walkthrough")
    args = parser.parse_args(argv)
    if args.name:
        try:
            ex = exercise(args.name)
        except UnknownExercise as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{ex.name} ({ex.kind}, walkthrough {ex.walkthrough}): {ex.title}\n\n{ex.task()}\n")
        print(f"starter file: {ex.blank()}\ncopy it, edit it, then: python -m compare.walkthroughs check {ex.name} {ex.name}.py")
        return 0
    chosen = [e for e in EXERCISES.values() if not args.walkthrough or e.walkthrough == args.walkthrough]
    width = max(len(e.name) for e in EXERCISES.values())
    for e in chosen:
        print(f"{e.name:<{width}}  {e.kind:<12}  {e.walkthrough:<20}  {e.title}")
    print(f"\n{len(chosen)} exercises. 'exercises NAME' shows one; 'check NAME FILE' grades your file.")
    return 0


def main_check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m compare.walkthroughs check",
                                     description="Grade a solution; exit status 0 when right, 1 when wrong.")
    parser.add_argument("name", help="the exercise")
    parser.add_argument("file", nargs="?", help="your file (default ./NAME.py, else the untouched starter file)")
    args = parser.parse_args(argv)
    try:
        ex = exercise(args.name)
    except UnknownExercise as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = Path(args.file) if args.file else (Path(f"{ex.name}.py") if Path(f"{ex.name}.py").is_file() else ex.blank())
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    passed, message = grade_file(ex.name, path)
    print(("PASSED " if passed else "WRONG  ") + f"{ex.name} ({path}): {message}")
    return 0 if passed else 1
