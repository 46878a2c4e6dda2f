"""Solution, by kernel taps: loop over the KH·KW positions (a, b) inside the filter instead of over the
N·F·OH·OW output positions. Tap (a, b) of every window is one strided slice of the padded input,
xp[:, :, a + stride·r, b + stride·q] for all (r, q); dw[:, :, a, b] contracts dout with that slice,
and dx gets dout · w[:, :, a, b] added back onto it (within one tap no two windows share a pixel, so
a plain += is safe). Nine vectorised contractions for a 3×3 filter, whatever the image size.
The direct form, a loop over the output positions that scatters dout · w onto each window, is the
bug_conv2d_backward exercise (with a bug planted in it)."""
import numpy as np


def conv2d_backward(dout, x, w, stride, pad):
    h, wd = x.shape[2:]
    kh, kw = w.shape[2:]
    oh, ow = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for a in range(kh):
        for b in range(kw):
            tap = (slice(None), slice(None), slice(a, a + stride * oh, stride), slice(b, b + stride * ow, stride))
            dw[:, :, a, b] = np.einsum("nfrq,ncrq->fc", dout, xp[tap])
            dxp[tap] += np.einsum("nfrq,fc->ncrq", dout, w[:, :, a, b])
    return dxp[:, :, pad : pad + h, pad : pad + wd], dw, dout.sum(axis=(0, 2, 3))
