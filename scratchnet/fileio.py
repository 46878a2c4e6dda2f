"""Atomic file writing: a hidden temp file beside the target, then ``os.replace``.

A crash or an error leaves either the old file or nothing, never a half-written target; used for
IDX files, downloads, checkpoints, histories and reports.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def create_temp_beside(target: Path) -> tuple[int, Path]:
    """Create ``.<name>.<random>.part`` in ``target``'s directory (made if missing); returns (fd, path).

    Unlike ``tempfile.mkstemp`` the mode is 0o666 minus the umask, so the file keeps ordinary
    permissions once it is renamed to ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{target.parent}: could not create a temporary file for {target.name}")


def remove_quietly(path: Path | None) -> None:
    """Delete ``path`` if it exists (cleanup after a failed write)."""
    if path is None:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def atomic_write(path: str | os.PathLike, write: Callable, mode: str = "wb") -> Path:
    """Call ``write(fileobj)`` on a temp file beside ``path``, sync it, then move it into place."""
    target = Path(path)
    fd, tmp = create_temp_beside(target)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        remove_quietly(tmp)
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically as UTF-8, whatever the locale (reports, histories: their ✓ and θ must not depend
    on the machine that wrote them)."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def json_default(value):
    """``json.dumps(default=...)`` for NumPy: scalars as Python numbers, arrays as lists (an ``np.float32``
    learning rate must not break a history or a checkpoint)."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
