"""Command line::

    python -m compare.walkthroughs list | all | NAME [NAME ...] [--out DIR]   run walkthroughs
    python -m compare.walkthroughs exercises [--walkthrough NAME]            list the exercises
    python -m compare.walkthroughs check EXERCISE [FILE]                     grade a solution
    python -m compare.walkthroughs notebooks [--check]                       regenerate the .ipynb files
"""

from __future__ import annotations

import argparse
import sys
import time

from . import WALKTHROUGHS, ClaimFailed, UnknownWalkthrough, default_out_dir, run, script_path


def _run_walkthroughs(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m compare.walkthroughs",
        description=(
            "Teaching walkthroughs of backprop: each prints its account and writes <name>.md with figures. "
            "Other commands: 'exercises' lists the exercises, 'check EXERCISE [FILE]' grades one, "
            "'notebooks' regenerates the .ipynb files from the scripts."
        ),
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="'list', 'all', or one or more walkthrough names")
    parser.add_argument(
        "--out", metavar="DIR", default=None,
        help=f"output folder (default {default_out_dir()}, git-ignored; --out reports/walkthroughs refreshes the committed reports)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the comparisons with torch autograd")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help="MNIST folder (default $MNIST_DIR, then the cache)")
    parser.add_argument("--quiet", action="store_true", help="do not print the accounts, only where they were written")
    args = parser.parse_args(argv)

    if args.names == ["list"]:
        width = max(map(len, WALKTHROUGHS))
        for name, (_, summary) in WALKTHROUGHS.items():
            print(f"{name:<{width}}  {summary}")
        return 0
    chosen = list(WALKTHROUGHS) if args.names == ["all"] else args.names
    unknown = [n for n in chosen if n not in WALKTHROUGHS]
    if unknown:
        print(
            f"error: unknown walkthrough {', '.join(map(repr, unknown))}; "
            f"expected one of: {', '.join(WALKTHROUGHS)} (or 'list', 'all', 'exercises', 'check', 'notebooks')",
            file=sys.stderr,
        )
        return 2
    for name in chosen:
        start = time.perf_counter()
        try:
            path = run(name, args.out, use_torch=not args.no_torch, data_dir=args.data_dir, echo=not args.quiet)
        except ClaimFailed as err:
            print(f"\nFAILED {name}: {err}", file=sys.stderr)
            return 1
        except UnknownWalkthrough as err:  # pragma: no cover - filtered above
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{name}: wrote {path} in {time.perf_counter() - start:.1f} s")
    return 0


def _notebooks(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m compare.walkthroughs notebooks",
        description="Regenerate every .ipynb from its script with jupytext, the shared setup cell first.",
    )
    parser.add_argument("--check", action="store_true", help="only say what is out of date (exit 1 if anything is)")
    args = parser.parse_args(argv)
    from .notebook import sync

    lines = sync([script_path(n) for n in WALKTHROUGHS], check_only=args.check)
    for line in lines:
        print(line)
    if args.check:
        return 1 if lines else 0
    print(f"{len(WALKTHROUGHS)} notebooks up to date" + (f" ({len(lines)} changes written)" if lines else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "exercises":
        from .exercises import main_list

        return main_list(argv[1:])
    if argv and argv[0] == "check":
        from .exercises import main_check

        return main_check(argv[1:])
    if argv and argv[0] == "notebooks":
        return _notebooks(argv[1:])
    return _run_walkthroughs(argv)


if __name__ == "__main__":
    sys.exit(main())
