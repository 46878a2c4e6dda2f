"""Register blocks shared by the kernels, and the fastmath flags they use.

``axpy_4x3`` is the inner loop of the stride-1 convolution and of ``matmul``: four output rows each
add three scaled input rows, so one load of an input vector feeds four FMAs and one load/store of an
output vector carries three of them, with the twelve weights held in registers. ``axpy_4x1`` adds the
one or two terms left over when the count is not a multiple of 3 (one call per term, so the order
stays the same); ``axpy_1x3`` and ``axpy_1x1`` are the same for a single output row. (One function
per shape: a branch on the term count inside the inlined block halved its speed.)

Summation order: each output element adds its terms one after the other, in the order the caller
passes them (``t = a[p]; t += w0*x0[p]; t += w1*x1[p]; t += w2*x2[p]``), each as one fused
multiply-add. That is the order of a textbook loop and of a BLAS micro-kernel, so these kernels round
like the plain loops they replace (and like torch's BLAS for the fully connected layer); the
vectorisation runs across output elements, never across the terms of one sum.

Compile time: the kernels copy and add arrays with element loops rather than slice assignment
(``out[i, a:b] = acc[r]``) or array arithmetic (``acc += part``). Those compile NumPy's broadcasting and
the formatted shape-mismatch error (string code), seconds of a cold cache for nothing a loop needs.
"""

import numba as nb

#: Kernels whose vector lanes run across independent outputs: only contraction of a*b + c into an FMA
#: (decided at compile time, so deterministic). Never 'nnan' or 'ninf': NaN must propagate as in torch.
CONTRACT = {"contract"}
#: Kernels that reduce along the vector (dot products): reassociation lets LLVM keep one partial sum
#: per lane; the order it picks is fixed at compile time, so results stay deterministic.
FASTMATH = {"reassoc", "contract"}

#: Loops over flat planes are rounded up to a multiple of this (one AVX-512 register of float32).
LANES = 16


@nb.njit(cache=True, fastmath=CONTRACT, inline="always")
def axpy_4x3(a0, a1, a2, a3, src, ww, o0, o1, o2, L):
    """a_q[p] += ww[q, 0] * src[p + o0], then += ww[q, 1] * src[p + o1], then += ww[q, 2] * src[p + o2],
    for q < 4 and p < L."""
    x0, x1, x2 = src[o0 : o0 + L], src[o1 : o1 + L], src[o2 : o2 + L]
    w00, w01, w02 = ww[0, 0], ww[0, 1], ww[0, 2]
    w10, w11, w12 = ww[1, 0], ww[1, 1], ww[1, 2]
    w20, w21, w22 = ww[2, 0], ww[2, 1], ww[2, 2]
    w30, w31, w32 = ww[3, 0], ww[3, 1], ww[3, 2]
    for p in range(L):
        v0, v1, v2 = x0[p], x1[p], x2[p]
        t0, t1, t2, t3 = a0[p], a1[p], a2[p], a3[p]
        t0 += w00 * v0
        t1 += w10 * v0
        t2 += w20 * v0
        t3 += w30 * v0
        t0 += w01 * v1
        t1 += w11 * v1
        t2 += w21 * v1
        t3 += w31 * v1
        t0 += w02 * v2
        t1 += w12 * v2
        t2 += w22 * v2
        t3 += w32 * v2
        a0[p], a1[p], a2[p], a3[p] = t0, t1, t2, t3


@nb.njit(cache=True, fastmath=CONTRACT, inline="always")
def axpy_4x1(a0, a1, a2, a3, src, ww, o0, L):
    """a_q[p] += ww[q] * src[p + o0] for q < 4, p < L (a single term: the leftover of a group of 3)."""
    x0 = src[o0 : o0 + L]
    w0, w1, w2, w3 = ww[0], ww[1], ww[2], ww[3]
    for p in range(L):
        v0 = x0[p]
        a0[p] += w0 * v0
        a1[p] += w1 * v0
        a2[p] += w2 * v0
        a3[p] += w3 * v0


@nb.njit(cache=True, fastmath=CONTRACT, inline="always")
def axpy_1x3(a, src, ww, o0, o1, o2, L):
    """a[p] += ww[0] * src[p + o0], then += ww[1] * src[p + o1], then += ww[2] * src[p + o2], for p < L."""
    x0, x1, x2 = src[o0 : o0 + L], src[o1 : o1 + L], src[o2 : o2 + L]
    w0, w1, w2 = ww[0], ww[1], ww[2]
    for p in range(L):
        t = a[p]
        t += w0 * x0[p]
        t += w1 * x1[p]
        t += w2 * x2[p]
        a[p] = t


@nb.njit(cache=True, fastmath=CONTRACT, inline="always")
def axpy_1x1(a, src, w0, o0, L):
    """a[p] += w0 * src[p + o0] for p < L."""
    x0 = src[o0 : o0 + L]
    for p in range(L):
        a[p] += w0 * x0[p]
