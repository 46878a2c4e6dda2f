"""Command line: ``python -m compare.walkthroughs list | all | <name> [<name> ...] [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
import time

from . import WALKTHROUGHS, ClaimFailed, UnknownWalkthrough, default_out_dir, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m compare.walkthroughs",
        description="Teaching walkthroughs of backprop: each prints its account and writes <name>.md with figures.",
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="'list', 'all', or one or more walkthrough names")
    parser.add_argument("--out", metavar="DIR", default=None, help=f"output folder (default {default_out_dir()})")
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
            f"expected one of: {', '.join(WALKTHROUGHS)} (or 'list', 'all')",
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


if __name__ == "__main__":
    sys.exit(main())
