"""The command-line options every ``python -m compare.<report>`` shares, spelled and explained once."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from scratchnet.data import IDXError, MNISTNotFoundError
from scratchnet.run.command import run_command
from torchref.device import DeviceError

#: the failures a report command turns into one line on stderr and exit status 2: bad input, not a bug
INPUT_ERRORS: tuple[type[BaseException], ...] = (MNISTNotFoundError, IDXError, DeviceError, ValueError)


def add_report_arguments(p: argparse.ArgumentParser, out: str, seed: int = 0, quick: str = "a data subset, one epoch") -> None:
    """--seed, --device, --data-dir, --out, --quick and --no-progress, with the same meaning in every report."""
    p.add_argument("--seed", type=int, default=seed)
    p.add_argument("--device", default=None, help="torch device: cuda, cpu, ... (default: CUDA when present, else CPU)")
    p.add_argument("--data-dir", default=None, help="MNIST-format IDX directory (default: MNIST_DIR, cache, download)")
    p.add_argument("--out", default=out, help=f"where the report goes (default {out})")
    p.add_argument("--quick", action="store_true", help=f"2,000 training / 500 test images, {quick} (for CI)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_report(work: Callable[[], Path], errors: tuple[type[BaseException], ...] = (), hint: str | None = None) -> int:
    """Run a report command through ``scratchnet.recipes.run_command`` (one line on stderr and exit 2 for
    missing or bad data, an unusable device, a bad value and ``errors``; 3 when training diverged; 130 on
    Ctrl-C, then ``hint``), and print ``wrote <report>`` when it succeeds."""
    written: list[Path] = []
    status = run_command(lambda: written.append(work()), (*INPUT_ERRORS, *errors), hint)
    if status == 0:
        print(f"wrote {written[0]}")
    return status


__all__ = ["INPUT_ERRORS", "add_report_arguments", "run_report"]
