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


def confusion(ax, cm, title: str, highlight: int | None = None) -> None:
    """A confusion matrix (rows: true class, columns: predicted) on ``ax``, log-shaded, with its counts;
    off-diagonal counts of ``highlight`` or more in red."""
    import numpy as np

    cm = np.asarray(cm)
    ax.imshow(np.log1p(cm), cmap="Blues")
    for (i, k), n in np.ndenumerate(cm):
        if n:
            red = highlight is not None and i != k and n >= highlight
            ax.text(k, i, str(n), ha="center", va="center", fontsize=6,
                    color="white" if i == k else ("crimson" if red else "black"))
    ax.set(title=title, xlabel="predicted", ylabel="true", xticks=range(len(cm)), yticks=range(len(cm)))


def save(fig, path: Path, dpi: int = 100) -> None:
    """Lay out, write ``fig`` to ``path`` as PNG in one atomic step, and close it."""
    fig.tight_layout()
    atomic_write(Path(path), lambda f: fig.savefig(f, format="png", dpi=dpi))
    pyplot().close(fig)


__all__ = ["confusion", "pyplot", "save"]
