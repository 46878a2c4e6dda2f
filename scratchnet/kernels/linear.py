"""Matrix products of the fully connected layer: ``x @ w.T + b`` (forward) and ``a @ b`` (backward).

Written here rather than handed to NumPy's BLAS for two reasons: BLAS keeps its own worker threads,
which spin after each call and then compete for the cores with the Numba threads of the convolution
kernels (on a 2-core machine that halved the speed of everything around a Linear layer); and the
result of a BLAS call may depend on its thread count, while these do not.

- ``linear_forward``: 4x4 blocks of dot products (each x and w vector load feeds four FMAs), one
  partial sum per vector lane, over chunks of the inner dimension that stay in L2; the chunk sums are
  added to the output in order.
- ``matmul`` (the backward's ``dout @ w`` and ``dout.T @ x``): each element is summed like a BLAS
  micro-kernel sums it, ``a[m, 0]*b[0, i] + a[m, 1]*b[1, i] + ...`` in order of k, one FMA per term
  (see ``_blocks``), in blocks of 192 terms; the vector lanes run across i. That is the order of torch's
  CPU BLAS (MKL): on the benchmark machine both backward products of every Linear layer with 64 or
  more outputs agree with torch's to the last bit in float32.

Every sum has one fixed order whatever the number of threads.
"""

import numba as nb
import numpy as np

from ._blocks import CONTRACT, FASTMATH, axpy_1x1, axpy_1x3, axpy_4x1, axpy_4x3

#: ``linear_forward``: inner-dimension chunk (64 rows of x and of w fit in L2), output columns (groups
#: of 4) per parallel task, and batch rows (groups of 4) per tile.
_KCHUNK = 384
_OGROUP = 8
_NTILE = 8

#: ``matmul``: a parallel task computes _MROWS rows x _ICHUNK columns of out (4 accumulator rows of at
#: most 1 KiB stay in L1 while b streams through); terms per block (a multiple of 3), each block summed
#: in order from zero and the block sums then added in order, as MKL does.
_MROWS = 16
_ICHUNK = 256
_KBLOCK = 192


