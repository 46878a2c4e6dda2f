"""Training and evaluation in torch, on the device, with scratchnet's history format.

The fast path: the data set lives on the device (:mod:`torchref.data`), a batch is ``x[idx]`` with
``idx`` from ``scratchnet.data.epoch_order`` (so a seeded run sees exactly scratchnet's batches), loss
and accuracy are summed on the device and read once per epoch (no ``.item()`` per step), optional bf16
autocast and channels_last on CUDA, optional ``torch.compile``.

``fit`` runs scratchnet's one training loop (:func:`scratchnet.run.fit_loop`) with a torch
:class:`TorchTrainer` and returns the same :class:`scratchnet.run.History`, plus torch facts: device,
trainable parameters, what may have been nondeterministic, notes. The command line is
``python -m torchref.train`` (:mod:`torchref.train.__main__`).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from scratchnet.metrics import classification_report
from scratchnet.run.history import History
from scratchnet.run.loop import FitSettings, NonFiniteError, Running, TrainerBase, describe_optimizer, fit_loop
from scratchnet.run.provenance import environment as scratch_environment

from ..checkpoint import load_checkpoint, save_checkpoint, unwrap
from ..data import DeviceData, batch_indices
from ..device import configure_determinism, determinism_record, device_info
from ..models import make_loss


def environment(device: torch.device) -> dict[str, Any]:
    """scratchnet's environment (machine, Python, NumPy ...) plus torch, torchvision, device, CUDA, cuDNN."""
    from ..resnet import torchvision_status

    from importlib import metadata

    env = scratch_environment()
    builder, _ = torchvision_status()
    try:
        tv = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        tv = "not installed"
    else:
        if builder is None:
            tv += " (installed, not importable: torchref's ResNet18 cannot be built)"
    env.update({"torch": torch.__version__, "torch_threads": torch.get_num_threads(), "torchvision": tv,
                **device_info(device)})
    return env


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
    loss_fn = loss_fn if loss_fn is not None else make_loss(unwrap(model))
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


class TorchTrainer(TrainerBase):
    """torch's side of the loop's :class:`~scratchnet.run.loop.Trainer` protocol: batches selected on the
    device, loss and accuracy summed there and read once per epoch (no ``.item()`` per step), so a NaN/Inf
    loss is caught at the end of its epoch."""

    @property
    def checkpoint_functions(self):  # this module's, looked up when used (so that a test can stand one in)
        return save_checkpoint, load_checkpoint

    def __init__(self, model: nn.Module, runner: nn.Module, optimizer, loss_fn: nn.Module, scheduler,
                 data: dict[str, DeviceData | None], settings: FitSettings, *, bf16: bool, name: str) -> None:
        self.model, self.runner, self.optimizer, self.loss_fn, self.scheduler = model, runner, optimizer, loss_fn, scheduler
        self.per_batch = scheduler is not None and settings.scheduler_interval == "step"
        self.data, self.bf16, self.name, self.eval_batch_size = data, bf16, name, settings.eval_batch_size
        self.order_args = {"batch_size": settings.batch_size, "seed": settings.seed, "shuffle": settings.shuffle,
                           "drop_last": settings.drop_last}
        self.device = data["train"].x.device
        runner.train()

    def batches(self, epoch: int) -> list[torch.Tensor]:
        batches = batch_indices(len(self.data["train"]), epoch, **self.order_args)
        order = torch.from_numpy(np.concatenate(batches) if batches else np.empty(0, np.int64)).to(self.device)
        return list(torch.split(order, [len(b) for b in batches])) if batches else []

    def begin_epoch(self, epoch: int, running: Running) -> None:
        self.epoch = epoch
        self.loss_sum = torch.full((), running.loss_sum, dtype=torch.float64, device=self.device)
        self.correct = torch.full((), running.correct, dtype=torch.long, device=self.device)
        self.seen = running.seen
        _sync(self.device)

    def step(self, idx: torch.Tensor, epoch: int, step: int) -> None:
        train = self.data["train"]
        xb, yb = train.x.index_select(0, idx), train.y.index_select(0, idx)
        with _autocast(self.device, self.bf16):
            scores = self.runner(xb)
            loss = self.loss_fn(scores, yb)  # autocast runs the loss in float32
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.per_batch:
            self.scheduler.step()
        self.loss_sum += loss.detach().double() * len(idx)
        self.correct += (scores.detach().argmax(dim=1) == yb).sum()
        self.seen += len(idx)

    def totals(self) -> Running:
        loss_sum, correct = self.loss_sum.item(), int(self.correct.item())  # the epoch's one sync
        if not math.isfinite(loss_sum):
            raise NonFiniteError(f"epoch {self.epoch + 1}: the training loss summed over the epoch so far is {loss_sum} "
                                 "(torchref reads the "
                                 "loss once per epoch, so the first bad step is not known; scratchnet.train.fit names it)")
        return Running(loss_sum, correct, self.seen)

    def postfix(self) -> None:
        return None  # reading the loss would sync the device every few steps

    def warm_up(self) -> float:
        """One forward and backward of a full first batch on a copy of the model, untimed, so that one-off
        costs (CUDA context, cuDNN autotuning, lazy initialisation) are not counted as training; the model,
        the optimiser and torch's random generators are left as they were. (``torch.compile`` compiles in
        epoch 1 instead, as the history's notes say.)"""
        if self.runner is not self.model:
            return 0.0
        t0 = time.perf_counter()
        rng = torch.get_rng_state(), torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        model = copy.deepcopy(self.model)
        idx = self.batches(0)[0]
        train = self.data["train"]
        with _autocast(self.device, self.bf16):
            loss = self.loss_fn(model(train.x.index_select(0, idx)), train.y.index_select(0, idx))
        loss.backward()
        _sync(self.device)
        torch.set_rng_state(rng[0])
        if rng[1] is not None:
            torch.cuda.set_rng_state_all(rng[1])
        return time.perf_counter() - t0

    def evaluate(self, split: str) -> dict[str, float]:
        return evaluate(self.runner, self.data[split], self.loss_fn, self.eval_batch_size, bf16=self.bf16)


