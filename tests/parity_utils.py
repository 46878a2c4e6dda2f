"""Helpers for comparing scratchnet with torch: ``assert_parity`` and CS231n's ``rel_error``.

``assert_parity`` fails with "scratchnet vs torch", the worst element, its index and both values.
It accepts ndarrays, numbers and torch tensors (anything with ``.detach()``), without importing torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["assert_parity", "rel_error", "to_numpy"]


def to_numpy(x: Any) -> np.ndarray:
    """An ndarray from an ndarray, a number, a list or a torch tensor (detached, on the CPU)."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def rel_error(a: Any, b: Any) -> float:
    """CS231n's relative error: ``max |a - b| / max(1e-8, |a| + |b|)``, elementwise, as a float.

    Below 1e-7 is good in float64; 1e-4 happens only near kinks; above 1e-2 is wrong.
    """
    a = to_numpy(a).astype(np.float64)
    b = to_numpy(b).astype(np.float64)
    if a.size == 0 and b.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def assert_parity(name: str, ours: Any, theirs: Any, rtol: float, *, scale: float | None = None) -> None:
    """Assert that ``ours`` (scratchnet) agrees with ``theirs`` (torch) relative to the scale of theirs.

    Passes when ``|ours - theirs| <= rtol * max(max|theirs|, tiny)`` for every element (NaNs must sit
    at the same places; equal infinities agree). Otherwise raises an AssertionError that reads::

        <name>: scratchnet vs torch: worst |diff| 3.1e-05 at index (2, 7): scratchnet=0.123, torch=0.1231; ...

    Parameters
    ----------
    name : str
        What is compared (e.g. ``"Adam(amsgrad) float32 step 17 param 2"``).
    ours, theirs : array-like or torch tensor
        Same shape.
    rtol : float
        Tolerance relative to the largest ``|theirs|`` (e.g. 1e-12 in float64, 1e-6 in float32).
    scale : float, optional
        A floor for that largest ``|theirs|``: the magnitude the values are known to live at. Use it
        for tiny tensors that can pass near zero (a one-element parameter in the middle of a random
        walk), where the current maximum understates the scale of the rounding errors.
    """
    o = to_numpy(ours)
    t = to_numpy(theirs)
    if o.shape != t.shape:
        raise AssertionError(f"{name}: scratchnet vs torch: shapes differ: scratchnet {o.shape}, torch {t.shape}")
    o64 = o.astype(np.float64)
    t64 = t.astype(np.float64)
    if o.size == 0:
        return
    nan_o, nan_t = np.isnan(o64), np.isnan(t64)
    if not np.array_equal(nan_o, nan_t):
        idx = np.unravel_index(int(np.argmax(nan_o != nan_t)), o.shape)
        raise AssertionError(
            f"{name}: scratchnet vs torch: NaN at different places, e.g. index {tuple(int(i) for i in idx)}: "
            f"scratchnet={o64[idx].item()!r}, torch={t64[idx].item()!r}"
        )
    finite_t = np.abs(t64[np.isfinite(t64)])
    scale = max(float(finite_t.max()) if finite_t.size else 0.0, scale or 0.0, np.finfo(np.float64).tiny)
    tol = rtol * scale
    with np.errstate(invalid="ignore"):
        diff = np.where((o64 == t64) | (nan_o & nan_t), 0.0, np.abs(o64 - t64))
    diff = np.where(np.isnan(diff), np.inf, diff)  # inf vs -inf, or inf vs finite
    worst = int(np.argmax(diff))
    if diff.flat[worst] > tol:
        idx = tuple(int(i) for i in np.unravel_index(worst, o.shape))
        n_bad = int(np.count_nonzero(diff > tol))
        raise AssertionError(
            f"{name}: scratchnet vs torch: worst |diff| {diff.flat[worst]:.3e} at index {idx}: "
            f"scratchnet={o64.flat[worst].item()!r}, torch={t64.flat[worst].item()!r}; allowed {rtol:g} * {scale:.3e} "
            f"= {tol:.3e}; {n_bad} of {o.size} elements outside (dtypes {o.dtype} / {t.dtype}, shape {o.shape})"
        )


def striped_batches(steps: int, batch: int, dtype, *, seed: int, noise: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Generated 'digits' with a learnable signal (the class decides which rows are bright) and a fraction
    ``noise`` of random labels, so the loss falls but stays well above zero, where relative differences
    mean something; normalised like MNIST."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        y = rng.integers(0, 10, size=batch)
        x = rng.random((batch, 1, 28, 28)) * 0.3
        for i, label in enumerate(y):
            x[i, 0, 2 * label + 3 : 2 * label + 6, 4:24] += 0.7
        y = np.where(rng.random(batch) < noise, rng.integers(0, 10, size=batch), y)
        out.append((((x - 0.1307) / 0.3081).astype(dtype), y))
    return out


def conv_against_naive(x, w, b, stride, padding, tol: dict, rng):
    """scratchnet's fast convolution against ``ops.naive``'s loops: the forward, then dx and dw for a random
    upstream gradient, within ``tol``; returns (the forward's cache, the fast db, the naive db) for more checks."""
    from scratchnet import ops
    from scratchnet.ops import naive

    out, cache = ops.conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(out, naive.conv2d_forward_naive(x, w, b, stride, padding), **tol)
    dout = rng.standard_normal(out.shape).astype(x.dtype)
    dx, dw, db = ops.conv2d_backward(dout, cache)
    ndx, ndw, ndb = naive.conv2d_backward_naive(dout, x, w, stride, padding)
    np.testing.assert_allclose(dx, ndx, **tol)
    np.testing.assert_allclose(dw, ndw, **tol)
    return cache, db, ndb
