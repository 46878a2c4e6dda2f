"""Optimiser update kernels: one pass over a parameter instead of NumPy's eight.

Adam's update written element by element with the same float operations, in the same order and the same
dtype as the NumPy expression it replaces (torch's single-tensor Adam), so the result is bit-for-bit that
of the array code; it just reads and writes each array once. One thread: a parameter of MNIST size takes
microseconds, and each element is computed on its own. ``error_model="numpy"``: a division by zero gives
inf or NaN as in NumPy (and torch) instead of raising, and without that check in the loop LLVM vectorises it
(the usual case runs some six times faster than with Numba's default Python error model).
"""

import numba as nb
import numpy as np


@nb.njit(cache=True, error_model="numpy")
def adam_update(p, g, m, v, vmax, amsgrad, negate, wd, w, one_minus_w, beta2, one_minus_beta2, bc2_sqrt, eps,
                step_size):
    """One Adam step on flattened, contiguous arrays of one dtype, in place (g is only read).

    g' = -g if negate; g' += wd * p if wd != 0; m <- lerp(m, g', w) (torch's two branches: m + w (g' - m)
    for |w| < 0.5, else g' - (g' - m) * one_minus_w); v <- v * beta2 + (one_minus_beta2 * g') * g';
    vmax <- max(vmax, v) if amsgrad; p <- p - (step_size * m) / (sqrt(v or vmax) / bc2_sqrt + eps).
    The scalars arrive already rounded to the arrays' dtype, as NumPy rounds a Python float.
    """
    low = abs(w) < 0.5
    if low and not negate and wd == 0 and not amsgrad:  # the usual case, branch-free so that it vectorises
        for i in range(p.shape[0]):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * w
            m[i] = mi
            vi = v[i] * beta2 + (one_minus_beta2 * gi) * gi
            v[i] = vi
            p[i] = p[i] - (step_size * mi) / (np.sqrt(vi) / bc2_sqrt + eps)
        return
    for i in range(p.shape[0]):
        gi = -g[i] if negate else g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        mi = m[i]
        if low:
            mi = mi + (gi - mi) * w
        else:
            mi = gi - (gi - mi) * one_minus_w
        m[i] = mi
        vi = v[i] * beta2 + (one_minus_beta2 * gi) * gi
        v[i] = vi
        if amsgrad:
            if vi < vmax[i] or vmax[i] != vmax[i]:  # np.maximum: NaN wins
                vi = vmax[i]
            vmax[i] = vi
        denom = np.sqrt(vi) / bc2_sqrt + eps
        p[i] = p[i] - (step_size * mi) / denom


@nb.njit(cache=True, error_model="numpy")
def adadelta_update(p, g, square_avg, acc_delta, negate, wd, rho, one_minus_rho, eps, lr):
    """One Adadelta step on flattened, contiguous arrays of one dtype, in place (g is only read).

    g' = -g if negate; g' += wd * p if wd != 0; s <- s * rho + (one_minus_rho * g') * g';
    delta = sqrt(a + eps) / sqrt(s + eps) * g'; a <- a * rho + (one_minus_rho * delta) * delta; p <- p - lr * delta.
    """
    for i in range(p.shape[0]):
        gi = -g[i] if negate else g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        si = square_avg[i] * rho + (one_minus_rho * gi) * gi
        square_avg[i] = si
        delta = np.sqrt(acc_delta[i] + eps) / np.sqrt(si + eps) * gi
        acc_delta[i] = acc_delta[i] * rho + (one_minus_rho * delta) * delta
        p[i] = p[i] - lr * delta


@nb.njit(cache=True, error_model="numpy")
def sgd_update(p, g, buf, first, negate, wd, momentum, one_minus_dampening, nesterov, lr):
    """One SGD step on flattened, contiguous arrays of one dtype, in place (g is only read).

    d = -g if negate; d += wd * p if wd != 0; with a momentum buffer (``buf`` of p's length; length 0: no
    momentum): buf <- d on the ``first`` step, else buf * momentum + one_minus_dampening * d; then
    d <- d + momentum * buf (Nesterov) or buf. p <- p - lr * d.
    """
    use_buf = buf.shape[0] > 0
    for i in range(p.shape[0]):
        d = -g[i] if negate else g[i]
        if wd != 0:
            d = d + wd * p[i]
        if use_buf:
            b = d if first else buf[i] * momentum + one_minus_dampening * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] = p[i] - lr * d
