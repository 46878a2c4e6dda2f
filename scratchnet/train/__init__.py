"""Training and evaluation with scratchnet: ``fit`` runs epochs of explicit backprop through the one loop
of :mod:`scratchnet.run`, ``evaluate`` scores a data set, ``cross_validate`` runs k folds.

One training step, written out (this is all the loop asks of scratchnet per batch)::

    loss = loss_fn(model(x), y)          # forward; each layer keeps what its backward needs
    optimizer.zero_grad()
    model.backward(loss_fn.backward(), input_grad=False)   # dL/dscores in, gradients into param.grad
    optimizer.step()

Safety: a NaN/Inf loss or gradient stops training with ``NonFiniteError`` naming the epoch, the step
and the first layer where it appeared; Ctrl-C saves a resumable checkpoint (when a checkpoint path
is given) and raises ``TrainingInterrupted``. The command line is ``python -m scratchnet.train``.
"""

from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..data.loader import DataLoader
from ..metrics import classification_report
from ..nn.grad_mode import no_grad
from ..nn.module import Module, Sequential
from ..run.crossval import cross_validate_folds
from ..run.history import History
from ..run.loop import (NonFiniteError, Running, TrainingInterrupted, check_fit_arguments, describe_scheduler,
                        fit_loop)
from ..run.provenance import environment


