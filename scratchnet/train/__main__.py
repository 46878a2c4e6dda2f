"""The command line of scratchnet's training recipes.

    python -m scratchnet.train --model seedcnn                 # Adam 1e-3, batch 60, 10 epochs
    python -m scratchnet.train --model examplesnet --epochs 3  # Adadelta 1.0 + StepLR(1, 0.7), batch 64
    python -m scratchnet.train summary runs/scratchnet         # rebuild the summary and figures of finished runs

Each run writes ``<out>/<run>.json`` (history, final test metrics with confusion matrix, provenance),
``<out>/<run>.png`` (loss and accuracy per epoch) and refreshes ``<out>/README.md``.
"""

from __future__ import annotations

import argparse
import sys

import numba
import numpy as np

from scratchnet.checkpoint import CheckpointError
from scratchnet.data import IDXError, MNISTNotFoundError
from scratchnet.recipes import RECIPES, run
from scratchnet.run.args import (HelpFormatter, add_checkpoint_arguments, add_training_arguments, check_resume,
                                 open_fraction, run_options, with_overrides)
from scratchnet.run.command import run_command
from scratchnet.run.outputs import OutputError
from scratchnet.run.summary import print_summaries


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["summary"]:
        return print_summaries(argv[1:] or ["runs/scratchnet"], torch_runs=False)
    p = argparse.ArgumentParser(prog="python -m scratchnet.train", description=__doc__, formatter_class=HelpFormatter)
    add_training_arguments(p, sorted(RECIPES), out="runs/scratchnet", threads="Numba threads")
    add_checkpoint_arguments(p)
    p.add_argument("--val-split", type=open_fraction, metavar="FRACTION",
                   help="hold out this stratified fraction of the training images as a validation set (default: none)")
    args = p.parse_args(argv)
    check_resume(p, args)
    if args.threads:
        numba.set_num_threads(args.threads)
    recipe = with_overrides(RECIPES[args.model], args)
    return run_command(lambda: run(recipe, **run_options(args), dtype=np.float64 if args.float64 else np.float32,
                                   val_fraction=args.val_split),
                       (MNISTNotFoundError, IDXError, OutputError, CheckpointError, OSError, ValueError))


if __name__ == "__main__":
    raise SystemExit(main())
