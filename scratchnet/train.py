"""Training and evaluation: ``fit`` runs epochs of explicit backprop, ``evaluate`` scores a data set,
``cross_validate`` runs k folds. Histories are plain JSON-ready dicts.

One training step, written out (this is all ``fit`` does per batch)::

    loss = loss_fn(model(x), y)          # forward; each layer keeps what its backward needs
    optimizer.zero_grad()
    model.backward(loss_fn.backward())   # dL/dscores in, gradients accumulated into param.grad
    optimizer.step()

Safety: a NaN/Inf loss or gradient stops training with ``NonFiniteError`` naming the epoch, the step
and the first layer where it appeared; Ctrl-C saves a resumable checkpoint (when a checkpoint path
is given) and raises ``TrainingInterrupted``. The history file and checkpoints are written atomically,
so the last good ones stay on disk whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numba
import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .checkpoint import load_checkpoint, save_checkpoint
from .fileio import atomic_write_text
from .data.loader import DataLoader
from .data.splits import kfold_indices
from .history import EarlyStopping, end_epoch, epoch_record, fold_row, summarise_folds
from .metrics import classification_report
from .nn.module import Module, Sequential, takes_input_grad


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN or Inf; the message names epoch, step and layer."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``; ``checkpoint`` is the resumable checkpoint written (or None)."""

    def __init__(self, message: str, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class _InterruptFlag:
    requested = False  # a first Ctrl-C: stop at the next step boundary
    forced = False  # a second Ctrl-C: stopped at once, possibly mid-step


@contextlib.contextmanager
def _deferred_sigint():
    """Let Ctrl-C finish the current training step, so a checkpoint is taken at a step boundary.

    The first Ctrl-C sets a flag that the loop checks after each step; a second one interrupts at
    once (no checkpoint then, since the step in progress may be half applied).
    """
    flag = _InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            flag.forced = True
            raise KeyboardInterrupt
        flag.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_enabled(progress: bool | None) -> bool | None:
    """tqdm's ``disable`` flag: None (auto) shows bars only on a terminal; False never; True always."""
    if progress is None:
        return None
    return not progress


def evaluate(
    model: Module, x: np.ndarray, y: np.ndarray, loss_fn: Module | None = None, batch_size: int = 1000
) -> dict[str, Any]:
    """Mean loss, accuracy and predictions of ``model`` on (x, y), in eval mode (restored afterwards).

    Returns {"loss", "accuracy", "predictions" (N,) int64, "num_samples"}.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"evaluate: expected the same non-zero number of inputs and labels, got {len(x)} and {len(y)}")
    loss_fn = loss_fn if loss_fn is not None else model.make_loss()
    was_training = model.training
    model.eval()
    total, preds = 0.0, np.empty(len(x), dtype=np.int64)
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            scores = model(xb)
            total += loss_fn(scores, yb) * len(xb)
            preds[start : start + len(xb)] = scores.argmax(axis=1)
            _drop_caches(model, loss_fn)
    finally:
        model.train(was_training)
    return {
        "loss": total / len(x),
        "accuracy": float(np.mean(preds == y)),
        "predictions": preds,
        "num_samples": len(x),
    }


def _drop_caches(*modules: Module) -> None:
    """Forget the forward caches of an evaluation pass (no backward will follow)."""
    for top in modules:
        for m in top.modules():
            object.__setattr__(m, "_cache", None)


def _first_nonfinite_layer(model: Module, x: np.ndarray) -> str:
    """Re-run the forward pass layer by layer and name the first layer whose output is not finite."""
    if not np.all(np.isfinite(x)):
        return "the input batch"
    if isinstance(model, Sequential):
        for name, layer in model.named_children():
            x = layer(x)
            if not np.all(np.isfinite(x)):
                _drop_caches(model)
                return f"layer '{name}' ({type(layer).__name__}) output"
        _drop_caches(model)
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


def describe_scheduler(scheduler) -> dict[str, Any] | None:
    if scheduler is None:
        return None
    state = scheduler.state_dict()
    keep = {k: v for k, v in state.items() if not k.startswith("_") and k not in ("base_lrs", "last_epoch")}
    return {"name": type(scheduler).__name__, **keep}


def environment() -> dict[str, Any]:
    """Machine and versions, for the provenance of every history."""
    return {
        "scratchnet": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fit(
    model: Module,
    optimizer,
    train_data: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    loss_fn: Module | None = None,
    scheduler=None,
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
) -> dict[str, Any]:
    """Train ``model`` for ``epochs`` epochs of mini-batch backprop and return its history.

    Parameters
    ----------
    model, optimizer : a scratchnet model and an optimiser over its parameters.
    train_data : (x, y) arrays, e.g. images (N, 1, 28, 28) float32 and labels (N,) int64.
    epochs, batch_size : the recipe. Batches come from a seeded shuffle: epoch k's order depends only
        on (seed, k), so runs are reproducible and resumable.
    loss_fn : defaults to ``model.make_loss()`` (CrossEntropyLoss, or NLLLoss for log-prob outputs).
    scheduler : stepped once per epoch (like the official PyTorch MNIST example's StepLR).
    val_data, test_data : evaluated after each epoch (loss, accuracy). ``early_stopping=n`` stops when
        the validation loss has not improved for n epochs (needs ``val_data``).
    checkpoint_path : an .npz checkpoint written (atomically) after every epoch and on Ctrl-C;
        ``resume=True`` continues from it if it exists, reaching the same weights as an
        uninterrupted run.
    history_path : a JSON file rewritten (atomically) after every epoch, on error and on Ctrl-C.
    progress : tqdm bars: None shows them on a terminal only, False never, True always.
    log : called with a one-line summary per epoch (e.g. ``print``).
    extra : JSON-ready facts to store in the history (data source, command line ...).

    Returns
    -------
    history : {"model", "num_parameters", "config", "environment", "epochs": [per-epoch dicts with
        train_loss, train_accuracy, val_*/test_* when given, lr, time_s, images_per_s], "train_time_s",
        "stopped_early", "best_epoch", "status"}.
    """
    x_train, y_train = train_data
    if early_stopping is not None and val_data is None:
        raise ValueError("fit: early_stopping needs val_data to watch the validation loss")
    if epochs < 1:
        raise ValueError(f"fit: epochs must be >= 1, got {epochs}")
    loss_fn = loss_fn if loss_fn is not None else model.make_loss()
    loader = DataLoader(x_train, y_train, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    history: dict[str, Any] = {
        "model": type(model).__name__,
        "num_parameters": model.num_parameters(),
        "config": {
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "shuffle": shuffle,
            "drop_last": drop_last,
            "train_samples": int(len(x_train)),
            "val_samples": None if val_data is None else int(len(val_data[0])),
            "test_samples": None if test_data is None else int(len(test_data[0])),
            "dtype": str(next(model.parameters()).dtype),
            "optimizer": describe_optimizer(optimizer),
            "scheduler": describe_scheduler(scheduler),
            "early_stopping": early_stopping,
        },
        "environment": environment(),
        "extra": extra or {},
        "epochs": [],
        "train_time_s": 0.0,
        "stopped_early": False,
        "best_epoch": None,
        "status": "running",
    }

    start_epoch, start_step, partial = 0, 0, None
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        info = load_checkpoint(checkpoint_path, model, optimizer, scheduler)
        start_epoch, start_step = info["epoch"], info["step"]
        saved = info["meta"].get("history")
        if saved:
            history["epochs"] = saved["epochs"]
            history["train_time_s"] = saved["train_time_s"]
        partial = info["meta"].get("partial_epoch")
        history["resumed_from"] = {"checkpoint": str(checkpoint_path), "epoch": start_epoch, "step": start_step}

    def write_history(status: str) -> None:
        history["status"] = status
        if history_path is not None:
            atomic_write_text(history_path, json.dumps(history, indent=1))

    def checkpoint(epoch: int, step: int, partial_epoch: dict | None = None) -> Path | None:
        if checkpoint_path is None:
            return None
        meta = {"history": {"epochs": history["epochs"], "train_time_s": history["train_time_s"]}}
        if partial_epoch is not None:
            meta["partial_epoch"] = partial_epoch
        return save_checkpoint(checkpoint_path, model, optimizer, scheduler, epoch=epoch, step=step, meta=meta)

    stopper = EarlyStopping(early_stopping, history)
    # the input images need no gradient (torch: requires_grad=False): skip dL/dx of the first layer
    backward_kwargs = {"input_grad": False} if takes_input_grad(model) else {}
    disable = progress_enabled(progress)
    model.train()
    # Ctrl-C anywhere in the loop sets a flag: the run stops after the current step (with a mid-epoch
    # checkpoint) or at the end of the epoch (with its checkpoint), never half-way through an update.
    with _deferred_sigint() as interrupt:
        for epoch in stopper.epochs_left(start_epoch, epochs):
            batches = loader.batch_indices(epoch)
            first = start_step if epoch == start_epoch else 0
            run = partial if (epoch == start_epoch and partial) else {"loss_sum": 0.0, "correct": 0, "seen": 0, "time_s": 0.0}
            lr = optimizer.param_groups[0]["lr"]
            bar = tqdm(total=len(batches), initial=first, desc=f"{type(model).__name__} epoch {epoch + 1}/{epochs}",
                       disable=disable, leave=False, unit="batch", file=sys.stderr)
            done = first  # batches of this epoch fully applied
            t0 = time.perf_counter()
            try:
                for step in range(first, len(batches)):
                    idx = batches[step]
                    xb, yb = x_train[idx], y_train[idx]
                    scores = model(xb)
                    loss = loss_fn(scores, yb)
                    if not math.isfinite(loss):
                        where = _first_nonfinite_layer(model, xb)
                        raise NonFiniteError(
                            f"epoch {epoch + 1}, step {step + 1}: loss is {loss}; first non-finite value in {where}"
                        )
                    optimizer.zero_grad()
                    model.backward(loss_fn.backward(), **backward_kwargs)
                    bad = _nonfinite_gradient(model)
                    if bad is not None:
                        raise NonFiniteError(
                            f"epoch {epoch + 1}, step {step + 1}: gradient of '{bad}' is not finite (loss {loss:.4g})"
                        )
                    optimizer.step()
                    run["loss_sum"] += loss * len(idx)
                    run["correct"] += int(np.sum(scores.argmax(axis=1) == yb))
                    run["seen"] += len(idx)
                    done = step + 1
                    bar.update(1)
                    if step % 20 == 0:
                        bar.set_postfix(loss=f"{run['loss_sum'] / run['seen']:.4f}", acc=f"{run['correct'] / run['seen']:.4f}")
                    if interrupt.requested:
                        raise KeyboardInterrupt
            except NonFiniteError:
                bar.close()
                write_history("diverged")
                raise
            except KeyboardInterrupt:
                bar.close()
                run["time_s"] += time.perf_counter() - t0
                clean = interrupt.requested and not interrupt.forced
                saved_at = checkpoint(epoch, done, run) if clean else None
                write_history("interrupted")
                if saved_at:
                    where = f"; resume from {saved_at}"
                elif clean:
                    where = "; no checkpoint path was given, nothing to resume"
                else:
                    where = "; stopped mid-step, so no checkpoint was written (the last epoch's checkpoint remains)"
                raise TrainingInterrupted(f"interrupted at epoch {epoch + 1} after {done} of {len(batches)} steps{where}",
                                          saved_at) from None
            bar.close()
            run["time_s"] += time.perf_counter() - t0
            record = epoch_record(epoch + 1, lr, run["loss_sum"], run["correct"], run["seen"], run["time_s"])
            stop = end_epoch(history, record, {
                split: None if data is None else (lambda d=data: evaluate(model, d[0], d[1], loss_fn, eval_batch_size))
                for split, data in (("val", val_data), ("test", test_data))
            }, scheduler=scheduler, log=log, epochs=epochs, stopper=stopper)
            checkpoint(epoch + 1, 0)
            write_history("running")
            if interrupt.requested:  # Ctrl-C during evaluation or checkpointing: stop at this epoch's end
                write_history("interrupted")
                where = f"; resume from {checkpoint_path}" if checkpoint_path is not None else ""
                raise TrainingInterrupted(f"interrupted at the end of epoch {epoch + 1}{where}", checkpoint_path)
            if stop:
                history["stopped_early"] = True
                break
    write_history("finished")
    return history


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
    folds = []
    for fold, (train_idx, val_idx) in enumerate(kfold_indices(y, k=k, seed=seed, stratified=stratified)):
        model = build_model(fold)
        optimizer = build_optimizer(model)
        hist = fit(model, optimizer, (x[train_idx], y[train_idx]), epochs=epochs, batch_size=batch_size,
                   seed=seed + fold, progress=progress)
        metrics = final_metrics(model, x[val_idx], y[val_idx], num_classes)
        row = fold_row(fold + 1, len(train_idx), len(val_idx), metrics, hist["train_time_s"])
        folds.append(row)
        if log is not None:
            log(f"fold {fold + 1}/{k}: accuracy {row['accuracy']:.4f}, macro F1 {row['macro_f1']:.4f}")
    return summarise_folds(folds, k, stratified)


if __name__ == "__main__":  # python -m scratchnet.train ...
    from scratchnet.recipes import main

    raise SystemExit(main())
