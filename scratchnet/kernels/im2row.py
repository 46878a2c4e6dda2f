"""Unrolling convolution windows into rows (im2row) and adding them back (row2im), for the matrix-product path.

Row ``n*OH*OW + oh*OW + ow`` of the unrolled matrix holds the window of output position (oh, ow) of
image n: column ``c*T + t`` is input channel c at tap t, where the taps are the (i, j) pairs of the
*live* kernel rows ``ti`` and columns ``tj`` (those that touch the input for at least one output
position; a tap that only ever reads padding contributes nothing and is left out). Parallel over the
batch; row2im adds each image's rows in a fixed order, so both are deterministic.
"""

import numba as nb


def _window_kernel(name: str, to_rows: bool, doc: str):
    """Build the kernel ``name`` from the loop nest ``im2row`` and ``row2im`` share: each entry of the unrolled
    matrix meets the input element it stands for and is copied from it (``to_rows``) or added back to it.

    ``to_rows`` is a closure constant, so each kernel compiles its own branch only: as fast as the two nests
    written out (measured), and cached apart (its name names the cache file; numba's cache key also hashes
    closure constants)."""

    def kernel(x, rows, ti, tj, sh, sw, ph, pw, OH, OW):
        N, C, H, W = x.shape
        TI, TJ = ti.shape[0], tj.shape[0]
        T = TI * TJ
        zero = rows.dtype.type(0.0)
        for n in nb.prange(N):
            if not to_rows:
                x[n] = 0.0
            for oh in range(OH):
                for ow in range(OW):
                    r = rows[(n * OH + oh) * OW + ow]
                    for c in range(C):
                        xc = x[n, c]
                        base = c * T
                        for a in range(TI):
                            h = oh * sh + ti[a] - ph
                            inside_h = 0 <= h < H
                            if not (to_rows or inside_h):  # nothing to add back from a padding row
                                continue
                            for b in range(TJ):
                                v = ow * sw + tj[b] - pw
                                inside = inside_h and 0 <= v < W
                                if to_rows:
                                    r[base + a * TJ + b] = xc[h, v] if inside else zero
                                elif inside:
                                    xc[h, v] += r[base + a * TJ + b]

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = doc
    return nb.njit(parallel=True, cache=True)(kernel)


im2row = _window_kernel("im2row", True, """im2row(x, rows, ti, tj, sh, sw, ph, pw, OH, OW):
    rows[n*OH*OW + oh*OW + ow, c*T + a*len(tj) + b] = x[n, c, oh*sh + ti[a] - ph, ow*sw + tj[b] - pw]
    (0 outside the input). x: (N, C, H, W); rows: (N*OH*OW, C*T), overwritten.""")

row2im = _window_kernel("row2im", False, """row2im(dx, rows, ti, tj, sh, sw, ph, pw, OH, OW):
    the adjoint of ``im2row``: dx[n, c, h, v] = sum of the row entries that were read from (h, v), added
    in row order. dx: (N, C, H, W), overwritten; rows: (N*OH*OW, C*T).""")


@nb.njit(parallel=True, cache=True)
def rows_to_nchw(rows, out):
    """out[n, f, p] = rows[n*P + p, f]: (N*P, F) -> (N, F, P). Parallel over the batch."""
    N, F, P = out.shape
    for n in nb.prange(N):
        for p in range(P):
            r = rows[n * P + p]
            for f in range(F):
                out[n, f, p] = r[f]


@nb.njit(parallel=True, cache=True)
def nchw_to_rows(x, rows):
    """rows[n*P + p, f] = x[n, f, p]: (N, F, P) -> (N*P, F). Parallel over the batch."""
    N, F, P = x.shape
    for n in nb.prange(N):
        for f in range(F):
            xr = x[n, f]
            for p in range(P):
                rows[n * P + p, f] = xr[p]
