"""Headless figures for the reports: matplotlib on the Agg backend, PNGs written atomically."""

from __future__ import annotations

from pathlib import Path

from scratchnet.fileio import atomic_write


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed: CI and servers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path, dpi: int = 100) -> None:
    """Lay out, write ``fig`` to ``path`` as PNG in one atomic step, and close it."""
    fig.tight_layout()
    atomic_write(Path(path), lambda f: fig.savefig(f, format="png", dpi=dpi))
    pyplot().close(fig)


__all__ = ["pyplot", "save"]
