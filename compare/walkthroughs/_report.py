"""The shared helpers of the walkthroughs: a ``Report`` that prints as it goes and writes one markdown
file (with its PNG figures beside it), and ``claim`` / ``check_close``, which fail loudly.

Nothing here imports torch or matplotlib at import time; ``optional_torch()`` imports torch on demand.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .. import provenance
from ..report import Report as ReportFiles
from ..report import table as markdown_table
from .registry import WALKTHROUGHS

__all__ = [
    "ClaimFailed",
    "allow_download",
    "in_notebook",
    "is_strict",
    "mnist_dir",
    "notebook_out_dir",
    "quick",
    "Report",
    "Settings",
    "check_close",
    "claim",
    "default_out_dir",
    "fmt",
    "heatmap",
    "optional_torch",
    "settings",
    "using",
]


# ---------------------------------------------------------------------------------------------
# claims


class ClaimFailed(AssertionError):
    """A walkthrough said something about the numbers that the numbers do not bear out."""


def claim(condition: Any, message: str) -> None:
    """Raise ``ClaimFailed`` (an AssertionError) saying ``message`` unless ``condition`` is true."""
    if not bool(condition):
        raise ClaimFailed(f"walkthrough claim failed: {message}")


def scaled_max_error(a: Any, b: Any) -> float:
    """``max |a - b| / max(max |a|, max |b|)``: the largest difference, relative to the largest entry.

    0 when both are all zero; unlike an element-wise ratio it is not fooled by entries that are
    exactly zero on one side (a max-pool loser, a dead ReLU) and round-off on the other.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    diff = float(np.max(np.abs(a - b)))
    if scale == 0.0:
        return 0.0
    return diff / scale


def check_close(name: str, a: Any, b: Any, tol: float, labels: tuple[str, str] = ("a", "b")) -> float:
    """Check that ``a`` and ``b`` agree to ``tol`` in ``scaled_max_error``; return that error.

    On failure raises ``ClaimFailed`` naming the quantity, both sides, the error, the worst element,
    its index and both values, e.g.::

        walkthrough claim failed: dW: by hand vs scratchnet.ops disagree: error 1.0e-03 > tol 1e-12;
        worst at index (0, 2): by hand=0.1234, scratchnet.ops=0.1235
    """
    la, lb = labels
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ClaimFailed(f"walkthrough claim failed: {name}: shapes differ: {la} {a.shape}, {lb} {b.shape}")
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        raise ClaimFailed(f"walkthrough claim failed: {name}: NaNs at different places in {la} and {lb}")
    a, b = np.where(nan_a, 0.0, a), np.where(nan_b, 0.0, b)
    err = scaled_max_error(a, b)
    if not err <= tol:
        idx = np.unravel_index(int(np.argmax(np.abs(a - b))), a.shape) if a.ndim else ()
        where = f" at index {tuple(int(i) for i in idx)}" if a.ndim else ""
        raise ClaimFailed(
            f"walkthrough claim failed: {name}: {la} vs {lb} disagree: error {err:.2e} > tol {tol:.0e}; "
            f"worst{where}: {la}={a[idx]!r}, {lb}={b[idx]!r}"
        )
    return err


# ---------------------------------------------------------------------------------------------
# run settings: where reports go, whether torch may be used, where MNIST is


@dataclass
class Settings:
    """What the runner decides for the walkthroughs it runs (a notebook gets the defaults)."""

    out_dir: Path | None = None  # None: <repository root>/reports/walkthroughs
    use_torch: bool = True  # False: behave as if torch were not installed
    data_dir: str | None = None  # MNIST directory; None: $MNIST_DIR, then the project cache
    echo: bool = True  # print the account to stdout as it is built
    single_threaded: bool = False  # run torch single-threaded (the runner sets this: the arrays are tiny)
    runner: bool = False  # True under ``compare.walkthroughs.run`` (the command line and the tests)


_settings = Settings()


def settings() -> Settings:
    """The settings of the current run."""
    return _settings


@contextlib.contextmanager
def using(**changes: Any) -> Iterator[Settings]:
    """Temporarily change the run settings (the runner wraps each walkthrough in this)."""
    global _settings
    old = _settings
    _settings = Settings(**{**old.__dict__, **changes})
    try:
        yield _settings
    finally:
        _settings = old


