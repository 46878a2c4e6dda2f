"""Headless figures for the reports: matplotlib on the Agg backend, PNGs written atomically."""

from __future__ import annotations

import sys
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
    off-diagonal counts of ``highlight`` or more in red. The counts are sized to be read at 100 %:
    a four-digit count fills most of its cell in a panel of about 5 inches."""
    import numpy as np

    cm = np.asarray(cm)
    ax.imshow(np.log1p(cm), cmap="Blues")
    for (i, k), n in np.ndenumerate(cm):
        if n:
            red = highlight is not None and i != k and n >= highlight
            ax.text(k, i, str(n), ha="center", va="center", fontsize=9 if n < 1000 else 8.5,
                    color="white" if i == k else ("crimson" if red else "black"),
                    fontweight="bold" if red else "normal")
    ax.set_title(title, fontsize=11)
    ax.set(xlabel="predicted", ylabel="true", xticks=range(len(cm)), yticks=range(len(cm)))


def grid_shape(n: int, max_columns: int = 3) -> tuple[int, int]:
    """(rows, columns) of a grid for ``n`` panels: 2 columns up to 4 panels (2x2, not a strip), then at most
    ``max_columns``, so that each panel keeps a readable size whatever the number of panels."""
    if n < 1:
        raise ValueError(f"n must be at least 1 panel, got {n}")
    columns = min(n, 2 if n <= 4 else max_columns)
    return -(-n // columns), columns


def confusion_grid(panels, highlight: int | None = None, caption: str | None = None):
    """One figure of confusion matrices, ``panels`` a list of (matrix, title), laid out by ``grid_shape``
    with unused cells left blank; ``caption`` (e.g. what red means) goes on top."""
    rows, columns = grid_shape(len(panels))
    fig, axes = pyplot().subplots(rows, columns, figsize=(5.4 * columns, 5.2 * rows + (0.4 if caption else 0)),
                                  squeeze=False)
    for ax, (cm, title) in zip(axes.ravel(), panels):
        confusion(ax, cm, title, highlight=highlight)
    for ax in axes.ravel()[len(panels):]:
        ax.set_axis_off()
    if caption:
        fig.suptitle(caption, fontsize=10)
    return fig


def epoch_axis(ax, n_epochs: int) -> None:
    """Whole-number epoch ticks; one epoch gets limits around it rather than matplotlib's 0.96-1.04."""
    from matplotlib.ticker import MaxNLocator

    if n_epochs <= 1:
        ax.set_xlim(0.5, 1.5)
        ax.set_xticks([1])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def confidence(p: float, eps: float = 2.0 ** -23) -> str:
    """A probability with enough digits to tell 0.9999 from 0.99999: up to 0.999 as three decimals, above
    that as '1 - 3e-05' (and '1 - <eps' where it rounds to 1 in the probabilities' precision)."""
    if p < 0.9995:
        return f"{p:.3f}"
    gap = 1.0 - float(p)
    return f"1 - <{eps:.0e}" if gap < eps / 2 else f"1 - {gap:.0e}"


def save(fig, path: Path, dpi: int = 100, crop: bool = False) -> None:
    """Lay out, write ``fig`` to ``path`` as PNG in one atomic step, and close it. A figure title keeps
    its own band on top (tight_layout alone lets it overlap the panels' titles). ``crop``: keep the figure's
    own layout and crop the PNG to what is drawn (``bbox_inches='tight'``; the walkthroughs lay theirs out
    by hand). A figure made without pyplot (``matplotlib.figure.Figure``, as the walkthroughs make theirs, so
    that a notebook's backend is left alone) is not held by pyplot and needs no closing."""
    if crop:
        atomic_write(Path(path), lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
    else:
        title = getattr(fig, "_suptitle", None)
        lines = 1 + title.get_text().count("\n") if title is not None and title.get_text() else 0
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 * lines / fig.get_figheight()) if lines else None)
        atomic_write(Path(path), lambda f: fig.savefig(f, format="png", dpi=dpi))
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)


__all__ = ["confidence", "confusion", "confusion_grid", "epoch_axis", "grid_shape", "pyplot", "save"]
