"""The command line of torchref's k-fold cross-validation.

    python -m torchref.kfold --model ffn --k 5                       # the recipe's epochs per fold
    python -m torchref.kfold --model seedcnn --k 5 --epochs 2 --subset 12000 --out runs/kfold

Writes ``<out>/<run>_kfold.json`` (folds, mean, std, per-fold histories, provenance) and ``<out>/<run>_kfold.csv``.
"""

from __future__ import annotations

import argparse
import sys

from scratchnet.run.args import HelpFormatter, positive_int
from scratchnet.run.command import run_command
from torchref.cli import INPUT_ERRORS, add_common_arguments, resolve_arguments, torch_run_options
from torchref.kfold import run_kfold


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m torchref.kfold", description=__doc__, formatter_class=HelpFormatter)
    add_common_arguments(p, out="runs/kfold")
    p.add_argument("--k", type=positive_int, default=5, help="number of folds, at least 2")
    p.add_argument("--stratified", action=argparse.BooleanOptionalAction, default=True,
                   help="keep class proportions in every fold")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.k < 2:
        p.error(f"--k must be >= 2, got {args.k}")
    recipe = resolve_arguments(p, args)
    return run_command(lambda: run_kfold(recipe, **torch_run_options(args), k=args.k, stratified=args.stratified),
                       INPUT_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
