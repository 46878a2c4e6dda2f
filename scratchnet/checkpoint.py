"""Checkpoints as ``.npz`` files without pickle: weights, optimiser and scheduler state, RNG state, epoch.

Layout inside the archive: ``model/<param name>`` arrays, ``optim/...`` and ``sched/...`` (each a
flattened state dict), and ``meta``: one JSON string (epoch, step, history, RNG states, ...). Load with
``np.load(allow_pickle=False)``. Writes are atomic: the archive goes to a temporary file in the same
directory and replaces the target only when complete, so a crash never leaves a half-written file and
never spoils the previous good checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .fileio import atomic_write, json_default
from .nn.module import Module

FORMAT = "scratchnet-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file."""


def rng_states(model: Module) -> dict[str, Any]:
    """The bit-generator state of every module that draws random numbers (Dropout), by module name."""
    return {
        name or "<root>": m.rng.bit_generator.state
        for name, m in model.named_modules()
        if isinstance(getattr(m, "rng", None), np.random.Generator)
    }


def restore_rng_states(model: Module, states: dict[str, Any]) -> None:
    for name, m in model.named_modules():
        key = name or "<root>"
        if key in states and isinstance(getattr(m, "rng", None), np.random.Generator):
            m.rng.bit_generator.state = states[key]


def save_checkpoint(
    path: str | os.PathLike,
    model: Module,
    optimizer=None,
    scheduler=None,
    *,
    epoch: int = 0,
    step: int = 0,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Save everything needed to resume training at (epoch, step) into ``path`` (.npz), atomically.

    ``epoch``/``step``: the next epoch to run and the number of its batches already done.
    ``meta``: any JSON-serialisable extras (config, history so far).
    """
    arrays: dict[str, np.ndarray] = {f"model/{k}": v for k, v in model.state_dict().items()}
    if optimizer is not None:
        arrays.update({f"optim/{k}": v for k, v in optimizer.flat_state_dict().items()})
    if scheduler is not None:
        arrays.update({f"sched/{k}": v for k, v in scheduler.flat_state_dict().items()})
    info = {
        "format": FORMAT,
        "epoch": int(epoch),
        "step": int(step),
        "model_class": type(model).__name__,
        "optimizer_class": None if optimizer is None else type(optimizer).__name__,
        "scheduler_class": None if scheduler is None else type(scheduler).__name__,
        "rng_states": rng_states(model),
        "meta": meta or {},
    }
    arrays["meta"] = np.array(json.dumps(info, default=json_default))
    return atomic_write(Path(path), lambda f: np.savez(f, **arrays))


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The archive's arrays and its checked info (format, epoch, step, meta), or CheckpointError."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {k: archive[k] for k in archive.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except Exception as err:  # zipfile/ValueError/OSError from a broken or foreign file
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({type(err).__name__}: {err})") from None
    if "meta" not in data:
        raise CheckpointError(f"{path}: not a scratchnet checkpoint (no 'meta' entry)")
    try:
        info = json.loads(str(data["meta"]))
    except ValueError as err:
        raise CheckpointError(f"{path}: its 'meta' entry is not JSON ({err})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        got = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise CheckpointError(f"{path}: unknown checkpoint format {got!r}, expected {FORMAT!r}")
    check_position(path, info)
    return data, info


def check_position(path: Path, info: dict[str, Any]) -> None:
    """``epoch`` and ``step`` are whole numbers >= 0 (and not absurd); ``meta`` and ``rng_states`` are objects."""
    for field, limit in (("epoch", 10**6), ("step", 10**9)):
        value = info.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
            raise CheckpointError(f"{path}: field {field!r} is {value!r}, expected a whole number from 0 to {limit - 1}")
    for field in ("meta", "rng_states"):
        if not isinstance(info.get(field, {}), dict):
            raise CheckpointError(f"{path}: field {field!r} is {type(info[field]).__name__}, expected an object")


def check_classes(path: Path, info: dict[str, Any], **objects: Any) -> None:
    """The optimiser and scheduler the checkpoint was written with are of the classes given now."""
    for role, obj in objects.items():
        if obj is None:
            continue
        saved = info.get(f"{role}_class")
        if saved is not None and saved != type(obj).__name__:
            raise CheckpointError(f"{path}: holds a {saved} {role} state, this run's {role} is a {type(obj).__name__}")


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer=None, scheduler=None, *,
                    check_meta: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Load a checkpoint into ``model`` (and optimiser/scheduler when given); returns its info dict
    (``epoch``, ``step``, ``meta``, ...). All or nothing: the file, its fields, the optimiser's and
    scheduler's classes and ``check_meta(meta)`` are checked first, and if loading any part still fails,
    everything already loaded is put back; the error (CheckpointError) names the file and the field."""
    path = Path(path)
    data, info = _read(path)
    check_classes(path, info, optimizer=optimizer, scheduler=scheduler)
    if check_meta is not None:
        check_meta(info["meta"])

    def section(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in data.items() if k.startswith(prefix)}

    parts = [("model", model, section("model/") or None, lambda o, d: o.load_state_dict(d))]
    parts += [(name, obj, section(prefix) or None, lambda o, d: o.load_flat_state_dict(d))
              for name, obj, prefix in (("optimizer", optimizer, "optim/"), ("scheduler", scheduler, "sched/"))
              if obj is not None]
    load_parts(path, parts, lambda obj: obj.state_dict(), lambda: restore_rng_states(model, info.get("rng_states", {})))
    return info


def load_parts(path: str | os.PathLike, parts: list, snapshot: Callable[[Any], Any], finish: Callable[[], None],
               errors: tuple[type[Exception], ...] = ()) -> None:
    """All or nothing, for both libraries' checkpoints: ``load(obj, state)`` for each part
    ``(name, obj, state, load)``, then ``finish()``; if anything fails, every object gets back the state
    ``snapshot(obj)`` took before, and the error comes out as a CheckpointError naming the file. A part
    whose state is None is missing from the file."""
    backup = [(obj, snapshot(obj)) for _, obj, _, _ in parts]
    try:
        for name, obj, state, load in parts:
            if state is None:
                raise CheckpointError(f"{path}: holds no {name} state")
            load(obj, state)
        finish()
    except (CheckpointError, ValueError, KeyError, TypeError, IndexError, *errors) as err:
        for obj, state in backup:
            obj.load_state_dict(state)
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"{path}: {err}") from None


