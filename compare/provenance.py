"""Provenance for every report: date, command, git commit, machine, device, library versions, seed."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from scratchnet.run.provenance import command_line, environment, git_commit


def collect(seed: int | None = None, device: str = "cpu") -> dict[str, Any]:
    """Everything a reader needs to know where the numbers came from."""
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "git_commit": git_commit(),
        "seed": seed,
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        **environment(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            info["device"] = f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda})"
        else:
            info["device"] = f"CPU: {info['processor']}"
    except ImportError:
        info["torch"] = "not installed"
        info["device"] = f"CPU: {info['processor']}"
    return info


def markdown(info: dict[str, Any]) -> str:
    """The provenance block that opens every report."""
    lines = [
        f"- date: {info['date']}",
        f"- command: `{info['command']}`",
        f"- git commit: `{info['git_commit']}`",
        f"- machine: {info['processor']}, {info['cpu_count']} cores, {info['platform']}",
        f"- device: {info['device']}",
        f"- versions: Python {info['python']}, NumPy {info['numpy']}, Numba {info['numba']} "
        f"({info['numba_threads']} threads), torch {info['torch']}"
        + (f" ({info['torch_threads']} threads)" if "torch_threads" in info else "")
        + f", scratchnet {info['scratchnet']}",
    ]
    if info.get("load_average") is not None:
        lines.append(f"- load average (1, 5, 15 min) when the run started: {info['load_average']} on "
                     f"{info['cpu_count']} cores; above the core count, other processes shared the CPU and "
                     "timings are upper bounds")
    if info.get("seed") is not None:
        lines.append(f"- seed: {info['seed']}")
    return "\n".join(lines)


__all__ = ["command_line", "collect", "markdown"]