def default_out_dir() -> Path:
    """Where the command line writes by default: ``runs/walkthroughs`` under the current directory
    (git-ignored in the repository). The committed ``reports/walkthroughs`` is written only when asked
    for, with ``--out reports/walkthroughs``."""
    return Path("runs") / "walkthroughs"


#: environment variables a notebook reads (the command line has flags instead)
ENV_OUT = "WALKTHROUGHS_OUT"  # where a notebook writes its markdown and figures
ENV_STRICT = "WALKTHROUGHS_STRICT"  # "1": a failed claim raises in a notebook too (CI sets it)
ENV_QUICK = "WALKTHROUGHS_QUICK"  # "1": fewer steps and smaller inputs (CI's quick execution)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (Jupyter, Colab, VS Code, nbclient), where output is rich."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ in ("ZMQInteractiveShell", "Shell")  # Shell: Colab's


def is_strict() -> bool:
    """Does a failed claim raise? Always under the runner (command line, tests) and in a plain
    ``python script.py``; in a notebook only when ``WALKTHROUGHS_STRICT=1`` (a notebook shows a failed
    claim as a warning with its numbers and goes on, so that "Run all" still shows everything)."""
    if _settings.runner or not in_notebook():
        return True
    return os.environ.get(ENV_STRICT, "") == "1"


def quick() -> bool:
    """``WALKTHROUGHS_QUICK=1``: walkthroughs that train use fewer steps (CI); the committed reports
    never come from a quick run (the report says so when one is)."""
    return os.environ.get(ENV_QUICK, "") == "1"


def notebook_out_dir() -> Path:
    """Where a walkthrough opened as a notebook (or run as a plain script) writes: ``$WALKTHROUGHS_OUT``,
    else ``<temp>/scratchnet-walkthroughs`` — never into the repository."""
    chosen = os.environ.get(ENV_OUT)
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / "scratchnet-walkthroughs"


def allow_download() -> bool:
    """May a walkthrough download MNIST? Only in an interactive notebook (never under the tests)."""
    return in_notebook() and not is_strict()


def mnist_dir(split: str = "train") -> Path | None:
    """The MNIST folder for ``split``: the run's ``--data-dir``, ``$MNIST_DIR``, the project cache, or —
    in an interactive notebook only — a download into the cache with SHA-256 checks (scratchnet's own
    ``locate_mnist``). None when MNIST is not available and may not be downloaded."""
    from scratchnet.data import ChecksumError, IDXError, locate_mnist  # only when a walkthrough asks

    try:
        return locate_mnist(_settings.data_dir, split=split, download=allow_download())
    except (OSError, IDXError, ChecksumError):
        return None


_torch_threads_before: int | None = None  # torch's thread count to restore after a run, if we changed it


def optional_torch():
    """The torch module, or None when it is not installed (or the run said not to use it).

    Under the runner torch is made single-threaded until the run ends: the walkthroughs' arrays are
    tiny, and on a busy machine a thread pool's hand-offs cost far more than the arithmetic.
    """
    global _torch_threads_before
    if not _settings.use_torch:
        return None
    try:
        import torch  # lazily, so that importing scratchnet never imports torch
    except ImportError:
        return None
    if _settings.single_threaded and _torch_threads_before is None:
        _torch_threads_before = torch.get_num_threads()
        torch.set_num_threads(1)
    return torch


def restore_torch_threads() -> None:
    """Undo what ``optional_torch`` changed for the run (called by the runner when a run ends)."""
    global _torch_threads_before
    if _torch_threads_before is not None:
        sys.modules["torch"].set_num_threads(_torch_threads_before)
        _torch_threads_before = None


# ---------------------------------------------------------------------------------------------
# number formatting


def fmt(value: Any, digits: int = 4) -> str:
    """A number for prose: fixed point for moderate magnitudes, scientific for tiny or huge ones."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if not np.isfinite(v):
        return str(v)
    if v == 0.0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.{digits}f}"
    return f"{v:.{max(digits - 1, 1)}e}"


def format_array(a: Any, digits: int = 4) -> str:
    """A small array as aligned text; one common format so that columns line up."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a + 0.0  # -0.0 -> 0.0
    if a.dtype.kind in "biu":
        return np.array2string(a, separator="  ")
    finite = np.abs(a[np.isfinite(a) & (a != 0)])
    fixed = finite.size == 0 or (finite.min() >= 1e-3 and finite.max() < 1e4)
    if fixed:
        formatter = {"float_kind": lambda v: f"{v: .{digits}f}"}
    else:
        formatter = {"float_kind": lambda v: f"{v: .{max(digits - 1, 1)}e}"}
    return np.array2string(a, separator="  ", formatter=formatter, max_line_width=110, threshold=400)


