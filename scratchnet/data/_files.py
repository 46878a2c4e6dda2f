"""Atomic file creation: write to a hidden temp file beside the target, then ``os.replace`` it.

A crash or an error leaves either the old file or nothing, never a half-written target.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_temp_beside(target: Path) -> tuple[int, Path]:
    """Create ``.<name>.<random>.part`` in ``target``'s directory; returns (fd, path).

    Unlike ``tempfile.mkstemp`` the mode is 0o666 minus the umask, so the file keeps ordinary
    permissions once it is renamed to ``target``.
    """
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
