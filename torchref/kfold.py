"""k-fold cross-validation of any torchref model over the MNIST training set, on the device.

    python -m torchref.kfold --model ffn --k 5                       # the recipe's epochs per fold
    python -m torchref.kfold --model seedcnn --k 5 --epochs 2 --subset 12000 --out reports/kfold_torch

Folds come from ``scratchnet.data.kfold_indices`` (stratified by default, like
``scratchnet.train.cross_validate``); fold f trains a fresh model seeded ``seed + f`` on the other
folds with batch order seed ``seed + f``, and is scored on its held-out fold: accuracy, macro
precision, recall and F1, then mean and sample std (ddof=1) over folds. Writes
``<out>/<run>_kfold.json`` (folds, mean, std, per-fold histories, provenance) and ``<out>/<run>_kfold.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from scratchnet.data import IDXError, MNISTNotFoundError, kfold_indices, load_mnist_split
from scratchnet.fileio import atomic_write_text
from scratchnet.history import FOLD_METRICS, fold_row, summarise_folds
from scratchnet.recipes import Recipe, command_line, run_command

from .data import DeviceData, to_device
from .device import DeviceError, select_device
from .recipes import (add_common_arguments, build_optimizer, data_normalization, git_commit, make_model,
                      resolve_arguments, run_name)
from .resnet import WeightsNotFoundError
from .train import environment, final_metrics, fit

METRICS = FOLD_METRICS


def cross_validate(
    build_model: Callable[[int], nn.Module],
    build_optimizer: Callable[[nn.Module], Any],
    data: DeviceData,
    *,
    k: int = 5,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    stratified: bool = True,
    num_classes: int = 10,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    **fit_options: Any,
) -> dict[str, Any]:
    """k-fold cross-validation: train a fresh model on k-1 folds, score it on the held-out fold.

    Parameters
    ----------
    build_model : ``build_model(fold)`` -> a new model on ``data``'s device (seed it from the fold).
    build_optimizer : ``build_optimizer(model)`` -> an optimiser, or (optimiser, scheduler).
    data : the whole set on the device; folds are index selections of it.
    fit_options : passed to :func:`torchref.train.fit` (bf16, channels_last, compile, deterministic ...).

    Returns
    -------
    {"k", "stratified", "folds": [{fold, train_samples, val_samples, accuracy, macro_precision,
    macro_recall, macro_f1, loss, train_time_s}], "mean": {...}, "std": {...} (ddof=1),
    "histories": per-fold fit histories} -- the shape of ``scratchnet.train.cross_validate``'s result
    plus the histories.
    """
    labels = data.y.cpu().numpy()
    folds, histories = [], []
    for fold, (train_idx, val_idx) in enumerate(kfold_indices(labels, k=k, seed=seed, stratified=stratified)):
        model = build_model(fold)
        built = build_optimizer(model)
        optimizer, scheduler = built if isinstance(built, tuple) else (built, None)
        train, val = data.subset(train_idx), data.subset(val_idx)
        hist = fit(model, optimizer, train, epochs=epochs, batch_size=batch_size, scheduler=scheduler,
                   seed=seed + fold, progress=progress, **fit_options)
        metrics = final_metrics(model, val, num_classes, bf16=hist["config"]["bf16"])
        row = fold_row(fold + 1, len(train_idx), len(val_idx), metrics, hist["train_time_s"])
        folds.append(row)
        hist["val_report"] = metrics
        histories.append(hist)
        if log is not None:
            log(f"fold {fold + 1}/{k}: accuracy {row['accuracy']:.4f}, macro F1 {row['macro_f1']:.4f}, "
                f"{row['train_time_s']:.1f} s")
    return {**summarise_folds(folds, k, stratified), "histories": histories}


def folds_csv(result: dict[str, Any]) -> str:
    """One row per fold, then the mean and std rows."""
    buf = io.StringIO()
    cols = ["fold", "train_samples", "val_samples", *METRICS]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in result["folds"]:
        w.writerow(row)
    for name in ("mean", "std"):
        w.writerow({"fold": name, **result[name]})
    return buf.getvalue()


def run_kfold(
    recipe: Recipe,
    *,
    k: int = 5,
    stratified: bool = True,
    protocol: str | None = None,
    image_size: int = 28,
    weights: str = "imagenet",
    weights_file: str | None = None,
    download: bool = True,
    data_dir: str | None = None,
    out: str | Path = "reports/kfold_torch",
    seed: int = 0,
    subset: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    init: str = "torch",
    progress: bool | None = None,
    log=print,
    **fit_options: Any,
) -> dict[str, Any]:
    """Cross-validate one recipe over the MNIST training set; write JSON and CSV; return the result."""
    wall0 = time.perf_counter()
    dev = select_device(device)
    split = load_mnist_split(data_dir, "train")
    images, labels = split.images, split.labels
    if subset:
        images, labels = images[:subset], labels[:subset]
    data = to_device(images, labels, dev, normalization=data_normalization(recipe), dtype=dtype)
    name = run_name(recipe.model, protocol)
    log(f"{name}: {k}-fold cross-validation ({'stratified' if stratified else 'plain'}) over {len(data)} training "
        f"images from {split.directory}, {recipe.epochs} epochs per fold; device {dev}")

    def build(fold: int) -> nn.Module:
        return make_model(recipe.model, seed=seed + fold, device=dev, dtype=dtype, init=init,
                          protocol=protocol or "workshop", weights=weights, weights_file=weights_file,
                          download=download, image_size=image_size,
                          deterministic=bool(fit_options.get("deterministic")))

    result = cross_validate(build, lambda m: build_optimizer(recipe, m), data, k=k, epochs=recipe.epochs,
                            batch_size=recipe.batch_size, seed=seed, stratified=stratified, progress=progress,
                            log=log, **fit_options)
    result["model"] = name
    result["provenance"] = {
        "recipe": asdict(recipe), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "git_commit": git_commit(), "seed": seed, "init": init, "data_dir": str(split.directory),
        "samples": len(data), "environment": environment(dev), "wall_time_s": time.perf_counter() - wall0,
    }
    out = Path(out)
    atomic_write_text(out / f"{name}_kfold.json", json.dumps(result, indent=1))
    atomic_write_text(out / f"{name}_kfold.csv", folds_csv(result))
    m, s = result["mean"], result["std"]
    log(" | ".join(f"{key} {m[key]:.4f} ± {s[key]:.4f}" for key in METRICS[:4]))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m torchref.kfold", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("--k", type=int, default=5, help="number of folds (default 5)")
    p.add_argument("--stratified", action=argparse.BooleanOptionalAction, default=True,
                   help="keep class proportions in every fold (default: yes)")
    p.add_argument("--out", default="reports/kfold_torch", help="where <run>_kfold.json and .csv go")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.k < 2:
        p.error(f"--k must be >= 2, got {args.k}")
    recipe = resolve_arguments(p, args)
    return run_command(lambda: run_kfold(
        recipe, k=args.k, stratified=args.stratified, protocol=args.protocol, image_size=args.image_size or 28,
        weights=args.weights or "imagenet", weights_file=args.weights_file, download=not args.no_download,
        data_dir=args.data_dir, out=args.out, seed=args.seed, subset=args.subset, device=args.device,
        dtype=torch.float64 if args.float64 else torch.float32, init=args.init,
        progress=False if args.no_progress else None, bf16=args.bf16, channels_last=args.channels_last,
        compile=args.compile, deterministic=args.deterministic,
    ), (MNISTNotFoundError, IDXError, DeviceError, WeightsNotFoundError))


__all__ = ["cross_validate", "run_kfold", "folds_csv", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
