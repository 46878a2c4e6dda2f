"""Where a run writes, checked and claimed before any data is read or any training starts.

- The output folder must be a folder this process can write (created if missing).
- The folder's summary ``README.md`` is rewritten only if a run summary wrote it: a README the user
  owns (a project's, the reports index) is never replaced.
- A lock on the output folder and on the checkpoint for as long as the run lasts, so a second run
  that would write the same files stops at once and says which run holds them (``flock``: released
  by the operating system even when the holder is killed with SIGKILL).
- Leftover ``.part`` files of atomic writes that a killed run never finished are removed once the
  lock is held (no live run can be writing them then).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Iterator

from ..fileio import create_temp_beside, remove_quietly
from .provenance import command_line, utc_now

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are then not protected from each other
    fcntl = None

#: the first line of every run-folder summary: the mark that says the file may be rewritten
SUMMARY_MARK = "<!-- run summary written by python -m scratchnet.train / torchref.train; rewritten after every run -->"
#: the titles the summaries had before they carried the mark
_LEGACY_SUMMARY_TITLES = ("# scratchnet on MNIST (CPU)", "# torchref on MNIST (")
_PART = re.compile(r"^\.(.+)\.[0-9a-f]{12}\.part$")


class OutputError(ValueError):
    """An output location that cannot be used; the message names it and says why."""


def check_folder(path: str | os.PathLike, what: str = "--out", create: bool = True) -> Path:
    """``path`` as a writable folder (created with its parents if missing), else OutputError. With
    ``create=False`` nothing is made: a missing folder is checked through the nearest folder above it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path}: exists and is not a folder")
    probe_in = path
    if not create:
        while not probe_in.exists() and probe_in != probe_in.parent:
            probe_in = probe_in.parent
        if not probe_in.is_dir():
            raise OutputError(f"{what} {path}: {probe_in} is not a folder")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        fd, probe = create_temp_beside(probe_in / "write-probe")
        os.close(fd)
        remove_quietly(probe)
    except OSError as err:
        raise OutputError(f"{what} {path}: cannot write there ({err.strerror or err})") from None
    return path


def summary_is_ours(readme: Path) -> bool:
    """True when ``readme`` is missing or was written by a run summary (so it may be rewritten)."""
    try:
        first = readme.read_text(errors="replace").split("\n", 1)[0]
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return first == SUMMARY_MARK or first.startswith(_LEGACY_SUMMARY_TITLES)


class RunLock:
    """An exclusive, non-blocking lock on ``target`` held through a hidden lock file beside it."""

    def __init__(self, target: Path, what: str) -> None:
        self.target, self.what = target, what
        folder = target if target.is_dir() else target.parent
        self.path = folder / (".run.lock" if target.is_dir() else f".{target.name}.lock")
        self.fd: int | None = None

    def acquire(self) -> "RunLock":
        if fcntl is None:
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 4096).decode(errors="replace")
                os.close(fd)
                raise OutputError(f"{self.what} {self.target}: another run is writing there ({_describe(holder)}); "
                                  "wait for it to finish or choose another location") from None
            if os.path.exists(self.path) and os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                break  # locked the file that is still in place (not one its previous holder just removed)
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command_line(), "since": utc_now()}).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            remove_quietly(self.path)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"pid {info['pid']}, `{info['command']}`, since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "a run that did not say who it is"


def remove_stale_parts(folder: Path, only: str | None = None) -> list[Path]:
    """Delete the ``.<name>.<hex>.part`` files that killed atomic writes left in ``folder`` (only those of
    ``only`` when given), except those of a file another run holds a lock on; returns them."""
    stale = []
    for p in folder.iterdir():
        match = _PART.match(p.name)
        if not match or not p.is_file() or (only is not None and match.group(1) != only):
            continue
        if (folder / f".{match.group(1)}.lock").exists():
            continue  # a checkpoint some run has locked: its writes are not ours to judge
        stale.append(p)
    for p in stale:
        remove_quietly(p)
    return stale


@contextlib.contextmanager
def claim_outputs(out: str | os.PathLike, checkpoint: str | os.PathLike | None = None, *,
                  summary: bool = True) -> Iterator[Path]:
    """Check and lock a run's output folder (and checkpoint) for the ``with`` block; yields the folder.
    ``summary``: the run rewrites the folder's README.md (which must then be a run summary or absent).
    Raises OutputError, before anything is written, for a location that cannot be used."""
    folder = check_folder(out)
    readme = folder / "README.md"
    if summary and not summary_is_ours(readme):
        raise OutputError(f"--out {folder}: its README.md was not written by a run summary and would be replaced; "
                          "choose another --out (e.g. a new folder under runs/)")
    ck = Path(checkpoint) if checkpoint is not None else None
    if ck is not None:
        if ck.is_dir():
            raise OutputError(f"--checkpoint {ck}: is a folder, expected a file name")
        check_folder(ck.parent, "--checkpoint folder")
    locks = [RunLock(folder, "--out")]
    if ck is not None:
        locks.append(RunLock(ck, "--checkpoint"))
    held: list[RunLock] = []
    try:
        for lock in locks:
            held.append(lock.acquire())
        remove_stale_parts(folder)
        if ck is not None:
            remove_stale_parts(ck.parent, only=ck.name)
        yield folder
    finally:
        for lock in reversed(held):
            lock.release()


__all__ = ["SUMMARY_MARK", "OutputError", "check_folder", "summary_is_ours", "RunLock", "remove_stale_parts",
           "claim_outputs"]
