"""The command-line options every ``python -m compare.<report>`` shares, spelled and explained once."""

from __future__ import annotations

import argparse


def add_report_arguments(p: argparse.ArgumentParser, out: str, seed: int = 0, quick: str = "a data subset, one epoch") -> None:
    """--seed, --device, --data-dir, --out, --quick and --no-progress, with the same meaning in every report."""
    p.add_argument("--seed", type=int, default=seed)
    p.add_argument("--device", default=None, help="torch device: cuda, cpu, ... (default: CUDA when present, else CPU)")
    p.add_argument("--data-dir", default=None, help="MNIST-format IDX directory (default: MNIST_DIR, cache, download)")
    p.add_argument("--out", default=out, help=f"where the report goes (default {out})")
    p.add_argument("--quick", action="store_true", help=f"2,000 training / 500 test images, {quick} (for CI)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


__all__ = ["add_report_arguments"]
