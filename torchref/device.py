"""Where torchref runs and how reproducibly: device choice, determinism settings, and what is recorded.

``select_device(None)`` takes CUDA when it is there, else the CPU; asking for a device that is not
there is an error that says so. ``determinism_record`` states which nondeterministic kernels a run
may have used, so a GPU history never claims more reproducibility than it had.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn


class DeviceError(RuntimeError):
    """The requested device does not exist on this machine (e.g. --device cuda without a GPU)."""


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``requested`` if given and present, else CUDA if available, else CPU.

    Raises
    ------
    DeviceError : ``requested`` names CUDA (or MPS) but it is not available, or a GPU index that
        does not exist; the message says what this machine has.
    """
    if requested is None or str(requested) in ("", "auto"):
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as err:
        raise DeviceError(f"--device {requested!r}: not a device torch knows ({err}); expected cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = f"this torch ({torch.__version__}) is built without CUDA" if torch.version.cuda is None \
                else f"this torch ({torch.__version__}, CUDA {torch.version.cuda}) sees no GPU"
            raise DeviceError(f"--device {requested}: CUDA is not available: {built}; use --device cpu or leave --device out")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"--device {requested}: only {count} CUDA device(s) here (cuda:0..cuda:{count - 1})")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError(f"--device {requested}: MPS is not available on this machine; use --device cpu")
    elif device.type != "cpu":
        raise DeviceError(f"--device {requested}: expected cpu, cuda, cuda:N or mps")
    return device


def device_info(device: torch.device) -> dict[str, Any]:
    """Name of the device and the versions of the libraries behind it (CUDA, cuDNN)."""
    info: dict[str, Any] = {
        "device": str(device),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info["device_name"] = props.name
        info["device_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["compute_capability"] = f"{props.major}.{props.minor}"
    elif device.type == "cpu":
        from scratchnet.run.provenance import cpu_model as _cpu_model

        info["device_name"] = f"CPU: {_cpu_model()}"
    else:
        info["device_name"] = device.type
    return info


def configure_determinism(device: torch.device, deterministic: bool) -> None:
    """Set the global switches for a run: deterministic algorithms, or cuDNN's autotuner for speed.

    ``deterministic``: ``torch.use_deterministic_algorithms(True)`` (an op without a deterministic
    implementation then raises instead of silently varying), cuDNN deterministic and no benchmark,
    and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS needs it for reproducible results; it must be set
    before the first cuBLAS call, so set it in the environment when in doubt). Otherwise, on CUDA and
    unless the caller already enabled deterministic algorithms: ``cudnn.benchmark = True``, the fast path.
    """
    if deterministic:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif not torch.are_deterministic_algorithms_enabled():  # a caller's global choice is left alone
        torch.backends.cudnn.benchmark = device.type == "cuda"


def _has(model: nn.Module, *types: type) -> bool:
    return any(isinstance(m, types) for m in model.modules())


def _backward_reaches(model: nn.Module, *types: type) -> bool:
    """Whether backprop runs through a module of ``types``: some trainable parameter comes before it
    (modules in registration order, which is forward order for torchref's models and torchvision's ResNet)."""
    trainable_before = False
    for m in model.modules():
        if isinstance(m, types) and trainable_before:
            return True
        if any(p.requires_grad for p in m.parameters(recurse=False)):
            trainable_before = True
    return False


def determinism_record(model: nn.Module, device: torch.device, *, compiled: bool = False,
                       bf16: bool = False) -> dict[str, Any]:
    """What a history records about reproducibility, and why.

    On the CPU every op torchref uses is deterministic for a fixed number of threads, so a seeded
    run repeats exactly (``reproducible: true``). On CUDA without deterministic algorithms, these may
    vary from run to run, and the record lists those this model reaches (from torch's list of
    nondeterministic operations, ``torch.use_deterministic_algorithms``, and cuDNN/cuBLAS notes):

    - ``cudnn.benchmark``: the autotuner times several convolution algorithms for each new input
      shape and keeps the fastest; the pick can differ between runs, and without
      ``cudnn.deterministic`` some candidate backward algorithms accumulate with atomics.
    - ``adaptive_avg_pool2d backward`` (ResNet's global pool, when a trainable layer lies before it):
      ``atomicAdd`` into the input gradient; torch has no deterministic version (the deterministic
      ResNet replaces the pool by a mean over H and W, the same function).
    - cuBLAS without ``CUBLAS_WORKSPACE_CONFIG=:4096:8``: NVIDIA documents run-to-run differences
      when workspaces are shared between streams.
    - ``torch.compile``: generated Triton reductions may combine partial sums in a varying order.

    Not listed, because torch's CUDA kernels for them are deterministic: max_pool2d backward (one
    thread per input element, no atomics), 1-D cross-entropy/NLL loss, and ``index_select`` on the
    data (no gradient flows into it). TF32 switches are recorded too: they do not vary between runs
    but change the numbers.
    """
    flags = {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "torch_threads": torch.get_num_threads(),
    }
    may_vary: list[str] = []
    if device.type == "cuda" and not flags["deterministic_algorithms"]:
        if _has(model, nn.Conv2d):
            if flags["cudnn_benchmark"]:
                may_vary.append("cudnn.benchmark on: convolution algorithms chosen by timing per input shape; "
                                "with cudnn.deterministic off some backward algorithms use atomics")
            elif not flags["cudnn_deterministic"]:
                may_vary.append("cudnn.deterministic off: cuDNN may pick nondeterministic backward convolution algorithms")
        if _backward_reaches(model, nn.AdaptiveAvgPool2d):
            may_vary.append("adaptive_avg_pool2d backward (CUDA atomicAdd; torch has no deterministic version)")
        if _has(model, nn.Linear) and flags["cublas_workspace_config"] not in (":4096:8", ":16:8"):
            may_vary.append("cuBLAS matmuls without CUBLAS_WORKSPACE_CONFIG=:4096:8 (workspace shared between streams)")
        if compiled:
            may_vary.append("torch.compile: Triton reductions may combine partial sums in varying order")
    elif device.type == "cpu" and compiled:
        may_vary.append("torch.compile (inductor C++ kernels; deterministic for fixed threads in practice, not guaranteed)")
    notes = []
    if bf16:
        notes.append("bf16 autocast: matmuls and convolutions in bfloat16 (8-bit mantissa); not bit-comparable with float32 runs")
    if device.type == "cuda" and (flags["cudnn_allow_tf32"] or flags["cuda_matmul_allow_tf32"]):
        notes.append("TF32 allowed for " + " and ".join(
            k for k, v in (("cuDNN convolutions", flags["cudnn_allow_tf32"]), ("CUDA matmuls", flags["cuda_matmul_allow_tf32"])) if v
        ) + " (10-bit mantissa inputs on Ampere and newer)")
    return {
        **flags,
        "device_type": device.type,
        "reproducible": not may_vary,
        "nondeterministic_kernels": may_vary,
        "notes": notes,
        "why": "listed are the kernels this model reaches that may differ between two runs with the same seed on "
               "this device with these settings; empty means a seeded rerun repeats exactly (same machine, same "
               "thread count, same versions)",
    }


__all__ = ["DeviceError", "select_device", "device_info", "configure_determinism", "determinism_record"]
