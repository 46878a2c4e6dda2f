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
import time
from typing import Any, Callable

import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..data.loader import DataLoader
from ..metrics import classification_report
from ..nn.grad_mode import no_grad
from ..nn.module import Module, Sequential
from ..run.crossval import cross_validate_folds
from ..run.history import History
from ..run.loop import (FitSettings, NonFiniteError, Running, TrainerBase, TrainingInterrupted, describe_optimizer,
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


class NumpyTrainer(TrainerBase):
    """scratchnet's side of the loop's :class:`~scratchnet.run.loop.Trainer` protocol: explicit backprop
    on NumPy arrays, the loss checked at every step."""

    @property
    def checkpoint_functions(self):  # this module's, looked up when used (so that a test can stand one in)
        return save_checkpoint, load_checkpoint

    def __init__(self, model: Module, optimizer, loss_fn: Module, scheduler, loader: DataLoader,
                 data: dict[str, tuple[np.ndarray, np.ndarray] | None], eval_batch_size: int,
                 scheduler_interval: str = "epoch") -> None:
        self.model, self.optimizer, self.loss_fn, self.scheduler = model, optimizer, loss_fn, scheduler
        self.runner = model
        self.per_batch = scheduler is not None and scheduler_interval == "step"
        self.loader, self.data, self.eval_batch_size = loader, data, eval_batch_size
        self.name = type(model).__name__
        self.running = Running()
        model.train()

    def batches(self, epoch: int) -> list[np.ndarray]:
        return self.loader.batch_indices(epoch)

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
        """One forward, backward and optimiser step of a full first batch on a copy of the model, so that the
        Numba kernels training needs (the optimiser's update included) are compiled, or loaded from the cache,
        before the clock starts; the model, its optimiser, its loss and its random generators are left untouched
        (the copy gets the model's own loss and a fresh optimiser of the same kind with the same settings)."""
        t0 = time.perf_counter()
        model = copy.deepcopy(self.model)
        loss_fn = model.make_loss() if hasattr(model, "make_loss") else copy.deepcopy(self.loss_fn)
        x, y = self.data["train"]
        idx = self.loader.batch_indices(0)[0]
        loss_fn(model(x[idx]), y[idx])
        model.backward(loss_fn.backward(), input_grad=False)
        try:
            twin = type(self.optimizer)(model.parameters(), **self.optimizer.defaults)
        except TypeError:  # an optimiser class of the user's own that is not built from its defaults: skip it
            pass
        else:  # outside the try: an error in the update itself is not swallowed
            twin.step()
        return time.perf_counter() - t0

    def evaluate(self, split: str) -> dict[str, float]:
        x, y = self.data[split]
        return evaluate(self.model, x, y, self.loss_fn, self.eval_batch_size)


def fit(model: Module, optimizer, train_data: tuple[np.ndarray, np.ndarray], *, loss_fn: Module | None = None,
        scheduler=None, val_data: tuple[np.ndarray, np.ndarray] | None = None,
        test_data: tuple[np.ndarray, np.ndarray] | None = None, **settings: Any) -> History:
    """Train ``model`` by mini-batch backprop and return its :class:`History`:
    ``fit(model, optimizer, (x, y), epochs=10, batch_size=60, test_data=(x_test, y_test))``.

    model, optimizer : a scratchnet model and an optimiser over its parameters.
    train_data, val_data, test_data : (x, y) arrays, e.g. images (N, 1, 28, 28) float32 and labels (N,)
        int64; val and test are evaluated after every epoch (loss, accuracy).
    loss_fn : defaults to ``model.make_loss()`` (CrossEntropyLoss, or NLLLoss for log-prob outputs).
    scheduler : stepped once per epoch, or after every batch with ``scheduler_interval="step"``.
    settings : the keywords of :class:`scratchnet.run.loop.FitSettings` (``epochs`` and ``batch_size``
        required; seed, shuffle, early_stopping, checkpoint_path, resume, history_path, progress, log ...),
        the same as ``torchref.train.fit`` takes.
    """
    s = FitSettings(**settings)
    s.check(has_val=val_data is not None)
    x_train, y_train = train_data
    if len(x_train) == 0:
        raise ValueError("fit: the training set is empty")
    loss_fn = loss_fn if loss_fn is not None else model.make_loss()
    loader = DataLoader(x_train, y_train, s.batch_size, shuffle=s.shuffle, seed=s.seed, drop_last=s.drop_last)
    data = {"train": train_data, "val": val_data, "test": test_data}
    sizes = {split: None if d is None else int(len(d[0])) for split, d in data.items()}
    history = History(model=type(model).__name__, num_parameters=model.num_parameters(),
                      config=s.config(sizes, str(next(model.parameters()).dtype), optimizer, scheduler),
                      environment=environment(), extra=s.extra or {})
    trainer = NumpyTrainer(model, optimizer, loss_fn, scheduler, loader, data, s.eval_batch_size, s.scheduler_interval)
    return fit_loop(trainer, history, s, splits=[split for split in ("val", "test") if data[split] is not None])


def final_metrics(model: Module, x: np.ndarray, y: np.ndarray, num_classes: int = 10, batch_size: int = 1000) -> dict[str, Any]:
    """Loss plus the full classification report (accuracy, macro P/R/F1, per class, confusion matrix)."""
    result = evaluate(model, x, y, batch_size=batch_size)
    report = classification_report(y, result["predictions"], num_classes)
    report["loss"] = result["loss"]
    return report


def cross_validate(build_model: Callable[[int], Module], build_optimizer: Callable[[Module], Any], x: np.ndarray,
                   y: np.ndarray, *, k: int = 5, seed: int = 0, stratified: bool = True, num_classes: int = 10,
                   log: Callable[[str], None] | None = None, **fit_settings: Any) -> dict[str, Any]:
    """k-fold cross-validation: train a fresh model on k-1 folds, score it on the held-out fold.

    ``build_model(fold)`` returns a new model (seed it from the fold for reproducibility);
    ``build_optimizer(model)`` its optimiser; ``fit_settings`` go to :func:`fit` (``epochs`` and
    ``batch_size`` required), fold f's batches seeded ``seed + f``. Returns per-fold metrics (accuracy,
    macro precision, recall, F1, loss, train time) and their mean and (sample) standard deviation.
    """
    def fit_fold(fold: int, train_idx: np.ndarray, val_idx: np.ndarray):
        model = build_model(fold)
        history = fit(model, build_optimizer(model), (x[train_idx], y[train_idx]), seed=seed + fold, **fit_settings)
        return history, final_metrics(model, x[val_idx], y[val_idx], num_classes)

    result, _ = cross_validate_folds(fit_fold, y, k=k, seed=seed, stratified=stratified, log=log)
    return result


__all__ = ["NonFiniteError", "TrainingInterrupted", "NumpyTrainer", "evaluate", "fit", "final_metrics",
           "cross_validate", "describe_optimizer"]
