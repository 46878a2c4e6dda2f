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
from typing import Any

import numpy as np

from .fileio import atomic_write
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
        "rng_states": rng_states(model),
        "meta": meta or {},
    }
    arrays["meta"] = np.array(json.dumps(info))
    return atomic_write(Path(path), lambda f: np.savez(f, **arrays))


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer=None, scheduler=None) -> dict[str, Any]:
    """Load a checkpoint into ``model`` (and optimiser/scheduler when given); returns its info dict
    (``epoch``, ``step``, ``meta``, ...). Any mismatch raises CheckpointError naming the file and
    listing the missing, unexpected and mis-shaped parameters; nothing is changed in that case."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {k: archive[k] for k in archive.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except Exception as err:  # zipfile/ValueError/OSError from a broken or foreign file
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({type(err).__name__}: {err})") from None
    if "meta" not in data:
        raise CheckpointError(f"{path}: not a scratchnet checkpoint (no 'meta' entry)")
    info = json.loads(str(data["meta"]))
    if info.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {info.get('format')!r}, expected {FORMAT!r}")

    def section(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in data.items() if k.startswith(prefix)}

    try:
        model.load_state_dict(section("model/"))
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from None
    for name, obj, prefix in (("optimizer", optimizer, "optim/"), ("scheduler", scheduler, "sched/")):
        if obj is None:
            continue
        part = section(prefix)
        if not part:
            raise CheckpointError(f"{path}: holds no {name} state")
        obj.load_flat_state_dict(part)
    restore_rng_states(model, info.get("rng_states", {}))
    return info
