"""Training and evaluation in torch, on the device, with scratchnet's history format.

The fast path: the data set lives on the device (:mod:`torchref.data`), a batch is ``x[idx]`` with
``idx`` from ``scratchnet.data.epoch_order`` (so a seeded run sees exactly scratchnet's batches), loss
and accuracy are summed on the device and read once per epoch (no ``.item()`` per step), optional bf16
autocast and channels_last on CUDA, optional ``torch.compile``.

``fit`` returns the same history dict as ``scratchnet.train.fit`` (model, num_parameters, config,
environment, extra, epochs [{epoch, lr, train_loss, train_accuracy, test_loss, test_accuracy, time_s,
images_per_s, ...}], train_time_s, stopped_early, best_epoch, status) plus torch facts: device,
trainable parameters, what may have been nondeterministic, notes.

    python -m torchref.train --model seedcnn            # scratchnet's recipe, in torch, on the best device
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from scratchnet.history import EarlyStopping, end_epoch, epoch_record
from scratchnet.metrics import classification_report
from scratchnet.train import NonFiniteError, TrainingInterrupted, describe_scheduler, progress_enabled
from scratchnet.train import environment as scratch_environment
from scratchnet.fileio import atomic_write_text

from .checkpoint import load_checkpoint, save_checkpoint
from .data import DeviceData, batch_indices
from .device import configure_determinism, determinism_record, device_info
from .models import make_loss


def environment(device: torch.device) -> dict[str, Any]:
    """scratchnet's environment (machine, Python, NumPy ...) plus torch, torchvision, device, CUDA, cuDNN."""
    from .resnet import torchvision_status

    from importlib import metadata

    env = scratch_environment()
    builder, _ = torchvision_status()
    try:
        tv = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        tv = "not installed"
    else:
        if builder is None:
            tv += " (installed, not importable: ResNet18 used torchref's copy of its definition)"
    env.update({"torch": torch.__version__, "torch_threads": torch.get_num_threads(), "torchvision": tv,
                **device_info(device)})
    return env