def evaluate(
    model: Module, x: np.ndarray, y: np.ndarray, loss_fn: Module | None = None, batch_size: int = 1000
) -> dict[str, Any]:
    """Mean loss, accuracy and predictions of ``model`` on (x, y), in eval mode (restored afterwards).

    Returns {"loss", "accuracy", "predictions" (N,) int64, "num_samples"}.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"evaluate: expected the same non-zero number of inputs and labels, got {len(x)} and {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"evaluate: batch_size must be a whole number >= 1, got {batch_size!r}")
    loss_fn = loss_fn if loss_fn is not None else model.make_loss()
    was_training = model.training
    model.eval()
    total, preds = 0.0, np.empty(len(x), dtype=np.int64)
    try:
        with no_grad():  # no backward follows: layers keep nothing (no caches, no in-place checks)
            for start in range(0, len(x), batch_size):
                xb, yb = x[start : start + batch_size], y[start : start + batch_size]
                scores = model(xb)
                total += loss_fn(scores, yb) * len(xb)
                preds[start : start + len(xb)] = scores.argmax(axis=1)
    finally:
        model.train(was_training)
    return {"loss": total / len(x), "accuracy": float(np.mean(preds == y)), "predictions": preds,
            "num_samples": len(x)}


def _first_nonfinite_layer(model: Module, x: np.ndarray) -> str:
    """Re-run the forward pass layer by layer and name the first layer whose output is not finite."""
    if not np.all(np.isfinite(x)):
        return "the input batch"
    if isinstance(model, Sequential):
        with no_grad():  # a diagnosis, not a step: the layers keep nothing
            for name, layer in model.named_children():
                x = layer(x)
                if not np.all(np.isfinite(x)):
                    return f"layer '{name}' ({type(layer).__name__}) output"
    return "the loss (all layer outputs are finite)"


def _nonfinite_gradient(model: Module) -> str | None:
    """The parameter closest to the output whose gradient holds NaN/Inf (backprop reaches it first)."""
    for name, p in reversed(list(model.named_parameters())):
        if p.grad is not None and not np.all(np.isfinite(p.grad)):
            return name
    return None


def describe_optimizer(optimizer) -> dict[str, Any]:
    group = optimizer.param_groups[0]
    return {"name": type(optimizer).__name__, **{k: v for k, v in group.items() if k != "params"}}


class NumpyTrainer:
    """scratchnet's side of the loop's :class:`~scratchnet.run.loop.Trainer` protocol: explicit backprop
    on NumPy arrays, the loss checked at every step."""

    def __init__(self, model: Module, optimizer, loss_fn: Module, scheduler, loader: DataLoader,
                 data: dict[str, tuple[np.ndarray, np.ndarray] | None], eval_batch_size: int,
                 scheduler_interval: str = "epoch") -> None:
        self.model, self.optimizer, self.loss_fn, self.scheduler = model, optimizer, loss_fn, scheduler
        self.per_batch = scheduler is not None and scheduler_interval == "step"
        self.loader, self.data, self.eval_batch_size = loader, data, eval_batch_size
        self.name = type(model).__name__
        self.running = Running()
        model.train()

    def batches(self, epoch: int) -> list[np.ndarray]:
        return self.loader.batch_indices(epoch)

    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def begin_epoch(self, epoch: int, running: Running) -> None:
        self.running = Running(running.loss_sum, running.correct, running.seen)

    def step(self, idx: np.ndarray, epoch: int, step: int) -> None:
        x_train, y_train = self.data["train"]
        xb, yb = x_train[idx], y_train[idx]
        scores = self.model(xb)
        loss = self.loss_fn(scores, yb)
        if not math.isfinite(loss):
            where = _first_nonfinite_layer(self.model, xb)
            raise NonFiniteError(f"epoch {epoch + 1}, step {step + 1}: loss is {loss}; first non-finite value in {where}")
        self.optimizer.zero_grad()
        # the input images need no gradient (torch: requires_grad=False): skip dL/dx of the first layer
        self.model.backward(self.loss_fn.backward(), input_grad=False)
        bad = _nonfinite_gradient(self.model)
        if bad is not None:
            raise NonFiniteError(f"epoch {epoch + 1}, step {step + 1}: gradient of '{bad}' is not finite (loss {loss:.4g})")
        self.optimizer.step()
        if self.per_batch:
            self.scheduler.step()
        self.running.loss_sum += loss * len(idx)
        self.running.correct += int(np.sum(scores.argmax(axis=1) == yb))
        self.running.seen += len(idx)

    def totals(self) -> Running:
        return Running(self.running.loss_sum, self.running.correct, self.running.seen)

    def postfix(self) -> dict[str, str]:
        r = self.running
        return {"loss": f"{r.loss_sum / max(r.seen, 1):.4f}", "acc": f"{r.correct / max(r.seen, 1):.4f}"}

    def warm_up(self) -> float:
        """One forward and backward of a full first batch on a copy of the model, so that the Numba kernels
        training needs are compiled (or loaded from the cache) before the clock starts; the model, its
        optimiser, its loss and its random generators are left untouched (the model's own loss is used)."""
        t0 = time.perf_counter()
        model = copy.deepcopy(self.model)
        loss_fn = model.make_loss() if hasattr(model, "make_loss") else copy.deepcopy(self.loss_fn)
        x, y = self.data["train"]
        idx = self.loader.batch_indices(0)[0]
        loss_fn(model(x[idx]), y[idx])
        model.backward(loss_fn.backward(), input_grad=False)
        return time.perf_counter() - t0

    def evaluate(self, split: str) -> dict[str, float]:
        x, y = self.data[split]
        return evaluate(self.model, x, y, self.loss_fn, self.eval_batch_size)

    def end_epoch(self) -> None:
        if self.scheduler is not None and not self.per_batch:
            self.scheduler.step()
        self.model.train()

    def save_checkpoint(self, path: Path, epoch: int, step: int, meta: dict[str, Any]) -> Path:
        return save_checkpoint(path, self.model, self.optimizer, self.scheduler, epoch=epoch, step=step, meta=meta)

    def load_checkpoint(self, path: Path, check_meta) -> tuple[int, int, dict[str, Any]]:
        info = load_checkpoint(path, self.model, self.optimizer, self.scheduler, check_meta=check_meta)
        return info["epoch"], info["step"], info["meta"]


def fit(
    model: Module,
    optimizer,
    train_data: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    loss_fn: Module | None = None,
    scheduler=None,
    scheduler_interval: str = "epoch",
    val_data: tuple[np.ndarray, np.ndarray] | None = None,
    test_data: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    eval_batch_size: int = 1000,
    early_stopping: int | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
    history_path: str | os.PathLike | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs of mini-batch backprop and return its :class:`History`.

    Parameters
    ----------
    model, optimizer : a scratchnet model and an optimiser over its parameters.
    train_data : (x, y) arrays, e.g. images (N, 1, 28, 28) float32 and labels (N,) int64.
    epochs, batch_size : the recipe. Batches come from a seeded shuffle: epoch k's order depends only
        on (seed, k), so runs are reproducible and resumable.
    loss_fn : defaults to ``model.make_loss()`` (CrossEntropyLoss, or NLLLoss for log-prob outputs).
    scheduler : stepped once per epoch (like the official PyTorch MNIST example's StepLR), or after
        every batch with ``scheduler_interval="step"`` (OneCycleLR).
    val_data, test_data : evaluated after each epoch (loss, accuracy). ``early_stopping=n`` stops when
        the validation loss has not improved for n epochs (needs ``val_data``).
    checkpoint_path : an .npz checkpoint written (atomically) after every epoch and on Ctrl-C;
        ``resume=True`` continues from it if it exists (mid-epoch included), reaching the same weights
        as an uninterrupted run.
    history_path : a JSON file rewritten (atomically) after every epoch, on error and on Ctrl-C.
    progress : tqdm bars: None shows them on a terminal only, False never, True always.
    log : called with a one-line summary per epoch (e.g. ``print``).
    extra : JSON-ready facts to store in the history (data source, command line ...).
    """
    check_fit_arguments(epochs, early_stopping, val_data is not None, scheduler_interval)
    x_train, y_train = train_data
    if len(x_train) == 0:
        raise ValueError("fit: the training set is empty")
    loss_fn = loss_fn if loss_fn is not None else model.make_loss()
    loader = DataLoader(x_train, y_train, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    history = History(
        model=type(model).__name__, num_parameters=model.num_parameters(),
        config={"epochs": epochs, "batch_size": batch_size, "seed": seed, "shuffle": shuffle, "drop_last": drop_last,
                "train_samples": int(len(x_train)),
                "val_samples": None if val_data is None else int(len(val_data[0])),
                "test_samples": None if test_data is None else int(len(test_data[0])),
                "dtype": str(next(model.parameters()).dtype), "optimizer": describe_optimizer(optimizer),
                "scheduler": describe_scheduler(scheduler, scheduler_interval), "early_stopping": early_stopping},
        environment=environment(), extra=extra or {},
    )
    data = {"train": train_data, "val": val_data, "test": test_data}
    trainer = NumpyTrainer(model, optimizer, loss_fn, scheduler, loader, data, eval_batch_size, scheduler_interval)
    return fit_loop(trainer, history, epochs=epochs, splits=[s for s in ("val", "test") if data[s] is not None],
                    early_stopping=early_stopping, checkpoint_path=checkpoint_path, resume=resume,
                    history_path=history_path, progress=progress, log=log)


def final_metrics(model: Module, x: np.ndarray, y: np.ndarray, num_classes: int = 10, batch_size: int = 1000) -> dict[str, Any]:
    """Loss plus the full classification report (accuracy, macro P/R/F1, per class, confusion matrix)."""
    result = evaluate(model, x, y, batch_size=batch_size)
    report = classification_report(y, result["predictions"], num_classes)
    report["loss"] = result["loss"]
    return report


def cross_validate(
    build_model: Callable[[int], Module],
    build_optimizer: Callable[[Module], Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    k: int = 5,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    stratified: bool = True,
    num_classes: int = 10,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """k-fold cross-validation: train a fresh model on k-1 folds, score it on the held-out fold.

    ``build_model(fold)`` returns a new model (seed it from the fold for reproducibility);
    ``build_optimizer(model)`` its optimiser. Returns per-fold metrics (accuracy, macro precision,
    recall, F1, loss, train time) and their mean and (sample) standard deviation.
    """
    def fit_fold(fold: int, train_idx: np.ndarray, val_idx: np.ndarray):
        model = build_model(fold)
        history = fit(model, build_optimizer(model), (x[train_idx], y[train_idx]), epochs=epochs,
                      batch_size=batch_size, seed=seed + fold, progress=progress)
        return history, final_metrics(model, x[val_idx], y[val_idx], num_classes)

    result, _ = cross_validate_folds(fit_fold, y, k=k, seed=seed, stratified=stratified, log=log)
    return result


__all__ = ["NonFiniteError", "TrainingInterrupted", "NumpyTrainer", "evaluate", "fit", "final_metrics",
           "cross_validate", "describe_optimizer"]
