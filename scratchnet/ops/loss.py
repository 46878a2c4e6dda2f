"""Log-softmax, softmax cross-entropy and negative log-likelihood as forward/backward pairs.

For logits z (N, K) and labels y (N,)::

    log p[n, k] = z[n, k] - max_k z[n] - log sum_k exp(z[n, k] - max_k z[n])   (stable for |z| ~ 1e4)
    L           = -(1/N) sum_n log p[n, y_n]                                    (mean reduction)
    dL/dz       = (softmax(z) - onehot(y)) / N

(with label smoothing e, onehot(y) becomes (1 - e) onehot(y) + e / K in both lines' place, as in torch).

``nll_loss`` takes log-probabilities directly (the official PyTorch MNIST net ends in log_softmax):
``L = -(1/N) sum_n logp[n, y_n]`` and ``dL/dlogp = -onehot(y) / N``. The backward of log-softmax is
``dz = dlogp - softmax(z) * sum_k dlogp[n, k]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks

REDUCTIONS = ("mean", "sum")


def check_targets(target: np.ndarray, n: int, num_classes: int, who: str) -> np.ndarray:
    """Validate integer class labels: shape (n,), integer dtype, each in [0, num_classes)."""
    target = np.asarray(target)
    if target.ndim != 1 or target.shape[0] != n:
        raise ValueError(f"{who}: expected target of shape ({n},), got {target.shape}")
    if not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"{who}: expected integer class labels, got dtype {target.dtype}")
    if n and (target.min() < 0 or target.max() >= num_classes):
        bad = int(np.flatnonzero((target < 0) | (target >= num_classes))[0])
        raise ValueError(
            f"{who}: label {int(target[bad])} at index {bad} is out of range: expected 0 <= label < {num_classes}"
        )
    return target.astype(np.intp, copy=False)


def log_softmax_forward(z: np.ndarray) -> tuple[np.ndarray, Any]:
    """Row-wise log-softmax of z (N, K), shifted by the row max for stability; cache is the output.

    N or K may be 0 (an empty result, as in torch).
    """
    if _checks.float_array(z).ndim != 2:
        raise ValueError(f"expected input (N, K), got {z.shape}")
    if z.size == 0:
        logp = np.empty(z.shape, dtype=z.dtype)
        return logp, logp
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return logp, logp


def log_softmax_backward(dlogp: np.ndarray, cache: Any) -> np.ndarray:
    """dz = dlogp - softmax(z) * sum_k dlogp (the Jacobian of log-softmax applied to dlogp);
    dlogp has the output's shape and dtype."""
    logp = cache
    dlogp = _checks.upstream(dlogp, logp.shape, logp.dtype)
    return dlogp - np.exp(logp) * dlogp.sum(axis=1, keepdims=True)


def _scale(n: int, reduction: str) -> float:
    if n == 0:
        raise ValueError("loss of an empty batch: expected at least one sample")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
    return 1.0 / n if reduction == "mean" else 1.0


def nll_loss(logp: np.ndarray, target: np.ndarray, reduction: str = "mean") -> tuple[float, np.ndarray]:
    """Negative log-likelihood of log-probabilities logp (N, K); returns (loss, dL/dlogp)."""
    n, k = logp.shape
    y = check_targets(target, n, k, "nll_loss")
    scale = _scale(n, reduction)
    rows = np.arange(n)
    loss = -float(logp[rows, y].sum()) * scale
    dlogp = np.zeros_like(logp)
    dlogp[rows, y] = -scale
    return loss, dlogp


def softmax_cross_entropy(z: np.ndarray, target: np.ndarray, reduction: str = "mean",
                          label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """Fused log-softmax + NLL on logits z (N, K); returns (loss, dL/dz = (softmax(z) - q) * scale).

    The target distribution q is onehot(y), or with ``label_smoothing`` e (torch's definition)
    ``(1 - e) * onehot(y) + e / K``, so that each sample's loss is ``(1 - e) * -log p[y] + e * mean_k -log p[k]``.
    """
    n, k = z.shape
    y = check_targets(target, n, k, "cross_entropy")
    scale = _scale(n, reduction)
    logp, _ = log_softmax_forward(z)
    rows = np.arange(n)
    nll = -float(logp[rows, y].sum())
    e = float(label_smoothing)
    loss = ((1 - e) * nll - e * float(logp.sum()) / k if e else nll) * scale
    dz = np.exp(logp)
    dz[rows, y] -= z.dtype.type(1 - e)
    if e:
        dz -= z.dtype.type(e / k)
    dz *= z.dtype.type(scale)
    return loss, dz
