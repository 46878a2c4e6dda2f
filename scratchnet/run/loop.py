"""The one training loop of both libraries: epochs of steps, evaluation, checkpoints, Ctrl-C, history.

``fit_loop`` is written against :class:`Trainer`, a small protocol: a library supplies how to run one
step on a batch, read the epoch's running totals, evaluate a split and save/load a checkpoint
(scratchnet in :mod:`scratchnet.train`, torch in :mod:`torchref.train`). Everything else — batch order,
resume at an epoch or mid-epoch step, early stopping, the scheduler's step, the epoch line, the
atomic history file, the Ctrl-C protocol — happens here, once.

Ctrl-C: the first one lets the current step finish, writes a mid-epoch checkpoint (when a path is
given) and raises :class:`TrainingInterrupted`; a second one stops at once without a checkpoint.
A NaN/Inf loss or gradient raises :class:`NonFiniteError` (the history is written as ``diverged``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from tqdm.auto import tqdm

from ..checkpoint import CheckpointError
from .history import EarlyStopping, EpochRecord, History, HistoryError, epoch_line
from .provenance import portable_path


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN or Inf; the message names epoch, step and layer where known."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``checkpoint`` is the resumable checkpoint written (or None)."""

    def __init__(self, message: str, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


@dataclass
class Running:
    """An epoch's running totals: summed loss (times batch size), correct predictions, images, seconds."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    time_s: float = 0.0


class Trainer(Protocol):
    """What a library supplies to :func:`fit_loop`."""

    name: str  # shown on the progress bar

    def batches(self, epoch: int) -> list[Any]: ...  # the epoch's batches of indices, in order

    def lr(self) -> float: ...  # the learning rate this epoch runs at

    def begin_epoch(self, epoch: int, running: Running) -> None: ...  # accumulate from ``running``

    def step(self, batch: Any, epoch: int, step: int) -> None: ...  # one update (NonFiniteError if bad)

    def totals(self) -> Running: ...  # the running totals so far (time_s is the loop's business)

    def postfix(self) -> dict[str, str] | None: ...  # progress-bar facts, or None (no sync wanted)

    def warm_up(self) -> float | None: ...  # seconds of a step that compiles what training needs, untimed

    def evaluate(self, split: str) -> dict[str, float]: ...  # {"loss", "accuracy"} on a split

    def end_epoch(self) -> None: ...  # after the epoch's evaluations: the scheduler's step

    def save_checkpoint(self, path: Path, epoch: int, step: int, meta: dict[str, Any]) -> Path: ...

    def load_checkpoint(self, path: Path, check_meta: Callable[[dict[str, Any]], None]
                        ) -> tuple[int, int, dict[str, Any]]: ...  # (epoch, step, meta); all or nothing


class TrainerBase:
    """The part of a :class:`Trainer` both libraries write alike: the learning rate, and the scheduler's
    step at the end of an epoch (unless it steps per batch), and the checkpoints. A library's trainer sets ``runner``
    (what runs the batches: the model, or torch's compiled wrapper), ``model``, ``optimizer``, ``scheduler``,
    ``per_batch`` and ``checkpoint_functions``."""

    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def end_epoch(self) -> None:
        if self.scheduler is not None and not self.per_batch:
            self.scheduler.step()
        self.runner.train()

    #: the library's ``(save_checkpoint, load_checkpoint)`` (``scratchnet.checkpoint``, ``torchref.checkpoint``),
    #: which take the same arguments: model, optimiser and scheduler saved or loaded together
    checkpoint_functions: tuple[Callable[..., Path], Callable[..., dict[str, Any]]]

    def save_checkpoint(self, path: Path, epoch: int, step: int, meta: dict[str, Any]) -> Path:
        save, _ = self.checkpoint_functions
        return save(path, self.model, self.optimizer, self.scheduler, epoch=epoch, step=step, meta=meta)

    def load_checkpoint(self, path: Path, check_meta: Callable[[dict[str, Any]], None]
                        ) -> tuple[int, int, dict[str, Any]]:
        _, load = self.checkpoint_functions
        info = load(path, self.model, self.optimizer, self.scheduler, check_meta=check_meta)
        return info["epoch"], info["step"], info["meta"]


class _InterruptFlag:
    requested = False  # a first Ctrl-C: stop at the next step boundary
    forced = False  # a second Ctrl-C: stopped at once, possibly mid-step


@contextlib.contextmanager
def deferred_sigint():
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


def describe_scheduler(scheduler, interval: str = "epoch") -> dict[str, Any] | None:
    """A scheduler's name and settings (either library's: both have ``state_dict``), JSON-ready; a
    scheduler stepped after every batch says so (``"interval": "step"``)."""
    if scheduler is None:
        return None
    state = scheduler.state_dict()
    keep = {k: v for k, v in state.items() if not k.startswith("_") and k not in ("base_lrs", "last_epoch")
            and isinstance(v, (int, float, str, bool, list, tuple, type(None)))}
    return {"name": type(scheduler).__name__, **keep, **({"interval": interval} if interval != "epoch" else {})}


def describe_optimizer(optimizer) -> dict[str, Any]:
    """Name and hyper-parameters of the first param group of either library's optimiser, JSON-ready (a torch
    tensor or NumPy scalar as its number, a tuple as a list)."""
    out: dict[str, Any] = {"name": type(optimizer).__name__}
    for k, v in optimizer.param_groups[0].items():
        if k != "params":
            out[k] = v.item() if hasattr(v, "item") else list(v) if isinstance(v, tuple) else v
    return out


@dataclass(frozen=True)
class FitSettings:
    """How ``fit`` trains: the keywords of both libraries' ``fit`` besides the model, its optimiser,
    scheduler and loss and the data, spelled, documented and checked once, here.

    epochs, batch_size : the recipe. Batches come from a seeded shuffle: epoch k's order depends only on
        (seed, k) (``scratchnet.data.epoch_order``), so runs are reproducible, resumable and batch alike
        in both libraries; ``shuffle=False`` keeps the data's order, ``drop_last`` drops a short last batch.
    scheduler_interval : "epoch" steps the scheduler once per epoch (StepLR, as the official PyTorch MNIST
        example), "step" after every batch (OneCycleLR).
    eval_batch_size : the batch of the evaluations of val_data and test_data after every epoch.
    early_stopping : stop when the validation loss has not improved for this many epochs (needs val_data).
    checkpoint_path, resume : a checkpoint written atomically after every epoch and on Ctrl-C (at a step
        boundary); ``resume=True`` continues from it if it exists, mid-epoch included, reaching the same
        weights as an uninterrupted run.
    history_path : a JSON file rewritten atomically after every epoch, on error and on Ctrl-C.
    progress : tqdm bars: None shows them on a terminal only, False never, True always.
    log : called with a one-line summary per epoch (e.g. ``print``).
    extra : JSON-ready facts to store in the history (data source, command line ...).
    """

    epochs: int
    batch_size: int
    scheduler_interval: str = "epoch"
    seed: int = 0
    shuffle: bool = True
    drop_last: bool = False
    eval_batch_size: int = 1000
    early_stopping: int | None = None
    checkpoint_path: str | os.PathLike | None = None
    resume: bool = False
    history_path: str | os.PathLike | None = None
    progress: bool | None = None
    log: Callable[[str], None] | None = None
    extra: dict[str, Any] | None = None

    def check(self, has_val: bool) -> None:
        if self.scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'step', got {self.scheduler_interval!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"fit: epochs must be a whole number >= 1, got {self.epochs!r}")
        if self.early_stopping is not None and not has_val:
            raise ValueError("fit: early_stopping needs val_data to watch the validation loss")

    def config(self, sizes: dict[str, int | None], dtype: str, optimizer, scheduler) -> dict[str, Any]:
        """The history's ``config`` as both libraries begin it: these settings, the data's ``sizes`` (train,
        val, test: None for a split not given), the parameters' dtype, the optimiser and scheduler."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed, "shuffle": self.shuffle,
                "drop_last": self.drop_last, **{f"{split}_samples": n for split, n in sizes.items()}, "dtype": dtype,
                "optimizer": describe_optimizer(optimizer),
                "scheduler": describe_scheduler(scheduler, self.scheduler_interval),
                "early_stopping": self.early_stopping}


