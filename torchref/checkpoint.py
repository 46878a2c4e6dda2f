"""torch checkpoints: state_dict files written atomically, read back with ``torch.load(weights_only=True)``.

``save_state_dict``/``load_state_dict``: the model's weights alone (what a finished run keeps).
``save_checkpoint``/``load_checkpoint``: weights, optimiser, scheduler, RNG states, epoch and a JSON
meta string, to resume training at an epoch or a step boundary. Only tensors, numbers, strings, lists and dicts
go in, so ``weights_only=True`` (no pickle code execution) reads them.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from scratchnet.checkpoint import CheckpointError, check_classes, check_position, json_default, load_parts
from scratchnet.fileio import atomic_write

FORMAT = "torchref-checkpoint-v1"


def unwrap(model: nn.Module) -> nn.Module:
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
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    return _save(path, state)


def load_state_dict(path: str | os.PathLike, model: nn.Module) -> nn.Module:
    """Load a state_dict file into ``model`` (strict: every key and shape must match)."""
    state = _load(path)
    if isinstance(state, dict) and state.get("format") == FORMAT:
        state = state["model"]
    try:
        unwrap(model).load_state_dict(state)
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
        "model_class": type(unwrap(model)).__name__,
        "optimizer_class": None if optimizer is None else type(optimizer).__name__,
        "scheduler_class": None if scheduler is None else type(scheduler).__name__,
        "model": {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(),
        "meta": json.dumps(meta or {}, default=json_default),
    }
    return _save(path, obj)


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None, scheduler=None, *,
                    restore_rng: bool = True, check_meta: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Load a checkpoint into model (and optimiser/scheduler when given); returns {"epoch", "step", "meta", ...}.
    All or nothing, as scratchnet's: the format, fields, classes and ``check_meta(meta)`` are checked first,
    and a part that still fails to load puts back everything loaded before it (CheckpointError)."""
    path = Path(path)
    obj = _load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a torchref checkpoint (expected format {FORMAT!r})")
    try:
        info = {"epoch": obj["epoch"], "step": obj.get("step", 0), "model_class": obj["model_class"],
                "meta": json.loads(obj["meta"]),
                **{k: obj.get(k) for k in ("optimizer_class", "scheduler_class")}}
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: a malformed torchref checkpoint ({type(err).__name__}: {err})") from None
    check_position(path, {**info, "rng_states": {}})
    check_classes(path, info, optimizer=optimizer, scheduler=scheduler)
    if check_meta is not None:
        check_meta(info["meta"])
    parts = [("model", unwrap(model)), ("optimizer", optimizer), ("scheduler", scheduler)]
    parts = [(name, target, obj.get(name), lambda t, state: t.load_state_dict(state)) for name, target in parts
             if target is not None]
    load_parts(path, parts, lambda target: copy.deepcopy(target.state_dict()),
               lambda: set_rng_state(obj["rng"]) if restore_rng else None, (RuntimeError,))
    return info


__all__ = ["FORMAT", "CheckpointError", "unwrap", "save_state_dict", "load_state_dict", "save_checkpoint", "load_checkpoint"]
