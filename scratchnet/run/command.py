"""How every command line ends: one mapping from what happened to an exit status and a line on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable

from .loop import NonFiniteError, TrainingInterrupted


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


__all__ = ["run_command"]
