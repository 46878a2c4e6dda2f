"""The command-line flags every training command shares, with one set of argument types: a bad value
is one ``error:`` line and exit status 2 from argparse, before any data is read or anything written."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Any

#: seeds are fed to numpy.random.default_rng and torch.manual_seed: both take 0 .. 2**63 - 1 here
MAX_SEED = 2**63 - 1


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and every option's default in its help (unless the help already
    says it, or the option is a switch that is off by default)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is False
                or action.default is argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def _number(text: str, kind, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """A whole number >= 1 (epochs, batch size, subset sizes, folds)."""
    value = _number(text, int, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def seed_int(text: str) -> int:
    """A seed: a whole number from 0 to 2**63 - 1."""
    value = _number(text, int, "a whole number")
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to 2**63 - 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates)."""
    value = _number(text, float, "a number > 0")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def open_fraction(text: str) -> float:
    """A fraction strictly between 0 and 1 (validation share)."""
    value = _number(text, float, "a fraction strictly between 0 and 1")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction strictly between 0 and 1, got {text}")
    return value


def thread_count(text: str) -> int:
    """Threads: a whole number from 1 to the number of CPUs of this machine."""
    value = _number(text, int, "a whole number of threads")
    cpus = os.cpu_count() or 1
    if not 1 <= value <= cpus:
        raise argparse.ArgumentTypeError(f"expected 1 to {cpus} threads (this machine's CPUs), got {value}")
    return value


def add_training_arguments(p: argparse.ArgumentParser, models: list[str], out: str, threads: str) -> None:
    """The recipe, data, output and run flags of ``scratchnet.train``, ``torchref.train`` and ``torchref.kfold``."""
    p.add_argument("--model", choices=models, required=True, help="the recipe to train")
    p.add_argument("--epochs", type=positive_int, help="epochs (default: the recipe's)")
    p.add_argument("--batch-size", type=positive_int, help="images per step (default: the recipe's)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: the recipe's)")
    p.add_argument("--normalization", choices=["unit", "mnist", "half"],
                   help="input scaling: /255 only, (0.1307, 0.3081) or (0.5, 0.5) (default: the recipe's)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the initial weights, batch order and dropout")
    p.add_argument("--data-dir", help="directory of MNIST-format IDX files (default: MNIST_DIR, the cache, a download)")
    p.add_argument("--out", default=out, help="folder for the run's history, figure and summary")
    p.add_argument("--subset", type=positive_int, help="train on the first N training images only (default: all)")
    p.add_argument("--float64", action="store_true", help="train in float64 instead of float32")
    p.add_argument("--threads", type=thread_count, help=f"{threads} (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (a line per epoch still)")


def add_checkpoint_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--test-subset", type=positive_int, help="test on the first N test images only (default: all)")
    p.add_argument("--checkpoint", help="checkpoint written after each epoch and on Ctrl-C (default: none)")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint if it exists (its settings must match this command's)")


def check_resume(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.resume and not args.checkpoint:
        p.error("--resume needs --checkpoint")


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of a recipe's ``run`` that the shared flags give: data, output, seed, subset, progress bars,
    and (with :func:`add_checkpoint_arguments`) the test subset and the checkpoint."""
    options = {"data_dir": args.data_dir, "out": args.out, "seed": args.seed, "subset": args.subset,
               "progress": False if args.no_progress else None}
    if hasattr(args, "checkpoint"):
        options.update(test_subset=args.test_subset, checkpoint=args.checkpoint, resume=args.resume)
    return options


def with_overrides(recipe, args: argparse.Namespace):
    """The recipe with the flags that override it (epochs, batch size, lr, normalisation) applied."""
    return replace(recipe, **{k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                                  ("lr", args.lr), ("normalization", args.normalization))
                              if v is not None})


__all__ = ["HelpFormatter", "positive_int", "seed_int", "positive_float", "open_fraction", "thread_count",
           "add_training_arguments", "add_checkpoint_arguments", "check_resume", "run_options", "with_overrides"]
