"""Where a number came from: date, command, commit, machine, versions, load, and the data by what it is.

One module for every history and report of both libraries. Data is named by its files (name, size,
SHA-256 of the decompressed bytes, whether that is the official MNIST file), never by the absolute
path of the machine that read it.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numba
import numpy as np

from .. import __version__
from ..data import MNIST_FILES, MNIST_SHA256, find_idx_file
from ..data.mnist import sha256_decompressed


def utc_now() -> str:
    """The current time, ISO 8601 in UTC to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def cpu_model() -> str:
    """The processor's marketing name from /proc/cpuinfo (else ``platform.processor()``, else "unknown")."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> dict[str, Any]:
    """Machine and versions (NumPy side), for the provenance of every history."""
    return {
        "scratchnet": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "machine": platform.machine(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def command_line() -> str:
    """The command as typed (``python -m scratchnet.train --flag``, or the ``python -m compare.x`` that
    called this run), from ``sys.orig_argv``; under pytest, the test command. No path of the machine that ran
    it: ``--data-dir`` is ``DATA_DIR`` (the data is recorded by its files' names, sizes and SHA-256), and any
    other absolute path is written as :func:`portable_path` writes it."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    if not argv:
        return "python"
    out = []
    for i, arg in enumerate(argv[1:], start=1):
        flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if argv[i - 1] == "--data-dir" or (eq and flag == "--data-dir"):
            out.append(f"{flag}{eq}DATA_DIR")
        else:
            out.append(flag + eq + (portable_path(value) if os.path.isabs(value) else value))
    return " ".join([Path(argv[0]).name, *out])


def portable_path(path: str | os.PathLike) -> str:
    """A path as a record that names no machine can hold it: a relative one as it is; an absolute one relative to
    the working directory when inside it, ``~/...`` under the home directory, else ``.../`` and its last part
    (``/tmp/x/run`` -> ``.../run``)."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        if len(base.parts) > 1 and p.is_relative_to(base) and p != base:
            return prefix + p.relative_to(base).as_posix()
    return f".../{p.name}" if p.name else "..."


def home_relative(text: str) -> str:
    """``text`` with the user's home directory written ``~``: a message that names a file under it (the torch
    hub cache, say) reads the same whoever ran it, and names no one's home in a committed report."""
    home = str(Path.home())
    return text.replace(home + os.sep, "~" + os.sep) if len(home) > 1 else text


def git_commit(where: str | os.PathLike | None = None) -> str:
    """HEAD's hash (of the repository holding ``where``, default this package), with "-dirty" when tracked
    code differs from it; read-only (no index refresh, no locks).

    ``reports/`` is left out of the check: it holds the outputs of runs, and a run that follows another
    in the same tree should not be marked dirty by its predecessor's report.
    """
    cwd = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=cwd)
        if out.returncode != 0:
            return "unknown"
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10,
                             cwd=cwd).stdout.strip() or str(cwd)
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)reports"], capture_output=True, text=True, timeout=30, cwd=top)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: how busy the machine was (timings depend on it)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, in MiB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


_FINGERPRINTS: dict[tuple[str, int, int], dict[str, Any]] = {}


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """``{"file", "bytes", "sha256", "mnist"}`` of one data file: its name (no directory), its size on disk,
    the SHA-256 of its decompressed bytes and whether that is the official MNIST file of that name.
    Cached per (path, size, mtime), so a report that names the same files twice hashes them once."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FINGERPRINTS:
        digest, _ = sha256_decompressed(path)
        name = path.name.removesuffix(".gz")
        _FINGERPRINTS[key] = {"file": path.name, "bytes": stat.st_size, "sha256": digest,
                              "mnist": MNIST_SHA256.get(name) == digest}
    return dict(_FINGERPRINTS[key])


def describe_split(directory: str | os.PathLike, split: str) -> list[dict[str, Any]]:
    """The fingerprints of one split's two IDX files (images, labels) found in ``directory``."""
    found = [find_idx_file(directory, name) for name in MNIST_FILES[split]]
    return [file_fingerprint(p) for p in found if p is not None]


def data_label(files: list[dict[str, Any]]) -> str:
    """``the official MNIST files, SHA-256 verified`` when every fingerprint matches, else the file names
    with short hashes."""
    if files and all(f.get("mnist") for f in files):
        return "the official MNIST files, SHA-256 verified"
    return ", ".join(f"{f['file']} (sha256 {f['sha256'][:12]}…)" for f in files) or "no files"


def data_source(train_dir: str | os.PathLike, test_dir: str | os.PathLike, train_samples: int,
                test_samples: int) -> dict[str, Any]:
    """What a run trained and tested on: the files by fingerprint, a one-line label and the image counts."""
    files = {"train_files": describe_split(train_dir, "train"), "test_files": describe_split(test_dir, "test")}
    return {**files, "label": data_label(files["train_files"] + files["test_files"]),
            "train_samples": int(train_samples), "test_samples": int(test_samples)}


def run_provenance() -> dict[str, Any]:
    """The facts a run records when it starts: command as typed, commit, date, load average."""
    return {"command": command_line(), "git_commit": git_commit(), "date": utc_now(),
            "load_average_at_start": load_average()}


__all__ = ["data_source", "run_provenance", "home_relative", "portable_path", "utc_now", "cpu_model", "environment", "command_line", "git_commit", "load_average", "peak_rss_mb",
           "file_fingerprint", "describe_split", "data_label"]
