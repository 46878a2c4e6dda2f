"""Provenance for every report: date, command, git commit, machine, device, library versions, seed, and the
data named by what it is (file names, sizes, SHA-256), never by where it lies on one machine."""

from __future__ import annotations

import os
from typing import Any

from scratchnet.run.provenance import command_line, describe_split, environment, git_commit, load_average, utc_now

from . import _machine


def collect(seed: int | None = None, device: str = "cpu", threads: int | None = None,
            with_torch: bool = True) -> dict[str, Any]:
    """Everything a reader needs to know where the numbers came from; with ``threads``, also the CPU facts
    a benchmark needs (model, SIMD width, caches, clock, estimated peak; see ``compare._machine``).
    ``with_torch=False`` leaves torch unimported (a run told not to use it) and says "not used". Outside a
    git checkout the commit reads "unknown"; without torch, "not installed": a report never fails for them."""
    info: dict[str, Any] = {
        "date": utc_now(),
        "command": command_line(),
        "git_commit": git_commit(),
        "seed": seed,
        "load_average": load_average(),
        **environment(),
    }
    info["torch"], cuda = "not used", False
    if with_torch:
        try:
            import torch

            info["torch"] = torch.__version__
            info["torch_threads"] = torch.get_num_threads()
            cuda = device.startswith("cuda") and torch.cuda.is_available()
        except ImportError:
            info["torch"] = "not installed"
    info["device"] = (f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda})" if cuda
                      else f"CPU: {info['processor']}")
    if threads is not None:
        info["cpu"] = _machine.describe(threads)
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
    if info.get("cpu"):
        m = info["cpu"]
        lines.append(f"- CPU: {m['cpu']} ({m['cpu_family_model']}), {m['simd']}; caches L2 {m['l2']}, L3 {m['l3']}; "
                     f"{m['cores']} usable cores, {m['threads']} threads for both libraries")
    if info.get("load_average") is not None:
        lines.append(f"- load average (1, 5, 15 min) when the run started: {info['load_average']} on "
                     f"{info['cpu_count']} cores; above the core count, other processes shared the CPU and "
                     "timings are upper bounds")
    if info.get("seed") is not None:
        lines.append(f"- seed: {info['seed']}")
    return "\n".join(lines)


def data_files(directory: str | os.PathLike) -> list[dict[str, Any]]:
    """The MNIST-format IDX files in ``directory`` by what they are: for each, its file name, size in bytes, the
    SHA-256 of its (decompressed) bytes and whether that is the official MNIST file (``scratchnet.run``'s
    fingerprints). Missing files are left out."""
    return [*describe_split(directory, "train"), *describe_split(directory, "test")]


def data_markdown(files: list[dict[str, Any]], what: str, note: str = "") -> str:
    """``- data: <what> from <file> (<bytes>, SHA-256 <first 16 hex>), ...``: the provenance line of the
    data, with ``note`` (e.g. that --quick used a subset) after it."""
    original = files and all(f["mnist"] for f in files)
    named = ", ".join(f"`{f['file']}` ({f['bytes']:,} bytes, SHA-256 `{f['sha256'][:16]}`)" for f in files)
    return f"- data: {what} from " + ("the official MNIST files " if original else "MNIST-format files ") + named + note


__all__ = ["command_line", "collect", "markdown", "data_files", "data_markdown"]
