"""Teaching walkthroughs: backprop internals opened up, every number computed and every claim checked.

``python -m compare.walkthroughs list`` names them; ``python -m compare.walkthroughs <name>``
(or ``all``) runs them, printing the account and writing ``runs/walkthroughs/<name>.md`` with its
figures (``--out reports/walkthroughs`` refreshes the committed ones). Each walkthrough is one
percent-format script in ``notebooks/`` with its ``.ipynb`` generated beside it by jupytext
(``python -m compare.walkthroughs notebooks``); ``exercises`` lists the exercises and ``check`` grades
one. The scripts live in a plain folder, not a package, so importing this module never runs them and
never imports torch. They live in ``compare``,
not in ``scratchnet``, because they check scratchnet's claims against torch autograd (importing torch on
demand, and saying which checks they skipped when it is not installed); scratchnet itself never imports
torch.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from ._report import (
    ClaimFailed,
    ClaimWarning,
    Report,
    check_close,
    claim,
    default_out_dir,
    mnist_dir,
    restore_torch_threads,
    using,
)
from .registry import WALKTHROUGHS

__all__ = [
    "WALKTHROUGHS",
    "ClaimFailed",
    "ClaimWarning",
    "Report",
    "mnist_dir",
    "UnknownWalkthrough",
    "check_close",
    "claim",
    "default_out_dir",
    "names",
    "run",
    "run_all",
    "script_path",
]

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


class UnknownWalkthrough(ValueError):
    """A walkthrough name that is not in ``WALKTHROUGHS``."""


def names() -> list[str]:
    """The walkthrough names, in reading order."""
    return list(WALKTHROUGHS)


def script_path(name: str) -> Path:
    """The percent-format script of walkthrough ``name``."""
    if name not in WALKTHROUGHS:
        raise UnknownWalkthrough(f"unknown walkthrough {name!r}; expected one of: {', '.join(WALKTHROUGHS)} (or 'all')")
    return NOTEBOOKS / WALKTHROUGHS[name][0]


def run(
    name: str,
    out_dir: str | os.PathLike | None = None,
    *,
    use_torch: bool = True,
    data_dir: str | os.PathLike | None = None,
    echo: bool = True,
) -> Path:
    """Run one walkthrough in this process; returns the path of the markdown it wrote.

    Parameters
    ----------
    name : one of ``names()``.
    out_dir : where ``<name>.md`` and its figures go (default ``runs/walkthroughs``; the committed
        reports are written with ``out_dir='reports/walkthroughs'``).
    use_torch : compare with torch autograd where torch is installed; False skips those checks.
    data_dir : the MNIST directory for ``seedcnn_step`` (default: ``$MNIST_DIR``, then the cache).
    echo : print the account to stdout as it is built.

    The walkthrough runs in this process, with Numba's kernels and torch single-threaded (both restored
    afterwards): its arrays are tiny, and on a busy machine thread hand-offs would dominate.

    Raises
    ------
    UnknownWalkthrough : ``name`` is not a walkthrough.
    ClaimFailed (an AssertionError) : a claim of the walkthrough did not hold; no markdown is written.
    """
    path = script_path(name)
    out = Path(out_dir) if out_dir is not None else default_out_dir()
    import numba  # only when a walkthrough actually runs

    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # tiny arrays: a thread pool's hand-off per kernel call costs more than the work
    try:
        with using(
            out_dir=out, use_torch=use_torch, data_dir=None if data_dir is None else os.fspath(data_dir), echo=echo,
            single_threaded=True, runner=True,
        ):
            namespace = runpy.run_path(str(path), run_name=f"compare.walkthroughs.{name}")
    finally:
        numba.set_num_threads(threads)
        restore_torch_threads()
    report = namespace.get("report")
    if not isinstance(report, Report) or not report.finished:
        raise RuntimeError(f"walkthrough {name!r}: the script did not create and finish a Report named 'report'")
    return report.out_dir / f"{report.name}.md"


def run_all(out_dir: str | os.PathLike | None = None, **kwargs) -> list[Path]:
    """Run every walkthrough in order (keyword arguments as for ``run``); returns the markdown paths."""
    return [run(name, out_dir, **kwargs) for name in WALKTHROUGHS]
