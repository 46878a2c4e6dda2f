"""k-fold cross-validation, once for both libraries: each supplies how to train and score one fold."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..data.splits import kfold_indices
from .history import History, fold_row, summarise_folds

#: ``fit_fold(fold, train_idx, val_idx) -> (history, metrics)``: train a fresh model on ``train_idx`` and
#: return its history and the classification report (with ``loss``) of the held-out ``val_idx``
FitFold = Callable[[int, np.ndarray, np.ndarray], tuple[History, dict[str, Any]]]


def cross_validate_folds(fit_fold: FitFold, labels: np.ndarray, *, k: int = 5, seed: int = 0, stratified: bool = True,
                         log: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[History]]:
    """Train and score each of the k folds (fold f: a fresh model seeded from f, scored on the held-out
    fold); returns the per-fold rows with their mean and sample std (ddof=1), and the fold histories."""
    folds, histories = [], []
    for fold, (train_idx, val_idx) in enumerate(kfold_indices(labels, k=k, seed=seed, stratified=stratified)):
        history, metrics = fit_fold(fold, train_idx, val_idx)
        row = fold_row(fold + 1, len(train_idx), len(val_idx), metrics, history.train_time_s)
        folds.append(row)
        histories.append(history)
        if log is not None:
            log(f"fold {fold + 1}/{k}: accuracy {100 * row['accuracy']:.2f} %, macro F1 {100 * row['macro_f1']:.2f} %, "
                f"{row['train_time_s']:.1f} s")
    return summarise_folds(folds, k, stratified), histories


__all__ = ["cross_validate_folds"]