class _Run:
    """One call of :func:`fit_loop`: the history file and the checkpoints it writes."""

    def __init__(self, trainer: Trainer, history: History, checkpoint_path, history_path) -> None:
        self.trainer, self.history = trainer, history
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.history_path = history_path

    def write(self, status: str) -> None:
        self.history.status = status
        if self.history_path is not None:
            self.history.save(self.history_path)

    def checkpoint(self, epoch: int, step: int, partial: Running | None = None) -> Path | None:
        if self.checkpoint_path is None:
            return None
        meta: dict[str, Any] = {"history": {"epochs": [e.to_dict() for e in self.history.epochs],
                                            "train_time_s": self.history.train_time_s},
                                "settings": run_settings(self.history)}
        if partial is not None:
            meta["partial_epoch"] = asdict(partial)
        try:
            return self.trainer.save_checkpoint(self.checkpoint_path, epoch, step, meta)
        except OSError as err:  # the history says how far the run got; the previous checkpoint is intact
            self.history.other["checkpoint_error"] = f"{portable_path(self.checkpoint_path)}: {err.strerror or err}"
            self.write("failed")
            raise OSError(f"could not write the checkpoint {self.checkpoint_path} ({err.strerror or err}); "
                          f"the history and the previous checkpoint are intact") from err

    def resume(self) -> tuple[int, int, Running | None]:
        """Load the checkpoint (if there is one): the epoch and step to start at, and a partial epoch's totals.
        A checkpoint written with other settings, or with a malformed history, is refused before anything loads."""
        path = self.checkpoint_path
        if path is None or not path.exists():
            return 0, 0, None
        parsed: dict[str, Any] = {}

        def check(meta: dict[str, Any]) -> None:
            parsed.update(parse_resume_meta(path, meta, run_settings(self.history)))

        epoch, step, _ = self.trainer.load_checkpoint(path, check)
        self.history.epochs, self.history.train_time_s = parsed["epochs"], parsed["train_time_s"]
        self.history.resumed_from = {"checkpoint": portable_path(path), "epoch": epoch, "step": step}
        return epoch, step, parsed["partial"]

    def interrupted(self, epoch: int, done: int, total: int, running: Running, interrupt) -> TrainingInterrupted:
        """Checkpoint a Ctrl-C at a step boundary (not after a forced one) and say where to resume."""
        clean = interrupt.requested and not interrupt.forced
        saved_at = self.checkpoint(epoch, done, running) if clean else None
        self.write("interrupted")
        if saved_at:
            where = f"; resume from {saved_at}"
        elif clean:
            where = "; no checkpoint path was given, nothing to resume"
        else:
            where = "; stopped mid-step, so no checkpoint was written (the last epoch's checkpoint remains)"
        return TrainingInterrupted(f"interrupted at epoch {epoch + 1} after {done} of {total} steps{where}", saved_at)