def _prepare(base: nn.Module, model: nn.Module, device: torch.device, *, bf16: bool, channels_last: bool,
             compile: bool, deterministic: bool) -> tuple[nn.Module, dict[str, Any]]:
    """Apply the fast-path options (CUDA-only ones ignored elsewhere, with a note); returns the module to
    run and the options as they applied, with their notes."""
    notes: list[str] = []
    bf16, channels_last = _gpu_only_flags(device, bf16, channels_last, notes)
    configure_determinism(device, deterministic)
    if channels_last:
        base.to(memory_format=torch.channels_last)
        for m in base.modules():
            if hasattr(m, "channels_last"):
                m.channels_last = True
    if compile:
        notes.append("torch.compile: epoch 1's time includes compilation")
    return (torch.compile(model) if compile else model), {"bf16": bf16, "channels_last": channels_last,
                                                          "compile": compile, "deterministic": deterministic,
                                                          "notes": notes}


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, train_data: DeviceData, *, loss_fn: nn.Module | None = None,
        scheduler=None, val_data: DeviceData | None = None, test_data: DeviceData | None = None, bf16: bool = False,
        channels_last: bool = False, compile: bool = False, deterministic: bool = False, model_name: str | None = None,
        **settings: Any) -> History:
    """Train ``model`` on the device that holds ``train_data``; return its history. The arguments are
    ``scratchnet.train.fit``'s (the same :class:`scratchnet.run.loop.FitSettings` keywords: ``epochs``,
    ``batch_size``, seed, checkpoint_path, resume ...; resume continues mid-epoch, reaching the same weights
    as an uninterrupted run on CPU), on torch objects, plus torch's options.

    model, optimizer : a torch model (already on the data's device) and an optimiser over its
        trainable parameters.
    train_data, val_data, test_data : :class:`torchref.data.DeviceData`; val/test are evaluated after
        every epoch.
    bf16, channels_last : CUDA only (ignored elsewhere, with a note in the history).
    compile : wrap the model in ``torch.compile`` (epoch 1's time then includes compilation).
    deterministic : ``torch.use_deterministic_algorithms(True)`` and cuDNN deterministic for this run
        (restored afterwards); otherwise cuDNN's autotuner is on for CUDA. The history's
        ``nondeterminism`` says what may have varied.
    model_name : the history's "model" (default: the class name).
    """
    s = FitSettings(**settings)
    s.check(has_val=val_data is not None)
    if len(train_data) == 0:
        raise ValueError("fit: the training set is empty")
    base = unwrap(model)
    loss_fn = loss_fn if loss_fn is not None else make_loss(base)
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
                torch.backends.cudnn.benchmark)
    try:
        runner, options = _prepare(base, model, train_data.x.device, bf16=bf16, channels_last=channels_last,
                                   compile=compile, deterministic=deterministic)
        data = {"train": train_data, "val": val_data, "test": test_data}
        history = _new_history(base, optimizer, scheduler, data, s, options, model_name)
        trainer = TorchTrainer(base, runner, optimizer, loss_fn, scheduler, data, s, bf16=options["bf16"],
                               name=history.model)
        return fit_loop(trainer, history, s, splits=[split for split in ("val", "test") if data[split] is not None])
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[1], previous[2]


def _new_history(base: nn.Module, optimizer, scheduler, data: dict[str, DeviceData | None], settings: FitSettings,
                 options: dict[str, Any], model_name: str | None) -> History:
    params = list(base.parameters())
    device = data["train"].x.device
    sizes = {split: None if d is None else len(d) for split, d in data.items()}
    return History(
        model=model_name or type(base).__name__,
        num_parameters=sum(p.numel() for p in params),
        trainable_parameters=sum(p.numel() for p in params if p.requires_grad),
        config={**settings.config(sizes, str(params[0].dtype).removeprefix("torch."), optimizer, scheduler),
                "device": str(device), **{k: options[k] for k in ("bf16", "channels_last", "compile", "deterministic")},
                "normalization": data["train"].normalization},
        environment=environment(device), extra=settings.extra or {},
        nondeterminism=determinism_record(base, device, compiled=options["compile"], bf16=options["bf16"]),
        notes=options["notes"],
    )


__all__ = ["TorchTrainer", "fit", "evaluate", "final_metrics", "environment", "describe_optimizer"]
