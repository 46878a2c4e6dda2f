"""How every command line ends: one mapping from what happened to an exit status and a line on stderr."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable

from .loop import NonFiniteError, TrainingInterrupted


TORCH_MISSING = ("torchref needs PyTorch, which is not installed here. Install it with: pip install -e '.[torch]' "
                 "(on a machine without a GPU, the much smaller CPU build first: "
                 "pip install torch --index-url https://download.pytorch.org/whl/cpu)")


def _command_module() -> str:
    """The module run by ``python -m MODULE`` in this process, else ""."""
    argv = list(getattr(sys, "orig_argv", []))
    return argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""


def require_torch() -> None:
    """Without PyTorch, say how to install it: one ``error:`` line and exit 2 for the commands that need it
    (``python -m torchref.*``, ``python -m compare.*`` but the walkthroughs), a ModuleNotFoundError with
    the same words for code. scratchnet itself never imports torch: this only tries to find it."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except ImportError:
        found = False
    if not found:
        command = _command_module()
        if command.startswith(("torchref", "compare")) and not command.startswith("compare.walkthroughs"):
            print(f"error: {TORCH_MISSING}", file=sys.stderr)
            raise SystemExit(2) from None
        raise ModuleNotFoundError(TORCH_MISSING, name="torch") from None


def run_command(work: Callable[[], object], errors: tuple[type[BaseException], ...], hint: str | None = None) -> int:
    """Run a command's work and turn its known endings into an exit status and one line on stderr:
    0 done, 2 bad input (``errors``: missing data, bad file, ...), 3 training diverged, 130 Ctrl-C (inside
    training the message says where to resume; outside it, files are atomic). ``hint``, if given, is
    printed after the Ctrl-C message (what to do next)."""
    try:
        work()
    except KeyboardInterrupt as err:
        message = str(err) if isinstance(err, TrainingInterrupted) else "interrupted; every file written so far is complete"
        print(f"\n{message}" + (f"\n{hint}" if hint else ""), file=sys.stderr)
        return 130
    except NonFiniteError as err:
        print(f"training diverged: {err}", file=sys.stderr)
        return 3
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


__all__ = ["TORCH_MISSING", "require_torch", "run_command"]