#: settings a resumed run may change: how long it trains, and (torch) where it runs
RESUMABLE_CHANGES = {"epochs", "device", "source"}


def run_settings(history: History) -> dict[str, Any]:
    """What a run trains with (config and recipe, JSON-ready), as a checkpoint records it for resuming."""
    config = {k: v for k, v in history.config.items() if k not in RESUMABLE_CHANGES}
    recipe = {k: v for k, v in history.recipe.items() if k not in RESUMABLE_CHANGES}
    return json.loads(json.dumps({"config": config, "recipe": recipe}, default=str))


def _differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the checkpoint, {b!r} now")
    return out


def parse_resume_meta(path: Path, meta: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Check a checkpoint's meta against this run's settings and read its history; CheckpointError naming
    the file and every difference or malformed field."""
    saved = meta.get("settings")
    if saved is not None:
        diff = [d for part in ("config", "recipe") for d in _differences(saved.get(part) or {}, settings[part], f"{part}.")]
        if diff:
            raise CheckpointError(f"{path}: written by a run with other settings, so resuming would not continue it: "
                                  + "; ".join(diff) + ". Use the checkpoint's settings, or another --checkpoint "
                                  "for a new run")
    try:
        history = meta.get("history") or {}
        epochs = [EpochRecord.from_dict(e, f"{path}: history.epochs[{i}]") for i, e in enumerate(history.get("epochs", []))]
        train_time = float(history.get("train_time_s", 0.0))
        partial = meta.get("partial_epoch")
        partial = Running(**partial) if partial else None
    except (HistoryError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{path}: malformed resume state ({err})") from None
    return {"epochs": epochs, "train_time_s": train_time, "partial": partial}


def _train_steps(trainer: Trainer, batches: list, epoch: int, done: list[int], bar, interrupt) -> None:
    """Run the epoch's steps from ``done[0]``, counting finished ones in ``done[0]`` (KeyboardInterrupt on Ctrl-C)."""
    for step in range(done[0], len(batches)):
        trainer.step(batches[step], epoch, step)
        done[0] = step + 1
        bar.update(1)
        if step % 20 == 0 and not bar.disable:
            facts = trainer.postfix()
            if facts:
                bar.set_postfix(facts)
        if interrupt.requested:
            raise KeyboardInterrupt


def _close_epoch(run: _Run, record: EpochRecord, stopper: EarlyStopping, splits: list[str], epochs: int,
                 log: Callable[[str], None] | None) -> bool:
    """Evaluate each split (timed), append the record, step the scheduler, log the line; True: stop early."""
    history, trainer = run.history, run.trainer
    history.train_time_s += record.time_s
    for split in splits:
        t0 = time.perf_counter()
        result = trainer.evaluate(split)
        record.set_split(split, result["loss"], result["accuracy"], time.perf_counter() - t0)
    history.epochs.append(record)
    trainer.end_epoch()
    if log is not None:
        log(epoch_line(record, epochs))
    return stopper.update(record)


def fit_loop(trainer: Trainer, history: History, settings: FitSettings, splits: list[str]) -> History:
    """Train ``settings.epochs`` epochs through ``trainer``, evaluating ``splits`` ("val", "test") after each;
    fill and return ``history`` (written atomically to ``settings.history_path`` after every epoch and at
    every end). ``settings.resume`` continues from the checkpoint when it exists, at its epoch and step."""
    epochs, log = settings.epochs, settings.log
    run = _Run(trainer, history, settings.checkpoint_path, settings.history_path)
    start_epoch, start_step, partial = run.resume() if settings.resume else (0, 0, None)
    stopper = EarlyStopping(settings.early_stopping, history)
    disable = progress_enabled(settings.progress)
    run.write("running")  # from the first step on, the run has a history file that says how far it got
    warmup = trainer.warm_up()
    if warmup is not None:
        history.warmup_time_s = warmup
        if log is not None and warmup >= 1.0:
            log(f"compiled the training kernels in {warmup:.1f} s (cold cache; not counted as training time)")
    with deferred_sigint() as interrupt:
        for epoch in stopper.epochs_left(start_epoch, epochs):
            batches = trainer.batches(epoch)
            resuming = epoch == start_epoch and partial is not None
            first = start_step if epoch == start_epoch else 0
            if first > len(batches):
                raise CheckpointError(f"{run.checkpoint_path}: resumes at step {first} of an epoch of {len(batches)} "
                                      "batches; it was written by a run with other data or batch size")
            running = partial if resuming else Running()
            trainer.begin_epoch(epoch, running)
            lr = trainer.lr()
            bar = tqdm(total=len(batches), initial=first, desc=f"{trainer.name} epoch {epoch + 1}/{epochs}",
                       disable=disable, leave=False, unit="batch", file=sys.stderr)
            done = [first]
            t0 = time.perf_counter()
            try:
                _train_steps(trainer, batches, epoch, done, bar, interrupt)
                totals = trainer.totals()
            except NonFiniteError:
                bar.close()
                run.write("diverged")
                raise
            except KeyboardInterrupt:
                bar.close()
                totals = trainer.totals() if not interrupt.forced else running
                totals.time_s = running.time_s + time.perf_counter() - t0
                raise run.interrupted(epoch, done[0], len(batches), totals, interrupt) from None
            bar.close()
            totals.time_s = running.time_s + time.perf_counter() - t0
            record = EpochRecord.from_running(epoch + 1, lr, totals.loss_sum, totals.correct, totals.seen, totals.time_s)
            stop_now = _close_epoch(run, record, stopper, splits, epochs, log)
            run.write("running")
            run.checkpoint(epoch + 1, 0)
            if interrupt.requested:  # Ctrl-C during evaluation or checkpointing: stop at this epoch's end
                run.write("interrupted")
                where = f"; resume from {run.checkpoint_path}" if run.checkpoint_path is not None else ""
                raise TrainingInterrupted(f"interrupted at the end of epoch {epoch + 1}{where}", run.checkpoint_path)
            if stop_now:
                history.stopped_early = True
                break
    run.write("finished")
    return history


__all__ = ["NonFiniteError", "TrainingInterrupted", "Running", "Trainer", "TrainerBase", "deferred_sigint", "progress_enabled",
           "FitSettings", "describe_optimizer", "describe_scheduler", "fit_loop"]
