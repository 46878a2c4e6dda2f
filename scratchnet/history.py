"""Per-epoch bookkeeping shared by ``scratchnet.train.fit`` and ``torchref.train.fit``: one record shape,
one printed epoch line and one early-stopping rule, so the two histories read (and resume) alike."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def epoch_record(epoch: int, lr: float, loss_sum: float, correct: float, seen: int, time_s: float) -> dict[str, Any]:
    """The training half of an epoch's record: mean running loss and accuracy over ``seen`` images."""
    return {
        "epoch": epoch,
        "lr": lr,
        "train_loss": loss_sum / seen,
        "train_accuracy": correct / seen,
        "time_s": time_s,
        "images_per_s": seen / time_s if time_s > 0 else None,
    }


def add_evaluation(record: dict[str, Any], split: str, evaluate: Callable[[], dict[str, float]]) -> None:
    """Run ``evaluate()`` (returning loss and accuracy) and store it in ``record`` as ``<split>_*``, timed."""
    t0 = time.perf_counter()
    result = evaluate()
    record[f"{split}_loss"], record[f"{split}_accuracy"] = result["loss"], result["accuracy"]
    record[f"{split}_time_s"] = time.perf_counter() - t0


def end_epoch(history: dict[str, Any], record: dict[str, Any],
              evaluations: dict[str, Callable[[], dict[str, float]] | None], *, scheduler=None,
              log: Callable[[str], None] | None = None, epochs: int, stopper: "EarlyStopping") -> bool:
    """Close an epoch the same way in every fit loop: add its train time, evaluate each split (``None``
    for one that is absent), append the record, step the scheduler, log the epoch line. Returns True
    when early stopping says training should stop now."""
    history["train_time_s"] += record["time_s"]
    for split, evaluate in evaluations.items():
        if evaluate is not None:
            add_evaluation(record, split, evaluate)
    history["epochs"].append(record)
    if scheduler is not None:
        scheduler.step()
    if log is not None:
        log(epoch_line(record, epochs))
    return stopper.update(record)


class EarlyStopping:
    """Tracks the best validation loss; ``update`` says stop after ``patience`` epochs without improvement.

    Built from a (possibly resumed) history, it replays the epochs already there, so a resumed run
    stops where the uninterrupted run would have. ``patience=None`` never stops (best epoch still kept).
    """

    def __init__(self, patience: int | None, history: dict[str, Any]) -> None:
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"early_stopping must be a whole number of epochs >= 1 (or None), got {patience!r}")
        self.patience, self.history = patience, history
        self.best, self.bad = math.inf, 0
        for record in history["epochs"]:
            self._see(record)

    def _see(self, record: dict[str, Any]) -> None:
        loss = record.get("val_loss")
        if loss is None:
            return
        if loss < self.best:
            self.best, self.bad, self.history["best_epoch"] = loss, 0, record["epoch"]
        else:
            self.bad += 1

    @property
    def stopped(self) -> bool:
        """True once ``patience`` epochs in a row brought no improvement (also right after replaying a
        resumed history that had already stopped: the resumed run then trains no further)."""
        return self.patience is not None and self.bad >= self.patience

    def epochs_left(self, start_epoch: int, epochs: int) -> range:
        """The epochs a (possibly resumed) run still trains: none when the history it resumes had already
        stopped early (then marked ``stopped_early`` again), else ``start_epoch`` .. ``epochs - 1``."""
        if self.stopped:
            self.history["stopped_early"] = True
            return range(start_epoch, start_epoch)
        return range(start_epoch, epochs)

    def update(self, record: dict[str, Any]) -> bool:
        """See one more epoch's record; True when training should stop now."""
        self._see(record)
        return self.stopped


def epoch_line(r: dict[str, Any], epochs: int) -> str:
    """``epoch  3/10 | lr 0.001 | train loss ... | test loss ... | 12.3 s (4870 img/s)``."""
    parts = [f"epoch {r['epoch']:>2}/{epochs}", f"lr {r['lr']:.3g}",
             f"train loss {r['train_loss']:.4f} acc {r['train_accuracy']:.4f}"]
    for split in ("val", "test"):
        if f"{split}_loss" in r:
            parts.append(f"{split} loss {r[f'{split}_loss']:.4f} acc {r[f'{split}_accuracy']:.4f}")
    parts.append(f"{r['time_s']:.1f} s ({r['images_per_s']:.0f} img/s)")
    return " | ".join(parts)


#: what cross-validation reports per fold, and averages over folds
FOLD_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "loss", "train_time_s")


def fold_row(fold: int, n_train: int, n_val: int, metrics: dict[str, Any], train_time_s: float) -> dict[str, Any]:
    """One fold's line: sizes, the held-out fold's metrics (from a classification report) and train time."""
    return {"fold": fold, "train_samples": int(n_train), "val_samples": int(n_val),
            **{key: metrics[key] for key in FOLD_METRICS[:5]}, "train_time_s": train_time_s}


def summarise_folds(folds: list[dict[str, Any]], k: int, stratified: bool) -> dict[str, Any]:
    """Per-fold rows with their mean and sample standard deviation (ddof=1) over folds."""
    table = np.array([[f[key] for key in FOLD_METRICS] for f in folds])
    std = table.std(axis=0, ddof=1) if len(folds) > 1 else np.zeros(len(FOLD_METRICS))
    return {"k": k, "stratified": stratified, "folds": folds,
            "mean": dict(zip(FOLD_METRICS, table.mean(axis=0).tolist())),
            "std": dict(zip(FOLD_METRICS, std.tolist()))}


__all__ = ["epoch_record", "add_evaluation", "end_epoch", "EarlyStopping", "epoch_line", "FOLD_METRICS", "fold_row",
           "summarise_folds"]
