"""Classification metrics in NumPy: accuracy, confusion matrix, per-class and macro precision/recall/F1.

Conventions (scikit-learn's and torchmetrics' macro averages): ``cm[i, j]`` counts samples of true
class i predicted as j; precision_c = cm[c, c] / sum_i cm[i, c]; recall_c = cm[c, c] / sum_j cm[c, j];
F1_c = 2 P R / (P + R); a ratio with a zero denominator is 0; macro = the unweighted mean over classes.
"""

from __future__ import annotations

import numpy as np


def _labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of class labels, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name}: expected integer class labels, got dtype {y.dtype}")
    return y.astype(np.int64, copy=False)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}; expected the same count")
    return t, p


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the true label."""
    t, p = _pair(y_true, y_pred)
    if t.size == 0:
        raise ValueError("accuracy of zero samples is undefined")
    return float(np.mean(t == p))


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    t, p = _pair(y_true, y_pred)
    k = int(max(t.max(initial=-1), p.max(initial=-1)) + 1) if num_classes is None else int(num_classes)
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
        raise ValueError(f"confusion_matrix: labels must lie in [0, {k}), got {min(t.min(), p.min())}..{max(t.max(), p.max())}")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def precision_recall_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 from a confusion matrix."""
    tp = np.diag(cm)
    precision = _safe_div(tp, cm.sum(axis=0))
    recall = _safe_div(tp, cm.sum(axis=1))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return precision, recall, f1


def classification_report(y_true, y_pred, num_classes: int = 10) -> dict:
    """Everything at once, as plain JSON-ready types.

    Returns
    -------
    {"accuracy", "macro_precision", "macro_recall", "macro_f1", "per_class": {"precision": [...],
    "recall": [...], "f1": [...], "support": [...]}, "confusion_matrix": [[...], ...], "num_samples"}
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    precision, recall, f1 = precision_recall_f1(cm)
    return {
        "num_samples": int(cm.sum()),
        "accuracy": accuracy(y_true, y_pred),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "per_class": {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": cm.sum(axis=1).tolist(),
        },
        "confusion_matrix": cm.tolist(),
    }
