"""The command-line options every ``python -m compare.<report>`` shares, spelled and explained once."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scratchnet.data import (MNIST_FILES, IDXError, MNISTNotFoundError, find_idx_file, load_mnist_split, locate_mnist,
                             read_idx_header)
from scratchnet.run.args import seed_int
from scratchnet.run.command import run_command
from scratchnet.run.outputs import check_folder
from torchref.device import DeviceError, select_device

from .report import Report

#: the failures a report command turns into one line on stderr and exit status 2: bad input, not a bug
INPUT_ERRORS: tuple[type[BaseException], ...] = (MNISTNotFoundError, IDXError, DeviceError, ValueError)


def add_report_arguments(p: argparse.ArgumentParser, name: str, seed: int = 0,
                         quick: str = "a data subset, one epoch") -> None:
    """--seed, --device, --data-dir, --out, --quick and --no-progress, with the same meaning in every report.
    ``--out`` defaults to the git-ignored ``runs/<name>``; ``--out reports/<name>`` refreshes the committed one."""
    p.add_argument("--seed", type=seed_int, default=seed, help="seed of the initial weights and batch order")
    p.add_argument("--device", default=None, help="torch device: cuda, cpu, ... (default: CUDA when present, else CPU)")
    p.add_argument("--data-dir", default=None, help="MNIST-format IDX directory (default: MNIST_DIR, the cache, a download)")
    p.add_argument("--out", default=f"runs/{name}",
                   help=f"folder for the report (default: runs/{name}, git-ignored; the committed report is "
                        f"reports/{name}, refreshed by python -m compare.all --out reports)")
    p.add_argument("--quick", action="store_true", help=f"2,000 training / 500 test images, {quick} (for CI)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (a line per epoch still)")


def check_counts(p: argparse.ArgumentParser, **counts: int | None) -> None:
    """Stop with ``--name must be >= 1, got N`` for the first count below 1 (None: the default is used)."""
    for name, value in counts.items():
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def start(args: argparse.Namespace):
    """What a report command sets up first: its torch device (a bad ``--device`` fails here, before any work),
    the Report it writes through, and the progress setting (False with ``--no-progress``, else tqdm's default).
    The output folder is checked first too (a file, or a folder that cannot be written, is an error line
    before any data is read)."""
    check_folder(args.out, create=False)
    device = select_device(args.device)
    return Report(args.out, seed=args.seed, device=str(device)), device, False if args.no_progress else None


def load_splits(data_dir: str | None, quick: bool):
    """MNIST's training and test images and labels as ``--data-dir`` (else MNIST_DIR, cache, download) finds
    them, the first 2,000 / 500 with ``--quick``; and the directory they came from."""
    train, test = load_mnist_split(data_dir, "train"), load_mnist_split(data_dir, "test")
    n_train, n_test = (2000, 500) if quick else (None, None)
    return train.images[:n_train], train.labels[:n_train], test.images[:n_test], test.labels[:n_test], train.directory


@dataclass(frozen=True)
class StudyData:
    """The data a study trains on: the directory (resolved) and how many images each run sees."""

    directory: str
    n_train: int
    n_test: int
    subset: int | None = None
    test_subset: int | None = None


def locate_data(data_dir: str | None, subset: int | None = None, test_subset: int | None = None) -> StudyData:
    """Find the MNIST-format files once (``data_dir``, MNIST_DIR, cache, download) and read their sizes
    from the IDX headers, so that every run and every reuse check of a study agree on the data; ``subset`` /
    ``test_subset``: the first so many images only (capped at the sizes)."""
    dirs = {split: locate_mnist(data_dir, split) for split in ("train", "test")}
    sizes = {split: read_idx_header(find_idx_file(d, MNIST_FILES[split][0])).shape[0] for split, d in dirs.items()}
    subset = None if subset is None else min(subset, sizes["train"])
    test_subset = None if test_subset is None else min(test_subset, sizes["test"])
    return StudyData(str(Path(dirs["train"]).resolve()), subset or sizes["train"], test_subset or sizes["test"],
                     subset, test_subset)


def epoch_printer(name: str, library: str, t0: float) -> Callable[[str], None]:
    """The per-epoch line of one training run, prefixed with the job's elapsed time, the model and the library
    (printed whether or not the output is a terminal, so a log shows progress too)."""
    def log(line: str) -> None:
        print(f"[{(time.perf_counter() - t0) / 60:4.1f} min] {name:<7} {library:<10} {line}", flush=True)
    return log


def run_report(work: Callable[[], Path | Report], errors: tuple[type[BaseException], ...] = (), hint: str | None = None) -> int:
    """Run a report command through ``scratchnet.recipes.run_command`` (one line on stderr and exit 2 for
    missing or bad data, an unusable device, a bad value and ``errors``; 3 when training diverged; 130 on
    Ctrl-C, then ``hint``), and print ``wrote <path>`` for each file written when it succeeds (``work``
    returns the report's path, or the ``Report`` it wrote through)."""
    done: list[Path | Report] = []
    status = run_command(lambda: done.append(work()), (*INPUT_ERRORS, *errors), hint)
    if status == 0:
        for path in done[0].written if isinstance(done[0], Report) else done:
            print(f"wrote {path}")
    return status


__all__ = ["INPUT_ERRORS", "StudyData", "add_report_arguments", "check_counts", "epoch_printer", "load_splits",
           "locate_data", "run_report", "start"]