def describe_optimizer(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Name and hyper-parameters of the first param group (JSON-ready)."""
    group = optimizer.param_groups[0]
    out: dict[str, Any] = {"name": type(optimizer).__name__}
    for k, v in group.items():
        if k == "params":
            continue
        if isinstance(v, torch.Tensor):
            v = v.item()
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate(model: nn.Module, data: DeviceData, loss_fn: nn.Module | None = None, batch_size: int = 1000, *,
             bf16: bool = False) -> dict[str, Any]:
    """Mean loss, accuracy and predictions on ``data`` in eval mode (restored afterwards).

    Returns {"loss", "accuracy", "predictions" (N,) int64 NumPy, "num_samples"}; one sync at the end.
    """
    if len(data) == 0:
        raise ValueError("evaluate: no samples")
    loss_fn = loss_fn if loss_fn is not None else make_loss(_unwrap(model))
    device = data.x.device
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    preds = torch.empty(len(data), dtype=torch.long, device=device)
    try:
        with _autocast(device, bf16):
            for start in range(0, len(data), batch_size):
                xb, yb = data.x[start : start + batch_size], data.y[start : start + batch_size]
                scores = model(xb)
                total += loss_fn(scores, yb).double() * len(yb)
                preds[start : start + len(yb)] = scores.argmax(dim=1)
    finally:
        model.train(was_training)
    y = data.y
    correct = (preds == y).sum()
    loss, correct, preds_np = total.item(), int(correct.item()), preds.cpu().numpy()
    return {"loss": loss / len(data), "accuracy": correct / len(data), "predictions": preds_np, "num_samples": len(data)}


def final_metrics(model: nn.Module, data: DeviceData, num_classes: int = 10, batch_size: int = 1000, *,
                  bf16: bool = False) -> dict[str, Any]:
    """Loss plus scratchnet's classification report (accuracy, macro P/R/F1, per class, confusion matrix)."""
    result = evaluate(model, data, batch_size=batch_size, bf16=bf16)
    report = classification_report(data.y.cpu().numpy(), result["predictions"], num_classes)
    report["loss"] = result["loss"]
    return report


def _gpu_only_flags(device: torch.device, bf16: bool, channels_last: bool, notes: list[str]) -> tuple[bool, bool]:
    """bf16 autocast and channels_last are CUDA fast-path options; elsewhere they are ignored, with a note."""
    if device.type != "cuda":
        if bf16:
            notes.append(f"--bf16 ignored on {device.type}: bf16 autocast is used on CUDA only (float32 here)")
            bf16 = False
        if channels_last:
            notes.append(f"--channels-last ignored on {device.type}: used on CUDA only")
            channels_last = False
    return bf16, channels_last


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_data: DeviceData,
    *,
    epochs: int,
    batch_size: int,
    loss_fn: nn.Module | None = None,
    scheduler=None,
    val_data: DeviceData | None = None,
    test_data: DeviceData | None = None,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    eval_batch_size: int = 1000,
    early_stopping: int | None = None,
    bf16: bool = False,
    channels_last: bool = False,
    compile: bool = False,
    deterministic: bool = False,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
    history_path: str | os.PathLike | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    extra: dict[str, Any] | None = None,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Train ``model`` for ``epochs`` epochs on the device that holds ``train_data``; return its history.

    Parameters
    ----------
    model, optimizer : a torch model (already on the data's device) and an optimiser over its
        trainable parameters.
    train_data, val_data, test_data : :class:`torchref.data.DeviceData`; val/test are evaluated after
        every epoch. ``early_stopping=n`` stops when the validation loss has not improved for n epochs.
    epochs, batch_size, seed, shuffle, drop_last : batches are scratchnet's: epoch k visits
        ``scratchnet.data.epoch_order(N, k, seed=seed)`` in slices of ``batch_size``.
    bf16, channels_last : CUDA only (ignored elsewhere, with a note in the history).
    compile : wrap the model in ``torch.compile`` (epoch 1's time then includes compilation).
    deterministic : ``torch.use_deterministic_algorithms(True)`` and cuDNN deterministic for this run
        (restored afterwards); otherwise cuDNN's autotuner is on for CUDA. The history's
        ``nondeterminism`` says what may have varied.
    checkpoint_path, resume : a torch checkpoint written atomically after every epoch; ``resume``
        continues from it at the next epoch boundary (the same weights as an uninterrupted run on CPU).
    history_path : JSON rewritten atomically after every epoch and on error or Ctrl-C.
    progress, log, extra : tqdm bars (None: on a terminal), per-epoch line printer, facts to store.
    model_name : the history's "model" (default: the class name).

    Loss and accuracy are accumulated on the device and read once per epoch, so a NaN/Inf loss is
    caught at the end of its epoch (``NonFiniteError``), not at its step.
    """
    if epochs < 1:
        raise ValueError(f"fit: epochs must be >= 1, got {epochs}")
    if early_stopping is not None and val_data is None:
        raise ValueError("fit: early_stopping needs val_data to watch the validation loss")
    device = train_data.x.device
    base = _unwrap(model)
    loss_fn = loss_fn if loss_fn is not None else make_loss(base)
    notes: list[str] = []
    bf16, channels_last = _gpu_only_flags(device, bf16, channels_last, notes)
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
                torch.backends.cudnn.benchmark)
    configure_determinism(device, deterministic)
    if channels_last:
        base.to(memory_format=torch.channels_last)
        for m in base.modules():
            if hasattr(m, "channels_last"):
                m.channels_last = True
    runner = torch.compile(model) if compile else model
    if compile:
        notes.append("torch.compile: epoch 1's time includes compilation")
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    params = list(base.parameters())
    history: dict[str, Any] = {
        "model": model_name or type(base).__name__,
        "num_parameters": sum(p.numel() for p in params),
        "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
        "config": {
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "shuffle": shuffle,
            "drop_last": drop_last,
            "train_samples": len(train_data),
            "val_samples": None if val_data is None else len(val_data),
            "test_samples": None if test_data is None else len(test_data),
            "dtype": str(params[0].dtype).removeprefix("torch."),
            "optimizer": describe_optimizer(optimizer),
            "scheduler": describe_scheduler(scheduler),
            "early_stopping": early_stopping,
            "device": str(device),
            "bf16": bf16,
            "channels_last": channels_last,
            "compile": compile,
            "deterministic": deterministic,
            "normalization": train_data.normalization,
        },
        "environment": environment(device),
        "extra": extra or {},
        "epochs": [],
        "train_time_s": 0.0,
        "stopped_early": False,
        "best_epoch": None,
        "status": "running",
        "nondeterminism": determinism_record(base, device, compiled=compile, bf16=bf16),
        "notes": notes,
    }

    start_epoch = 0
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        info = load_checkpoint(checkpoint_path, base, optimizer, scheduler)
        start_epoch = info["epoch"]
        saved = info["meta"].get("history", {})
        history["epochs"] = saved.get("epochs", [])
        history["train_time_s"] = saved.get("train_time_s", 0.0)
        history["resumed_from"] = {"checkpoint": str(checkpoint_path), "epoch": start_epoch}

    def write_history(status: str) -> None:
        history["status"] = status
        if history_path is not None:
            atomic_write_text(history_path, json.dumps(history, indent=1))

    stopper = EarlyStopping(early_stopping, history)
    disable = progress_enabled(progress)
    n = len(train_data)
    x_all, y_all = train_data.x, train_data.y
    try:
        model.train()
        for epoch in stopper.epochs_left(start_epoch, epochs):
            batches = batch_indices(n, epoch, batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last)
            seen = sum(len(b) for b in batches)
            order = torch.from_numpy(np.concatenate(batches) if batches else np.empty(0, np.int64)).to(device)
            lr = optimizer.param_groups[0]["lr"]
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.long, device=device)
            bar = tqdm(total=len(batches), desc=f"{history['model']} epoch {epoch + 1}/{epochs}", disable=disable,
                       leave=False, unit="batch", file=sys.stderr)
            _sync(device)
            t0 = time.perf_counter()
            start = 0
            for b in batches:
                idx = order[start : start + len(b)]
                start += len(b)
                xb, yb = x_all.index_select(0, idx), y_all.index_select(0, idx)
                with _autocast(device, bf16):
                    scores = runner(xb)
                    loss = loss_fn(scores, yb)  # autocast runs the loss in float32
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach().double() * len(b)
                correct += (scores.detach().argmax(dim=1) == yb).sum()
                bar.update(1)
            train_loss, train_correct = loss_sum.item(), int(correct.item())  # the epoch's one sync
            time_s = time.perf_counter() - t0
            bar.close()
            if not math.isfinite(train_loss):
                raise NonFiniteError(f"epoch {epoch + 1}: the training loss summed over the epoch is {train_loss} "
                                     "(torchref reads the loss once per epoch, so the first bad step is not known; "
                                     "scratchnet.train.fit names it)")
            record = epoch_record(epoch + 1, lr, train_loss, train_correct, seen, time_s)
            stop = end_epoch(history, record, {
                split: None if data is None else (lambda d=data: evaluate(runner, d, loss_fn, eval_batch_size, bf16=bf16))
                for split, data in (("val", val_data), ("test", test_data))
            }, scheduler=scheduler, log=log, epochs=epochs, stopper=stopper)
            if checkpoint_path is not None:
                save_checkpoint(checkpoint_path, base, optimizer, scheduler, epoch=epoch + 1,
                                meta={"history": {"epochs": history["epochs"], "train_time_s": history["train_time_s"]}})
            write_history("running")
            if stop:
                history["stopped_early"] = True
                break
    except NonFiniteError:
        write_history("diverged")
        raise
    except KeyboardInterrupt:
        write_history("interrupted")
        done = len(history["epochs"])
        where = f"; resume from {checkpoint_path} (epoch {done} done)" if checkpoint_path is not None and done else \
            "; no epoch finished with a checkpoint, nothing to resume"
        raise TrainingInterrupted(f"interrupted during epoch {done + 1}{where}",
                                  checkpoint_path if checkpoint_path is not None and done else None) from None
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[1], previous[2]
    write_history("finished")
    return history


__all__ = ["fit", "evaluate", "final_metrics", "environment", "describe_optimizer"]


if __name__ == "__main__":  # python -m torchref.train ...
    from torchref.recipes import main

    raise SystemExit(main())
