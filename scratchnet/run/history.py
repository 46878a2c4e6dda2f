"""The history of a training run, one schema for both libraries: :class:`EpochRecord` per epoch inside a
:class:`History`, with a JSON round trip (``to_dict`` / ``from_dict``, ``save`` / ``load``).

The JSON layout is the one every committed run file already has, so old files read back unchanged.
Alongside: the early-stopping rule, the printed epoch line and the cross-validation fold rows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write_text, json_default

SPLITS = ("val", "test")


class HistoryError(ValueError):
    """A history file or dict that does not follow the schema; the message names the file and the field."""


@dataclass
class EpochRecord:
    """One epoch: the running train loss/accuracy over its batches, its time, and each evaluated split."""

    epoch: int
    lr: float
    train_loss: float
    train_accuracy: float
    time_s: float
    images_per_s: float | None
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_time_s: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_time_s: float | None = None

    @classmethod
    def from_running(cls, epoch: int, lr: float, loss_sum: float, correct: float, seen: int,
                     time_s: float) -> "EpochRecord":
        """The training half of an epoch's record: mean running loss and accuracy over ``seen`` images."""
        return cls(epoch=epoch, lr=float(lr), train_loss=float(loss_sum) / seen, train_accuracy=float(correct) / seen,
                   time_s=time_s, images_per_s=seen / time_s if time_s > 0 else None)

    def set_split(self, split: str, loss: float, accuracy: float, time_s: float) -> None:
        setattr(self, f"{split}_loss", float(loss))
        setattr(self, f"{split}_accuracy", float(accuracy))
        setattr(self, f"{split}_time_s", float(time_s))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; a split that was not evaluated has no keys (as the files have always been written)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if not (v is None and k.split("_", 1)[0] in SPLITS)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "epoch record") -> "EpochRecord":
        return _build(cls, d, where)


@dataclass
class History:
    """A run: what was trained (model, config), where (environment, extra: provenance), and per-epoch records.

    ``status`` is ``running`` while training, then ``finished``, ``interrupted`` or ``diverged``.
    Library-specific facts have their own optional fields (torch: trainable parameters,
    nondeterminism, notes); anything else a file carries is kept in ``other`` and written back.
    """

    model: str
    num_parameters: int
    config: dict[str, Any]
    environment: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    epochs: list[EpochRecord] = field(default_factory=list)
    train_time_s: float = 0.0
    warmup_time_s: float | None = None  # one untimed step before training: JIT compilation on a cold cache
    stopped_early: bool = False
    best_epoch: int | None = None
    status: str = "running"
    trainable_parameters: int | None = None
    nondeterminism: dict[str, Any] | None = None
    notes: list[str] | None = None
    resumed_from: dict[str, Any] | None = None
    final_test: dict[str, Any] | None = None
    peak_rss_mb: float | None = None
    other: dict[str, Any] = field(default_factory=dict)

    # -- reading ----------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def recipe(self) -> dict[str, Any]:
        return self.extra.get("recipe", {})

    @property
    def last(self) -> EpochRecord:
        if not self.epochs:
            raise HistoryError(f"{self.model}: the history has no epochs yet")
        return self.epochs[-1]

    @property
    def test_accuracy(self) -> float | None:
        """The final test accuracy (the full evaluation after training), else the last epoch's."""
        if self.final_test is not None:
            return self.final_test["accuracy"]
        return self.epochs[-1].test_accuracy if self.epochs else None

    def series(self, key: str) -> list[float | None]:
        """One field over the epochs, e.g. ``series("test_accuracy")``."""
        return [getattr(e, key) for e in self.epochs]

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "other":
                continue
            if f.name == "epochs":
                value = [e.to_dict() for e in value]
            elif value is None and f.name not in ("best_epoch",):
                continue
            out[f.name] = value
        out.update(self.other)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "history") -> "History":
        if not isinstance(d, dict):
            raise HistoryError(f"{where}: expected a JSON object, got {type(d).__name__}")
        d = dict(d)
        epochs = d.pop("epochs", [])
        if not isinstance(epochs, list):
            raise HistoryError(f"{where}: 'epochs' must be a list")
        h = _build(cls, d, where, keep_unknown=True)
        h.epochs = [EpochRecord.from_dict(e, f"{where}: epochs[{i}]") for i, e in enumerate(epochs)]
        return h

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1, default=json_default))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise HistoryError(f"{path}: not a readable JSON history ({err})") from None
        return cls.from_dict(data, str(path))