def heatmap(ax, a: Any, title: str = "", digits: int = 2, fontsize: int = 9, ticks: bool = True) -> None:
    """Draw a small 2-D array on ``ax`` as a diverging colour map with every value written in its cell."""
    a = np.asarray(a, dtype=np.float64)
    lim = max(float(np.abs(a).max()), 1e-300)
    ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (r, c), v in np.ndenumerate(a):
        colour = "white" if abs(v) > 0.6 * lim else "black"
        ax.text(c, r, f"{v + 0.0:.{digits}f}", ha="center", va="center", fontsize=fontsize, color=colour)
    ax.set_title(title, fontsize=10)
    if ticks:
        ax.set_xticks(range(a.shape[1]))
        ax.set_yticks(range(a.shape[0]))
    else:
        ax.set_xticks([])
        ax.set_yticks([])


# ---------------------------------------------------------------------------------------------
# the report


def _print(text: str, end: str = "\n\n") -> None:
    """Print a block (and a blank line); characters the terminal cannot show become '?'."""
    try:
        print(text, end=end, flush=True)
    except UnicodeEncodeError:
        enc = getattr(sys.stdout, "encoding", None) or "ascii"
        print(text.encode(enc, "replace").decode(enc), end=end, flush=True)


class ClaimWarning(UserWarning):
    """A claim that did not hold, in a notebook (where it warns instead of stopping "Run all")."""


def _show_markdown(block: str) -> None:
    from IPython.display import Markdown, display  # only in a notebook

    display(Markdown(block))


def _provenance(source: str | None, notebook: bool) -> dict[str, Any]:
    """The provenance of a walkthrough's run, for its header (``compare.provenance``, as every report's).

    It never fails and stays quick: outside a git checkout (a notebook opened alone, in Colab) the commit reads
    "unknown", without torch "not installed", and with ``use_torch=False`` torch stays unimported ("not
    used"). ``optional_torch`` is asked first, so that the threads recorded are those the run uses. In a
    notebook the command is the notebook, not the kernel's launcher."""
    optional_torch()
    info = provenance.collect(with_torch=_settings.use_torch)
    if notebook:
        info["command"] = f"the notebook {source[:-3]}.ipynb" if source else "a notebook"
    return info


