"""The command line of scratchnet's training recipes.

    python -m scratchnet.train --model seedcnn                 # Adam 1e-3, batch 60, 10 epochs
    python -m scratchnet.train --model examplesnet --epochs 3  # Adadelta 1.0 + StepLR(1, 0.7), batch 64
    python -m scratchnet.train summary reports/mnist_cpu        # rebuild the summary of finished runs

Each run writes ``<out>/<run>.json`` (history, final test metrics with confusion matrix, provenance),
``<out>/<run>.png`` (loss and accuracy per epoch) and refreshes ``<out>/README.md``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np

from scratchnet.data import IDXError, MNISTNotFoundError
from scratchnet.recipes import RECIPES, run
from scratchnet.run.command import run_command
from scratchnet.run.summary import write_summary

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["summary"]:
        for d in argv[1:] or ["reports/mnist_cpu"]:
            print(write_summary(Path(d), torch_runs=False))
        return 0
    p = argparse.ArgumentParser(prog="python -m scratchnet.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(RECIPES), required=True)
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--batch-size", type=int, help="default: the recipe's")
    p.add_argument("--lr", type=float, help="default: the recipe's")
    p.add_argument("--normalization", choices=["unit", "mnist", "half"],
                   help="input scaling: /255 only, (0.1307, 0.3081) or (0.5, 0.5) (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="directory of MNIST-format IDX files (default: MNIST_DIR, cache, download)")
    p.add_argument("--out", default="reports/mnist_cpu", help="where the history, figure and summary go")
    p.add_argument("--subset", type=int, help="train on the first N training images only")
    p.add_argument("--test-subset", type=int, help="test on the first N test images only")
    p.add_argument("--val-split", type=float, metavar="FRACTION",
                   help="hold out this stratified fraction of the training images as a validation set")
    p.add_argument("--float64", action="store_true", help="train in float64 instead of float32")
    p.add_argument("--checkpoint", help=".npz checkpoint written after each epoch and on Ctrl-C")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--threads", type=int, help="Numba threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.resume and not args.checkpoint:
        p.error("--resume needs --checkpoint")
    if args.val_split is not None and not 0 < args.val_split < 1:
        p.error(f"--val-split must be a fraction strictly between 0 and 1, got {args.val_split}")
    if args.threads:
        numba.set_num_threads(args.threads)
    recipe = RECIPES[args.model]
    recipe = replace(recipe, **{k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                                    ("lr", args.lr), ("normalization", args.normalization))
                                if v is not None})
    return run_command(lambda: run(
        recipe, data_dir=args.data_dir, out=args.out, seed=args.seed, subset=args.subset,
        test_subset=args.test_subset, dtype=np.float64 if args.float64 else np.float32, checkpoint=args.checkpoint,
        resume=args.resume, progress=False if args.no_progress else None, val_fraction=args.val_split,
    ), (MNISTNotFoundError, IDXError, ValueError))


if __name__ == "__main__":
    raise SystemExit(main())