def _build(cls, d: dict[str, Any], where: str, keep_unknown: bool = False):
    """``cls(**d)`` with errors that name ``where`` and the field; unknown keys go to ``other`` or fail."""
    if not isinstance(d, dict):
        raise HistoryError(f"{where}: expected a JSON object, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)} - {"other", "epochs"}
    known = {k: v for k, v in d.items() if k in names}
    unknown = {k: v for k, v in d.items() if k not in names}
    if unknown and not keep_unknown:
        raise HistoryError(f"{where}: unexpected field(s) {sorted(unknown)}")
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name in names and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in known]
    if missing:
        raise HistoryError(f"{where}: missing field(s) {missing}")
    obj = cls(**known)
    if keep_unknown:
        obj.other = unknown
    return obj


def read_histories(directory: str | os.PathLike, *, finished_only: bool = True) -> list[tuple[Path, History]]:
    """Every run history (``*.json`` following the schema) in ``directory``, sorted by name; other JSON
    files (reports, foreign files) are skipped, not fatal."""
    found = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            h = History.load(path)
        except HistoryError:
            continue
        if h.final_test is not None or not finished_only:
            found.append((path, h))
    return found


class EarlyStopping:
    """Tracks the best validation loss; ``update`` says stop after ``patience`` epochs without improvement.

    Built from a (possibly resumed) history, it replays the epochs already there, so a resumed run
    stops where the uninterrupted run would have. ``patience=None`` never stops (best epoch still kept).
    """

    def __init__(self, patience: int | None, history: History) -> None:
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"early_stopping must be a whole number of epochs >= 1 (or None), got {patience!r}")
        self.patience, self.history = patience, history
        self.best, self.bad = math.inf, 0
        for record in history.epochs:
            self._see(record)

    def _see(self, record: EpochRecord) -> None:
        if record.val_loss is None:
            return
        if record.val_loss < self.best:
            self.best, self.bad, self.history.best_epoch = record.val_loss, 0, record.epoch
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
            self.history.stopped_early = True
            return range(start_epoch, start_epoch)
        return range(start_epoch, epochs)

    def update(self, record: EpochRecord) -> bool:
        """See one more epoch's record; True when training should stop now."""
        self._see(record)
        return self.stopped


def seconds(t: float) -> str:
    """``12.3 s``, or ``0.042 s`` under a second: a short run's time is not printed as 0.0 s."""
    return f"{t:.1f} s" if t >= 1 else f"{t:.3f} s"


def epoch_line(r: EpochRecord, epochs: int) -> str:
    """``epoch  3/10 | lr 0.001 | train loss 0.0712 acc 97.81% | test loss ... | 12.3 s (4870 img/s)``
    (train: the running mean over the epoch's batches)."""
    parts = [f"epoch {r.epoch:>2}/{epochs}", f"lr {r.lr:.3g}",
             f"train loss {r.train_loss:.4f} acc {100 * r.train_accuracy:.2f}%"]
    for split in SPLITS:
        if getattr(r, f"{split}_loss") is not None:
            parts.append(f"{split} loss {getattr(r, f'{split}_loss'):.4f} acc {100 * getattr(r, f'{split}_accuracy'):.2f}%")
    speed = f"{r.images_per_s:.0f} img/s" if r.images_per_s else "- img/s"
    parts.append(f"{seconds(r.time_s)} ({speed})")
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


__all__ = ["HistoryError", "EpochRecord", "History", "read_histories", "EarlyStopping", "epoch_line", "seconds",
           "FOLD_METRICS", "fold_row", "summarise_folds"]
