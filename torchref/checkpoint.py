"""torch checkpoints: state_dict files written atomically, read back with ``torch.load(weights_only=True)``.

``save_state_dict``/``load_state_dict``: the model's weights alone (what a finished run keeps).
``save_checkpoint``/``load_checkpoint``: weights, optimiser, scheduler, RNG states, epoch and a JSON
meta string, to resume training at an epoch or a step boundary. Only tensors, numbers, strings, lists and dicts
go in, so ``weights_only=True`` (no pickle code execution) reads them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchnet.fileio import atomic_write

FORMAT = "torchref-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file."""


def _unwrap(model: nn.Module) -> nn.Module:
    """The module under a ``torch.compile`` wrapper (whose state_dict keys carry ``_orig_mod.``)."""
    return getattr(model, "_orig_mod", model)


def _save(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write(Path(path), lambda f: torch.save(obj, f))


def _load(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable torch file with weights_only=True ({type(err).__name__}: {err})") from None


def save_state_dict(path: str | os.PathLike, model: nn.Module) -> Path:
    """Write ``model.state_dict()`` (tensors moved to the CPU) to ``path`` atomically."""
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    return _save(path, state)


def load_state_dict(path: str | os.PathLike, model: nn.Module) -> nn.Module:
    """Load a state_dict file into ``model`` (strict: every key and shape must match)."""
    state = _load(path)
    if isinstance(state, dict) and state.get("format") == FORMAT:
        state = state["model"]
    try:
        _unwrap(model).load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: {err}") from None
    return model


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None, scheduler=None, *, epoch: int = 0,
                    step: int = 0, meta: dict[str, Any] | None = None) -> Path:
    """Everything needed to resume at (epoch, step) — the next epoch to run and the number of its batches
    already done — atomically."""
    obj = {
        "format": FORMAT,
        "epoch": int(epoch),
        "step": int(step),
        "model_class": type(_unwrap(model)).__name__,
        "model": {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(),
        "meta": json.dumps(meta or {}),
    }
    return _save(path, obj)


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None, scheduler=None, *,
                    restore_rng: bool = True) -> dict[str, Any]:
    """Load a checkpoint into model (and optimiser/scheduler when given); returns {"epoch", "meta", ...}."""
    obj = _load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a torchref checkpoint (expected format {FORMAT!r})")
    try:
        _unwrap(model).load_state_dict(obj["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: {err}") from None
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if obj[name] is None:
            raise CheckpointError(f"{path}: holds no {name} state")
        target.load_state_dict(obj[name])
    if restore_rng:
        set_rng_state(obj["rng"])
    return {"epoch": obj["epoch"], "step": obj.get("step", 0), "model_class": obj["model_class"], "meta": json.loads(obj["meta"])}


__all__ = ["FORMAT", "CheckpointError", "save_state_dict", "load_state_dict", "save_checkpoint", "load_checkpoint"]