@nb.njit(parallel=True, cache=True, fastmath=FASTMATH)
def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out[n, o] = b[o] + sum_i x[n, i] * w[o, i], as 4x4 blocks of dot products with one partial sum per
    vector lane; the sum over i runs in chunks of _KCHUNK, added to out in chunk order.

    x: (N, I), w: (O, I), both C-contiguous; b: (O,); out: (N, O), overwritten. Parallel over groups of
    output columns.
    """
    N, I = x.shape
    O = w.shape[0]
    OB = (O + 3) // 4
    NB = (N + 3) // 4
    for grp in nb.prange((OB + _OGROUP - 1) // _OGROUP):
        ob_lo = grp * _OGROUP
        ob_hi = min(OB, ob_lo + _OGROUP)
        for o in range(ob_lo * 4, min(O, ob_hi * 4)):
            for n in range(N):
                out[n, o] = b[o]
        blk = np.empty((4, 4), dtype=out.dtype)
        for nt in range(0, NB, _NTILE):
            for k0 in range(0, I, _KCHUNK):
                k1 = min(I, k0 + _KCHUNK)
                for ob in range(ob_lo, ob_hi):
                    o0 = ob * 4
                    no = min(4, O - o0)
                    w0, w1 = w[o0, k0:k1], w[o0 + min(1, no - 1), k0:k1]
                    w2, w3 = w[o0 + min(2, no - 1), k0:k1], w[o0 + min(3, no - 1), k0:k1]
                    for nb_ in range(nt, min(NB, nt + _NTILE)):
                        n0 = nb_ * 4
                        nn = min(4, N - n0)
                        x0, x1 = x[n0, k0:k1], x[n0 + min(1, nn - 1), k0:k1]
                        x2, x3 = x[n0 + min(2, nn - 1), k0:k1], x[n0 + min(3, nn - 1), k0:k1]
                        s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = out.dtype.type(0.0)
                        s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = out.dtype.type(0.0)
                        for k in range(k1 - k0):
                            a0, a1, a2, a3 = x0[k], x1[k], x2[k], x3[k]
                            c0, c1, c2, c3 = w0[k], w1[k], w2[k], w3[k]
                            s00 += a0 * c0
                            s01 += a0 * c1
                            s02 += a0 * c2
                            s03 += a0 * c3
                            s10 += a1 * c0
                            s11 += a1 * c1
                            s12 += a1 * c2
                            s13 += a1 * c3
                            s20 += a2 * c0
                            s21 += a2 * c1
                            s22 += a2 * c2
                            s23 += a2 * c3
                            s30 += a3 * c0
                            s31 += a3 * c1
                            s32 += a3 * c2
                            s33 += a3 * c3
                        blk[0, 0], blk[0, 1], blk[0, 2], blk[0, 3] = s00, s01, s02, s03
                        blk[1, 0], blk[1, 1], blk[1, 2], blk[1, 3] = s10, s11, s12, s13
                        blk[2, 0], blk[2, 1], blk[2, 2], blk[2, 3] = s20, s21, s22, s23
                        blk[3, 0], blk[3, 1], blk[3, 2], blk[3, 3] = s30, s31, s32, s33
                        for r in range(nn):
                            for q in range(no):
                                out[n0 + r, o0 + q] += blk[r, q]


@nb.njit(parallel=True, cache=True, fastmath=CONTRACT)
def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out[m, i] = sum_k a[m, k] * b[k, i]: the sums of blocks of 192 k, each summed in order of k, added in
    order.

    a: (M, K), any strides, but callers pass it C-contiguous (a transposed operand copied first): each array
    layout is a specialisation of its own, compiled in seconds on a cold cache, and the copy of a gradient
    costs microseconds; b: (K, I) C-contiguous; out: (M, I), overwritten.
    Parallel over tasks of _MROWS rows x _ICHUNK columns; inside, rows in blocks of 4 and k in groups of 3.
    """
    M, K = a.shape
    I = b.shape[1]
    bf = b.reshape(K * I)
    n_rows = (M + _MROWS - 1) // _MROWS
    n_cols = (I + _ICHUNK - 1) // _ICHUNK
    # the first block of terms is summed straight into the destination rows (0 + s equals s, bit for bit: a sum
    # that starts from +0.0 is never -0.0), later blocks into ``part`` and then added to them in order; the
    # destination is out itself when its rows lie within a page of each other (the MNIST nets' layers), else a
    # compact buffer copied out at the end: rows a multiple of 4 KiB apart share the L1 cache's sets with the
    # rows of b (9216 columns: 10 % slower straight into out)
    direct = I * out.itemsize <= 4096
    if K == 0:  # an empty sum (a batch of 0 in the grad-weight): no block runs, so zero the output here
        for m in range(M):
            for i in range(I):
                out[m, i] = 0.0
        return
    for task in nb.prange(n_rows * n_cols):
        m_lo = (task // n_cols) * _MROWS
        i0 = (task % n_cols) * _ICHUNK
        L = min(_ICHUNK, I - i0)
        part = np.empty((4, L), dtype=out.dtype)
        acc = np.empty((4, L if not direct else 0), dtype=out.dtype)
        for m0 in range(m_lo, min(M, m_lo + _MROWS), 4):
            nm = min(4, M - m0)
            if direct:
                o0, o1 = out[m0, i0 : i0 + L], out[m0 + min(1, nm - 1), i0 : i0 + L]
                o2, o3 = out[m0 + min(2, nm - 1), i0 : i0 + L], out[m0 + min(3, nm - 1), i0 : i0 + L]
            else:
                o0, o1, o2, o3 = acc[0], acc[1], acc[2], acc[3]
            for kb in range(0, K, _KBLOCK):
                kend = min(K, kb + _KBLOCK)
                k3 = kb + (kend - kb) // 3 * 3  # k in whole groups of 3 up to here, then one at a time
                if kb == 0:
                    d0, d1, d2, d3 = o0, o1, o2, o3
                else:
                    d0, d1, d2, d3 = part[0], part[1], part[2], part[3]
                for r in range(nm):  # element loops, not array arithmetic: see _blocks (compile time)
                    dr = d0 if r == 0 else d1 if r == 1 else d2 if r == 2 else d3
                    for i in range(L):
                        dr[i] = 0.0
                if nm == 4:
                    for k0 in range(kb, k3, 3):
                        axpy_4x3(d0, d1, d2, d3, bf, a[m0 : m0 + 4, k0 : k0 + 3],
                                 k0 * I + i0, (k0 + 1) * I + i0, (k0 + 2) * I + i0, L)
                    for k in range(k3, kend):
                        axpy_4x1(d0, d1, d2, d3, bf, a[m0 : m0 + 4, k], k * I + i0, L)
                else:
                    for r in range(nm):
                        dr = d0 if r == 0 else d1 if r == 1 else d2
                        for k0 in range(kb, k3, 3):
                            axpy_1x3(dr, bf, a[m0 + r, k0 : k0 + 3], k0 * I + i0, (k0 + 1) * I + i0, (k0 + 2) * I + i0, L)
                        for k in range(k3, kend):
                            axpy_1x1(dr, bf, a[m0 + r, k], k * I + i0, L)
                if kb > 0:
                    for r in range(nm):
                        orow = o0 if r == 0 else o1 if r == 1 else o2 if r == 2 else o3
                        for i in range(L):
                            orow[i] += part[r, i]
            if not direct:
                for r in range(nm):
                    for i in range(L):
                        out[m0 + r, i0 + i] = acc[r, i]