class Report:
    """Collects one walkthrough's account — prose, arrays, tables, figures, checks — shows it as it
    goes, and writes ``<out_dir>/<name>.md`` (figures as ``<name>_<stem>.png`` beside it).

    On a terminal the account is printed; in a notebook each block is displayed as rendered Markdown
    (LaTeX included) and each figure inline. The markdown file is written once, atomically, by
    ``finish()``. Under the runner a claim that fails stops the walkthrough and leaves no report; in a
    notebook it shows as a warning with its numbers, the run goes on, and the report lists it as FAILED.
    Re-running a notebook cell that starts a section replaces that section (and what followed it)
    instead of appending a second copy.
    """

    def __init__(self, name: str, title: str, out_dir: str | os.PathLike | None = None) -> None:
        self.name = name
        self.title = title
        chosen = out_dir if out_dir is not None else _settings.out_dir
        if chosen is None:
            chosen = default_out_dir() if _settings.runner else notebook_out_dir()
        self.out_dir = Path(chosen)
        self.echo = _settings.echo
        self.rich = in_notebook() and not _settings.runner
        self.strict = is_strict()
        self.parts: list[str] = []
        self.checks: list[tuple[str, str, str]] = []  # (what, measured, tolerance)
        self.figures: list[Path] = []
        self.failures: list[str] = []
        self.finished = False
        self._in_list = False
        self._sections: dict[str, tuple[int, int, int, int]] = {}
        source = f"compare/walkthroughs/notebooks/{WALKTHROUGHS[name][0]}" if name in WALKTHROUGHS else None
        self.files = ReportFiles(self.out_dir, info=_provenance(source, self.rich))  # every file goes through it
        self._emit("\n".join(self.files.header(title)))
        self._emit(
            f"*Written by `python -m compare.walkthroughs {name}`"
            + (f" from `{source}` (it also opens as a notebook: `{source[:-3]}.ipynb`)" if source else "")
            + ". Every number here is computed by the run, and every claim is checked as it runs: "
            "on the command line a claim that does not hold stops the walkthrough; in a notebook it shows "
            "as a warning.*"
            + (" **Quick run (`WALKTHROUGHS_QUICK=1`): fewer steps than the full walkthrough.**" if quick() else "")
        )

    # -- writing ---------------------------------------------------------------------------------
    def _emit(self, block: str, stdout: str | None = None) -> None:
        is_item = block.startswith("- ")
        if is_item and self.parts and self.parts[-1].startswith("- "):
            self.parts[-1] += "\n" + block  # consecutive check lines make one list
        else:
            self.parts.append(block)
        if self.echo and self.rich:
            if stdout is None:  # figures are displayed by figure() itself
                _show_markdown(block)
        elif self.echo:
            if self._in_list and not is_item:
                _print("", end="\n")
            _print(block if stdout is None else stdout, end="\n" if is_item else "\n\n")
        self._in_list = is_item

    def section(self, title: str) -> None:
        """A new section (a level-2 heading). Starting a section again (a re-run notebook cell) first
        removes what the earlier run of that section, and everything after it, added."""
        if title in self._sections:
            n_parts, n_checks, n_figures, n_failures = self._sections[title]
            del self.parts[n_parts:], self.checks[n_checks:], self.figures[n_figures:], self.failures[n_failures:]
            self._sections = {k: v for k, v in self._sections.items() if v[0] < n_parts}
            self.finished = False
        self._sections[title] = (len(self.parts), len(self.checks), len(self.figures), len(self.failures))
        self._emit(f"## {title}")

    def text(self, markdown: str) -> None:
        """A paragraph (or several) of markdown; common indentation is removed."""
        self._emit(textwrap.dedent(markdown).strip("\n"))

    def math(self, latex: str) -> None:
        """A display equation, ``$$ ... $$``."""
        self._emit(f"$$\n{textwrap.dedent(latex).strip()}\n$$")

    def code(self, text: str) -> None:
        """A preformatted block."""
        self._emit(f"```\n{textwrap.dedent(text).strip(chr(10))}\n```")

    def arrays(self, digits: int = 4, **named: Any) -> None:
        """Show named arrays in one preformatted block: ``report.arrays(x=x, W=W)``."""
        lines = []
        for label, a in named.items():
            a = np.asarray(a)
            body = format_array(a, digits)
            shape = f"   (shape {a.shape})" if a.ndim > 1 else ""
            if "\n" in body or len(label) + len(body) > 100:
                lines.append(f"{label} ={shape}\n{body}")
            else:
                lines.append(f"{label} = {body}")
        self.code("\n".join(lines))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 4) -> None:
        """A markdown table, its columns padded so that it also reads as printed; numbers are formatted
        with ``fmt``."""
        cells = [[c if isinstance(c, str) else fmt(c, digits) for c in row] for row in rows]
        for row in cells:
            if len(row) != len(header):
                raise ValueError(f"Report.table: a row has {len(row)} cells, the header {len(header)}")
        self._emit("\n".join(markdown_table(header, cells, align=True)))

    def figure(self, fig, stem: str, caption: str) -> None:
        """Save a matplotlib Figure as ``<name>_<stem>.png`` beside the markdown and link it; in a
        notebook also show it inline. Returns None (so a cell ending here shows no Figure repr)."""
        path = self.files.figure(f"{self.name}_{stem}.png", fig, dpi=110, crop=True)
        if path not in self.figures:
            self.figures.append(path)
        if self.echo and self.rich:
            from IPython.display import Image, display

            display(Image(data=path.read_bytes()))
            _show_markdown(f"*{caption}*")
        self._emit(f"![{caption}]({path.name})\n\n*{caption}*", stdout=f"[figure: {path} — {caption}]")

    # -- checks ----------------------------------------------------------------------------------
    def _failed(self, what: str, err: ClaimFailed, stacklevel: int = 3) -> None:
        """Strict: raise. Notebook: a visible warning with the numbers, attributed to the notebook's line
        (``stacklevel`` frames up); the run goes on."""
        if self.strict:
            raise err
        message = str(err).removeprefix("walkthrough claim failed: ")
        self.failures.append(message)
        self.checks.append((what, "FAILED", ""))
        warnings.warn(f"{self.name}: claim failed: {message}", ClaimWarning, stacklevel=stacklevel)
        self._emit(f"- ⚠️ **claim FAILED**: {message}")

    def _verify(self, name: str, a: Any, b: Any, tol: float, labels: tuple[str, str]) -> tuple[str, float] | None:
        """Run ``check_close`` and record the check's row; (its description, the error), or None when it failed
        (the failure is recorded and, in a notebook, warned about)."""
        what = f"{name}: {labels[0]} = {labels[1]}"
        try:
            err = check_close(name, a, b, tol, labels)
        except ClaimFailed as failure:
            self._failed(what, failure, stacklevel=4)  # one frame more: check_close / parity -> _verify
            return None
        self.checks.append((what, "identical" if tol == 0 else f"{err:.1e}", "0 (bit for bit)" if tol == 0 else f"{tol:.0e}"))
        return what, err

    def check_close(self, name: str, a: Any, b: Any, tol: float, labels: tuple[str, str] = ("a", "b")) -> None:
        """``check_close`` that also records the check in the report (a line now, a row at the end).
        Returns None, so that a notebook cell ending in a check shows no number."""
        verified = self._verify(name, a, b, tol, labels)
        if verified is not None:
            what, err = verified
            self._emit(f"- check ✓ {what} (bit for bit)" if tol == 0 else f"- check ✓ {what} (error {err:.1e} ≤ {tol:.0e})")

    def parity(self, name: str, a: Any, b: Any, tol: float, labels: tuple[str, str] = ("a", "b")) -> None:
        """A routine parity check: verified as strictly as ``check_close``, but not shown inline — it
        goes to the walkthrough's appendix table only (the lesson keeps the checks that teach)."""
        self._verify(name, a, b, tol, labels)

    def claim(self, condition: Any, message: str, measured: str = "") -> None:
        """``claim`` that also records the claim in the report."""
        try:
            claim(condition, message + (f" ({measured})" if measured else ""))
        except ClaimFailed as failure:
            self._failed(message, failure)
            return
        self.checks.append((message, measured or "holds", ""))
        self._emit(f"- check ✓ {message}" + (f" ({measured})" if measured else ""))

    def note_skip(self, message: str) -> None:
        """Say that a check was skipped, and why (e.g. torch is not installed)."""
        self.checks.append((message, "skipped", ""))
        self._emit(f"- *skipped:* {message}")

    # -- finishing -------------------------------------------------------------------------------
    def finish(self) -> Path:
        """Append the appendix table of every check and write ``<name>.md`` atomically; returns its path."""
        from .exercises import EXERCISES  # here: the exercises module imports nothing heavy

        mine = [e for e in EXERCISES.values() if e.walkthrough == self.name]
        if mine:
            self.section("Exercises")
            self.text(
                "Each is graded by the project's own gradient checks and parity tests. In a notebook: "
                "`from compare.walkthroughs.exercises import check; check(NAME, your_function)` (for a "
                "prediction, your number). From a shell: `python -m compare.walkthroughs exercises NAME` "
                "shows the task and its starter file, `python -m compare.walkthroughs check NAME FILE` grades it."
            )
            self.table(["exercise", "kind", "task"], [[f"`{e.name}`", e.kind, e.title] for e in mine])
        failed = len(self.failures)
        skipped = sum(1 for _, m, _ in self.checks if m == "skipped")
        held = len(self.checks) - skipped - failed
        self.section("Appendix: every check")
        summary = f"{held} checks ran and held" + (f"; {skipped} skipped" if skipped else "") + "."
        if failed:
            summary = f"**{failed} claims FAILED**; " + summary
        self.text(
            summary + " The routine parity checks (the same numbers by another route: naive twins, "
            "finite differences, torch) are verified as the run goes but listed only here."
        )
        self.table(["check", "measured", "tolerance"], [list(row) for row in self.checks])
        path = self.out_dir / f"{self.name}.md"
        self.files.text(path.name, "\n\n".join(self.parts).rstrip() + "\n")
        self.finished = True
        if self.echo and not self.rich:
            _print(f"wrote {path}", end="\n")
        elif self.echo:
            _show_markdown(f"*Report written to `{path}`.*")
        return path
