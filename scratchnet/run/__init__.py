"""The run layer, NumPy only: one training loop for both libraries (:func:`fit_loop` over a small
:class:`Trainer` protocol), the run history schema (:class:`History`, :class:`EpochRecord`), provenance,
run-folder summaries and the way command lines end."""

from .command import run_command
from .history import (FOLD_METRICS, EarlyStopping, EpochRecord, History, HistoryError, epoch_line, fold_row,
                      read_histories, summarise_folds)
from .loop import NonFiniteError, Running, Trainer, TrainingInterrupted, fit_loop, progress_enabled
from .provenance import command_line, environment, git_commit

__all__ = ["run_command", "FOLD_METRICS", "EarlyStopping", "EpochRecord", "History", "HistoryError", "epoch_line",
           "fold_row", "read_histories", "summarise_folds", "NonFiniteError", "Running", "Trainer",
           "TrainingInterrupted", "fit_loop", "progress_enabled", "command_line", "environment", "git_commit"]
